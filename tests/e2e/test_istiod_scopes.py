"""Acceptance of scopes with the real kube-apiserver and two real istiods through ONE discofilter.

discofilter runs with two scopes, ``team-a`` (``scopes-e2e=a`` in the file) and ``team-b``
(``scopes-e2e in (b)`` read from its own mesh ConfigMap, ``meshConfigFrom``); each istiod
(pilot-discovery, empty mesh file: it filters nothing itself) has
``<proxy>/scopes/<its team>`` as its kubeconfig server. Each must end with exactly its own
namespaces' endpoints, as the API server has them, and none of the other team's or of an
unlabelled namespace; a relabel that moves a namespace into team-a changes team-a's istiod
only, and an edit of team-b's ConfigMap changes team-b's istiod only, both without a restart
of any process.
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

A, B, NONE = "scopes-e2e-a", "scopes-e2e-b", "scopes-e2e-none"
OURS = (A, B, NONE)
LABEL = "scopes-e2e"
CONFIG = f"""\
selectors: [{LABEL}=default]
scopes:
  - name: team-a
    discoverySelectors: [{{matchLabels: {{{LABEL}: a}}}}]
  - name: team-b
    meshConfigFrom: configmap:istio-system/istio-scopes-b
"""
CM = "istio-scopes-b"
ONLY_B = f"discoverySelectors:\n- matchExpressions: [{{key: {LABEL}, operator: In, values: [b]}}]\n"
ONLY_A = f"discoverySelectors:\n- matchLabels: {{{LABEL}: a}}\n"


def _set_mesh(api: k8s.ApiClient, mesh: str) -> None:
    body = k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name=CM), data={"mesh": mesh})
    core = k8s.CoreV1Api(api)
    try:
        core.replace_namespaced_config_map(CM, "istio-system", body)
    except ApiException as e:
        if e.status != 404:
            raise
        core.create_namespaced_config_map("istio-system", body)


def _debug(admin: str, scope: str) -> Any:
    with urllib.request.urlopen(f"{admin}/debug/enrollment?scope={scope}", timeout=10) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def rig(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """{"team-a": istiod A's debug URL, "team-b": istiod B's, "admin": discofilter's admin}."""
    binary = pilot_discovery()
    state = tmp_path_factory.mktemp("scopes")
    applied = subprocess.run(
        [kubectl(), "--kubeconfig", str(cluster.kubeconfig), "apply", "--server-side", "-f",
         str(binary.parent / "istio-crds.yaml")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    ensure_namespace(cluster.api, "istio-system", enrolled=False)
    core = k8s.CoreV1Api(cluster.api)
    for name, value in ((A, "a"), (B, "b"), (NONE, None)):
        labels = {LABEL: value} if value else {}
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name, labels=labels)))
        make_workload(cluster.api, name, "web", 2)
    _set_mesh(cluster.api, ONLY_B)
    (state / "discofilter.yaml").write_text(CONFIG)
    port, admin_port = free_port(), free_port()
    proxy = Child(
        python_module(
            "serve", "--config", str(state / "discofilter.yaml"), "--listen",
            f"127.0.0.1:{port}", "--kubeconfig", str(cluster.kubeconfig), "--sidecar",
            "--admin-listen", f"127.0.0.1:{admin_port}",
        ),
        state / "proxy.log",
    )  # fmt: skip
    istiods: list[Child] = []
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/version", 30, proxy)
        (state / "mesh.yaml").write_text("{}\n")  # the istiods filter nothing themselves
        urls: dict[str, str] = {}
        for scope in ("team-a", "team-b"):
            kubeconfig = write_plain_kubeconfig(
                state / f"kubeconfig-{scope}", f"{url}/scopes/{scope}"
            )
            http = free_port()
            istiods.append(Child(
                [
                    str(binary), "discovery", "--kubeconfig", str(kubeconfig),
                    "--meshConfig", str(state / "mesh.yaml"), "--namespace", "istio-system",
                    "--httpAddr", f"127.0.0.1:{http}", "--grpcAddr", f"127.0.0.1:{free_port()}",
                    "--secureGRPCAddr", "", "--httpsAddr", "",
                    "--monitoringAddr", f"127.0.0.1:{free_port()}", "--domain", "cluster.local",
                ],
                state / f"istiod-{scope}.log",
                env={"POD_NAMESPACE": "istio-system", "POD_NAME": f"istiod-{scope}",
                     "ENABLE_LEADER_ELECTION": "false", "ENABLE_CA_SERVER": "false"},
            ))  # fmt: skip
            urls[scope] = f"http://127.0.0.1:{http}"
        for child, u in zip(istiods, urls.values(), strict=True):
            wait_http(u + "/ready", READY_TIMEOUT, child)
        urls["admin"] = f"http://127.0.0.1:{admin_port}"
        yield urls
    finally:
        for child in istiods:
            child.stop()
        proxy.stop()
        for name in OURS:
            core.delete_namespace(name)
        core.delete_namespaced_config_map(CM, "istio-system")


def _exactly(istiod: str, cluster: Cluster, present: set[str]) -> tuple[bool, object]:
    """istiod holds the API server's endpoints of ``present`` and nothing of our other ones."""
    seen = istiod_endpoints(istiod)
    api = api_endpoints(cluster.api, OURS)
    view = {ns: seen.get(ns) for ns in OURS}
    want = {ns: api.get(ns) if ns in present else None for ns in OURS}
    return view == want and all(want[ns] for ns in present), {"istiod": view, "want": want}


def test_two_istiods_each_end_with_exactly_their_scopes_endpoints(
    cluster: Cluster, rig: dict[str, str]
) -> None:
    a, b, admin = rig["team-a"], rig["team-b"], rig["admin"]
    eventually("istiod A holds exactly team-a's namespace", lambda: _exactly(a, cluster, {A}))
    eventually("istiod B holds exactly team-b's namespace", lambda: _exactly(b, cluster, {B}))
    doc = _debug(admin, "team-a")
    assert doc["scope"] == "team-a"
    assert {n["name"] for n in doc["namespaces"] if n["enrolled"]} >= {A, "istio-system"}
    assert B not in {n["name"] for n in doc["namespaces"] if n["enrolled"]}

    # One relabel: NONE joins team-a; istiod B's view stays as it was.
    k8s.CoreV1Api(cluster.api).patch_namespace(NONE, {"metadata": {"labels": {LABEL: "a"}}})
    eventually("istiod A follows the relabel", lambda: _exactly(a, cluster, {A, NONE}))
    ok, detail = _exactly(b, cluster, {B})
    assert ok, f"a relabel into team-a changed team-b's istiod: {detail}"

    # And back out: NONE leaves team-a (both ways, no restart).
    k8s.CoreV1Api(cluster.api).patch_namespace(NONE, {"metadata": {"labels": {LABEL: None}}})
    eventually("istiod A drops the namespace again", lambda: _exactly(a, cluster, {A}))
    ok, detail = _exactly(b, cluster, {B})
    assert ok, detail
    assert _debug(admin, "team-b")["selectorsSource"]["source"] == f"configmap:istio-system/{CM}"

    # team-b's own mesh ConfigMap moves team-b only: B leaves, A joins its view.
    _set_mesh(cluster.api, ONLY_A)
    eventually("istiod B follows its ConfigMap", lambda: _exactly(b, cluster, {A}))
    ok, detail = _exactly(a, cluster, {A})
    assert ok, f"team-b's ConfigMap changed team-a's istiod: {detail}"
