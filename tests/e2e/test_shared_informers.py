"""Three client-go informers (replicas) through ONE discofilter, counted by kube-apiserver.

Issue 15's acceptance with real peers: three informers of the same content type and WatchList
setting through one proxy, through churn and enrollment changes both ways, each end equal to the
filtered truth; and kube-apiserver's own gauge of open watches
(``apiserver_longrunning_requests{verb="WATCH"}``, scraped from its /metrics with the admin
token) shows what the proxy costs it: one upstream watch per kind with ``--shared-watches``, three
without (the per-client run in the same module shows the gauge reacts).

The proxy is standalone (TLS, callers' bearer tokens), the mode shared watches are meant for;
each test starts its own proxy so the gauge's baseline excludes it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .churn import delete_pod, make_namespace, make_workload, set_enrolled, touch_pods
from .harness import SELECTOR, Cluster
from .processes import Child, free_port, python_module
from .test_informer_through_proxy import CONVERGE_TIMEOUT, SYNC_TIMEOUT, truth

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

REPLICAS = 3
PODS = 3
KINDS = {"pods": "", "services": "", "endpointslices": "discovery.k8s.io"}
"""The informer peer's kinds and their API groups (kube-apiserver labels watches by both)."""

PROXY_START_TIMEOUT = 30.0
WATCH_COUNT_TIMEOUT = 30.0
"""Seconds for the gauge to settle on the expected count (reconnects after a 410 are fast)."""

SHARED = "shared"
PER_CLIENT = "per-client"
_run = itertools.count()


def shared_flag_missing() -> str | None:
    out = subprocess.run(
        [*python_module("serve", "--help")], capture_output=True, text=True, timeout=60
    )
    return (
        None if "--shared-watches" in out.stdout else "`discofilter serve` has no --shared-watches"
    )


@dataclass(frozen=True)
class TlsProxy:
    url: str
    ca: Path
    child: Child
    base_watches: dict[str, int]
    """kube-apiserver's watch gauge (``cluster_watches``) just before this proxy started: a
    shared proxy may open its upstream watches at start, before any client."""


def _ssl(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def _get(url: str, token: str, ca: Path) -> bytes:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10, context=_ssl(ca)) as r:
        body: bytes = r.read()
        return body


@contextlib.contextmanager
def start_tls_proxy(
    cluster: Cluster, state: Path, mode: str, *, verbose: int = 0
) -> Iterator[TlsProxy]:
    """A standalone ``discofilter serve`` (self-signed TLS, callers' own tokens) in ``mode``;
    skips the test when ``mode`` is shared and this build has no ``--shared-watches``.
    ``verbose`` is the count of ``-v`` (2: every logger at DEBUG, for tests that read the log)."""
    if mode == SHARED and (reason := shared_flag_missing()) is not None:
        pytest.skip(f"E2E SKIPPED — {reason} (issue 15 phase B not merged)")
    base = cluster_watches(cluster)
    port = free_port()
    ca = state / "proxy-ca.crt"
    argv = python_module(
        *(["-" + "v" * verbose] if verbose else []),
        "serve",
        "--listen",
        f"127.0.0.1:{port}",
        "--kubeconfig",
        str(cluster.kubeconfig),
        "--selector",
        SELECTOR,
        "--self-signed-tls",
        "--self-signed-ca-out",
        str(ca),
        "--admin-listen",
        "off",
    )
    if mode == SHARED:
        argv.append("--shared-watches")
    child = Child(argv, state / "proxy.log")
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + PROXY_START_TIMEOUT
        while True:
            if child.proc.poll() is not None:
                pytest.fail(f"proxy exited {child.proc.returncode}\n{child.tail()}")
            try:
                if ca.exists():
                    _get(url + "/version", cluster.token, ca)
                    break
            except (urllib.error.URLError, OSError, ssl.SSLError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"proxy not answering after {PROXY_START_TIMEOUT}s\n{child.tail()}")
            time.sleep(0.1)  # polling a port for start-up: no event to await across processes
        yield TlsProxy(url, ca, child, base)
    finally:
        child.stop()


@pytest.fixture(scope="module")
def cluster(own_cluster: Cluster) -> Cluster:
    """This module counts kube-apiserver's open watches: it gets an API server of its own."""
    return own_cluster


@pytest.fixture
def tls_proxy(
    request: pytest.FixtureRequest, cluster: Cluster, tmp_path: Path
) -> Iterator[TlsProxy]:
    with start_tls_proxy(cluster, tmp_path, request.param) as p:
        yield p


def informer_kubeconfig(path: Path, proxy: TlsProxy, token: str) -> Path:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "p",
                        "cluster": {"server": proxy.url, "certificate-authority": str(proxy.ca)},
                    }
                ],
                "users": [{"name": "u", "user": {"token": token}}],
                "contexts": [{"name": "p", "context": {"cluster": "p", "user": "u"}}],
                "current-context": "p",
            }
        )
    )
    return path


_SAMPLE = re.compile(r"^apiserver_longrunning_requests\{(?P<labels>[^}]*)\} (?P<value>\S+)$")


def cluster_watches(cluster: Cluster) -> dict[str, int]:
    """kube-apiserver's count of open cluster-wide WATCH requests for the informer's kinds."""
    text = _get(cluster.url + "/metrics", cluster.token, cluster.ca).decode()
    out = dict.fromkeys(KINDS, 0)
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m is None:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m["labels"]))
        res = labels.get("resource", "")
        if (
            labels.get("verb") == "WATCH"
            and labels.get("scope") == "cluster"
            and res in KINDS
            and labels.get("group") == KINDS[res]
        ):
            out[res] += int(float(m["value"]))
    return out


def wait_watch_delta(cluster: Cluster, base: dict[str, int], want: int) -> dict[str, int]:
    """Until every kind has ``want`` more open watches than ``base``; fail with the last count."""
    deadline = time.monotonic() + WATCH_COUNT_TIMEOUT
    while True:
        now = cluster_watches(cluster)
        delta = {k: now[k] - base[k] for k in KINDS}
        if all(v == want for v in delta.values()):
            return delta
        if time.monotonic() > deadline:
            pytest.fail(f"upstream watches per kind {delta}, want {want} each (base {base})")
        time.sleep(0.2)  # polling kube-apiserver's gauge: there is no event to await


def converge_all(informers: list[Child], cluster: Cluster) -> list[dict[str, Any]]:
    """Dump every informer until each cache equals the truth (fail with the diff)."""
    deadline = time.monotonic() + CONVERGE_TIMEOUT
    while True:
        want = truth(cluster)
        snaps = []
        for inf in informers:
            inf.send("dump")
            snaps.append(inf.read_json(10))
        if all(s["cache"] == want for s in snaps):
            return snaps
        if time.monotonic() > deadline:
            bad = [i for i, s in enumerate(snaps) if s["cache"] != want]
            diffs = {
                i: {
                    kind: {
                        "missing": [e for e in want[kind] if e not in snaps[i]["cache"][kind]],
                        "extra": [e for e in snaps[i]["cache"][kind] if e not in want[kind]],
                    }
                    for kind in want
                }
                for i in bad
            }
            pytest.fail(
                f"informers {bad} != filtered truth after {CONVERGE_TIMEOUT}s: {diffs}\n"
                + "\n".join(informers[i].tail() for i in bad)
            )
        time.sleep(0.2)  # polling child processes' caches: there is no event to await


CASES = [
    pytest.param(SHARED, "json", "off", id="shared-json-watchlist-off"),
    pytest.param(SHARED, "json", "on", id="shared-json-watchlist-on"),
    pytest.param(SHARED, "protobuf", "off", id="shared-protobuf-watchlist-off"),
    pytest.param(SHARED, "protobuf", "on", id="shared-protobuf-watchlist-on"),
    # The comparison: the same three replicas without sharing cost the API server three watches.
    pytest.param(PER_CLIENT, "json", "off", id="per-client-json-watchlist-off"),
    pytest.param(PER_CLIENT, "protobuf", "on", id="per-client-protobuf-watchlist-on"),
]


@pytest.mark.parametrize(("tls_proxy", "content_type", "watch_list"), CASES, indirect=["tls_proxy"])
def test_three_informers_one_upstream_watch_per_kind(
    cluster: Cluster,
    tls_proxy: TlsProxy,
    informer_binary: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    content_type: str,
    watch_list: str,
) -> None:
    shared = request.node.callspec.params["tls_proxy"] == SHARED
    run = next(_run)
    mesh_a, mesh_b = f"sh-mesh-a-{run}", f"sh-mesh-b-{run}"
    batch_a, batch_b = f"sh-batch-a-{run}", f"sh-batch-b-{run}"
    for ns, enrolled in ((mesh_a, True), (mesh_b, True), (batch_a, False), (batch_b, False)):
        make_namespace(cluster.api, ns, enrolled=enrolled)
        make_workload(cluster.api, ns, "web", PODS)

    base = tls_proxy.base_watches
    kubeconfig = informer_kubeconfig(tmp_path / "informer.kubeconfig", tls_proxy, cluster.token)
    informers: list[Child] = []
    try:
        for i in range(REPLICAS):
            informers.append(
                Child(
                    [
                        str(informer_binary),
                        "--kubeconfig",
                        str(kubeconfig),
                        "--content-type",
                        content_type,
                        "--watch-list",
                        watch_list,
                    ],
                    tmp_path / f"informer-{i}.log",
                    stdin=True,
                )
            )
        for inf in informers:
            hello = inf.read_json(SYNC_TIMEOUT)
            assert hello["synced"] is True
            assert hello["watch_list"] is (watch_list == "on")
        converge_all(informers, cluster)
        per_kind = 1 if shared else REPLICAS
        wait_watch_delta(cluster, base, per_kind)

        for gen in range(3):
            touch_pods(cluster.api, batch_a, "web", PODS, gen)
            touch_pods(cluster.api, batch_b, "web", PODS, gen)
        touch_pods(cluster.api, mesh_a, "web", PODS, 1)
        delete_pod(cluster.api, mesh_a, "web-0")
        delete_pod(cluster.api, batch_a, "web-0")
        make_workload(cluster.api, mesh_b, "api", 1)
        set_enrolled(cluster.api, mesh_b, False)
        set_enrolled(cluster.api, batch_b, True)
        snaps = converge_all(informers, cluster)
        for snap in snaps:
            namespaces = {e["namespace"] for kind in snap["cache"].values() for e in kind}
            assert mesh_b not in namespaces and batch_b in namespaces
            assert mesh_a in namespaces and batch_a not in namespaces
        # After the flips (410s, relists from the cache in shared mode), still one per kind.
        wait_watch_delta(cluster, base, per_kind)
    finally:
        for inf in informers:
            inf.stop()
