"""``KeyReflector``: one upstream LIST+WATCH of a ``CacheKey``, feeding its ``SharedCache``.

client-go's ``Reflector.ListAndWatch`` shape (``upstream/reflector.py``'s loop), under the
proxy's **own** identity (the chart's RBAC grants it list/watch on the kinds it shares):

* LIST the collection (consistent read, gzip) → ``cache.relist``; the cache is built from the
  first LIST, which names the kind (``codec.listmeta.list_type_meta``) and its framer;
* WATCH from the cache's resourceVersion with ``allowWatchBookmarks=true``; every ADDED/MODIFIED/
  DELETED frame is decoded **once** and applied with its exact bytes (``frames.event_frame``);
  a BOOKMARK advances the cache (``progress``) and is passed on to the watchers that allow them;
* a clean end (the server's ``timeoutSeconds``) watches again from where it stopped; a 410
  (ERROR event or HTTP), an RV that goes backwards (``CacheError``) or a truncated/garbled stream
  relist; a reset, 429 or 5xx waits (exponential backoff, 0.2 s to 10 s) and watches again, and
  a watch answered 410 then relists. After a relist every client stream of the key ends with 410
  (the cache cannot replay what it missed), never with a gap or a duplicate;
* enrollment flips (``join``): a namespace that became enrolled is listed once, namespaced, at
  a resourceVersion at or after the flip, and merged (``SharedCache.begin_join``/``join``); a LIST
  that lost its race with a relist is simply issued again.

What cannot be shared ends the reflector with ``failed`` set (the server then serves that key's
clients directly, as without sharing): the proxy may not list the kind (401/403), the path does
not exist (404), the list names no kind, or the upstream writes frames the cache cannot pass on
byte for byte (``Framer.split`` refuses them).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable
from urllib.parse import urlencode

from discofilter.cache import CachedObject, CacheError, CacheKey, CacheLimits, SharedCache
from discofilter.cache.frames import framer_for
from discofilter.clock import Clock
from discofilter.codec import decoder_for
from discofilter.codec.listitems import split_list
from discofilter.codec.listmeta import list_type_meta
from discofilter.codec.mediatype import PROTOBUF, is_protobuf
from discofilter.errors import CodecError, UpstreamBroken, UpstreamError
from discofilter.model import BOOKMARK, ERROR, WatchEvent
from discofilter.server.shared import progress
from discofilter.server.shared.frames import event_frame
from discofilter.upstream.body import AiohttpBody
from discofilter.upstream.client import Upstream
from discofilter.upstream.reflector import backoff

log = logging.getLogger(__name__)

WATCH_TIMEOUT_SECONDS = (300, 600)
"""The upstream watch's ``timeoutSeconds``, random in this range (client-go: 5-10 min), so
kinds do not all rewatch at once."""


QUICK_END_SECONDS = 1.0
"""A watch that ends sooner than this after its (re)start counts as a failure (backoff)."""


class Relist(Exception):
    """The upstream stream cannot continue from the cache's RV: LIST again."""


class Unshareable(Exception):
    """This key cannot be served from a cache (the reflector stops; clients go direct)."""


class KeyReflector:
    """The reflector of one key. ``run()`` until cancelled or ``failed``."""

    def __init__(
        self,
        key: CacheKey,
        path: str,
        upstream: Upstream,
        clock: Clock,
        limits: CacheLimits,
        enrolled: Callable[[], Iterable[str] | None],
        *,
        max_frame_bytes: int,
    ) -> None:
        self.key = key
        self.path = path
        """The collection path ("/api/v1/pods"), without query."""
        self._upstream = upstream
        self._clock = clock
        self._limits = limits
        self._enrolled = enrolled
        self._max_frame_bytes = max_frame_bytes
        self.cache: SharedCache | None = None
        self.failed: str | None = None
        """Why this key cannot be shared (set once; the reflector has stopped)."""
        self.ready = asyncio.Event()
        """Set after the first LIST was applied (or the key failed: check ``failed``)."""
        self.api_version = ""
        self.kind = ""
        self.upstream_watches = 0
        """Upstream WATCH requests currently open (0 or 1): the metric and the tests read it."""
        self.lists = 0
        self.namespace_lists = 0
        self.last_error = ""
        self._probe: asyncio.Task[None] | None = None
        self.probes = 0
        """Progress probes sent (``progress.py``), and how many advanced the cache."""
        self.progressed_by_probe = 0
        self._progressed = False
        """An event was applied since the last failure (resets the backoff)."""
        self._advanced = asyncio.Event()
        self._joins: dict[str, asyncio.Task[None]] = {}

    # --- queries for the server -----------------------------------------------------------------

    def query(self, **extra: str) -> str:
        """The key's query string (its selectors) plus ``extra``."""
        q: dict[str, str] = {}
        if self.key.label_selector:
            q["labelSelector"] = self.key.label_selector
        if self.key.field_selector:
            q["fieldSelector"] = self.key.field_selector
        q.update(extra)
        return urlencode(q)

    def url(self, path: str | None = None, **extra: str) -> str:
        """``path`` (the key's collection by default) with the key's query plus ``extra``."""
        q = self.query(**extra)
        path = self.path if path is None else path
        return f"{path}?{q}" if q else path

    def _accept(self, *, gzip: bool = True) -> dict[str, str]:
        """The key's content type; LISTs ask for gzip (a watch's decoder reads raw bytes)."""
        accept = PROTOBUF if is_protobuf(self.key.content_type) else "application/json"
        return {"Accept": accept, "Accept-Encoding": "gzip"} if gzip else {"Accept": accept}

    async def wait_until(self, resource_version: int, within: float) -> bool:
        """Wait (at most ``within`` s) until the cache has reached ``resource_version``; on a
        quiet key a progress probe (``progress.py``) tells it that it already has."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            cache = self.cache
            if (
                cache is not None
                and cache.ready
                and int(cache.resource_version) >= resource_version
            ):
                return True
            left = deadline - loop.time()
            if left <= 0 or self.failed is not None:
                return False
            if cache is not None and cache.ready and self._probe is None:
                self._probe = asyncio.create_task(self._run_probe(cache, left))
            try:
                async with asyncio.timeout(left):
                    await self._advanced.wait()
            except TimeoutError:
                return False

    async def _run_probe(self, cache: SharedCache, within: float) -> None:
        try:
            start = int(cache.resource_version)
            url = self.url(
                watch="1",
                resourceVersion=str(start),
                allowWatchBookmarks="true",
                timeoutSeconds=str(progress.PROBE_TIMEOUT_SECONDS),
            )
            self.probes += 1
            got = await progress.probe(
                self._upstream, url, self._accept(gzip=False), start,
                max_frame_bytes=self._max_frame_bytes, within=within,
            )  # fmt: skip
            if got is None or self.cache is not cache:
                return
            # Every event up to the bookmark was on the probe; once the cache's own stream
            # has applied the newest of them, none at or below the bookmark can still come.
            try:
                async with asyncio.timeout(within):
                    while int(cache.resource_version) < got.after and self.cache is cache:
                        await self._advanced.wait()
            except TimeoutError:
                return
            if self.cache is cache and cache.ready:
                cache.progress(str(got.bookmark))
                self.progressed_by_probe += 1
                self._tell_advanced()
        finally:
            self._probe = None

    def _tell_advanced(self) -> None:
        # Waiters re-check the cache's RV; a fresh Event for the next wait.
        event, self._advanced = self._advanced, asyncio.Event()
        event.set()

    # --- the loop -------------------------------------------------------------------------------

    async def run(self) -> None:
        need_list = True
        failures = 0
        try:
            while True:
                started = self._clock.monotonic()
                try:
                    if need_list:
                        await self._list()
                        need_list = False
                    await self._watch()
                    # A watch the server ended at once (not its timeoutSeconds) is retried
                    # with backoff: an upstream that keeps closing must not be hammered.
                    if self._clock.monotonic() - started >= QUICK_END_SECONDS:
                        failures = 0
                        continue
                    self.last_error = "upstream watch ended at once"
                except Relist as e:
                    self.last_error = str(e)
                    log.info("shared watch relists", extra={"key": self._name, "why": str(e)})
                    need_list = True
                except (UpstreamError, UpstreamBroken, CodecError) as e:
                    self.last_error = str(e)
                    log.warning(
                        "shared watch failed; retrying",
                        extra={"key": self._name, "error": str(e), "failures": failures},
                    )
                    if isinstance(e, CodecError):
                        need_list = True  # a garbled stream: what came after it is unknown
                if self._progressed:
                    failures = 0  # the stream moved on before it failed: no backoff yet
                self._progressed = False
                if failures:
                    await self._clock.sleep(backoff(failures - 1))
                failures += 1
        except Unshareable as e:
            self.failed = str(e)
            log.warning(
                "kind not shared; serving it directly", extra={"key": self._name, "why": str(e)}
            )
            if self.cache is not None:
                self.cache.close()
            self.ready.set()
            self._tell_advanced()
        finally:
            for t in self._joins.values():
                t.cancel()
            if self._probe is not None:
                self._probe.cancel()

    @property
    def _name(self) -> str:
        return f"{self.key.resource} {self.key.content_type}"

    async def _list(self) -> None:
        status, body = await self._upstream.get_own(self.url(), self._accept())
        self.lists += 1
        if status in (401, 403, 404, 405, 406):
            raise Unshareable(f"the proxy's own LIST got HTTP {status}: {body[:200]!r}")
        if status != 200:
            raise UpstreamError(f"shared LIST {self.path}: HTTP {status}")
        ctype = self.key.content_type
        if self.cache is None:
            try:
                api_version, list_kind = list_type_meta(body, ctype)
            except CodecError as e:
                raise Unshareable(str(e)) from e
            self.api_version, self.kind = api_version, list_kind.removesuffix("List")
            cache = SharedCache(
                self.key,
                framer_for(ctype, self.api_version, self.kind),
                self._enrolled(),
                self._limits,
                self._clock,
            )
        else:
            cache = self.cache
        contents = split_list(body, ctype, self.api_version, self.kind)
        try:
            cache.relist((CachedObject(*i) for i in contents.items), contents.resource_version)
        except CacheError as e:  # a LIST behind the stream (a lagging API server): list again
            raise UpstreamError(f"shared LIST went back in time: {e}") from e
        self.cache = cache
        self.ready.set()
        self._tell_advanced()

    async def _watch(self) -> None:
        cache = self.cache
        assert cache is not None
        url = self.url(
            watch="1",
            resourceVersion=cache.resource_version,
            allowWatchBookmarks="true",
            timeoutSeconds=str(random.randint(*WATCH_TIMEOUT_SECONDS)),
        )
        resp = await self._upstream.request("GET", url, self._accept(gzip=False), own=True)
        try:
            if resp.status == 410:
                raise Relist("upstream watch: 410 Gone")
            if resp.status in (401, 403, 404):
                raise Unshareable(f"the proxy's own WATCH got HTTP {resp.status}")
            if resp.status != 200:
                raise UpstreamError(f"shared WATCH {self.path}: HTTP {resp.status}")
            decoder = decoder_for(resp.headers.get("Content-Type", ""), self._max_frame_bytes)
            self.upstream_watches += 1
            try:
                body = AiohttpBody(resp)
                while True:
                    chunk = await body.read_chunk()  # UpstreamBroken: backoff, resume
                    if not chunk:
                        decoder.flush()  # CodecError on a frame cut in half
                        return
                    self._apply(cache, decoder.feed(chunk))
            finally:
                self.upstream_watches -= 1
        finally:
            resp.release()

    def _apply(self, cache: SharedCache, events: list[WatchEvent]) -> None:
        split = cache.framer.split
        bookmark = False
        for ev in events:
            t = ev.type
            if t == BOOKMARK:
                cache.progress(ev.resource_version)
                bookmark = True
            elif t == ERROR:
                raise Relist(f"upstream watch ERROR event: {bytes(ev.raw[:200])!r}")
            else:
                frame = event_frame(ev)
                try:
                    obj = split(frame)[1]
                except CodecError as e:
                    raise Unshareable(f"upstream frame not in canonical form: {e}") from e
                try:
                    cache.apply(
                        t,
                        CachedObject(ev.namespace, ev.name, ev.uid, ev.resource_version, obj),
                        frame,
                    )
                except CacheError as e:
                    raise Relist(str(e)) from e
        if bookmark:
            cache.bookmark()
        if events:
            self._progressed = True
            self._tell_advanced()

    # --- enrollment -----------------------------------------------------------------------------

    def leave(self, namespace: str) -> None:
        task = self._joins.pop(namespace, None)
        if task is not None:
            task.cancel()
        if self.cache is not None:
            self.cache.leave(namespace)

    def join(self, namespace: str) -> None:
        """``namespace`` became enrolled: list it (once) and merge it into the cache."""
        if self.cache is None or namespace in self._joins:
            return
        self.cache.begin_join(namespace)
        self._joins[namespace] = asyncio.create_task(
            self._join(namespace), name=f"shared-join {namespace}"
        )

    async def _join(self, namespace: str) -> None:
        collection = self.path.rsplit("/", 1)
        ns_path = f"{collection[0]}/namespaces/{namespace}/{collection[1]}"
        failures = 0
        try:
            while True:
                cache = self.cache
                try:
                    if cache is None:
                        return
                    status, body = await self._upstream.get_own(self.url(ns_path), self._accept())
                    self.namespace_lists += 1
                    if status != 200:
                        raise UpstreamError(f"namespace LIST {ns_path}: HTTP {status}")
                    contents = split_list(body, cache.key.content_type, self.api_version, self.kind)
                    if cache is not self.cache:
                        continue
                    cache.join(
                        namespace,
                        (CachedObject(*i) for i in contents.items),
                        contents.resource_version,
                    )
                    self._tell_advanced()
                    return
                except CacheError:
                    # Behind the stream without a hold (a relist came between): list again.
                    if cache is not None:
                        cache.begin_join(namespace)
                    continue
                except (UpstreamError, CodecError) as e:
                    log.warning(
                        "shared namespace LIST failed; retrying",
                        extra={"key": self._name, "namespace": namespace, "error": str(e)},
                    )
                    await self._clock.sleep(backoff(failures))
                    failures += 1
        finally:
            if self._joins.get(namespace) is asyncio.current_task():
                del self._joins[namespace]
