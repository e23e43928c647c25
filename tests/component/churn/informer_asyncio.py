"""An informer built on kubernetes_asyncio, with client-go Reflector semantics.

LIST (paged, ``limit=500`` like client-go) replaces the cache and gives the resourceVersion;
WATCH resumes from the newest resourceVersion seen, events and BOOKMARKs alike
(``allowWatchBookmarks``); a ``410`` (kubernetes_asyncio raises it as ``ApiException``) →
relist; the server ending the watch (``timeoutSeconds``) → rewatch from the last version. The
cache maps (namespace, name) → (uid, resourceVersion) so a test can compare it with the
emulator exactly, including re-creations (same name, new uid).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

Key = tuple[str, str]


async def list_pods(api: client.CoreV1Api) -> tuple[dict[Key, tuple[str, str]], int]:
    """Every pod by paged LIST (``limit=500`` like client-go): key -> (uid, resourceVersion),
    and the list's resourceVersion."""
    items: dict[Key, tuple[str, str]] = {}
    cont = ""
    while True:
        if cont:
            page = await api.list_pod_for_all_namespaces(limit=500, _continue=cont)
        else:
            page = await api.list_pod_for_all_namespaces(limit=500)
        for p in page.items:
            m = p.metadata
            items[(m.namespace, m.name)] = (m.uid, m.resource_version)
        cont = page.metadata._continue
        if not cont:
            return items, int(page.metadata.resource_version)


@dataclass
class AsyncioInformer:
    base_url: str
    watch_seconds: int = 5
    """Server-side ``timeoutSeconds`` of each watch (client-go picks 5-10 min; tests go faster)."""
    cache: dict[Key, tuple[str, str]] = field(default_factory=dict)
    rv: int = 0
    """Newest resourceVersion seen (list, event or bookmark)."""
    relists: int = 0
    watches: int = 0
    received: int = 0
    """Watch events received, BOOKMARKs included (ERRORs raise instead)."""
    object_events: int = 0
    rv_regressions: int = 0
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    progressed: asyncio.Event = field(default_factory=asyncio.Event)
    """Set on every resourceVersion advance (tests wait for a target version on it)."""

    async def run(self) -> None:
        cfg = client.Configuration()
        cfg.host = self.base_url
        async with client.ApiClient(cfg) as api_client:
            api = client.CoreV1Api(api_client)
            while True:
                await self._list(api)
                while await self._watch(api):
                    pass

    async def _list(self, api: client.CoreV1Api) -> None:
        self.cache, rv = await list_pods(api)
        self._advance(rv)
        self.relists += 1
        self.synced.set()

    async def _watch(self, api: client.CoreV1Api) -> bool:
        """One watch; False when the cache must be relisted."""
        self.watches += 1
        last = self.rv
        w = watch.Watch()
        try:
            async for ev in w.stream(
                api.list_pod_for_all_namespaces,
                resource_version=str(self.rv),
                allow_watch_bookmarks=True,
                timeout_seconds=self.watch_seconds,
            ):
                self.received += 1
                self._apply(ev)
                if self.rv < last:
                    self.rv_regressions += 1
                last = self.rv
        except ApiException as e:
            if e.status == 410:
                return False
            raise
        finally:
            await w.close()
        return True

    def _apply(self, ev: dict[str, Any]) -> None:
        raw = ev["raw_object"]
        meta = raw["metadata"]
        if ev["type"] != "BOOKMARK":
            self.object_events += 1
            key = (meta["namespace"], meta["name"])
            if ev["type"] == "DELETED":
                self.cache.pop(key, None)
            else:  # ADDED, MODIFIED: an upsert, as client-go's store.Update
                self.cache[key] = (meta["uid"], meta["resourceVersion"])
        self._advance(int(meta["resourceVersion"]))

    def _advance(self, rv: int) -> None:
        self.rv = rv
        self.progressed.set()

    async def wait_for_rv(self, target: int, within: float) -> None:
        async with asyncio.timeout(within):
            while self.rv < target:
                self.progressed.clear()
                await self.progressed.wait()


@contextlib.asynccontextmanager
async def running(inf: AsyncioInformer) -> AsyncIterator[AsyncioInformer]:
    task = asyncio.create_task(inf.run())
    try:
        async with asyncio.timeout(10):
            await asyncio.wait({task, asyncio.ensure_future(inf.synced.wait())},
                               return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        if task.done():
            task.result()  # the informer failed before syncing: show why
        yield inf
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
