"""Consistent reads (``resourceVersion=""``) of a shared kind after a write to another kind.

The shared cache answers a consistent LIST once it has reached the upstream's current
resourceVersion, learnt with a ``limit=1`` LIST (docs/shared-watches.md, "Consistent reads").
That RV is etcd's revision, which *every* write in the cluster moves (a ConfigMap, a Lease
renewal), while the cache of pods only moves with pod events and the upstream's BOOKMARKs
(kube-apiserver sends those about once a minute). So after any write to another kind, a
consistent LIST of pods waits the whole ``sharedWatches.consistentReadTimeoutSeconds`` (3 s) and
then goes upstream, unless something tells it that no pod changed: the proxy's progress probe
(``server/shared/progress.py``: a short watch that kube-apiserver bookmarks 2 s before its
deadline) does. The first test checks the answer is current, the second that it came before the
timeout that would have sent it upstream (~1.1 s measured: the probe's bookmark).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from kubernetes import client as k8s

from .churn import make_namespace, make_workload
from .harness import Cluster
from .test_shared_authz import CACHED_LIST, get, pod_names
from .test_shared_informers import SHARED, TlsProxy, start_tls_proxy

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

NS = "consistent-a"
FAST = 3.0
"""The proxy's consistentReadTimeoutSeconds: a LIST answered sooner was served from the cache
(a timed-out wait goes upstream after it, so it takes longer)."""


@pytest.fixture(scope="module")
def shared_proxy(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsProxy]:
    make_namespace(cluster.api, NS, enrolled=True)
    make_workload(cluster.api, NS, "web", 2)
    with start_tls_proxy(cluster, tmp_path_factory.mktemp("consistent-proxy"), SHARED) as p:
        # Warm the pods cache (a resourceVersion=0 LIST starts it and waits for its LIST).
        assert (NS, "web-0") in pod_names(get(p, CACHED_LIST, cluster.token))
        yield p


def write_elsewhere(cluster: Cluster, name: str) -> int:
    """A write to a kind the proxy does not cache; its resourceVersion (etcd's revision)."""
    cm = k8s.CoreV1Api(cluster.api).create_namespaced_config_map(
        NS, k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name=name))
    )
    assert cm.metadata is not None and cm.metadata.resource_version, cm
    return int(cm.metadata.resource_version)


def test_consistent_list_is_not_older_than_a_write_elsewhere(
    cluster: Cluster, shared_proxy: TlsProxy
) -> None:
    rv = write_elsewhere(cluster, "elsewhere-1")
    answer = get(shared_proxy, "/api/v1/pods", cluster.token)
    assert (NS, "web-0") in pod_names(answer)
    assert int(answer.json()["metadata"]["resourceVersion"]) >= rv


def test_consistent_list_after_a_write_elsewhere_is_prompt(
    cluster: Cluster, shared_proxy: TlsProxy
) -> None:
    write_elsewhere(cluster, "elsewhere-2")
    start = time.monotonic()
    answer = get(shared_proxy, "/api/v1/pods", cluster.token)
    took = time.monotonic() - start
    assert answer.status == 200
    assert took < FAST, f"a consistent LIST took {took:.2f} s"
