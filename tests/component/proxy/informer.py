"""A small informer-style client (client-go Reflector semantics) for the proxy tests.

LIST (paged) replaces the cache; WATCH resumes from the newest resourceVersion seen (events and
bookmarks); ``410`` (HTTP or ERROR event) → relist; EOF → rewatch. LIST and WATCH both ask for
``ctype``, so the tests cover protobuf as well. ``disconnect()`` drops the current watch
the way a network blip would. Every delivered resourceVersion is recorded per watch so tests
can check that they only grow.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import aiohttp

from discofilter.codec import decoder_for
from discofilter.model import ADDED, BOOKMARK, DELETED, ERROR, MODIFIED
from tests.component.proxy.helpers import parse_list


@dataclass
class Informer:
    base: str
    ctype: str = "application/json"
    path: str = "/api/v1/pods"
    page: int = 3
    cache: dict[tuple[str, str], str] = field(default_factory=dict)
    rv: str = ""
    relists: int = 0
    watches: int = 0
    rv_regressions: int = 0
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    _resp: aiohttp.ClientResponse | None = None

    async def list(self, s: aiohttp.ClientSession) -> None:
        items: dict[tuple[str, str], str] = {}
        cont = ""
        while True:
            q = f"?limit={self.page}" + (f"&continue={cont}" if cont else "")
            async with s.get(self.base + self.path + q, headers={"Accept": self.ctype}) as r:
                body = await r.read()
                ctype = r.headers.get("Content-Type", "")
            if r.status == 410:
                items, cont = {}, ""
                continue
            assert r.status == 200, body[:300]
            page = parse_list(body, ctype)
            for ns, name, rv in page.items:
                items[(ns, name)] = rv
            cont = page.continue_
            if not cont:
                self.rv = page.resource_version
                break
        self.cache = items
        self.relists += 1
        self.synced.set()

    async def watch(self, s: aiohttp.ClientSession) -> bool:
        """One watch; False when a relist is needed."""
        url = f"{self.base}{self.path}?watch=1&allowWatchBookmarks=true&resourceVersion={self.rv}"
        self._resp = resp = await s.get(url, headers={"Accept": self.ctype})
        self.watches += 1
        if resp.status == 410:
            resp.close()
            return False
        dec = decoder_for(resp.headers["Content-Type"])
        last = int(self.rv or 0)
        try:
            async for chunk in resp.content.iter_any():
                for ev in dec.feed(chunk):
                    if ev.type == ERROR:
                        return False  # 410 Expired (the only ERROR these tests produce)
                    rv = int(ev.resource_version)
                    if rv < last:
                        self.rv_regressions += 1
                    last = rv
                    self.rv = ev.resource_version
                    key = (ev.namespace, ev.name)
                    if ev.type in (ADDED, MODIFIED):
                        self.cache[key] = ev.resource_version
                    elif ev.type == DELETED:
                        self.cache.pop(key, None)
                    else:
                        assert ev.type == BOOKMARK
        except (aiohttp.ClientError, RuntimeError):
            pass  # disconnected: rewatch from self.rv
        finally:
            resp.close()
        return True

    def disconnect(self) -> None:
        if self._resp is not None:
            self._resp.close()

    async def run(self) -> None:
        async with aiohttp.ClientSession() as s:
            need_list = True
            while True:
                if need_list:
                    await self.list(s)
                need_list = not await self.watch(s)
                await asyncio.sleep(0)

    def keys(self) -> set[tuple[str, str]]:
        return set(self.cache)


@contextlib.asynccontextmanager
async def running(inf: Informer):  # type: ignore[no-untyped-def]
    task = asyncio.create_task(inf.run())
    try:
        await asyncio.wait_for(inf.synced.wait(), 5)
        yield inf
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
