"""The watching clients of one mode: aiohttp informer watchers and the official-client process.

``PythonClients`` runs one ``Watcher`` per kind in the harness's event loop.
``OfficialClients`` runs ``discofilter.harness.official_client`` as a child process and follows its
progress lines; its per-event log and final cache come back in a JSON file when it is stopped.
Both expose the same read side: events so far, max resourceVersion per kind, and after
``finish()`` the per-kind ``EventLog``, cache state and counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import operator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from discofilter.harness.processes import Child, python_module_argv, spawn
from discofilter.watchclient import EventLog, Watcher, resource

State = dict[tuple[str, str], tuple[str, str]]

# Seconds without a new event after which the official client's stream counts as quiet: longer
# than the proxies' 250 ms coalescing window and the emulator's 1 s bookmark interval.
QUIET_S = 1.5


class PythonClients:
    """One informer-style watcher per kind against ``url``."""

    name = "python"

    def __init__(self, session: aiohttp.ClientSession, url: str, kinds: list[str], mode: str):
        self.watchers = {k: Watcher(session, url, resource(k), name=f"{mode}/{k}") for k in kinds}
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, timeout_s: float = 60.0) -> None:
        self._tasks = [asyncio.create_task(w.run()) for w in self.watchers.values()]
        await asyncio.wait_for(
            asyncio.gather(*(w.synced.wait() for w in self.watchers.values())), timeout_s
        )

    def events(self) -> int:
        """Watch events so far (bookmarks excluded)."""
        return sum(w.counters.events for w in self.watchers.values())

    def max_rv(self, kind: str) -> int:
        return self.watchers[kind].max_rv

    async def wait_for_rv(self, kind: str, rv: int, timeout_s: float) -> bool:
        return await self.watchers[kind].wait_for_rv(rv, timeout_s)

    async def wait_for_state(self, kind: str, expected: State, timeout_s: float) -> bool:
        return await self.watchers[kind].wait_for(lambda w: w.state() == expected, timeout_s)

    async def finish(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def log(self, kind: str) -> EventLog:
        return self.watchers[kind].log

    def state(self, kind: str) -> State:
        return self.watchers[kind].state()

    def counters(self, kind: str) -> dict[str, Any]:
        return asdict(self.watchers[kind].counters)


class OfficialClients:
    """The official ``kubernetes`` client, one thread per kind, in a child process."""

    name = "official"

    def __init__(self, url: str, kinds: list[str], mode: str, work_dir: Path):
        self.url = url
        self.kinds = kinds
        self.mode = mode
        self.out = work_dir / f"official-{mode}.json"
        self.child: Child | None = None
        self.progress: dict[str, Any] = {"max_rv": {}, "events": {}}
        self._changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._result: dict[str, Any] = {}

    async def start(self, timeout_s: float = 60.0) -> None:
        argv = python_module_argv(
            "discofilter.harness.official_client",
            "--url",
            self.url,
            "--kinds",
            ",".join(self.kinds),
            "--out",
            str(self.out),
        )
        self.child = await spawn(f"official-{self.mode}", argv, stdin=True, stdout=True)
        self._reader = asyncio.create_task(self._read())
        # Synced = every kind reports a max resourceVersion (its LIST finished).
        ok = await self._wait(lambda: all(self.max_rv(k) >= 0 for k in self.kinds), timeout_s)
        if not ok:
            tail = "\n".join(self.child.stderr_tail[-5:])
            raise RuntimeError(f"official client for {self.mode} did not sync: {tail}")

    async def _read(self) -> None:
        assert self.child is not None and self.child.proc.stdout is not None
        async for line in self.child.proc.stdout:
            with contextlib.suppress(orjson.JSONDecodeError):
                self.progress = orjson.loads(line)
                self._changed.set()

    async def _wait(self, pred: Any, timeout_s: float) -> bool:
        async def loop() -> None:
            while not pred():
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(loop(), timeout_s)
        except TimeoutError:
            return bool(pred())
        return True

    def events(self) -> int:
        return int(sum(self.progress.get("events", {}).values()))

    def max_rv(self, kind: str) -> int:
        return int(self.progress.get("max_rv", {}).get(kind, -1))

    async def wait_for_rv(self, kind: str, rv: int, timeout_s: float) -> bool:
        return await self._wait(lambda: self.max_rv(kind) >= rv, timeout_s)

    async def wait_for_state(self, kind: str, expected: State, timeout_s: float) -> bool:
        """The child's cache is visible only after it stops: wait for the stream to be quiet
        instead — no new event for ``QUIET_S`` — and compare after ``finish``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        last = self.events()
        quiet_since = loop.time()
        while loop.time() < deadline:
            changed = functools.partial(operator.ne, last)
            await self._wait(
                lambda c=changed: c(self.events()), min(QUIET_S, deadline - loop.time())
            )
            now_events = self.events()
            if now_events == last and loop.time() - quiet_since >= QUIET_S:
                return True
            if now_events != last:
                last, quiet_since = now_events, loop.time()
        return False

    async def finish(self) -> None:
        if self.child is None:
            return
        proc = self.child.proc
        if proc.stdin is not None and proc.returncode is None:
            with contextlib.suppress(ConnectionError, BrokenPipeError):
                proc.stdin.write(b"stop\n")
                await proc.stdin.drain()
                proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            pass
        await self.child.stop()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self.out.exists():
            self._result = orjson.loads(self.out.read_bytes())

    def _kind(self, kind: str) -> dict[str, Any]:
        return dict(self._result.get(kind) or {})

    def log(self, kind: str) -> EventLog:
        d = self._kind(kind)
        cols = [d.get(c) or [] for c in ("t", "type", "namespace", "rv", "nbytes")]
        n = min(len(c) for c in cols)  # the child may have been mid-append when it dumped
        return EventLog(*(list(c[:n]) for c in cols))

    def state(self, kind: str) -> State:
        return {(r[0], r[1]): (r[2], r[3]) for r in self._kind(kind).get("state") or []}

    def counters(self, kind: str) -> dict[str, Any]:
        return dict(self._kind(kind).get("counters") or {})


Clients = PythonClients | OfficialClients
