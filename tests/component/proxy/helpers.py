"""Client-side helpers for the proxy component tests: read watch streams in either format."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
import orjson

from discofilter.codec import decoder_for, filter_list, is_json
from discofilter.model import ERROR, WatchEvent


@dataclass
class WatchReader:
    """Reads one watch response into ``events``; ``done`` when the server ended it."""

    resp: aiohttp.ClientResponse
    events: list[WatchEvent] = field(default_factory=list)
    done: bool = False

    async def run(self) -> None:
        dec = decoder_for(self.resp.headers["Content-Type"])
        try:
            async for chunk in self.resp.content.iter_any():
                self.events.extend(dec.feed(chunk))
        except (aiohttp.ClientError, RuntimeError):  # RuntimeError: closed by the test
            pass
        self.done = True

    async def until(self, cond: Callable[[list[WatchEvent]], bool], within: float = 5.0) -> None:
        async with asyncio.timeout(within):
            while not cond(self.events):
                if self.done:
                    raise AssertionError(f"stream ended early: {[e.type for e in self.events]}")
                await asyncio.sleep(0.01)

    def objects(self) -> list[tuple[str, str, str]]:
        return [(e.type, e.namespace, e.name) for e in self.events if e.type != "BOOKMARK"]

    def error_code(self) -> int | None:
        for e in self.events:
            if e.type == ERROR:
                if is_json(self.resp.headers["Content-Type"]):
                    return int(orjson.loads(e.raw)["object"]["code"])
                return -1  # protobuf Status: the type is enough for these tests
        return None


async def open_watch(
    session: aiohttp.ClientSession, url: str, ctype: str
) -> tuple[WatchReader, asyncio.Task[None]]:
    resp = await session.get(url, headers={"Accept": ctype})
    assert resp.status == 200, await resp.text()
    reader = WatchReader(resp)
    return reader, asyncio.create_task(reader.run())


def list_namespaces(body: bytes, ctype: str) -> list[str]:
    """Namespaces of a list body's items (any format), via the codec's keep callback."""
    seen: list[str] = []

    def keep(ns: str) -> bool:
        seen.append(ns)
        return True

    filter_list(body, ctype, keep)
    return seen
