"""kubectl (1.27 and 1.33, the oldest and newest installed) through discofilter in front of the
real kube-apiserver: JSON lists, the server-side Table output and a watch equal the filtered truth.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .churn import make_namespace, make_workload
from .harness import ALWAYS_ENROLLED, Cluster, Proxy
from .truth import enrolled_namespaces

pytestmark = [pytest.mark.e2e, pytest.mark.kubectl, pytest.mark.timeout(120)]

KUBECTL_TIMEOUT = 30.0
"""Seconds for one kubectl call (a LIST of a few dozen objects takes ~0.1 s)."""


def kubectl(version: str) -> Path:
    found = shutil.which("kubectl")
    if found is None:
        pytest.skip("E2E SKIPPED — no kubectl on PATH")
    path = Path(os.path.realpath(found)).parent / f"kubectl.{version}"
    if not path.exists():
        pytest.skip(f"E2E SKIPPED — {path} is missing")
    return path


def run(binary: Path, kubeconfig: Path, *args: str) -> str:
    out = subprocess.run(
        [str(binary), "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=KUBECTL_TIMEOUT,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture(scope="module")
def workload(cluster: Cluster) -> set[str]:
    make_namespace(cluster.api, "kubectl-mesh", enrolled=True)
    make_namespace(cluster.api, "kubectl-batch", enrolled=False)
    for ns in ("kubectl-mesh", "kubectl-batch"):
        make_workload(cluster.api, ns, "web", 2)
    return enrolled_namespaces(cluster.api, "istio-injection", "enabled", ALWAYS_ENROLLED)


@pytest.mark.parametrize("version", ["1.27", "1.33"])
def test_get_pods_json_is_filtered(
    cluster: Cluster, proxy: Proxy, workload: set[str], version: str
) -> None:
    binary = kubectl(version)
    direct = json.loads(run(binary, cluster.kubeconfig, "get", "pods", "-A", "-o", "json"))
    proxied = json.loads(run(binary, proxy.kubeconfig, "get", "pods", "-A", "-o", "json"))
    want = sorted(
        (p["metadata"]["namespace"], p["metadata"]["name"], p["metadata"]["resourceVersion"])
        for p in direct["items"]
        if p["metadata"]["namespace"] in workload
    )
    got = sorted(
        (p["metadata"]["namespace"], p["metadata"]["name"], p["metadata"]["resourceVersion"])
        for p in proxied["items"]
    )
    assert got == want
    assert ("kubectl-mesh", "web-0") in {(n, m) for n, m, _ in got}


@pytest.mark.parametrize("version", ["1.27", "1.33"])
def test_get_table_output_is_filtered(
    cluster: Cluster, proxy: Proxy, workload: set[str], version: str
) -> None:
    binary = kubectl(version)
    direct = run(binary, cluster.kubeconfig, "get", "pods", "-A", "--no-headers").splitlines()
    proxied = run(binary, proxy.kubeconfig, "get", "pods", "-A", "--no-headers").splitlines()
    names = {tuple(line.split()[:2]) for line in proxied}
    want = {tuple(line.split()[:2]) for line in direct if line.split()[0] in workload}
    assert names == want
    header = run(binary, proxy.kubeconfig, "get", "pods", "-A").splitlines()[0].split()
    assert header[:3] == ["NAMESPACE", "NAME", "READY"]


def test_watch_only_shows_enrolled(cluster: Cluster, proxy: Proxy, workload: set[str]) -> None:
    binary = kubectl("1.33")
    # --request-timeout ends the watch after the initial state (bounded, no sleep).
    out = subprocess.run(
        [
            str(binary),
            "--kubeconfig",
            str(proxy.kubeconfig),
            "get",
            "services",
            "-A",
            "-w",
            "--output-watch-events",
            "-o",
            "json",
            "--request-timeout=3s",
        ],
        capture_output=True,
        text=True,
        timeout=KUBECTL_TIMEOUT,
    )
    decoder = json.JSONDecoder()
    text, pos, events = out.stdout, 0, []
    while pos < len(text.strip()):
        doc, pos = decoder.raw_decode(text, pos)
        events.append(doc)
        while pos < len(text) and text[pos].isspace():
            pos += 1
    namespaces = {e["object"]["metadata"]["namespace"] for e in events}
    assert "kubectl-mesh" in namespaces
    assert namespaces <= workload
