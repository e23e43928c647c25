"""WatchPump against scripted byte streams (an in-memory fake upstream and client)."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from discofilter.codec import JsonWatchDecoder
from discofilter.server.streams.pump import WatchPump
from discofilter.server.streams.registry import WatchStream


def line(type_: str, ns: str, name: str, rv: int) -> bytes:
    obj = {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": name, "namespace": ns, "resourceVersion": str(rv)},
    }
    return orjson.dumps({"type": type_, "object": obj}) + b"\n"  # fmt: skip


BOOKMARK = b'{"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"9"}}}\n'  # noqa: E501
STREAM = [
    line("ADDED", "mesh", "a", 1),
    line("ADDED", "batch", "b", 2),
    line("MODIFIED", "mesh", "a", 3),
    BOOKMARK,
    line("DELETED", "batch", "b", 4),
]
WANT = STREAM[0] + STREAM[2] + BOOKMARK


class FakeContent:
    def __init__(self, chunks: list[bytes], hang: bool = False) -> None:
        self.chunks = list(chunks)
        self.hang = hang
        self.closed = asyncio.Event()

    async def readany(self) -> bytes:
        if self.chunks:
            return self.chunks.pop(0)
        if self.hang:
            await self.closed.wait()
        return b""


class FakeUpstream:
    def __init__(self, content: FakeContent) -> None:
        self.content = content

    def close(self) -> None:
        self.content.closed.set()


class FakeClient:
    def __init__(self) -> None:
        self.data = b""
        self.writes = 0

    async def write(self, data: bytes) -> None:
        self.data += data
        self.writes += 1


def pump(chunks: list[bytes], hang: bool = False) -> tuple[WatchPump, FakeClient]:
    client = FakeClient()
    p = WatchPump(
        WatchStream("pods", content_type="application/json"),
        FakeUpstream(FakeContent(chunks, hang)),  # type: ignore[arg-type]
        client,  # type: ignore[arg-type]
        JsonWatchDecoder(),
        lambda ns: ns == "mesh",
    )
    return p, client


async def test_every_split_point_forwards_the_same_bytes() -> None:
    data = b"".join(STREAM)
    for cut in range(1, len(data)):  # readany() never returns b"" before EOF
        p, client = pump([data[:cut], data[cut:]])
        await p.run()
        assert client.data == WANT, cut
        assert p.stream.dropped_ns == {"batch"} and p.stream.delivered_ns == {"mesh"}


async def test_one_write_per_upstream_chunk() -> None:
    p, client = pump([b"".join(STREAM)])
    await p.run()
    assert client.writes == 1 and p.stream.events_in == 5 and p.stream.events_out == 3


async def test_frame_cut_in_half_at_eof_ends_with_500_error_event() -> None:
    p, client = pump([STREAM[0], STREAM[2][:20]])
    await p.run()
    last = orjson.loads(client.data.splitlines()[-1])
    assert last["type"] == "ERROR" and last["object"]["code"] == 500
    assert client.data.startswith(STREAM[0])


@pytest.mark.timeout(10)
async def test_expire_interrupts_the_read_and_writes_410() -> None:
    p, client = pump([STREAM[0]], hang=True)
    task = asyncio.create_task(p.run())
    for _ in range(100):
        if client.data:
            break
        await asyncio.sleep(0)
    p.stream.expire("namespace mesh left the mesh")
    await asyncio.wait_for(task, 5)
    first, last = client.data.splitlines()
    assert first + b"\n" == STREAM[0]
    err = orjson.loads(last)
    assert err["type"] == "ERROR" and err["object"]["code"] == 410
    assert err["object"]["reason"] == "Expired"
    assert p.end_reason == "namespace mesh left the mesh"
