"""Issue 13: a client that hangs up and resumes again and again under churn, through the proxy.

The real proxy (default config: churn control on, pods coalesced in 250 ms windows) in front of
the emulator, both on one ``FakeClock`` so the test decides when windows expire. Each seeded
sequence is one client lifetime: LIST, then WATCH connections alternating JSON and protobuf,
while the test creates, updates, deletes and deletes + re-creates (same name, new uid) pods in
two enrolled namespaces and one that is filtered out. The client hangs up after a drawn number
of events or right after a BOOKMARK (placed between chosen events with
``Simulator.request_bookmarks``), resumes from the last resourceVersion it saw, and once per
sequence finds the history compacted: the resume is answered ``410`` and it relists.

On EVERY event the client checks what it can observe: the resourceVersion only grows (a
BOOKMARK may repeat the newest one, as kube-apiserver's do); no ADDED
for a key it holds; no MODIFIED or DELETED for an object (key and uid) it does not hold; and
right after the event, the objects it holds are exactly those the emulator held (filtered) at
that resourceVersion (only MODIFIED states may be skipped, and a stale state only for an object
that changes again later). A relist must match the emulator exactly; at the end of a sequence the
client's cache must equal the emulator's filtered state, key -> (uid, resourceVersion).

Deterministic and sleep-free: after every batch of writes the test waits (on a notification from
the stream's coalescer, never a timer) until the proxy's stream has read every upstream event it
must have been sent, then moves the fake clock and pokes the stream with a write in the filtered
namespace, then reads what the proxy wrote. ``RESUME_SEQUENCES=2000`` runs more sequences;
``RESUME_SEED=n`` replays one (a failure names its seed).
"""

from __future__ import annotations

import asyncio
import bisect
import os
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import pytest

from discofilter.clock import FakeClock
from discofilter.coalesce import Coalescer, CoalesceStats
from discofilter.codec import decoder_for
from discofilter.codec.base import FrameDecoder
from discofilter.config import Config, with_overrides
from discofilter.model import ADDED, BOOKMARK, DELETED, ERROR, MODIFIED, WatchEvent
from discofilter.server.streams.registry import WatchStream
from discofilter.sim.server import Simulator
from discofilter.sim.store import Store
from tests.component.proxy.conftest import JSON, MESH, PROTOBUF, Rig, pod, start_rig, stop_rig
from tests.component.proxy.helpers import parse_list

pytestmark = pytest.mark.timeout(300)

SEQUENCES = int(os.environ.get("RESUME_SEQUENCES", "200"))
ONLY_SEED = os.environ.get("RESUME_SEED")
ENROLLED = ("mesh-a", "mesh-b")
FILTERED = "batch"
NAMES = [f"rs-{i:02d}" for i in range(8)]
STEPS = 14
WINDOW = 0.25  # the default pods policy (discofilter/coalesce/policy.py)
# Clock moves between batches of writes: none, inside one window, across it.
ADVANCES = (0.0, 0.0, 0.05, 0.1, 0.2, 0.3)

Key = tuple[str, str]
ObjectId = tuple[str, str, str]


class Violation(AssertionError):
    pass


@dataclass
class Truth:
    """The emulator's pods in enrolled namespaces after every pod write: key -> (uid, rv)."""

    rvs: list[int] = field(default_factory=list)
    states: list[dict[Key, tuple[str, str]]] = field(default_factory=list)
    live: dict[Key, tuple[str, str]] = field(default_factory=dict)
    last_write: dict[ObjectId, int] = field(default_factory=dict)

    def record(self, obj: dict[str, Any], deleted: bool) -> None:
        m = obj["metadata"]
        key, rv = (m["namespace"], m["name"]), int(m["resourceVersion"])
        if m["namespace"] in ENROLLED:
            if deleted:
                del self.live[key]
            else:
                self.live[key] = (m["uid"], m["resourceVersion"])
            self.last_write[(*key, m["uid"])] = rv
        self.rvs.append(rv)
        self.states.append(dict(self.live))

    def at(self, rv: int) -> dict[Key, tuple[str, str]]:
        i = bisect.bisect_right(self.rvs, rv)
        return self.states[i - 1] if i else {}

    def writes_after(self, rv: int) -> int:
        return len(self.rvs) - bisect.bisect_right(self.rvs, rv)


class Pulse:
    """Wakes the test whenever a stream's coalescer was asked for events (once per upstream
    chunk, per timer wake-up, and at the stream's end)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def __call__(self) -> None:
        self._event.set()

    async def until(self, cond: Callable[[], bool], what: Callable[[], str]) -> None:
        try:
            async with asyncio.timeout(10):
                while not cond():
                    self._event.clear()
                    await self._event.wait()
        except TimeoutError:
            raise AssertionError(f"timed out waiting: {what()}") from None


class ObservedStage:
    """The proxy's own coalescer, unchanged, telling the test each time it was asked."""

    def __init__(self, inner: Coalescer, pulse: Pulse) -> None:
        self.inner = inner
        self.pulse = pulse

    def push(self, event: WatchEvent, now: float) -> None:
        self.inner.push(event, now)

    def ready(self, now: float) -> list[WatchEvent]:
        out = self.inner.ready(now)
        self.pulse()
        return out

    def next_deadline(self) -> float | None:
        return self.inner.next_deadline()

    @property
    def read_gather_seconds(self) -> float:
        return self.inner.read_gather_seconds

    def flush(self) -> list[WatchEvent]:
        out = self.inner.flush()
        self.pulse()
        return out

    def discard(self) -> int:
        return self.inner.discard()

    @property
    def stats(self) -> CoalesceStats:
        return self.inner.stats


@dataclass
class Counts:
    events: int = 0
    object_events: int = 0
    bookmarks: int = 0
    watches: int = 0
    hangups: int = 0
    resumes_from_bookmark: int = 0
    relists: int = 0
    expired: int = 0


@dataclass
class Env:
    rig: Rig
    clock: FakeClock
    pulse: Pulse
    truth: Truth
    session: aiohttp.ClientSession
    counts: Counts = field(default_factory=Counts)


class ResumingClient:
    """A watch client with client-go Reflector semantics that checks every event it sees."""

    def __init__(self, env: Env, rng: random.Random, turn: int) -> None:
        self.env = env
        self.rng = rng
        self.turn = turn
        self.cache: dict[Key, tuple[str, str]] = {}
        self.last_rv = 0
        self.last_was_bookmark = False
        self.stale: list[tuple[ObjectId, int]] = []
        self.resp: aiohttp.ClientResponse | None = None
        self.stream: WatchStream | None = None
        self.decoder: FrameDecoder | None = None
        self.read = 0  # events read on this connection
        self.budget: int | None = None  # events to read on it before hanging up
        self.at_bookmark = False  # hang up right after the next BOOKMARK
        self.bookmarks_asked = 0
        self.expired = False  # a 410 arrived: relist before the next watch
        self.start_rv = 0
        self.too_old = False  # the emulator answers this connection's watch with a 410
        self.wire = JSON  # this connection's format

    @property
    def ctype(self) -> str:
        return (JSON, PROTOBUF)[self.turn % 2]

    async def relist(self) -> None:
        env = self.env
        async with env.session.get(
            f"{env.rig.url}/api/v1/pods", headers={"Accept": self.ctype}
        ) as r:
            body = await r.read()
            assert r.status == 200, body[:300]
            listed = parse_list(body, r.headers["Content-Type"])
        rv = int(listed.resource_version)
        truth = env.truth.at(rv)
        got = {(ns, name): item_rv for ns, name, item_rv in listed.items}
        if got != {k: item_rv for k, (_, item_rv) in truth.items()}:
            raise Violation(f"LIST at {rv} is not the emulator's filtered state")
        self.cache = dict(truth)
        self.last_rv = rv
        self.last_was_bookmark = False
        self.expired = False
        env.counts.relists += 1

    async def watch(self) -> None:
        env = self.env
        registry = env.rig.proxy.registry
        before = {s.id for s in registry.streams()}
        self.too_old = env.rig.sim.store.history("pods").index_after(self.last_rv) is None
        self.wire = self.ctype
        self.turn += 1  # the next connection (or relist) uses the other format
        q = f"watch=1&allowWatchBookmarks=true&timeoutSeconds=3600&resourceVersion={self.last_rv}"
        self.resp = await env.session.get(
            f"{env.rig.url}/api/v1/pods?{q}", headers={"Accept": self.wire}
        )
        assert self.resp.status == 200
        self.decoder = decoder_for(self.resp.headers["Content-Type"])
        env.counts.watches += 1
        if self.last_was_bookmark:
            env.counts.resumes_from_bookmark += 1
        if self.too_old:  # the proxy relays the emulator's 410 ERROR event and ends
            events = self.decoder.feed(await self.resp.read())
            assert [e.type for e in events] == [ERROR], events
            self.apply(events[0])
            self.resp.close()
            self.resp = None
            return
        (self.stream,) = [s for s in registry.streams() if s.id not in before]
        self.start_rv = self.last_rv
        self.bookmarks_asked = 0
        self.read = 0
        r = self.rng.random()
        self.budget = None if r < 0.2 else self.rng.randint(1, 12)
        self.at_bookmark = 0.2 <= r < 0.45

    def hang_up(self) -> None:
        assert self.resp is not None
        self.resp.close()
        self.resp = self.stream = self.decoder = None
        self.env.counts.hangups += 1

    async def connect(self) -> None:
        """Resume until a watch is open (relisting after 410)."""
        while self.resp is None:
            if self.expired:
                await self.relist()
            await self.watch()
            await self.settle()

    def upstream_expected(self) -> int:
        """Events the emulator must have sent this connection's upstream watch by now."""
        return self.env.truth.writes_after(self.start_rv) + self.bookmarks_asked

    async def settle(self) -> None:
        """Wait until the proxy's stream has read everything it was sent, then read what it
        wrote (or hang up on the way)."""
        if self.resp is None:
            return
        s = self.stream
        assert s is not None
        want = self.upstream_expected()
        await self.env.pulse.until(
            lambda: s.events_in >= want,
            lambda: f"stream {s.id} read {s.events_in} upstream events of {want}",
        )
        assert s.events_in == want, (s.events_in, want)
        await self.drain()

    async def drain(self) -> None:
        """Read every event the proxy has written on this connection, or hang up."""
        while self.resp is not None:
            assert self.stream is not None and self.decoder is not None
            if self.read >= self.stream.events_out:
                return
            chunk = await self.resp.content.readany()
            if not chunk:
                self.resp.close()
                self.resp = None
                return
            for ev in self.decoder.feed(chunk):
                self.read += 1
                self.apply(ev)
                if self.expired:
                    self.resp.close()
                    self.resp = None
                    return
                if (self.budget is not None and self.read >= self.budget) or (
                    self.at_bookmark and ev.type == BOOKMARK
                ):
                    self.hang_up()
                    return

    def apply(self, ev: WatchEvent) -> None:
        counts = self.env.counts
        counts.events += 1
        if ev.type == ERROR:
            code = orjson.loads(ev.raw)["object"]["code"] if self.wire == JSON else 410
            assert code == 410, ev.raw[:200]
            self.expired = True
            counts.expired += 1
            return
        rv = int(ev.resource_version)
        what = f"{ev.type} {ev.namespace}/{ev.name}@{rv}"
        # A BOOKMARK may repeat the newest version (nothing happened since); nothing goes back.
        if rv < self.last_rv or (rv == self.last_rv and ev.type != BOOKMARK):
            raise Violation(f"{what}: resourceVersion went back from {self.last_rv}")
        self.last_rv = rv
        self.last_was_bookmark = ev.type == BOOKMARK
        key = (ev.namespace, ev.name)
        have = self.cache.get(key)
        if ev.type == BOOKMARK:
            counts.bookmarks += 1
        elif ev.type == ADDED:
            if have is not None:
                raise Violation(f"{what}: a second ADDED, the client holds uid {have[0]}")
            self.cache[key] = (ev.uid, ev.resource_version)
        elif ev.type in (MODIFIED, DELETED):
            if have is None:
                raise Violation(f"{what} for an object the client does not hold")
            if have[0] != ev.uid:
                raise Violation(f"{what}: uid {ev.uid}, the client holds uid {have[0]}")
            if ev.type == DELETED:
                del self.cache[key]
            else:
                self.cache[key] = (ev.uid, ev.resource_version)
        if ev.type != BOOKMARK:
            counts.object_events += 1
        self.check_state(rv)

    def check_state(self, rv: int) -> None:
        truth = self.env.truth.at(rv)
        held = {(k, uid) for k, (uid, _) in self.cache.items()}
        want = {(k, uid) for k, (uid, _) in truth.items()}
        if held != want:
            raise Violation(
                f"at resourceVersion {rv} the client lacks {sorted(want - held)} "
                f"and holds {sorted(held - want)} the emulator did not"
            )
        for k, (uid, item_rv) in self.cache.items():
            if truth[k][1] != item_rv:
                self.stale.append(((*k, uid), rv))  # fine if the object changes after rv


def one_write(env: Env, rng: random.Random) -> None:
    store = env.rig.sim.store
    ns = rng.choice([*ENROLLED, *ENROLLED, FILTERED])
    name = rng.choice(NAMES)
    old = store.peek("pods", name, ns)
    if old is None:
        env.truth.record(store.create("pods", pod(name, ns), ns), False)
        return
    r = rng.random()
    if r < 0.3:
        env.truth.record(store.delete("pods", name, ns), True)
        if r < 0.15:  # re-created under the same name: a new uid
            env.truth.record(store.create("pods", pod(name, ns), ns), False)
        return
    obj = store.get("pods", name, ns)
    obj["metadata"]["labels"] = {"step": str(rng.randrange(10**6))}
    env.truth.record(store.update("pods", obj), False)


def poke(env: Env) -> None:
    """A write the filter drops: the stream runs its coalescer at the (moved) fake time."""
    store = env.rig.sim.store
    obj = store.get("pods", "tick", FILTERED)
    obj["metadata"]["labels"] = {"n": str(len(env.truth.rvs))}
    env.truth.record(store.update("pods", obj), False)


async def sequence(env: Env, seed: int) -> None:
    rng = random.Random(seed)
    client = ResumingClient(env, rng, turn=seed)
    await client.relist()
    expire_at = rng.randrange(2, STEPS - 2)
    for step in range(STEPS):
        await client.connect()
        for _ in range(rng.randint(1, 8)):
            one_write(env, rng)
        if rng.random() < 0.3:
            client.bookmarks_asked += env.rig.sim.request_bookmarks("pods") > 0
        await client.settle()
        if step == expire_at:
            if client.resp is not None:
                client.hang_up()
            poke(env)  # a version the client cannot have seen...
            env.rig.sim.store.compact("pods")  # ...compacted: the resume is answered 410
        dt = rng.choice(ADVANCES)
        if dt and client.resp is not None:
            env.clock.advance(dt)
            poke(env)
            await client.settle()
    await client.connect()
    client.budget, client.at_bookmark = None, False
    env.clock.advance(WINDOW + 0.05)  # everything held falls due
    poke(env)
    await client.settle()
    truth = env.truth.at(env.rig.sim.store.resource_version)
    if client.cache != truth:
        raise Violation("the final cache is not the emulator's filtered state")
    for obj, rv in client.stale:
        if env.truth.last_write[obj] <= rv:
            raise Violation(f"{obj} stayed stale after resourceVersion {rv}")
    assert client.resp is not None
    client.resp.close()


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    clock = FakeClock()
    # Periodic bookmarks off (1e9 s): the test asks for them where it wants them.
    sim = Simulator(Store(clock=clock, seed=13), bookmark_interval=1e9)
    # The default config (churn control on), except that every namespace's events come: the
    # test wakes the pump on its fake clock by writing to FILTERED (``poke``).
    config = with_overrides(
        Config(), enrollment={"selectors": ("istio-injection=enabled",)},
        streams={"upstream_excluded_namespaces": 0},
    )  # fmt: skip
    rig = await start_rig(config, sim=sim, clock=clock)
    pulse = Pulse()
    make_stage = rig.proxy.stage_factory

    def observed(ref: Any, initial_events: bool) -> Any:
        stage = make_stage(ref, initial_events)
        assert isinstance(stage, Coalescer), "the default config coalesces pods"
        return ObservedStage(stage, pulse)

    rig.proxy.stage_factory = observed
    for ns in ENROLLED:
        rig.ns(ns, MESH)
    rig.ns(FILTERED)
    await rig.proxy.namespaces.ready.wait()
    async with aiohttp.ClientSession() as session:
        e = Env(rig, clock, pulse, Truth(), session)
        e.truth.record(rig.pod("tick", FILTERED), False)
        yield e
    await stop_rig(rig)


async def test_resuming_clients_see_only_what_the_upstream_could_send(env: Env) -> None:
    seeds = [int(ONLY_SEED)] if ONLY_SEED else range(SEQUENCES)
    for seed in seeds:
        try:
            await sequence(env, seed)
        except Violation as e:
            raise AssertionError(f"seed {seed} (RESUME_SEED={seed} replays it): {e}") from None
    c = env.counts
    print(f"\n{len(seeds)} sequences: {c}")
    assert c.resumes_from_bookmark > 0 and c.expired >= len(seeds) and c.hangups > len(seeds)
