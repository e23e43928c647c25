"""istiod (pilot-discovery from istio.io/istio) through discofilter against the real API server:
it must sync (answer /ready), hold exactly the enrolled namespaces' endpoints that the API
server has, nothing of any other namespace, and follow enrollment changes both ways.

The binary comes from tests/peers/istiod/build.sh (or $DISCOFILTER_PILOT_DISCOVERY); a cold
build takes ~6.5 min on 2 cores, so tests never build it: they skip, loudly, saying what to run.
Bounded to ~2 minutes: istiod start-up ≤ 90 s (4 s idle) plus ≤ 30 s per convergence.
Method and the benchmark built on the same set-up: docs/istiod-bench.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from .churn import make_namespace, make_workload, set_enrolled
from .harness import ALWAYS_ENROLLED, Cluster, Proxy
from .processes import Child, free_port, wait_http

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "tests" / "peers" / "istiod" / "build.sh"
READY_TIMEOUT = 90.0
"""Seconds for istiod to list everything and answer /ready (~4 s idle, ~20 s on a busy box)."""
CONVERGE_TIMEOUT = 30.0
"""Seconds for istiod's endpoints to follow the API server (its debounce is 100 ms to 1 s)."""
MESH = ("istiodf-mesh-1", "istiodf-mesh-2")
BATCH = ("istiodf-batch-1", "istiodf-batch-2")

Endpoint = tuple[str, str, int]


def pilot_discovery() -> Path:
    override = os.environ.get("DISCOFILTER_PILOT_DISCOVERY")
    if override:
        return Path(override)
    if shutil.which("go") is None:
        pytest.skip("E2E SKIPPED — no `go` on PATH: pilot-discovery cannot be built here")
    out = subprocess.run([str(BUILD), "--print-dir"], capture_output=True, text=True, timeout=30)
    binary = Path(out.stdout.strip()) / "pilot-discovery"
    if out.returncode != 0 or not os.access(binary, os.X_OK):
        pytest.skip(
            f"E2E SKIPPED — pilot-discovery not built (expected {binary}): run "
            f"tests/peers/istiod/build.sh (~6.5 min cold) {out.stderr.strip()}"
        )
    return binary


def kubectl() -> str:
    for name in ("kubectl.1.33", "kubectl"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("E2E SKIPPED — no kubectl on PATH (needed to apply Istio's CRDs)")


def ensure_namespace(api: k8s.ApiClient, name: str, *, enrolled: bool) -> None:
    try:
        make_namespace(api, name, enrolled=enrolled)
    except ApiException as e:
        if e.status != 409:  # another istiod test of this session made it already
            raise


def apply_istio_crds(cluster: Cluster, binary: Path) -> None:
    """Istio's CRDs (beside the pilot-discovery binary) and istio-system, as istiod needs them."""
    applied = subprocess.run(
        [
            kubectl(),
            "--kubeconfig",
            str(cluster.kubeconfig),
            "apply",
            "--server-side",
            "-f",
            str(binary.parent / "istio-crds.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert applied.returncode == 0, applied.stderr
    ensure_namespace(cluster.api, "istio-system", enrolled=False)


@pytest.fixture(scope="module")
def istiod(
    cluster: Cluster, proxy: Proxy, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """pilot-discovery through the proxy; yields its debug HTTP base URL."""
    binary = pilot_discovery()
    apply_istio_crds(cluster, binary)
    for ns in MESH + BATCH:
        make_namespace(cluster.api, ns, enrolled=ns in MESH)
        make_workload(cluster.api, ns, "web", 3)
    state = tmp_path_factory.mktemp("istiod")
    (state / "mesh.yaml").write_text("{}\n")  # no discoverySelectors: the proxy does the filtering
    http = free_port()
    child = Child(
        [
            str(binary),
            "discovery",
            "--kubeconfig",
            str(proxy.kubeconfig),
            "--meshConfig",
            str(state / "mesh.yaml"),
            "--namespace",
            "istio-system",
            "--httpAddr",
            f"127.0.0.1:{http}",
            "--grpcAddr",
            f"127.0.0.1:{free_port()}",
            "--secureGRPCAddr",
            "",
            "--httpsAddr",
            "",
            "--monitoringAddr",
            f"127.0.0.1:{free_port()}",
            "--domain",
            "cluster.local",
        ],
        state / "istiod.log",
        # Alone or not, this istiod runs every controller (no lease) and has no CA: otherwise it
        # writes istio-ca-root-cert ConfigMaps everywhere and competes with other test istiods.
        env={
            "POD_NAMESPACE": "istio-system",
            "POD_NAME": "istiod-through-discofilter",
            "ENABLE_LEADER_ELECTION": "false",
            "ENABLE_CA_SERVER": "false",
        },
    )
    try:
        url = f"http://127.0.0.1:{http}"
        wait_http(url + "/ready", READY_TIMEOUT, child)
        yield url
    finally:
        child.stop()


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def istiod_endpoints(url: str) -> dict[str, set[Endpoint]]:
    """Namespace -> {(hostname, address, port)} from istiod's /debug/endpointShardz."""
    out: dict[str, set[Endpoint]] = {}
    for host, by_ns in get(url + "/debug/endpointShardz").items():
        for ns, entry in by_ns.items():
            for eps in (entry.get("Shards") or {}).values():
                for ep in eps or []:
                    for addr in ep.get("Addresses") or []:
                        out.setdefault(ns, set()).add((host, addr, int(ep["EndpointPort"])))
    return {ns: eps for ns, eps in out.items() if eps}


def api_endpoints(api: k8s.ApiClient, namespaces: tuple[str, ...]) -> dict[str, set[Endpoint]]:
    out: dict[str, set[Endpoint]] = {}
    for ns in namespaces:
        raw: Any = k8s.DiscoveryV1Api(api).list_namespaced_endpoint_slice(
            ns, _preload_content=False
        )
        for s in json.loads(raw.data)["items"]:  # plain JSON: no Optional-typed models
            svc = s["metadata"]["labels"]["kubernetes.io/service-name"]
            for ep in s.get("endpoints") or []:
                for addr in ep["addresses"]:
                    for port in s.get("ports") or []:
                        out.setdefault(ns, set()).add(
                            (f"{svc}.{ns}.svc.cluster.local", addr, int(port["port"]))
                        )
    return out


def enrolled_now(api: k8s.ApiClient) -> set[str]:
    raw: Any = k8s.CoreV1Api(api).list_namespace(
        label_selector="istio-injection=enabled", _preload_content=False
    )
    names = {str(n["metadata"]["name"]) for n in json.loads(raw.data)["items"]}
    return names | set(ALWAYS_ENROLLED)


def eventually(what: str, check: Callable[[], tuple[bool, object]]) -> None:
    deadline = time.monotonic() + CONVERGE_TIMEOUT
    while True:
        ok, detail = check()
        if ok:
            return
        assert time.monotonic() < deadline, f"{what} after {CONVERGE_TIMEOUT}s: {detail}"
        time.sleep(0.25)  # polling another process's debug endpoint: nothing to await


def test_istiod_through_discofilter_sees_only_the_mesh(cluster: Cluster, istiod: str) -> None:
    ours = MESH + BATCH

    def synced() -> tuple[bool, object]:
        seen = istiod_endpoints(istiod)
        want = api_endpoints(cluster.api, MESH)
        mine = {ns: seen.get(ns, set()) for ns in ours if ns in seen or ns in want}
        return mine == want, {"istiod": mine, "api": want}

    eventually("istiod's mesh endpoints equal the API server's", synced)
    seen = istiod_endpoints(istiod)
    outside = set(seen) - enrolled_now(cluster.api)
    assert not outside, f"istiod holds endpoints of non-enrolled namespaces {sorted(outside)}"
    services = {s["Attributes"]["Namespace"] for s in get(istiod + "/debug/registryz")}
    assert services <= enrolled_now(cluster.api), services
    assert not services & set(BATCH)


def test_istiod_follows_enrollment_both_ways(cluster: Cluster, istiod: str) -> None:
    newcomer, leaver = BATCH[0], MESH[1]
    set_enrolled(cluster.api, newcomer, True)
    set_enrolled(cluster.api, leaver, False)
    try:
        want_in = api_endpoints(cluster.api, (newcomer,))[newcomer]

        def moved() -> tuple[bool, object]:
            seen = istiod_endpoints(istiod)
            ok = seen.get(newcomer) == want_in and leaver not in seen
            return ok, {newcomer: seen.get(newcomer), leaver: seen.get(leaver)}

        eventually("istiod follows a namespace in and another out of the mesh", moved)
    finally:
        set_enrolled(cluster.api, newcomer, False)
        set_enrolled(cluster.api, leaver, True)
