"""LIST+WATCH of one named object (a ConfigMap), feeding each state of it to a callback.

Structure follows client-go's Reflector, like ``server.namespace_watch``: ``run`` is the retry
loop, ``list_once`` and ``watch_once`` the testable passes. The LIST and WATCH carry
``fieldSelector=metadata.name=NAME`` in the object's namespace, so the API server sends this
one object and nothing else (a ConfigMap watch of ``istio-system`` would otherwise carry every
ConfigMap there, the injector's too).

* ``on_object(obj, rv)`` gets the object (a decoded JSON mapping) after every LIST and every
  ADDED/MODIFIED event, and ``None`` when the LIST finds none or a DELETED event arrives.
* ``410 Expired`` → relist; EOF → rewatch from the newest resourceVersion; errors back off
  0.2 s doubling to 10 s on the injected clock. Bookmarks only move the resourceVersion.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import orjson

from discofilter.clock import Clock
from discofilter.errors import UpstreamError, UpstreamStatusError
from discofilter.upstream.client import Upstream
from discofilter.upstream.json_events import each_json_event

log = logging.getLogger(__name__)

WATCH_TIMEOUT_SECONDS = 300  # as the namespace watch: the server may end it sooner
_ACCEPT = {"Accept": "application/json"}


class _Expired(Exception):
    """The resourceVersion is too old: relist."""


class ObjectWatch:
    """Watches ``/api/v1/namespaces/<namespace>/<resource>`` for the object ``name``."""

    def __init__(
        self,
        upstream: Upstream,
        namespace: str,
        resource: str,
        name: str,
        on_object: Callable[[dict[str, Any] | None, str], object],
        clock: Clock,
    ) -> None:
        self.upstream = upstream
        self.base = f"/api/v1/namespaces/{namespace}/{resource}"
        self.name = name
        self.on_object = on_object
        self.clock = clock
        self.resource_version = ""
        self.last_error: str | None = None

    def _query(self, **extra: str) -> str:
        return urlencode({"fieldSelector": f"metadata.name={self.name}", **extra})

    async def list_once(self) -> None:
        status, body = await self.upstream.get_own(f"{self.base}?{self._query()}", _ACCEPT)
        if status != 200:
            raise UpstreamStatusError(
                status, None, f"LIST {self.base}/{self.name}: HTTP {status}: {body[:200]!r}"
            )
        doc = orjson.loads(body)
        items = [i for i in doc.get("items") or [] if _name(i) == self.name]
        self.resource_version = str((doc.get("metadata") or {}).get("resourceVersion", ""))
        self.on_object(items[0] if items else None, self.resource_version)

    async def watch_once(self) -> None:
        """One WATCH from ``resource_version``; returns on EOF, raises _Expired on 410."""
        q = self._query(
            watch="1", allowWatchBookmarks="true", resourceVersion=self.resource_version,
            timeoutSeconds=str(WATCH_TIMEOUT_SECONDS),
        )  # fmt: skip
        resp = await self.upstream.request("GET", f"{self.base}?{q}", _ACCEPT, own=True)
        try:
            if resp.status == 410:
                raise _Expired()
            if resp.status != 200:
                raise UpstreamStatusError(
                    resp.status, None, f"WATCH {self.base}: HTTP {resp.status}"
                )
            await each_json_event(resp, self._event, f"WATCH {self.base}", _Expired)
        finally:
            resp.release()

    def _event(self, ev: dict[str, Any]) -> None:
        typ = ev.get("type")
        obj = ev.get("object") or {}
        rv = str((obj.get("metadata") or {}).get("resourceVersion") or "")
        if rv:
            self.resource_version = rv
        if typ in ("ADDED", "MODIFIED") and _name(obj) == self.name:
            self.on_object(obj, rv)
        elif typ == "DELETED" and _name(obj) == self.name:
            self.on_object(None, rv)

    async def run(self) -> None:
        backoff = 0.2
        need_list = True
        while True:
            try:
                if need_list:
                    await self.list_once()
                    need_list = False
                await self.watch_once()
                backoff = 0.2
                continue
            except _Expired:
                need_list = True
                continue
            except (UpstreamError, orjson.JSONDecodeError) as e:
                self.last_error = str(e)
                log.warning(
                    "watch of %s/%s failed; retrying", self.base, self.name,
                    extra={"error": str(e)},
                )  # fmt: skip
            await self.clock.sleep(backoff)
            backoff = min(backoff * 2, 10.0)


def _name(obj: Any) -> str:
    return str(((obj or {}).get("metadata") or {}).get("name", ""))
