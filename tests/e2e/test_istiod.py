"""istiod (pilot-discovery, built from istio.io/istio) against the real API server, directly with
meshConfig.discoverySelectors and through discofilter: its view of the mesh's services (its own
/debug/registryz) must be the same for the enrolled namespaces.

Only runs when the optional `pilot-discovery` peer was built (DISCOFILTER_PEERS_ISTIOD=1
tests/peers/build.sh): a cold istiod build adds several minutes to CI. See docs/real-peers.md.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .churn import make_namespace, make_workload
from .harness import ALWAYS_ENROLLED, Cluster, Proxy, require_peer
from .processes import Child, free_port, wait_http, write_plain_kubeconfig

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(240)]

ISTIOD_READY_TIMEOUT = 90.0
"""Seconds for istiod to list everything and answer /ready (~5-15 s on a 2-core box)."""

CONVERGE_TIMEOUT = 30.0
"""Seconds for istiod's registry to reflect the API server after the last write."""


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        pytest.skip("E2E SKIPPED — no kubectl on PATH (needed to apply the Istio CRDs)")
    return found


@pytest.fixture(scope="module")
def istio_ready(cluster: Cluster) -> None:
    binary = require_peer("pilot-discovery")
    crds = binary.parent / "istio-crds.yaml"
    if not crds.exists():
        pytest.skip(f"E2E SKIPPED — {crds} missing: rerun DISCOFILTER_PEERS_ISTIOD=1 build.sh")
    out = subprocess.run(
        [
            kubectl(),
            "--kubeconfig",
            str(cluster.kubeconfig),
            "apply",
            "--server-side",
            "-f",
            str(crds),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    make_namespace(cluster.api, "istio-system", enrolled=False)
    for ns, enrolled in (("istiod-mesh", True), ("istiod-batch", False)):
        make_namespace(cluster.api, ns, enrolled=enrolled)
        make_workload(cluster.api, ns, "web", 2)


def start_istiod(binary: Path, kubeconfig: Path, mesh: str, log: Path) -> tuple[Child, str]:
    ports = {n: free_port() for n in ("http", "grpc", "sgrpc", "mon", "https")}
    mesh_file = log.with_suffix(".mesh.yaml")
    mesh_file.write_text(mesh)
    child = Child(
        [
            str(binary),
            "discovery",
            "--kubeconfig",
            str(kubeconfig),
            "--meshConfig",
            str(mesh_file),
            "--httpAddr",
            f"127.0.0.1:{ports['http']}",
            "--grpcAddr",
            f"127.0.0.1:{ports['grpc']}",
            "--secureGRPCAddr",
            f"127.0.0.1:{ports['sgrpc']}",
            "--monitoringAddr",
            f"127.0.0.1:{ports['mon']}",
            "--httpsAddr",
            f"127.0.0.1:{ports['https']}",
            "--domain",
            "cluster.local",
        ],
        log,
        env={
            "POD_NAMESPACE": "istio-system",
            "POD_NAME": "istiod-e2e",
            "REVISION": "default",
            "PILOT_ENABLE_CONFIG_DISTRIBUTION_TRACKING": "false",
        },
    )
    url = f"http://127.0.0.1:{ports['http']}"
    wait_http(url + "/ready", ISTIOD_READY_TIMEOUT, child)
    return child, url


def registry(url: str) -> set[str]:
    with urllib.request.urlopen(url + "/debug/registryz", timeout=10) as r:
        services: list[dict[str, Any]] = json.loads(r.read())
    return {s["hostname"] for s in services if s.get("attributes", {}).get("namespace")}


def enrolled_hosts(hosts: set[str], enrolled: set[str]) -> set[str]:
    return {h for h in hosts if h.split(".")[1] in enrolled}


@pytest.fixture
def mesh_config() -> Iterator[str]:
    yield "discoverySelectors:\n- matchLabels:\n    istio-injection: enabled\n"


def test_istiod_sees_the_same_mesh(
    cluster: Cluster, proxy: Proxy, istio_ready: None, tmp_path: Path, mesh_config: str
) -> None:
    binary = require_peer("pilot-discovery")
    enrolled = set(ALWAYS_ENROLLED) | {"istiod-mesh"}
    direct, url_d = start_istiod(binary, cluster.kubeconfig, mesh_config, tmp_path / "d.log")
    try:
        via = write_plain_kubeconfig(tmp_path / "proxy.kubeconfig", proxy.url)
        proxied, url_p = start_istiod(binary, via, "{}\n", tmp_path / "p.log")
        try:
            deadline = time.monotonic() + CONVERGE_TIMEOUT
            while True:
                a = enrolled_hosts(registry(url_d), enrolled)
                b = registry(url_p)
                if a == b and "web.istiod-mesh.svc.cluster.local" in a:
                    break
                assert time.monotonic() < deadline, (a, b, proxied.tail())
                time.sleep(0.5)  # polling another process's debug endpoint
        finally:
            proxied.stop()
    finally:
        direct.stop()
