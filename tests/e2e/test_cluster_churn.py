"""A whole control plane (issue 18): kube-controller-manager, kube-scheduler and kwok beside the
real API server, so workload objects turn into Running pods, completed Jobs and EndpointSlices
written by the real controller; then tier S's CI slice of the cluster-scale istiod benchmark:
istiod through discofilter must end with exactly the enrolled namespaces' endpoints while the
controllers churn; and the Helm chart installs into this cluster with the real helm, both modes.

Its own cluster (module scope), not the session one: the controllers would act on the other
tests' hand-made pods. Bounded: start-up ~10 s, the Deployment/Job checks ≤ 60 s each, the
istiod run ~3-4 min on a loaded 2-core box (timeout 600 s).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from .harness import require_peer
from .peers import kwok_stages
from .processes import Child

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 120.0
"""Seconds for etcd + kube-apiserver (+ starting the three children) to print the ready line."""
WORKLOAD_TIMEOUT = 90.0
"""Seconds for a 3-replica Deployment to be Running with a populated EndpointSlice: scheduler,
kwok and the EndpointSlice controller each act within a second or two on an idle box."""


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    binary = require_peer("testcluster")
    kwok = require_peer("kwok")
    stages = kwok_stages()
    if stages is None:
        pytest.skip(f"E2E SKIPPED — {kwok.parent}/kwok-stages.yaml missing: rerun build.sh")
    state = tmp_path_factory.mktemp("controlplane")
    child = Child(
        [
            str(binary),
            "--dir",
            str(state / "state"),
            "--controllers",
            "--kwok",
            str(kwok),
            "--kwok-config",
            str(stages),
        ],
        state / "testcluster.log",
    )
    try:
        info = child.read_json(START_TIMEOUT)
        info["api"] = k8s_config.new_client_from_config(config_file=info["kubeconfig"])
        yield info
        info["api"].close()
    finally:
        child.stop()


def poll(what: str, cond: Callable[[], bool], timeout: float) -> None:
    """Poll another process's progress (no event to await across processes) with a bound."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.5)


def raw(resp: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(resp.data)
    return doc


def test_version_is_stamped(plane: dict[str, Any]) -> None:
    # helm's kubeVersion checks read this; unstamped builds say v0.0.0-master+$Format:%H$.
    v = k8s.VersionApi(plane["api"]).get_code()
    assert v.git_version == "v1.37.2" and v.major == "1" and v.minor.startswith("37"), v


def test_controllers_are_running(plane: dict[str, Any]) -> None:
    assert set(plane["controllers"]) == {"kube-controller-manager", "kube-scheduler", "kwok"}


@pytest.mark.timeout(300)
def test_deployment_runs_and_gets_an_endpointslice(plane: dict[str, Any]) -> None:
    api = plane["api"]
    core, apps, disc = k8s.CoreV1Api(api), k8s.AppsV1Api(api), k8s.DiscoveryV1Api(api)
    sys.path.insert(0, str(REPO / "bench"))
    from workload_churn import KWOK_ANNOTATION

    cap = {"cpu": "100", "memory": "1Ti", "pods": "110"}
    core.create_node(
        k8s.V1Node(
            metadata=k8s.V1ObjectMeta(name="e2e-kwok-0", annotations=KWOK_ANNOTATION),
            status=k8s.V1NodeStatus(allocatable=cap, capacity=cap),
        )
    )
    ns = "e2e-workload"
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=ns)))
    labels = {"app": "web"}
    template = k8s.V1PodTemplateSpec(
        metadata=k8s.V1ObjectMeta(labels=labels),
        spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="web", image="example.invalid/w")]),
    )
    apps.create_namespaced_deployment(
        ns,
        k8s.V1Deployment(
            metadata=k8s.V1ObjectMeta(name="web"),
            spec=k8s.V1DeploymentSpec(
                replicas=3, selector=k8s.V1LabelSelector(match_labels=labels), template=template
            ),
        ),
    )
    core.create_namespaced_service(
        ns,
        k8s.V1Service(
            metadata=k8s.V1ObjectMeta(name="web"),
            spec=k8s.V1ServiceSpec(selector=labels, ports=[k8s.V1ServicePort(port=80)]),
        ),
    )

    def running_ips() -> set[str]:
        pods = raw(core.list_namespaced_pod(ns, _preload_content=False))["items"]
        return {
            p["status"]["podIP"]
            for p in pods
            if p["status"].get("phase") == "Running" and p["status"].get("podIP")
        }

    def slice_ips() -> set[str]:
        items = raw(disc.list_namespaced_endpoint_slice(ns, _preload_content=False))["items"]
        return {
            a
            for s in items
            if s["metadata"]["labels"].get("endpointslice.kubernetes.io/managed-by")
            == "endpointslice-controller.k8s.io"
            for e in s.get("endpoints") or []
            if (e.get("conditions") or {}).get("ready")
            for a in e["addresses"]
        }

    poll("3 Running pods with IPs", lambda: len(running_ips()) == 3, WORKLOAD_TIMEOUT)
    poll(
        "the EndpointSlice controller's slice has the 3 pod IPs",
        lambda: slice_ips() == running_ips(),
        WORKLOAD_TIMEOUT,
    )
    pod = raw(core.list_namespaced_pod(ns, _preload_content=False))["items"][0]
    assert pod["spec"]["nodeName"] == "e2e-kwok-0"  # bound by the real scheduler

    # A Job's pod runs and completes (kwok's pod-complete stage), so the Job controller marks it.
    k8s.BatchV1Api(api).create_namespaced_job(
        ns,
        k8s.V1Job(
            metadata=k8s.V1ObjectMeta(name="once"),
            spec=k8s.V1JobSpec(
                backoff_limit=0,
                template=k8s.V1PodTemplateSpec(
                    spec=k8s.V1PodSpec(
                        restart_policy="Never",
                        containers=[k8s.V1Container(name="j", image="example.invalid/j")],
                    )
                ),
            ),
        ),
    )

    def job_done() -> bool:
        job = k8s.BatchV1Api(api).read_namespaced_job_status("once", ns)
        return bool(job.status and job.status.succeeded == 1)

    poll("the Job completes", job_done, WORKLOAD_TIMEOUT)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", ["standalone", "sidecar"])
def test_helm_install_both_modes(plane: dict[str, Any], mode: str, tmp_path: Path) -> None:
    """The real helm installs the chart: the API server accepts every object and the chart's
    kubeVersion constraint passes against the stamped version (no --kube-version override)."""
    helm = require_peer("helm")
    # The sidecar mode renders what goes beside istiod, so the chart insists on its namespace.
    ns = "istio-system" if mode == "sidecar" else f"helm-{mode}"
    args = [
        str(helm),
        "install",
        f"df-{mode}",
        str(REPO / "charts" / "discofilter"),
        "--namespace",
        ns,
        "--create-namespace",
        "--kubeconfig",
        plane["kubeconfig"],
        "--set",
        f"mode={mode}",
        "--timeout",
        "120s",
    ]
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(args, capture_output=True, text=True, timeout=200, env=env)
    assert out.returncode == 0, out.stderr + out.stdout
    listed = subprocess.run(
        [str(helm), "status", f"df-{mode}", "-n", ns, "--kubeconfig", plane["kubeconfig"]],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert "STATUS: deployed" in listed.stdout, listed.stdout + listed.stderr


@pytest.mark.timeout(900)
def test_istiod_through_discofilter_exact_view_under_controller_churn(tmp_path: Path) -> None:
    """Tier S's CI slice (bench/scenarios/cluster/s-ci.yaml) of the cluster-scale benchmark:
    real controllers churn Deployments/Services/CronJobs, 90% outside the mesh; istiod through
    discofilter (default config) must end with the exact endpoint view of the enrolled
    namespaces and see no other namespace."""
    require_peer("testcluster")
    require_peer("kwok")
    sys.path.insert(0, str(REPO / "bench"))
    import cluster_bench
    import istiod_bench
    from workload_churn import Tier

    try:
        istiod_bench.newest_peer("pilot-discovery", REPO / "tests/peers/istiod/build.sh")
    except SystemExit as e:
        pytest.skip(f"E2E SKIPPED — {e}")
    tier = Tier.load("s-ci")
    r = cluster_bench.bench(tier, tmp_path / "bench", 1, ["discofilter"])
    (row,) = r["rows"]
    assert r["scenario"]["ops_outside_mesh"] > 0 and r["scenario"]["ops_in_mesh"] > 0
    assert row["view_equal_truth"], (row["view_missing"], row["view_extra"])
    assert row["foreign_namespaces"] == [], row["foreign_namespaces"]
    assert row["reg_events"] > 0 and row["xds_pushes"] > 0, row
