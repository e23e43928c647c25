"""client-go informers through discofilter in front of a real kube-apiserver.

JSON and protobuf, WatchList on and off: after churn and enrollment changes in both directions
the informer's cache equals the filtered truth read directly from the server (DESIGN.md
contracts 1 and 3), and nothing from a non-enrolled namespace ever reached it.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import pytest

from .churn import delete_pod, make_namespace, make_workload, set_enrolled, touch_pods
from .harness import ALWAYS_ENROLLED, Cluster, Proxy
from .processes import Child
from .truth import enrolled_namespaces, filtered_truth

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

SYNC_TIMEOUT = 60.0
"""Seconds for the informer's first sync through the proxy (under a second when healthy)."""

CONVERGE_TIMEOUT = 30.0
"""Seconds for the cache to reach the truth after the last write (a relist after a 410)."""

PODS = 3
_run = itertools.count()


def truth(cluster: Cluster) -> dict[str, list[dict[str, str]]]:
    keep = enrolled_namespaces(cluster.api, "istio-injection", "enabled", ALWAYS_ENROLLED)
    return filtered_truth(cluster.api, keep)


def converge(informer: Child, cluster: Cluster) -> dict[str, Any]:
    """Dump the informer until its cache equals the truth; fail with the diff at the deadline."""
    deadline = time.monotonic() + CONVERGE_TIMEOUT
    while True:
        want = truth(cluster)
        informer.send("dump")
        snap = informer.read_json(10)
        if snap["cache"] == want:
            return snap
        if time.monotonic() > deadline:
            got = snap["cache"]
            diff = {
                kind: {
                    "missing": [e for e in want[kind] if e not in got.get(kind, [])],
                    "extra": [e for e in got.get(kind, []) if e not in want[kind]],
                }
                for kind in want
            }
            pytest.fail(
                f"informer cache != filtered truth after {CONVERGE_TIMEOUT}s: {diff}\n"
                f"watch errors: {snap['error_samples']}\n{informer.tail()}"
            )
        time.sleep(0.2)  # polling a child process's cache: there is no event to await


@pytest.mark.parametrize("watch_list", ["off", "on"])
@pytest.mark.parametrize("content_type", ["json", "protobuf"])
def test_informer_cache_equals_filtered_truth(
    cluster: Cluster,
    proxy: Proxy,
    informer_binary: Path,
    tmp_path: Path,
    content_type: str,
    watch_list: str,
) -> None:
    run = next(_run)
    mesh_a, mesh_b = f"mesh-a-{run}", f"mesh-b-{run}"
    batch_a, batch_b = f"batch-a-{run}", f"batch-b-{run}"
    for ns, enrolled in ((mesh_a, True), (mesh_b, True), (batch_a, False), (batch_b, False)):
        make_namespace(cluster.api, ns, enrolled=enrolled)
        make_workload(cluster.api, ns, "web", PODS)

    informer = Child(
        [
            str(informer_binary),
            "--kubeconfig",
            str(proxy.kubeconfig),
            "--content-type",
            content_type,
            "--watch-list",
            watch_list,
        ],
        tmp_path / "informer.log",
        stdin=True,
    )
    try:
        hello = informer.read_json(SYNC_TIMEOUT)
        assert hello["synced"] is True
        assert hello["watch_list"] is (watch_list == "on")
        first = converge(informer, cluster)
        namespaces = {e["namespace"] for kind in first["cache"].values() for e in kind}
        assert {mesh_a, mesh_b} <= namespaces
        assert not {batch_a, batch_b} & namespaces

        # Churn after the sync: most of it in non-mesh namespaces, as in real clusters.
        for gen in range(3):
            touch_pods(cluster.api, batch_a, "web", PODS, gen)
            touch_pods(cluster.api, batch_b, "web", PODS, gen)
        touch_pods(cluster.api, mesh_a, "web", PODS, 1)
        delete_pod(cluster.api, mesh_a, "web-0")
        delete_pod(cluster.api, batch_a, "web-0")
        make_workload(cluster.api, mesh_b, "api", 1)
        # Enrollment changes both ways.
        set_enrolled(cluster.api, mesh_b, False)
        set_enrolled(cluster.api, batch_b, True)
        snap = converge(informer, cluster)
        namespaces = {e["namespace"] for kind in snap["cache"].values() for e in kind}
        assert mesh_b not in namespaces and batch_b in namespaces
        assert mesh_a in namespaces and batch_a not in namespaces
    finally:
        informer.stop()
