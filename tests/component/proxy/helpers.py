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


@dataclass
class ListBody:
    """A decoded list response, either wire format: item identities and the ListMeta."""

    items: list[tuple[str, str, str]]  # (namespace, name, resourceVersion)
    resource_version: str
    continue_: str
    remaining_item_count: int | None


def parse_list(body: bytes, ctype: str) -> ListBody:
    if is_json(ctype):
        doc = orjson.loads(body)
        meta = doc.get("metadata") or {}
        return ListBody(
            [
                (i["metadata"].get("namespace", ""), i["metadata"]["name"],
                 i["metadata"].get("resourceVersion", ""))
                for i in doc.get("items") or []
            ],
            meta.get("resourceVersion", ""),
            meta.get("continue", ""),
            meta.get("remainingItemCount"),
        )  # fmt: skip
    # Protobuf: k8s\0 + runtime.Unknown{raw=2} → *List{metadata=1 ListMeta, items=2}.
    # ListMeta: resourceVersion=2, continue=3, remainingItemCount=4; ObjectMeta (field 1 of
    # every object): name=1, namespace=3, resourceVersion=6.
    from discofilter.codec.protowatch import unwrap_unknown
    from discofilter.codec.wire import LEN, iter_fields

    start, stop, _ = unwrap_unknown(body, 0, len(body))
    out = ListBody([], "", "", None)
    for fnum, wt, s, e in iter_fields(body, start, stop):
        if fnum == 1 and wt == LEN:
            for f2, w2, s2, e2 in iter_fields(body, s, e):
                if f2 == 2 and w2 == LEN:
                    out.resource_version = body[s2:e2].decode()
                elif f2 == 3 and w2 == LEN:
                    out.continue_ = body[s2:e2].decode()
                elif f2 == 4 and w2 != LEN:
                    out.remaining_item_count = s2
        elif fnum == 2 and wt == LEN:
            ident = {1: "", 3: "", 6: ""}
            for f2, w2, s2, e2 in iter_fields(body, s, e):
                if f2 == 1 and w2 == LEN:
                    for f3, w3, s3, e3 in iter_fields(body, s2, e2):
                        if f3 in ident and w3 == LEN:
                            ident[f3] = body[s3:e3].decode()
            out.items.append((ident[3], ident[1], ident[6]))
    return out
