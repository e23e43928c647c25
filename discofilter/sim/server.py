"""The emulator's HTTP face: an aiohttp app that routes Kubernetes API requests to the Store.

Routing is one catch-all handler over ``paths.parse_path`` (the Kubernetes URL grammar is small
and regular; one parser is easier to test than forty routes). Errors are always JSON ``Status``
bodies, whatever was negotiated: client-go decodes error bodies by their Content-Type and every
client can read JSON.

Unsupported on purpose, each with a clear Status: server-side apply (415), ``dryRun`` (400),
websocket watches. Protobuf request bodies (kubectl 1.32+ creates with them) are decoded by the
codec's protobuf subset when it is available, else 415.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import logging
from collections import Counter
from typing import Any

import orjson
from aiohttp import web

from discofilter.clock import Clock, SystemClock
from discofilter.errors import DiscofilterError
from discofilter.sim import access, apierrors, discovery, openapi
from discofilter.sim.apierrors import ApiError
from discofilter.sim.encoding import (
    JSON,
    PARTIAL,
    PARTIAL_LIST,
    PROTOBUF,
    TABLE,
    Negotiated,
    negotiate,
    protobuf_decoder,
)
from discofilter.sim.history import StoredEvent
from discofilter.sim.listing import list_objects
from discofilter.sim.metrics import CONTENT_TYPE as METRICS_TYPE
from discofilter.sim.metrics import SimMetrics
from discofilter.sim.options import parse_list_options
from discofilter.sim.paths import ResourcePath, parse_path
from discofilter.sim.resources import RESOURCES
from discofilter.sim.store import Store
from discofilter.sim.tables import partial, partial_list, table
from discofilter.sim.watch import Waker, serve_watch
from discofilter.status import status_json

log = logging.getLogger(__name__)

Obj = dict[str, Any]

PATCH_TYPES = {
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/json-patch+json": "json",
}
APPLY_PATCH = "application/apply-patch+yaml"
_NOT_FOUND = "the server could not find the requested resource"
# Largest request body accepted: kube-apiserver's limit is 3 MiB per object (etcd's 1.5 MiB
# value plus overhead); the same keeps a runaway test from growing memory.
MAX_BODY = 3 * 1024 * 1024
GZIP_THRESHOLD = 128 * 1024
"""kube-apiserver's threshold for compressing a response (defaultGzipThresholdBytes)."""

_TYPE_KEYS = frozenset({"kind", "apiVersion"})


def _error(err: ApiError) -> web.Response:
    return web.Response(
        status=err.code,
        body=status_json(err.code, err.message, err.reason, err.details),
        content_type=JSON,
    )


class Simulator:
    """A Kubernetes API server emulator serving ``store`` over HTTP on an ephemeral port."""

    def __init__(
        self,
        store: Store | None = None,
        *,
        clock: Clock | None = None,
        bookmark_interval: float = 60.0,
        history_size: int = 100_000,
        continue_ttl: float = 300.0,
        compress_lists: bool = True,
    ) -> None:
        self.clock: Clock = clock or (store.clock if store is not None else SystemClock())
        self.store: Store = store or Store(clock=self.clock, history_size=history_size)
        if store is not None:
            store.resize_history(history_size)
        self.bookmark_interval = bookmark_interval
        """Seconds of the injected clock between BOOKMARK events on a caught-up watch."""
        self.continue_ttl = continue_ttl
        """Seconds a continue token stays valid (kube: until etcd compaction, ~5 min)."""
        self.compress_lists = compress_lists
        """gzip LIST bodies of >= 128 KiB for clients that accept it, as kube-apiserver does."""
        self.url = ""
        self.requests: Counter[str] = Counter()
        """Requests served, keyed "VERB resource" (``list pods``, ``watch namespaces``...)."""
        self.access_policy: access.Policy = access.allow_all
        """Who may do what, for access reviews (the emulator itself authorizes nothing)."""
        self.access_tokens: frozenset[str] | None = None
        """Bearer tokens access reviews authenticate; None (default) accepts any. When set, a
        review with another token is answered 401 (other requests are not authenticated)."""
        self.metrics = SimMetrics()
        """What this server paid (open watches, bytes sent, events), served on ``/metrics``."""
        self._wakers: dict[str, set[Waker]] = {r: set() for r in RESOURCES}
        self._unsubscribe = self.store.subscribe(self._on_commit)
        self._closing = False
        self.app = web.Application(client_max_size=MAX_BODY)
        self.app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner: web.AppRunner | None = None

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._closing = False
        self._runner = web.AppRunner(
            self.app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[-1]
        shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
        self.url = f"http://{shown}:{bound[1]}"
        return self.url

    async def stop(self) -> None:
        self._closing = True
        for wakers in self._wakers.values():
            for w in list(wakers):
                w.wake()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def watchers(self) -> int:
        """Open watch streams (for tests and the demo)."""
        return sum(len(w) for w in self._wakers.values())

    def _on_commit(self, resource: str, ev: StoredEvent) -> None:
        self.metrics.on_event(resource)
        for w in self._wakers[resource]:
            w.wake()

    # --- dispatch ------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._dispatch(request)
        except ApiError as e:
            return _error(e)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a bug here must still answer a Status, and be logged
            log.exception("emulator error on %s %s", request.method, request.path)
            return _error(ApiError(500, f"internal error: {type(e).__name__}: {e}"))

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        if request.method == "GET":
            doc = self._discovery(path, request)
            if doc is not None:
                return doc
        if request.method == "POST" and path in access.PATHS:
            self.requests[f"create {path.rsplit('/', 1)[1]}"] += 1
            return await access.review(request, path, self.access_policy, self.access_tokens)
        rp = parse_path(path)
        if rp is None:
            raise ApiError(404, _NOT_FOUND, "NotFound")
        if rp.subresource not in (None, "status"):
            raise ApiError(404, _NOT_FOUND, "NotFound")
        if "dryRun" in request.query:
            raise apierrors.bad_request("dryRun is not supported by the discofilter emulator")
        method = request.method
        if rp.name is None:
            if method == "GET":
                return await self._get_collection(request, rp)
            if method == "POST":
                return await self._create(request, rp)
            if method == "DELETE":
                return await self._delete_collection(request, rp)
        else:
            if rp.watch_prefix and method == "GET":
                return await self._get_collection(request, rp)
            if method == "GET":
                return self._get(request, rp)
            if method == "PUT":
                return await self._update(request, rp)
            if method == "PATCH":
                return await self._patch(request, rp)
            if method == "DELETE":
                return self._delete(request, rp)
        raise ApiError(
            405,
            f"the server does not allow this method on the requested resource ({method})",
            "MethodNotAllowed",
        )

    def _discovery(self, path: str, request: web.Request) -> web.Response | None:
        doc: Obj | None
        if path in ("/healthz", "/readyz", "/livez"):
            return web.Response(text="ok")
        if path == "/metrics":
            return web.Response(text=self.metrics.render(), headers={"Content-Type": METRICS_TYPE})
        if path == "/version":
            doc = discovery.version_doc()
        elif path == "/api":
            doc = discovery.api_versions(request.host or "127.0.0.1")
        elif path == "/api/v1":
            doc = discovery.resource_list("", "v1")
        elif path == "/apis":
            doc = discovery.api_group_list()
        elif path.startswith("/apis/") and path.count("/") == 2:
            doc = discovery.api_group(path.split("/")[2])
            if doc is None:
                raise ApiError(404, _NOT_FOUND, "NotFound")
        elif path.startswith("/apis/") and path.count("/") == 3:
            _, _, group, version = path.split("/")
            doc = discovery.resource_list(group, version)
            if doc is None:
                raise ApiError(404, _NOT_FOUND, "NotFound")
        elif path == "/openapi/v2":
            self.requests["discovery"] += 1
            if openapi.PROTOBUF_V2 in request.headers.get("Accept", ""):
                body = openapi.document_protobuf()
                # kube-apiserver labels it octet-stream: the "@" in the spec's media type is
                # not a valid MIME token, and Go's mime parser (client-go) rejects it.
                return web.Response(body=body, content_type="application/octet-stream")
            doc = openapi.document_json()
        elif path.startswith("/openapi"):
            raise ApiError(404, _NOT_FOUND, "NotFound")
        else:
            return None
        self.requests["discovery"] += 1
        return web.Response(body=orjson.dumps(doc), content_type=JSON)

    def _negotiate(self, request: web.Request) -> Negotiated:
        neg = negotiate(request.headers.get("Accept"))
        if neg is None:
            raise ApiError(
                406,
                "only the following media types are accepted: application/json, "
                "application/vnd.kubernetes.protobuf, application/json;as=Table;v=v1;g=meta.k8s.io",
                "NotAcceptable",
            )
        return neg

    @staticmethod
    def _respond(neg: Negotiated, body: bytes, status: int = 200) -> web.Response:
        return web.Response(
            status=status, body=body, headers={"Content-Type": neg.encoding.content_type}
        )

    def _object_response(
        self, rp: ResourcePath, neg: Negotiated, obj: Obj, status: int = 200
    ) -> web.Response:
        if neg.target == TABLE:
            rv = obj["metadata"].get("resourceVersion", "")
            body = table(
                rp.resource,
                [obj],
                {"resourceVersion": rv},
                self.clock.wall(),
                version=neg.target_version,
            )
            return self._respond(neg, neg.encoding.object(body), status)
        if neg.target in (PARTIAL, PARTIAL_LIST):
            return self._respond(neg, neg.encoding.object(partial(obj, neg.target_version)), status)
        return self._respond(neg, neg.encoding.object(obj), status)

    # --- reads ---------------------------------------------------------------------------

    async def _get_collection(self, request: web.Request, rp: ResourcePath) -> web.StreamResponse:
        neg = self._negotiate(request)
        query = dict(request.query)
        if rp.watch_prefix:
            query["watch"] = "true"
            if rp.name is not None:
                query["fieldSelector"] = ",".join(
                    x for x in (query.get("fieldSelector"), f"metadata.name={rp.name}") if x
                )
        opts = parse_list_options(query, rp.resource)
        if opts.watch:
            self.requests[f"watch {rp.resource}"] += 1
            waker = Waker()
            self._wakers[rp.resource].add(waker)
            self.metrics.on_watch_start(rp.resource, rp.namespace is not None)
            try:
                return await serve_watch(
                    request,
                    store=self.store,
                    resource=rp.resource,
                    namespace=rp.namespace,
                    opts=opts,
                    neg=neg,
                    clock=self.clock,
                    bookmark_interval=self.bookmark_interval,
                    waker=waker,
                    is_closing=lambda: self._closing,
                    on_sent=functools.partial(self.metrics.on_sent, "WATCH", rp.resource),
                )
            finally:
                self._wakers[rp.resource].discard(waker)
                self.metrics.on_watch_end(rp.resource, rp.namespace is not None)
        self.requests[f"list {rp.resource}"] += 1
        items, meta = list_objects(
            self.store, rp.resource, rp.namespace, opts, self.clock, self.continue_ttl
        )
        if neg.target == TABLE:
            body = table(
                rp.resource,
                items,
                meta,
                self.clock.wall(),
                include_object=opts.include_object,
                version=neg.target_version,
            )
            return self._respond_list(request, rp, neg, neg.encoding.object(body))
        if neg.target in (PARTIAL, PARTIAL_LIST):
            return self._respond_list(
                request, rp, neg, neg.encoding.object(partial_list(items, meta, neg.target_version))
            )
        info = RESOURCES[rp.resource]
        doc = {
            "kind": info.list_kind,
            "apiVersion": info.api_version,
            "metadata": meta,
            # kube-apiserver's typed lists carry no kind/apiVersion on their items (found by
            # the real-peer conformance test); the list's own TypeMeta says what they are.
            "items": [{k: v for k, v in o.items() if k not in _TYPE_KEYS} for o in items],
        }
        return self._respond_list(request, rp, neg, neg.encoding.list(doc))

    def _respond_list(
        self, request: web.Request, rp: ResourcePath, neg: Negotiated, body: bytes
    ) -> web.Response:
        """A LIST body, gzipped like kube-apiserver does (APIResponseCompression, on by default):
        when the client accepts gzip and the body is at least 128 KiB. Level 1 keeps a 1 GB
        150k-pod list at seconds, not tens of seconds; the bytes on the wire are what matter to
        the proxy (it must decode gzip), not the ratio. Watches are never compressed."""
        if (
            self.compress_lists
            and len(body) >= GZIP_THRESHOLD
            and "gzip" in request.headers.get("Accept-Encoding", "")
        ):
            body = gzip.compress(body, compresslevel=1)
            self.metrics.on_sent("LIST", rp.resource, len(body))
            resp = self._respond(neg, body)
            resp.headers["Content-Encoding"] = "gzip"
            resp.headers["Vary"] = "Accept-Encoding"
            return resp
        self.metrics.on_sent("LIST", rp.resource, len(body))
        return self._respond(neg, body)

    def close_watches(self) -> int:
        """End every open watch stream now (as an API server restart would); returns how many.
        Clients reconnect and resume from their last resourceVersion."""
        n = 0
        for wakers in self._wakers.values():
            for w in list(wakers):
                w.close()
                n += 1
        return n

    def request_bookmarks(self, resource: str) -> int:
        """Ask every open ``resource`` watch with ``allowWatchBookmarks`` for one BOOKMARK, sent
        as soon as it is caught up (the periodic ones need the clock to move); returns how many
        watches were asked."""
        wakers = list(self._wakers[resource])
        for w in wakers:
            w.request_bookmark()
        return len(wakers)

    def _get(self, request: web.Request, rp: ResourcePath) -> web.Response:
        neg = self._negotiate(request)
        self.requests[f"get {rp.resource}"] += 1
        assert rp.name is not None
        obj = self.store.peek(rp.resource, rp.name, rp.namespace)
        if obj is None:
            info = RESOURCES[rp.resource]
            raise apierrors.not_found(rp.resource, info.group, rp.name)
        return self._object_response(rp, neg, obj)

    # --- writes --------------------------------------------------------------------------

    async def _body(self, request: web.Request) -> Any:
        ctype = request.headers.get("Content-Type", JSON).split(";")[0].strip().lower()
        if ctype == APPLY_PATCH:
            raise ApiError(
                415,
                "server-side apply (application/apply-patch+yaml) is not supported by the "
                "discofilter emulator; use client-side apply (kubectl apply without --server-side)",
                "UnsupportedMediaType",
            )
        raw = await request.read()
        if ctype == PROTOBUF:
            decode = protobuf_decoder()
            try:
                return decode(raw)
            except DiscofilterError as e:  # CodecError: not a valid enveloped object
                raise apierrors.bad_request(f"invalid protobuf body: {e}") from e
        if ctype not in (JSON, "", *PATCH_TYPES):
            if ctype.endswith("yaml"):
                import yaml

                try:
                    return yaml.safe_load(raw)
                except yaml.YAMLError as e:
                    raise apierrors.bad_request(f"invalid YAML body: {e}") from e
            raise ApiError(
                415,
                "the body of the request was in an unknown format - accepted media types "
                f'include: application/json, application/yaml (got "{ctype}")',
                "UnsupportedMediaType",
            )
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise apierrors.bad_request(f"the request body is not valid JSON: {e}") from e

    async def _create(self, request: web.Request, rp: ResourcePath) -> web.Response:
        body = await self._body(request)
        if not isinstance(body, dict):
            raise apierrors.bad_request("the request body must be a JSON object")
        neg = self._negotiate(request)
        self.requests[f"create {rp.resource}"] += 1
        obj = self.store.put_new(rp.resource, body, rp.namespace)
        return self._object_response(rp, neg, obj, 201)

    async def _update(self, request: web.Request, rp: ResourcePath) -> web.Response:
        body = await self._body(request)
        if not isinstance(body, dict):
            raise apierrors.bad_request("the request body must be a JSON object")
        neg = self._negotiate(request)
        meta = body.setdefault("metadata", {})
        if meta.get("name", rp.name) != rp.name:
            raise apierrors.bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on "
                f"the URL ({rp.name})"
            )
        meta["name"] = rp.name
        self.requests[f"update {rp.resource}"] += 1
        if rp.subresource == "status":
            cur = self.store.peek(rp.resource, rp.name or "", rp.namespace)
            if cur is not None:
                body = dict(
                    cur,
                    status=body.get("status"),
                    metadata=dict(cur["metadata"], resourceVersion=meta.get("resourceVersion", "")),
                )
        obj = self.store.put_update(rp.resource, body, rp.namespace)
        return self._object_response(rp, neg, obj)

    async def _patch(self, request: web.Request, rp: ResourcePath) -> web.Response:
        ctype = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        body = await self._body(request)
        kind = PATCH_TYPES.get(ctype)
        if kind is None:
            raise ApiError(
                415,
                f"the body of the request was in an unknown format - accepted media types "
                f"include: {', '.join(PATCH_TYPES)}",
                "UnsupportedMediaType",
            )
        neg = self._negotiate(request)
        self.requests[f"patch {rp.resource}"] += 1
        assert rp.name is not None
        obj = self.store.patch(rp.resource, rp.name, rp.namespace, body, kind)
        return self._object_response(rp, neg, obj)

    def _delete(self, request: web.Request, rp: ResourcePath) -> web.Response:
        neg = self._negotiate(request)
        self.requests[f"delete {rp.resource}"] += 1
        assert rp.name is not None
        obj = self.store.remove(rp.resource, rp.name, rp.namespace)
        return self._object_response(rp, neg, obj)

    async def _delete_collection(self, request: web.Request, rp: ResourcePath) -> web.Response:
        neg = self._negotiate(request)
        opts = parse_list_options(dict(request.query), rp.resource)
        self.requests[f"deletecollection {rp.resource}"] += 1
        items, _ = list_objects(
            self.store, rp.resource, rp.namespace, opts, self.clock, self.continue_ttl
        )
        gone = [
            self.store.remove(rp.resource, o["metadata"]["name"], o["metadata"].get("namespace"))
            for o in items
        ]
        info = RESOURCES[rp.resource]
        doc = {
            "kind": info.list_kind,
            "apiVersion": info.api_version,
            "metadata": {"resourceVersion": str(self.store.resource_version)},
            "items": gone,
        }
        return self._respond(neg, neg.encoding.list(doc))
