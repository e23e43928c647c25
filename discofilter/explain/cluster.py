"""Read the facts a selector dry-run needs from a live cluster or the emulator.

Access goes through ``kubernetes_asyncio`` so the command authenticates exactly like ``kubectl``
(exec plugins such as EKS/GKE token helpers included, which the proxy's own upstream client
deliberately does not run), or to an explicit ``--upstream`` URL (the emulator).

What is read, and what it costs the API server:

* namespaces: one paged LIST (``limit=500``), labels kept;
* pods, services, endpointslices: paged LISTs asking for ``PartialObjectMetadataList``
  (metadata only, ~0.5 KB per pod instead of ~6.5 KB; servers that cannot do it answer full
  JSON, which is counted the same way);
* churn: one WATCH per kind from the LIST's resourceVersion for ``sample`` seconds, counting
  events per namespace (``timeoutSeconds`` makes the server end it too). A ``410 Expired`` ends
  that kind's sample early; the rate is then computed over the time actually watched.
* Istio's current discoverySelectors: the ``mesh`` key of the ``istio`` ConfigMap (or
  ``istio-<revision>``) in ``istio-system`` (absent = every namespace, Istio's default).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import config as k8s_config

from discofilter.errors import ConfigError, UpstreamError, UpstreamStatusError

log = logging.getLogger(__name__)

PAGE = 500
# Metadata-only lists when the server can (kube-apiserver since 1.15), plain JSON otherwise.
METADATA_ACCEPT = (
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
)

# (column name, list path) of the kinds counted per namespace; istiod watches all three.
COUNTED: tuple[tuple[str, str], ...] = (
    ("pods", "/api/v1/pods"),
    ("services", "/api/v1/services"),
    ("endpointslices", "/apis/discovery.k8s.io/v1/endpointslices"),
)


@dataclass
class ClusterFacts:
    namespaces: dict[str, dict[str, str]] = field(default_factory=dict)
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    """Per kind column: objects per namespace."""
    events: Counter[str] = field(default_factory=Counter)
    """Watch events per namespace during the sample (all counted kinds)."""
    sampled_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    """Things the reader could not do (a kind the server does not serve, an expired watch)."""

    def churn(self) -> dict[str, float]:
        if self.sampled_seconds <= 0:
            return {}
        return {ns: n / self.sampled_seconds for ns, n in self.events.items()}


def _kubeconfig_path(kubeconfig: str | None) -> str | None:
    """The kubeconfig to use as kubectl picks it, or None to use the in-cluster account."""
    path = kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    if path:
        return path
    default = os.path.expanduser("~/.kube/config")
    if os.path.exists(default) or not os.environ.get("KUBERNETES_SERVICE_HOST"):
        return default
    return None


async def make_api_client(
    upstream: str | None,
    kubeconfig: str | None,
    context: str | None,
    insecure_skip_tls_verify: bool = False,
) -> k8s_client.ApiClient:
    """An ApiClient for ``--upstream URL``, a kubeconfig, or the in-cluster service account."""
    cfg = k8s_client.Configuration()
    if upstream:
        cfg.host = upstream.rstrip("/")
    else:
        path = _kubeconfig_path(kubeconfig)
        try:
            if path is not None:
                await k8s_config.load_kube_config(
                    config_file=path, context=context, client_configuration=cfg
                )
            else:
                k8s_config.load_incluster_config(client_configuration=cfg)
        except (k8s_config.ConfigException, OSError) as e:
            raise ConfigError(f"cannot load cluster credentials: {e}") from e
    if insecure_skip_tls_verify:
        cfg.verify_ssl = False
    return k8s_client.ApiClient(configuration=cfg)


class ClusterReader:
    def __init__(self, api: k8s_client.ApiClient) -> None:
        self._api = api

    async def _get(
        self,
        path: str,
        query: Mapping[str, str],
        accept: str = "application/json",
        request_timeout: float = 60.0,
    ) -> Any:
        try:
            return await self._api.call_api(
                path,
                "GET",
                query_params=list(query.items()),
                header_params={"Accept": accept},
                auth_settings=["BearerToken"],
                _preload_content=False,
                _return_http_data_only=True,
                _request_timeout=request_timeout,
            )
        except OSError as e:  # aiohttp.ClientConnectorError is an OSError
            raise UpstreamError(f"GET {path}: {e}") from e

    async def _get_json(
        self, path: str, query: Mapping[str, str], accept: str = "application/json"
    ) -> Any:
        """One GET that must answer 200 with a JSON body (else UpstreamError)."""
        resp = await self._get(path, query, accept)
        try:
            body = await resp.read()
        finally:
            resp.release()
        if resp.status != 200:
            raise _status_error(path, resp.status, body)
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise UpstreamError(f"GET {path}: answer is not JSON") from e

    async def get_json(self, path: str, query: Mapping[str, str] | None = None) -> Any:
        return await self._get_json(path, query or {})

    async def list_all(
        self, path: str, accept: str = "application/json"
    ) -> tuple[list[dict[str, Any]], str]:
        """Every item over all pages, and the resourceVersion of the first page."""
        items: list[dict[str, Any]] = []
        query = {"limit": str(PAGE)}
        rv = ""
        while True:
            doc = await self._get_json(path, query, accept)
            items.extend(doc.get("items") or [])
            meta = doc.get("metadata") or {}
            rv = rv or str(meta.get("resourceVersion", ""))
            token = meta.get("continue")
            if not token:
                return items, rv
            query = {"limit": str(PAGE), "continue": token}

    async def watch_lines(
        self, path: str, resource_version: str, seconds: float
    ) -> AsyncIterator[dict[str, Any]]:
        """Watch events (decoded) until ``seconds`` pass or the server ends the watch."""
        query = {
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(max(1, int(seconds + 0.999))),
        }
        resp = await self._get(path, query, request_timeout=seconds + 30)
        try:
            if resp.status != 200:
                raise _status_error(path, resp.status, await resp.read())
            while True:
                line = await resp.content.readline()
                if not line:
                    return
                if line.strip():
                    yield orjson.loads(line)
        finally:
            resp.release()


def _status_error(path: str, code: int, body: bytes) -> UpstreamStatusError:
    status: dict[str, object] | None = None
    message = f"HTTP {code}"
    try:
        doc = orjson.loads(body)
        if isinstance(doc, dict):
            status = doc
            message = str(doc.get("message") or message)
    except orjson.JSONDecodeError:
        pass
    return UpstreamStatusError(code, status, f"GET {path}: {message}")


def _namespace_of(item: Mapping[str, Any]) -> str:
    return str((item.get("metadata") or {}).get("namespace") or "")


def istio_configmap_name(revision: str = "") -> str:
    """Istio's mesh ConfigMap: ``istio``, or ``istio-<revision>`` for a revisioned control plane."""
    return f"istio-{revision}" if revision and revision != "default" else "istio"


async def read_istio_mesh(
    reader: ClusterReader, namespace: str = "istio-system", revision: str = ""
) -> str | None:
    """The ``mesh`` text of Istio's mesh ConfigMap, or None when there is none."""
    name = istio_configmap_name(revision)
    try:
        cm = await reader.get_json(f"/api/v1/namespaces/{namespace}/configmaps/{name}")
    except UpstreamStatusError as e:
        if e.code in (403, 404):
            return None
        raise
    mesh = (cm.get("data") or {}).get("mesh")
    return mesh if isinstance(mesh, str) else None


async def gather(
    reader: ClusterReader, sample_seconds: float, counted: tuple[tuple[str, str], ...] = COUNTED
) -> ClusterFacts:
    """Namespaces, object counts, and (when ``sample_seconds`` > 0) churn per namespace."""
    facts = ClusterFacts()
    ns_items, _ = await reader.list_all("/api/v1/namespaces")
    for item in ns_items:
        meta = item.get("metadata") or {}
        facts.namespaces[str(meta.get("name", ""))] = dict(meta.get("labels") or {})

    async def count(kind: str, path: str) -> str | None:
        try:
            items, rv = await reader.list_all(path, METADATA_ACCEPT)
        except UpstreamStatusError as e:
            facts.notes.append(f"{kind}: not counted ({e})")
            return None
        facts.counts[kind] = Counter(_namespace_of(i) for i in items)
        return rv

    rvs = await asyncio.gather(*(count(kind, path) for kind, path in counted))
    if sample_seconds <= 0:
        return facts

    watched: list[float] = []

    async def sample(kind: str, path: str, rv: str) -> None:
        start = time.monotonic()
        deadline = start + sample_seconds

        async def consume() -> None:
            async for ev in reader.watch_lines(path, rv, sample_seconds):
                etype = ev.get("type")
                if etype == "ERROR":
                    obj = ev.get("object") or {}
                    facts.notes.append(f"{kind}: watch ended early: {obj.get('message', obj)}")
                    return
                if etype == "BOOKMARK":
                    continue
                facts.events[_namespace_of(ev.get("object") or {})] += 1

        try:
            await asyncio.wait_for(consume(), timeout=max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            pass
        except UpstreamError as e:
            facts.notes.append(f"{kind}: churn not sampled ({e})")
        watched.append(min(time.monotonic(), deadline) - start)

    await asyncio.gather(
        *(sample(kind, path, rv) for (kind, path), rv in zip(counted, rvs, strict=True) if rv)
    )
    # Kinds are watched in parallel; rate over the longest actual watch (all equal unless one
    # ended early on a 410, whose events still count).
    facts.sampled_seconds = max(watched, default=0.0)
    return facts
