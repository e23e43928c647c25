"""WatchPump against scripted byte streams (an in-memory upstream body and client)."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from discofilter.codec import JsonWatchDecoder
from discofilter.server.streams.ending import EndReason
from discofilter.server.streams.pump import WatchPump
from discofilter.server.streams.registry import StreamRegistry, WatchStream
from tests.component.proxy.pump_fakes import RecordingClient, RecordingSink, ScriptedBody


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


def pump(chunks: list[bytes], hang: bool = False) -> tuple[WatchPump, RecordingClient]:
    client = RecordingClient()
    stream = WatchStream("pods", content_type="application/json")
    p = WatchPump(
        stream,
        ScriptedBody(chunks, hang),
        client,
        JsonWatchDecoder(),
        stream.watch_filter(lambda ns: ns == "mesh"),
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


def counted(
    chunks: list[bytes], client: RecordingClient | None = None, broken: bool = False
) -> tuple[WatchPump, RecordingClient, RecordingSink]:
    client = client or RecordingClient()
    sink = RecordingSink()
    stream = WatchStream("pods", content_type="application/json")
    p = WatchPump(
        stream,
        ScriptedBody(chunks, broken=broken),
        client,
        JsonWatchDecoder(),
        stream.watch_filter(lambda ns: ns == "mesh"),
        sink=sink,
        slow_client_seconds=0.05,
    )
    return p, client, sink


async def test_counts_are_reported_once_at_the_end_and_add_up() -> None:
    p, _, sink = counted([STREAM[0] + STREAM[1], STREAM[2], BOOKMARK + STREAM[4]])
    await p.run()
    assert len(sink.reports) == 1  # nothing per chunk: the registry reads open streams
    totals = [sum(r[1][i] for r in sink.reports) for i in range(6)]
    c = p.stream.counters
    assert totals == [c.events_in, c.dropped, c.events_out, c.coalesced, c.bytes_in, c.bytes_out]
    assert (c.events_in, c.dropped, c.events_out) == (5, 2, 3)
    assert sink.endings == [("pods", EndReason.UPSTREAM_CLOSED)]


async def test_a_broken_upstream_ends_with_its_reason() -> None:
    p, client, _ = counted([STREAM[0]], broken=True)
    await p.run()
    assert client.data == STREAM[0]
    assert p.end is EndReason.UPSTREAM_BROKE
    assert p.end_reason == "upstream broke: ClientPayloadError"


@pytest.mark.timeout(10)
async def test_a_client_that_never_drains_is_cut_as_too_slow() -> None:
    p, _, sink = counted([STREAM[0]], client=RecordingClient(stall=True))
    await p.run()
    assert p.end is EndReason.CLIENT_TOO_SLOW and p.end_reason == "client too slow"
    assert sink.endings == [("pods", EndReason.CLIENT_TOO_SLOW)]
    # The event was counted as out when the write began: the report still carries it.
    assert sum(r[1][2] for r in sink.reports) == 1


async def test_a_client_gone_ends_quietly() -> None:
    p, _, sink = counted([STREAM[0]], client=RecordingClient(gone=True))
    await p.run()
    assert p.end is EndReason.CLIENT_GONE
    assert sink.endings == [("pods", EndReason.CLIENT_GONE)]


async def test_registry_totals_follow_the_reports() -> None:
    registry = StreamRegistry()
    stream = WatchStream("pods", content_type="application/json")
    registry.add(stream)
    p = WatchPump(
        stream, ScriptedBody([b"".join(STREAM)]), RecordingClient(), JsonWatchDecoder(),
        stream.watch_filter(lambda ns: ns == "mesh"), sink=registry.totals,
    )  # fmt: skip
    await p.run()
    registry.remove(stream)
    pods = registry.totals.snapshot()["pods"]
    assert (pods["events_in"], pods["dropped"], pods["events_out"]) == (5, 2, 3)
    assert pods["bytes_out"] == len(WANT)
