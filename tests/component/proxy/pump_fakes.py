"""In-memory ends for ``WatchPump``: a scripted ``UpstreamBody`` and a recording ``ClientWriter``.

Typed against the pump's protocols (``discofilter.server.streams.body``), so mypy checks them;
no aiohttp object is imitated.
"""

from __future__ import annotations

import asyncio

from discofilter.errors import UpstreamBroken


class ScriptedBody:
    """Returns ``chunks`` one per read, then EOF (``b""``), or waits until ``close`` when
    ``hang``; ``broken`` raises ``UpstreamBroken`` after the chunks instead."""

    def __init__(self, chunks: list[bytes], hang: bool = False, broken: bool = False) -> None:
        self.chunks = list(chunks)
        self.hang = hang
        self.broken = broken
        self.closed = asyncio.Event()

    async def read_chunk(self) -> bytes:
        if self.chunks:
            return self.chunks.pop(0)
        if self.broken:
            raise UpstreamBroken("ClientPayloadError")
        if self.hang:
            await self.closed.wait()
        return b""

    def waited(self) -> float:
        return 0.0

    def close(self) -> None:
        self.closed.set()


class RecordingClient:
    """Keeps every byte written; ``stall`` makes each write wait forever (a client that never
    reads), ``gone`` makes it raise as aiohttp does for a closed connection."""

    def __init__(self, stall: bool = False, gone: bool = False) -> None:
        self.data = b""
        self.writes = 0
        self.stall = stall
        self.gone = gone

    async def write(self, data: bytes) -> None:
        if self.gone:
            raise ConnectionResetError("Cannot write to closing transport")
        if self.stall:
            await asyncio.Event().wait()
        self.data += data
        self.writes += 1


class RecordingSink:
    """A ``CounterSink`` that keeps every report."""

    def __init__(self) -> None:
        self.reports: list[tuple[str, tuple[int, int, int, int, int, int]]] = []
        self.endings: list[tuple[str, object]] = []

    def add(self, kind: str, delta: tuple[int, int, int, int, int, int]) -> None:
        self.reports.append((kind, delta))

    def ended(self, kind: str, reason: object) -> None:
        self.endings.append((kind, reason))
