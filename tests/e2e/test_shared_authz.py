"""A caller limited to one namespace, through shared watches, against the real kube-apiserver.

DESIGN contract 5 with real peers: a shared upstream watch runs under the proxy's identity, so
the proxy must authorize every caller as itself before it serves a byte from the cache. A
ServiceAccount ``reader`` whose Role lets it get/list/watch pods in ``authz-a`` only, with a
token from the TokenRequest API, talks to a standalone TLS ``discofilter serve
--shared-watches`` while an admin watch of every pod streams through the same proxy (so the
cache is warm and holds both namespaces' pods):

* its cluster-wide LIST and WATCH of pods (plain, ``resourceVersion=0``, paged, an informer's
  resume; JSON and protobuf) are refused with a ``403`` Kubernetes ``Status`` from the proxy's
  authorizer and carry no pod of either namespace; so is the admin impersonating the reader; a
  bogus token gets ``401``; no credentials get what kube-apiserver itself answers anonymous
  callers (401 or 403), never data;
* its LIST in ``authz-a`` works (its pods), in ``authz-b`` is kube-apiserver's own ``403``
  (passed through: the message names the ServiceAccount, which the proxy does not know);
* the admin's stream keeps delivering: a pod created after the refusals arrives as ADDED;
* kubectl with the reader's kubeconfig: ``get pods -A`` (Table, the direct path, and ``-o json``,
  the shared path) fails Forbidden, ``get pods -n authz-a`` lists its pods;
* a ClusterRoleBinding created for a refused ServiceAccount lets it LIST (not WATCH: it got
  ``list`` only) within the denied-verdict TTL, and deleting it shuts it out again within the
  allowed-verdict TTL (docs/shared-watches.md, "Authorization");
* the proxy's log, every logger at DEBUG, holds none of the tokens.

The session cluster serves: this module counts no watches.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import queue
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from kubernetes import client as k8s

from .churn import make_namespace, make_workload
from .harness import Cluster
from .test_shared_informers import SHARED, TlsProxy, informer_kubeconfig, start_tls_proxy

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

NS_A, NS_B = "authz-a", "authz-b"
READER = "reader"
GRANTEE = "grantee"
PODS = 2
APPS = {NS_A: "alpha", NS_B: "beta"}
"""One app per namespace, so a pod name alone tells which namespace it came from."""
EVENT_TIMEOUT = 20.0
"""Seconds for one watch event to cross the proxy (milliseconds when idle)."""
KUBECTL_TIMEOUT = 30.0
"""Seconds for one kubectl call (discovery + one LIST: well under a second)."""
HTTP_TIMEOUT = 10.0
GRANT_TIMEOUT = 15.0
"""Seconds for a new ClusterRoleBinding to let a caller in: the proxy's 2 s denied TTL plus
RBAC's informer propagation in kube-apiserver (milliseconds), with room for a loaded box."""
REVOKE_TIMEOUT = 25.0
"""Seconds for a deleted binding to shut a caller out: the 10 s allowed TTL plus the same."""
JSON, PROTOBUF = "application/json", "application/vnd.kubernetes.protobuf"
CACHED_LIST = "/api/v1/pods?resourceVersion=0"
"""A LIST the shared cache answers at once (``resourceVersion=0``: any state is fine)."""


@dataclass(frozen=True)
class World:
    proxy: TlsProxy
    admin: str
    reader: str
    grantee: str
    """ServiceAccount GRANTEE's token: no rights until test_binding_changes_bite grants some."""
    pods: dict[str, frozenset[str]]
    """Pod names per namespace (both enrolled, both in the cache; no name in both)."""


def service_account_token(api: k8s.ApiClient, ns: str, name: str) -> str:
    """A new ServiceAccount and a token for it from the TokenRequest API (what a pod's projected
    token is)."""
    core = k8s.CoreV1Api(api)
    core.create_namespaced_service_account(
        ns, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name=name))
    )
    answer = core.create_namespaced_service_account_token(
        name,
        ns,
        k8s.AuthenticationV1TokenRequest(
            spec=k8s.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
        ),
    )
    status = answer.status
    assert status is not None and status.token, answer
    return str(status.token)


def grant_pod_reader(api: k8s.ApiClient) -> None:
    """get/list/watch on pods in NS_A for the ServiceAccount READER there."""
    rbac = k8s.RbacAuthorizationV1Api(api)
    rbac.create_namespaced_role(
        NS_A,
        k8s.V1Role(
            metadata=k8s.V1ObjectMeta(name="pod-reader"),
            rules=[
                k8s.V1PolicyRule(
                    api_groups=[""], resources=["pods"], verbs=["get", "list", "watch"]
                )
            ],
        ),
    )
    rbac.create_namespaced_role_binding(
        NS_A,
        k8s.V1RoleBinding(
            metadata=k8s.V1ObjectMeta(name="pod-reader"),
            role_ref=k8s.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="Role", name="pod-reader"
            ),
            subjects=[k8s.RbacV1Subject(kind="ServiceAccount", name=READER, namespace=NS_A)],
        ),
    )


@pytest.fixture(scope="module")
def world(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    pods: dict[str, frozenset[str]] = {}
    for ns, app in APPS.items():
        make_namespace(cluster.api, ns, enrolled=True)
        make_workload(cluster.api, ns, app, PODS)
        pods[ns] = frozenset(f"{app}-{i}" for i in range(PODS))
    token = service_account_token(cluster.api, NS_A, READER)
    grant_pod_reader(cluster.api)
    grantee = service_account_token(cluster.api, NS_B, GRANTEE)
    # -vv: every logger at DEBUG (aiohttp's and the upstream client's too), so the log test
    # below reads the most the proxy can be made to write.
    state = tmp_path_factory.mktemp("authz-proxy")
    with start_tls_proxy(cluster, state, SHARED, verbose=2) as proxy:
        yield World(proxy, cluster.token, token, grantee, pods)


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _conn(proxy: TlsProxy) -> http.client.HTTPSConnection:
    u = urlsplit(proxy.url)
    ctx = ssl.create_default_context(cafile=str(proxy.ca))
    return http.client.HTTPSConnection(u.hostname or "", u.port, context=ctx, timeout=HTTP_TIMEOUT)


def get(
    proxy: TlsProxy,
    path: str,
    token: str | None,
    accept: str = JSON,
    extra: dict[str, str] | None = None,
) -> Answer:
    """One GET through the proxy; the whole body (a refused watch is a plain response)."""
    headers = {"Accept": accept, **(extra or {})}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    conn = _conn(proxy)
    try:
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        return Answer(r.status, r.read())
    finally:
        conn.close()


class AdminWatch:
    """``GET /api/v1/pods?watch=1`` as the admin, read line by line by a thread into a queue."""

    def __init__(self, proxy: TlsProxy, token: str) -> None:
        self._conn = _conn(proxy)
        self._conn.request(
            "GET",
            "/api/v1/pods?watch=1&timeoutSeconds=110",
            headers={"Accept": "application/json", "Authorization": f"Bearer {token}"},
        )
        self._resp = self._conn.getresponse()
        assert self._resp.status == 200, self._resp.read()
        if self._conn.sock is not None:
            self._conn.sock.settimeout(None)  # idle gaps are normal; next() has the deadline
        self.events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while line := self._resp.readline():
                if line.strip():
                    self.events.put(json.loads(line))
        except (OSError, ValueError, http.client.HTTPException):
            pass
        finally:
            self.events.put(None)  # the end: next() fails instead of waiting out its deadline

    def next(self) -> dict[str, Any]:
        try:
            ev = self.events.get(timeout=EVENT_TIMEOUT)
        except queue.Empty:
            pytest.fail(f"admin watch: no event in {EVENT_TIMEOUT}s")
        if ev is None:
            pytest.fail("admin watch ended")
        return ev

    def until_added(self, ns: str, name: str) -> dict[str, Any]:
        while True:
            ev = self.next()
            meta = ev["object"].get("metadata", {})
            if ev["type"] == "ADDED" and (meta.get("namespace"), meta.get("name")) == (ns, name):
                return ev

    def close(self) -> None:
        # Shut the socket down (the reader sees EOF and ends), and only then close the
        # connection: closing under a reading thread races http.client's own close.
        sock = self._conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(HTTP_TIMEOUT)
        self._conn.close()


def assert_refused(answer: Answer, code: int, pods: dict[str, frozenset[str]]) -> dict[str, Any]:
    """``code`` with a Kubernetes Status body and not one pod name of the namespaces."""
    assert answer.status == code, answer.body[:500]
    doc = answer.json()
    assert doc["kind"] == "Status" and doc["code"] == code, doc
    assert doc["status"] == "Failure"
    assert "items" not in doc and b'"kind":"Pod"' not in answer.body.replace(b" ", b"")
    for ns, names in pods.items():
        for name in names:
            assert name.encode() not in answer.body, (ns, name, doc)
    return dict(doc)


def direct_status(cluster: Cluster, path: str, token: str | None) -> int:
    """kube-apiserver's own status for ``path`` (no proxy), as ``token`` or anonymous."""
    req = urllib.request.Request(cluster.url + path)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    ctx = ssl.create_default_context(cafile=str(cluster.ca))
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT, context=ctx) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def pod_names(answer: Answer) -> set[tuple[str, str]]:
    assert answer.status == 200, answer.body[:500]
    doc = answer.json()
    assert doc["kind"] == "PodList"
    return {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in doc["items"]}


def test_reader_refused_cluster_wide_while_admin_streams(cluster: Cluster, world: World) -> None:
    proxy, pods = world.proxy, world.pods
    watch = AdminWatch(proxy, world.admin)
    try:
        first = watch.next()  # the cache's initial state: synthetic ADDED (no resourceVersion)
        assert first["type"] == "ADDED"

        # The admin is served from the same cache (resourceVersion=0: the cache as it is; a
        # consistent read may wait out consistentReadTimeoutSeconds and go upstream instead, see
        # test_shared_consistent_read): cluster-wide, both namespaces.
        everything = get(proxy, CACHED_LIST, world.admin)
        assert {(ns, n) for ns, names in pods.items() for n in names} <= pod_names(everything)
        rv = everything.json()["metadata"]["resourceVersion"]

        # Cluster-wide, as the reader, in every form a client sends (the last one is an
        # informer's resume from the cache's own RV): refused by the proxy's authorizer (its
        # wording says so; kube-apiserver's names the user), before any byte of the cache.
        refused = [
            ("list", "/api/v1/pods"),
            ("list", "/api/v1/pods?resourceVersion=0"),
            ("list", "/api/v1/pods?limit=1"),
            ("watch", "/api/v1/pods?watch=1"),
            ("watch", f"/api/v1/pods?watch=1&allowWatchBookmarks=true&resourceVersion={rv}"),
        ]
        for accept in (JSON, PROTOBUF):
            for verb, path in refused:
                doc = assert_refused(get(proxy, path, world.reader, accept), 403, pods)
                assert doc["reason"] == "Forbidden", doc
                want = f'discofilter: the caller may not {verb} resource "pods"'
                assert doc["message"].startswith(want), (accept, path, doc)
        # The admin impersonating the reader is the reader: Impersonate-* reach the review.
        as_reader = {"Impersonate-User": f"system:serviceaccount:{NS_A}:{READER}"}
        for verb, path in (("list", "/api/v1/pods"), ("watch", "/api/v1/pods?watch=1")):
            doc = assert_refused(get(proxy, path, world.admin, extra=as_reader), 403, pods)
            assert doc["message"].startswith(f"discofilter: the caller may not {verb}"), doc

        # Unknown and missing credentials: what kube-apiserver itself answers them (anonymous:
        # 401 with anonymous auth off, 403 with it on), as a Status, never data.
        for path in ("/api/v1/pods", "/api/v1/pods?watch=1"):
            bogus = assert_refused(get(proxy, path, "not-a-token"), 401, pods)
            assert bogus["reason"] == "Unauthorized"
            assert direct_status(cluster, path, "not-a-token") == 401
            anonymous = get(proxy, path, None)
            assert anonymous.status in (401, 403), anonymous.body[:500]
            assert anonymous.status == direct_status(cluster, path, None)
            assert_refused(anonymous, anonymous.status, pods)

        # Its own namespace: allowed (passed through as the caller); the other: the API
        # server's own 403 naming the ServiceAccount it authenticated.
        mine = pod_names(get(proxy, f"/api/v1/namespaces/{NS_A}/pods", world.reader))
        assert mine == {(NS_A, n) for n in pods[NS_A]}
        other = assert_refused(
            get(proxy, f"/api/v1/namespaces/{NS_B}/pods", world.reader), 403, pods
        )
        assert f"system:serviceaccount:{NS_A}:{READER}" in other["message"], other
        assert f'namespace "{NS_B}"' in other["message"], other

        # The refusals disturbed nothing: the admin's stream delivers the next pod.
        make_workload(cluster.api, NS_A, "late", 1)
        added = watch.until_added(NS_A, "late-0")
        assert added["object"]["kind"] == "Pod"
    finally:
        watch.close()


def newest_kubectl() -> Path:
    found = shutil.which("kubectl")
    if found is None:
        pytest.skip("E2E SKIPPED — no kubectl on PATH")
    versions = []
    for p in Path(os.path.realpath(found)).parent.glob("kubectl.*"):
        m = re.fullmatch(r"kubectl\.(\d+)\.(\d+)", p.name)
        if m:
            versions.append(((int(m[1]), int(m[2])), p))
    if not versions:
        pytest.skip(f"E2E SKIPPED — no kubectl.<major>.<minor> beside {os.path.realpath(found)}")
    return max(versions)[1]


def kubectl(binary: Path, kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary), "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=KUBECTL_TIMEOUT,
    )


@pytest.mark.kubectl
def test_kubectl_as_reader(world: World, tmp_path: Path) -> None:
    binary = newest_kubectl()
    kubeconfig = informer_kubeconfig(tmp_path / "reader.kubeconfig", world.proxy, world.reader)
    # Table output takes the direct path (kube-apiserver refuses the reader itself); -o json is
    # a cluster-wide JSON LIST, served from the cache after the proxy's own review.
    for output in ([], ["-o", "json"]):
        out = kubectl(binary, kubeconfig, "get", "pods", "-A", *output)
        assert out.returncode != 0, out.stdout
        assert "Forbidden" in out.stderr, out.stderr
        for names in world.pods.values():
            assert not any(n in out.stdout for n in names), out.stdout
    out = kubectl(binary, kubeconfig, "get", "pods", "-n", NS_A, "-o", "name")
    assert out.returncode == 0, out.stderr
    listed = set(out.stdout.split())
    assert {f"pod/{n}" for n in world.pods[NS_A]} <= listed, out.stdout
    assert not {f"pod/{n}" for n in world.pods[NS_B]} & listed, out.stdout


def wait_status(proxy: TlsProxy, path: str, token: str, want: int, timeout: float) -> Answer:
    """GET ``path`` until it answers ``want``; fail with the last answer after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        answer = get(proxy, path, token)
        if answer.status == want:
            return answer
        if time.monotonic() > deadline:
            pytest.fail(f"{path}: {answer.status} after {timeout}s, want {want}: {answer.body!r}")
        time.sleep(0.2)  # polling the proxy's verdict cache expiring: no event to await


def test_binding_changes_bite(cluster: Cluster, world: World) -> None:
    """The verdict cache is short: a new ClusterRoleBinding lets a refused caller in within the
    denied TTL (2 s), its removal shuts the caller out within the allowed TTL (10 s); a grant
    of ``list`` alone leaves ``watch`` refused (the review is per verb)."""
    proxy, pods = world.proxy, world.pods
    rbac = k8s.RbacAuthorizationV1Api(cluster.api)
    name = "authz-list-pods"
    assert_refused(get(proxy, "/api/v1/pods", world.grantee), 403, pods)  # cached: denied
    rbac.create_cluster_role(
        k8s.V1ClusterRole(
            metadata=k8s.V1ObjectMeta(name=name),
            rules=[k8s.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=["list"])],
        )
    )
    rbac.create_cluster_role_binding(
        k8s.V1ClusterRoleBinding(
            metadata=k8s.V1ObjectMeta(name=name),
            role_ref=k8s.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=name
            ),
            subjects=[k8s.RbacV1Subject(kind="ServiceAccount", name=GRANTEE, namespace=NS_B)],
        )
    )
    try:
        listed = wait_status(proxy, CACHED_LIST, world.grantee, 200, GRANT_TIMEOUT)
        assert {(ns, n) for ns, names in pods.items() for n in names} <= pod_names(listed)
        watched = assert_refused(get(proxy, "/api/v1/pods?watch=1", world.grantee), 403, pods)
        assert watched["message"].startswith("discofilter: the caller may not watch"), watched
    finally:
        rbac.delete_cluster_role_binding(name)
    try:
        wait_status(proxy, CACHED_LIST, world.grantee, 403, REVOKE_TIMEOUT)
    finally:
        rbac.delete_cluster_role(name)


def test_log_holds_no_token(world: World) -> None:
    # Requests of every kind first (refused, allowed, unknown token), so the log has had every
    # chance to mention one, whatever order the module's tests ran in.
    proxy = world.proxy
    assert get(proxy, "/api/v1/pods", world.reader).status == 403
    assert get(proxy, "/api/v1/pods?watch=1", world.reader).status == 403
    assert get(proxy, f"/api/v1/namespaces/{NS_A}/pods", world.reader).status == 200
    assert get(proxy, CACHED_LIST, world.admin).status == 200
    assert get(proxy, CACHED_LIST, world.grantee).status in (200, 403)
    log = proxy.child.log.read_bytes()
    tokens = (("reader", world.reader), ("admin", world.admin), ("grantee", world.grantee))
    for who, token in tokens:
        assert token.encode() not in log, f"the {who}'s token is in {proxy.child.log}"
