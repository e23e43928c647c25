"""Multi-cluster acceptance: two real kube-apiservers, istiod in the first, the second reached
through a remote secret made by ``discofilter remote-secret`` pointing at a discofilter in
front of it. istiod's endpoint view of the remote cluster holds exactly the remote's enrolled
namespaces, and follows a relabel there.

The remote secret carries the second cluster's read-only (istiod-like) token; discofilter
terminates TLS with a self-signed certificate whose CA is in the secret, and forwards the token.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from .churn import make_namespace, make_workload, set_enrolled
from .conftest import CLUSTER_START_TIMEOUT
from .harness import SELECTOR, Cluster, require_peer
from .processes import REPO, Child, free_port, python_module, wait_http
from .test_istiod_discofilter import (
    READY_TIMEOUT,
    api_endpoints,
    ensure_namespace,
    eventually,
    get,
    kubectl,
    pilot_discovery,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

MESH, BATCH = "rs-mesh", "rs-batch"
REMOTE = "cluster2"


def _cluster_endpoints(url: str, cluster_id: str) -> dict[str, set[tuple[str, str, int]]]:
    """Namespace -> endpoints of one cluster's shard in istiod's /debug/endpointShardz."""
    out: dict[str, set[tuple[str, str, int]]] = {}
    for host, by_ns in get(url + "/debug/endpointShardz").items():
        for ns, entry in by_ns.items():
            for shard, eps in (entry.get("Shards") or {}).items():
                if str(shard).rpartition("/")[2] != cluster_id:  # "Kubernetes/cluster2"
                    continue
                for ep in eps or []:
                    for addr in ep.get("Addresses") or []:
                        out.setdefault(ns, set()).add((host, addr, int(ep["EndpointPort"])))
    return {ns: eps for ns, eps in out.items() if eps}


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A second kube-apiserver + etcd, apart from the session's cluster."""
    binary = require_peer("testcluster")
    state = tmp_path_factory.mktemp("cluster2")
    child = Child([str(binary), "--dir", str(state / "state")], state / "testcluster.log",
                  stdin=True)  # fmt: skip
    try:
        info = child.read_json(CLUSTER_START_TIMEOUT)
        api = k8s_config.new_client_from_config(config_file=info["kubeconfig"])
        yield Cluster(
            url=info["url"], kubeconfig=Path(info["kubeconfig"]), token=info["token"],
            ca=Path(info["ca"]), istiod_token=info["istiod_token"],
            istiod_kubeconfig=Path(info["istiod_kubeconfig"]), api=api, compact=lambda: 0,
        )  # fmt: skip
        api.close()
    finally:
        child.stop()


@pytest.fixture(scope="module")
def istiod_multi(
    cluster: Cluster, remote: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    binary = pilot_discovery()
    state = tmp_path_factory.mktemp("multicluster")
    for c in (cluster, remote):
        applied = subprocess.run(
            [kubectl(), "--kubeconfig", str(c.kubeconfig), "apply", "--server-side", "-f",
             str(binary.parent / "istio-crds.yaml")],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert applied.returncode == 0, applied.stderr
        ensure_namespace(c.api, "istio-system", enrolled=False)
    for ns in (MESH, BATCH):
        make_namespace(remote.api, ns, enrolled=ns == MESH)
        make_workload(remote.api, ns, "web", 2)
    # discofilter in front of the remote cluster: TLS, callers' tokens forwarded.
    port, admin = free_port(), free_port()
    ca = state / "df-ca.pem"
    proxy = Child(
        python_module(
            "serve", "--listen", f"127.0.0.1:{port}", "--kubeconfig", str(remote.kubeconfig),
            "--selector", SELECTOR, "--self-signed-tls", "--self-signed-ca-out", str(ca),
            "--admin-listen", f"127.0.0.1:{admin}",
        ),
        state / "proxy.log",
    )  # fmt: skip
    istiod = None
    try:
        wait_http(f"http://127.0.0.1:{admin}/readyz", 30, proxy)
        token = state / "reader.token"
        token.write_text(remote.istiod_token)
        made = subprocess.run(
            [sys.executable, "-m", "discofilter", "remote-secret", "--cluster-name", REMOTE,
             "--server", f"https://127.0.0.1:{port}", "--ca-file", str(ca),
             "--token-file", str(token), "-o", "json"],
            capture_output=True, text=True, timeout=60, cwd=REPO,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        secret: dict[str, Any] = json.loads(made.stdout)
        core = k8s.CoreV1Api(cluster.api)
        core.create_namespaced_secret("istio-system", secret)
        (state / "mesh.yaml").write_text("{}\n")
        http = free_port()
        istiod = Child(
            [
                str(binary), "discovery", "--kubeconfig", str(cluster.kubeconfig),
                "--meshConfig", str(state / "mesh.yaml"), "--namespace", "istio-system",
                "--httpAddr", f"127.0.0.1:{http}", "--grpcAddr", f"127.0.0.1:{free_port()}",
                "--secureGRPCAddr", "", "--httpsAddr", "",
                "--monitoringAddr", f"127.0.0.1:{free_port()}", "--domain", "cluster.local",
            ],
            state / "istiod.log",
            env={"POD_NAMESPACE": "istio-system", "POD_NAME": "istiod-primary",
                 "CLUSTER_ID": "cluster1", "ENABLE_LEADER_ELECTION": "false",
                 "ENABLE_CA_SERVER": "false"},
        )  # fmt: skip
        wait_http(f"http://127.0.0.1:{http}/ready", READY_TIMEOUT, istiod)
        yield f"http://127.0.0.1:{http}"
    finally:
        if istiod is not None:
            istiod.stop()
        proxy.stop()
        k8s.CoreV1Api(cluster.api).delete_namespaced_secret(
            f"istio-remote-secret-{REMOTE}", "istio-system"
        )


def test_istiod_sees_the_remote_clusters_enrolled_namespaces_and_follows_a_relabel(
    remote: Cluster, istiod_multi: str
) -> None:
    istiod = istiod_multi
    clusterz = get(istiod + "/debug/clusterz")
    assert REMOTE in {c.get("id") for c in clusterz}, clusterz

    def exactly(present: str, absent: str) -> tuple[bool, object]:
        seen = _cluster_endpoints(istiod, REMOTE)
        want = api_endpoints(remote.api, (present,))[present]
        mine = {ns: seen.get(ns) for ns in (MESH, BATCH)}
        return mine[present] == want and mine[absent] is None, mine

    eventually("istiod holds exactly rs-mesh of cluster2", lambda: exactly(MESH, BATCH))
    set_enrolled(remote.api, BATCH, True)
    set_enrolled(remote.api, MESH, False)
    eventually("istiod follows the relabel in cluster2", lambda: exactly(BATCH, MESH))
