"""Three istiod replicas through ONE discofilter against the real API server (issue 15).

Three pilot-discovery processes (as an HPA would run them) share one standalone proxy: each must
sync, hold exactly the enrolled namespaces' endpoints the API server has and nothing else, and
follow enrollment changes both ways. With ``--shared-watches`` kube-apiserver's own gauge
(``apiserver_longrunning_requests``) shows one cluster-wide endpointslices watch for the three;
the per-client run shows three (the gauge reacts).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from .churn import make_namespace, make_workload, set_enrolled
from .harness import Cluster
from .processes import Child, free_port, wait_http
from .test_istiod_discofilter import (
    READY_TIMEOUT,
    api_endpoints,
    apply_istio_crds,
    enrolled_now,
    eventually,
    istiod_endpoints,
    pilot_discovery,
)
from .test_shared_informers import (
    PER_CLIENT,
    SHARED,
    cluster_watches,
    informer_kubeconfig,
    start_tls_proxy,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(420)]

REPLICAS = 3
_run = itertools.count()


def start_istiod(binary: Path, kubeconfig: Path, state: Path, name: str) -> tuple[Child, str]:
    (state / "mesh.yaml").write_text("{}\n")  # no discoverySelectors: the proxy filters
    http = free_port()
    child = Child(
        [
            str(binary),
            "discovery",
            "--kubeconfig",
            str(kubeconfig),
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
        # Each replica runs every controller (no lease) and has no CA, as in the one-istiod test.
        env={
            "POD_NAMESPACE": "istio-system",
            "POD_NAME": name,
            "ENABLE_LEADER_ELECTION": "false",
            "ENABLE_CA_SERVER": "false",
        },
        stdout_to_log=True,
    )
    return child, f"http://127.0.0.1:{http}"


@pytest.fixture(scope="module")
def cluster(own_cluster: Cluster) -> Cluster:
    """This module counts kube-apiserver's open watches: it gets an API server of its own."""
    return own_cluster


@pytest.fixture(params=[SHARED, PER_CLIENT])
def replicas(
    request: pytest.FixtureRequest, cluster: Cluster, tmp_path: Path
) -> Iterator[tuple[str, list[str], dict[str, int]]]:
    """(mode, the replicas' debug URLs, the watch gauge before the proxy started)."""
    binary = pilot_discovery()
    apply_istio_crds(cluster, binary)
    with start_tls_proxy(cluster, tmp_path, request.param) as proxy:
        kubeconfig = informer_kubeconfig(tmp_path / "istiod.kubeconfig", proxy, cluster.token)
        children: list[Child] = []
        urls: list[str] = []
        try:
            for i in range(REPLICAS):
                state = tmp_path / f"istiod-{i}"
                state.mkdir()
                child, url = start_istiod(binary, kubeconfig, state, f"istiod-replica-{i}")
                children.append(child)
                urls.append(url)
            for child, url in zip(children, urls, strict=True):
                wait_http(url + "/ready", READY_TIMEOUT, child)
            yield request.param, urls, proxy.base_watches
        finally:
            for child in children:
                child.stop()


def test_three_istiods_each_see_the_mesh_and_follow_flips(
    cluster: Cluster, replicas: tuple[str, list[str], dict[str, int]]
) -> None:
    mode, urls, base = replicas
    run = next(_run)
    mesh = (f"rep-mesh-a-{run}", f"rep-mesh-b-{run}")
    batch = (f"rep-batch-a-{run}", f"rep-batch-b-{run}")
    for ns in mesh + batch:
        make_namespace(cluster.api, ns, enrolled=ns in mesh)
        make_workload(cluster.api, ns, "web", 2)
    ours = mesh + batch

    def all_equal_truth() -> tuple[bool, object]:
        want = api_endpoints(
            cluster.api, tuple(ns for ns in ours if ns in enrolled_now(cluster.api))
        )
        views = []
        for url in urls:
            seen = istiod_endpoints(url)
            views.append({ns: seen[ns] for ns in ours if ns in seen})
        return all(v == want for v in views), {"api": want, "replicas": views}

    eventually("every replica's endpoints equal the API server's", all_equal_truth)
    for url in urls:
        outside = set(istiod_endpoints(url)) - enrolled_now(cluster.api)
        assert not outside, f"{url} holds endpoints of non-enrolled namespaces {sorted(outside)}"

    set_enrolled(cluster.api, batch[0], True)
    set_enrolled(cluster.api, mesh[1], False)
    eventually("every replica follows a namespace in and another out", all_equal_truth)

    # kube-apiserver's count of cluster-wide endpointslices watches the proxy added.
    want = 1 if mode == SHARED else REPLICAS

    def watch_count() -> tuple[bool, object]:
        delta = cluster_watches(cluster)["endpointslices"] - base["endpointslices"]
        return delta == want, {"endpointslices watches added": delta, "want": want}

    eventually("upstream endpointslices watches", watch_count)
