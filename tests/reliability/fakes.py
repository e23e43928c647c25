"""Fakes for the reliability tests: a scriptable aiohttp upstream, an in-process proxy, leak probes.

The emulator (``discofilter.sim``) is a well-behaved API server; the faults here (a connection
reset mid-frame, a stream cut in half, garbage frames, 429/5xx answers, a bearer check) need an
upstream that misbehaves on purpose. ``FakeUpstream`` serves just enough of the API for the proxy
to become ready (``/api/v1`` discovery, the namespace LIST and a namespace WATCH that stays open)
and hands every other request to a per-test ``script``.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from discofilter.config import Config, with_overrides
from discofilter.server.proxy import ProxyServer
from discofilter.sim.k8sproto import encode_watch_frame
from discofilter.upstream.client import Upstream
from discofilter.upstream.target import OwnCredentials, TlsSettings, UpstreamTarget

JSON = "application/json"
PROTOBUF = "application/vnd.kubernetes.protobuf"
MESH = {"istio-injection": "enabled"}

Script = Callable[[web.Request], Awaitable[web.StreamResponse]]


def pod(name: str, namespace: str, rv: int, pad: int = 0) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}",
            "resourceVersion": str(rv), "labels": {"app": name},
        },
        "spec": {"containers": [{"name": "c", "image": "busybox" + "x" * pad}]},
    }  # fmt: skip


def frame(ctype: str, type_: str, obj: dict[str, Any]) -> bytes:
    """One watch event on the wire: a JSON line or a length-prefixed protobuf frame."""
    if ctype == PROTOBUF:
        return encode_watch_frame(type_, obj)
    return orjson.dumps({"type": type_, "object": obj}) + b"\n"


def watch_ctype(ctype: str) -> str:
    return PROTOBUF + ";stream=watch" if ctype == PROTOBUF else JSON


_NAMESPACES = [("istio-system", {}), ("mesh-a", MESH), ("batch", {})]
_CORE = {
    "kind": "APIResourceList",
    "groupVersion": "v1",
    "resources": [
        {"name": n, "namespaced": True, "kind": k, "verbs": ["list", "watch"]}
        for n, k in (("pods", "Pod"), ("configmaps", "ConfigMap"), ("secrets", "Secret"))
    ]
    + [{"name": "namespaces", "namespaced": False, "kind": "Namespace", "verbs": ["list"]}],
}


@dataclass
class FakeUpstream:
    """A misbehaving API server. ``script`` answers every request the defaults do not."""

    script: Script | None = None
    ssl_context: ssl.SSLContext | None = None
    valid_tokens: set[str] | None = None
    """When set, the proxy's own requests (namespaces, discovery) need one of these bearers."""
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    """(method, raw path, headers) of every request, in arrival order."""
    ns_watch_ended: asyncio.Event = field(default_factory=asyncio.Event)
    _ns_watch_stop: asyncio.Event = field(default_factory=asyncio.Event)
    runner: web.AppRunner | None = None
    url: str = ""

    async def start(self, port: int = 0) -> str:
        app = web.Application()
        app.router.add_route("*", r"/{tail:[\s\S]*}", self._handle)  # CR/LF too
        self.runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=0.1, handler_cancellation=True
        )
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", port, ssl_context=self.ssl_context).start()
        scheme = "https" if self.ssl_context else "http"
        self.url = f"{scheme}://127.0.0.1:{self.runner.addresses[0][1]}"
        return self.url

    async def stop(self) -> None:
        self._ns_watch_stop.set()
        if self.runner is not None:
            await self.runner.cleanup()

    def end_namespace_watch(self) -> None:
        """Close the open namespace WATCH (the proxy rewatches, with a fresh bearer)."""
        self._ns_watch_stop.set()

    def _authorized(self, request: web.Request) -> bool:
        if self.valid_tokens is None:
            return True
        auth = request.headers.get("Authorization", "")
        return auth.startswith("Bearer ") and auth[7:] in self.valid_tokens

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.method, request.raw_path, dict(request.headers)))
        path = request.path
        if path == "/api/v1" or (path.startswith("/api/v1/namespaces") and path.count("/") == 3):
            if not self._authorized(request):
                body = b'{"kind":"Status","apiVersion":"v1","status":"Failure","code":401}'
                return web.Response(status=401, body=body, content_type=JSON)
            if path == "/api/v1":
                return web.json_response(_CORE)
            if "watch" in request.query:
                return await self._namespace_watch(request)
            items = [
                {"metadata": {"name": n, "labels": lb, "resourceVersion": "5"}}
                for n, lb in _NAMESPACES
            ]
            doc = {"kind": "NamespaceList", "metadata": {"resourceVersion": "10"}, "items": items}
            return web.json_response(doc)
        if path == "/apis":
            return web.json_response({"kind": "APIGroupList", "groups": []})
        if self.script is None:
            return web.Response(status=404)
        return await self.script(request)

    async def _namespace_watch(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": JSON})
        await resp.prepare(request)
        self._ns_watch_stop.clear()
        try:
            await self._ns_watch_stop.wait()
        finally:
            self.ns_watch_ended.set()
        return resp


async def start_proxy(
    upstream_url: str,
    config: Config | None = None,
    *,
    own: OwnCredentials | None = None,
    tls: TlsSettings | None = None,
) -> tuple[ProxyServer, web.AppRunner, str]:
    """An in-process proxy in front of ``upstream_url``; returns (proxy, runner, its URL)."""
    cfg = config or with_overrides(Config(), enrollment={"selectors": ("istio-injection=enabled",)})
    cfg = with_overrides(cfg, upstream={"url": upstream_url})
    target = UpstreamTarget(upstream_url, tls=tls or TlsSettings(), own=own or OwnCredentials())
    proxy = ProxyServer(cfg, Upstream(target, cfg.upstream.connect_timeout_seconds))
    await proxy.start_background()
    runner = web.AppRunner(proxy.make_app(), access_log=None, shutdown_timeout=0.2)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return proxy, runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def stop_proxy(proxy: ProxyServer, runner: web.AppRunner) -> None:
    await proxy.stop()
    await runner.cleanup()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def task_count() -> int:
    return len(asyncio.all_tasks())


async def until(cond: Callable[[], bool], within: float = 5.0) -> None:
    """Wait for a condition owned by the proxy (which offers no event to await)."""
    async with asyncio.timeout(within):
        while not cond():  # noqa: ASYNC110 - no event exists for these conditions
            await asyncio.sleep(0.01)


async def raw_request(url: str, data: bytes) -> bytes:
    """Send raw bytes to ``url``'s host and port and read the whole answer (Connection: close)."""
    host, port = url.split("://", 1)[1].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(data)
    await writer.drain()
    async with asyncio.timeout(5):
        out = await reader.read()
    writer.close()
    return out
