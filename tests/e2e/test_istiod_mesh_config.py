"""Acceptance of ``meshConfigFrom`` with the real kube-apiserver and the real istiod.

Two istiods (pilot-discovery) watch the cluster through one discofilter that reads its
selectors from the ``istio-system/istio`` mesh ConfigMap. The first has an empty mesh file (no
discoverySelectors), so everything it sees or stops seeing is discofilter's doing; the second
reads the same ConfigMap itself, through discofilter, as a deployed istiod does, so its own
filter and discofilter's must agree at every step. Editing the ConfigMap moves both istiods'
endpoint views both ways, without a restart of any process; a malformed edit keeps the previous
view (discofilter and istiod both refuse it), and discofilter says so in ``/debug/enrollment``
and in a Warning Event on the ConfigMap.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from .churn import make_workload
from .harness import Cluster
from .processes import Child, free_port, python_module, wait_http, write_plain_kubeconfig
from .test_istiod_discofilter import (
    READY_TIMEOUT,
    api_endpoints,
    ensure_namespace,
    eventually,
    istiod_endpoints,
    kubectl,
    pilot_discovery,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

A, B = "meshcfg-a", "meshcfg-b"
ONLY_A = "discoverySelectors:\n- matchLabels: {meshcfg: a}\n"
ONLY_B = "discoverySelectors:\n- matchExpressions: [{key: meshcfg, operator: In, values: [b]}]\n"
MALFORMED = "discoverySelectors:\n- matchLabels: {meshcfg: true}\n"  # a boolean: istiod refuses
# Surprising but istiod's own reading: match_labels is not a LabelSelector field (declared
# camelCase), so this is an empty selector, which selects every namespace.
SNAKE = "discoverySelectors:\n- match_labels: {meshcfg: a}\n"
REF = "configmap:istio-system/istio"


def _set_mesh(api: k8s.ApiClient, mesh: str) -> None:
    core = k8s.CoreV1Api(api)
    body = k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="istio"), data={"mesh": mesh})
    try:
        core.replace_namespaced_config_map("istio", "istio-system", body)
    except ApiException as e:
        if e.status != 404:
            raise
        core.create_namespaced_config_map("istio-system", body)


def _debug(admin: str) -> Any:
    with urllib.request.urlopen(admin + "/debug/enrollment", timeout=10) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def rig(
    cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, str]]:
    """(debug URL of the istiod with an empty mesh file, of the istiod reading the ConfigMap,
    discofilter's admin URL), all running for the whole module."""
    binary = pilot_discovery()
    state = tmp_path_factory.mktemp("meshcfg")
    applied = subprocess.run(
        [kubectl(), "--kubeconfig", str(cluster.kubeconfig), "apply", "--server-side", "-f",
         str(binary.parent / "istio-crds.yaml")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    ensure_namespace(cluster.api, "istio-system", enrolled=False)
    core = k8s.CoreV1Api(cluster.api)
    for name, value in ((A, "a"), (B, "b")):
        core.create_namespace(
            k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name, labels={"meshcfg": value}))
        )
        make_workload(cluster.api, name, "web", 2)
    _set_mesh(cluster.api, ONLY_A)
    port, admin_port = free_port(), free_port()
    proxy = Child(
        python_module(
            "serve", "--listen", f"127.0.0.1:{port}", "--kubeconfig", str(cluster.kubeconfig),
            "--mesh-config-from", REF, "--sidecar", "--admin-listen", f"127.0.0.1:{admin_port}",
        ),
        state / "proxy.log",
    )  # fmt: skip
    istiods: list[Child] = []
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/version", 30, proxy)
        kubeconfig = write_plain_kubeconfig(state / "kubeconfig", url)
        (state / "mesh.yaml").write_text("{}\n")  # this istiod filters nothing itself
        urls = []
        # The second istiod has no mesh file: it reads the same istio ConfigMap itself,
        # through discofilter (the usual deployment), so the two filters must agree.
        for name, mesh in (("file", state / "mesh.yaml"), ("configmap", state / "absent.yaml")):
            http = free_port()
            istiods.append(Child(
                [
                    str(binary), "discovery", "--kubeconfig", str(kubeconfig),
                    "--meshConfig", str(mesh), "--namespace", "istio-system",
                    "--httpAddr", f"127.0.0.1:{http}", "--grpcAddr", f"127.0.0.1:{free_port()}",
                    "--secureGRPCAddr", "", "--httpsAddr", "",
                    "--monitoringAddr", f"127.0.0.1:{free_port()}", "--domain", "cluster.local",
                ],
                state / f"istiod-{name}.log",
                env={"POD_NAMESPACE": "istio-system", "POD_NAME": f"istiod-meshcfg-{name}",
                     "ENABLE_LEADER_ELECTION": "false", "ENABLE_CA_SERVER": "false"},
            ))  # fmt: skip
            urls.append(f"http://127.0.0.1:{http}")
        for child, u in zip(istiods, urls, strict=True):
            wait_http(u + "/ready", READY_TIMEOUT, child)
        yield urls[0], urls[1], f"http://127.0.0.1:{admin_port}"
    finally:
        for child in istiods:
            child.stop()
        proxy.stop()
        for name in (A, B):
            core.delete_namespace(name)


def _view(istiod: str, cluster: Cluster) -> tuple[dict[str, Any], dict[str, Any]]:
    seen = istiod_endpoints(istiod)
    return {ns: seen.get(ns) for ns in (A, B)}, api_endpoints(cluster.api, (A, B))


def _exactly(istiod: str, cluster: Cluster, present: str, absent: str) -> tuple[bool, object]:
    seen, api = _view(istiod, cluster)
    return seen[present] == api[present] and seen[absent] is None, {"istiod": seen}


def test_editing_the_mesh_configmap_moves_istiods_view_both_ways(
    cluster: Cluster, rig: tuple[str, str, str]
) -> None:
    """Both istiods, without a restart: the one with an empty mesh file sees only what
    discofilter forwards; the one reading the ConfigMap itself agrees with it at every step."""
    by_file, by_cm, admin = rig

    def both(present: str, absent: str) -> tuple[bool, object]:
        a, da = _exactly(by_file, cluster, present, absent)
        b, db = _exactly(by_cm, cluster, present, absent)
        return a and b, {"mesh file {}": da, "ConfigMap": db}

    eventually("both istiods hold exactly meshcfg-a", lambda: both(A, B))
    doc = _debug(admin)
    assert doc["selectorsSource"]["source"] == REF and doc["selectorsSource"]["healthy"]

    _set_mesh(cluster.api, ONLY_B)  # one edit: a leaves, b joins
    eventually("both istiods follow the ConfigMap to meshcfg-b", lambda: both(B, A))

    _set_mesh(cluster.api, MALFORMED)
    eventually(
        "discofilter refuses the malformed value",
        lambda: (not _debug(admin)["selectorsSource"]["healthy"], _debug(admin)),
    )
    doc = _debug(admin)
    assert "a boolean (true)" in doc["selectorsSource"]["error"]
    ok, detail = both(B, A)
    assert ok, f"a malformed edit changed an istiod's view: {detail}"
    events = k8s.CoreV1Api(cluster.api).list_namespaced_event(
        "istio-system", field_selector="involvedObject.name=istio,reason=InvalidMeshConfig"
    )
    assert any("a boolean (true)" in (e.message or "") for e in events.items), events.items

    _set_mesh(cluster.api, SNAKE)  # live oracle: the ConfigMap-reading istiod decides alone

    def everything() -> tuple[bool, object]:
        api = api_endpoints(cluster.api, (A, B))
        views = {u: {ns: istiod_endpoints(u).get(ns) for ns in (A, B)} for u in (by_file, by_cm)}
        return all(v == api for v in views.values()), views

    eventually("both istiods read match_labels as 'every namespace'", everything)
    assert _debug(admin)["selectAll"] is False and _debug(admin)["selectors"] == [""]

    _set_mesh(cluster.api, ONLY_A)  # still live after the refusal
    eventually("both istiods follow the ConfigMap back to meshcfg-a", lambda: both(A, B))
