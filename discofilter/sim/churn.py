"""The churn driver: plays a scenario's churn profile against a Store (pure, injected clock).

Time model: the profile's phases play back to back (``repeat`` times, 0 = forever) from the
first ``step``. Each (group, kind, operation) has an accumulator: every step adds
``rate * elapsed`` (phase rates, plus bursts spread over their window) and performs the whole
operations due, keeping the fraction, so 50 creates/s is exactly 50 per simulated second
whatever the step size. Relabels fire when the phase time passes their ``at``.

Determinism: one ``random.Random(seed)`` picks namespaces and victims, and operations within a
step run in a fixed order, so a seed and a sequence of ``step(now)`` calls always produce the
same events. ``step`` is synchronous — tests drive it with a FakeClock and explicit times;
``run`` is the asyncio loop used by the CLI and the benchmark.

Operations: create (a fresh object from the factories), update (pods flip readiness and bump a
restart count, like kubelet status updates; other kinds bump an annotation), delete (a random
live object of the group). Updates and deletes with no live object are skipped and counted in
``skipped``. Objects removed behind the driver's back (API deletes) are skipped the same way.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from typing import Any

from discofilter.clock import Clock, SystemClock
from discofilter.sim import objects
from discofilter.sim.apierrors import ApiError
from discofilter.sim.populate import suffix
from discofilter.sim.scenario import CHURN_KINDS, OPERATIONS, Scenario
from discofilter.sim.store import Store

Obj = dict[str, Any]
Key = tuple[str, str, str]  # (group, kind, op)

_REVISION_ANNOTATION = "sim.discofilter.io/revision"


class _LiveSet:
    """Live (namespace, name) keys of one group and kind, with O(1) random removal."""

    __slots__ = ("items", "pos")

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []
        self.pos: dict[tuple[str, str], int] = {}
        """Invariant: items[pos[k]] == k for every k in pos."""

    def add(self, key: tuple[str, str]) -> None:
        if key not in self.pos:
            self.pos[key] = len(self.items)
            self.items.append(key)

    def discard(self, key: tuple[str, str]) -> None:
        i = self.pos.pop(key, None)
        if i is None:
            return
        last = self.items.pop()
        if i < len(self.items):
            self.items[i] = last
            self.pos[last] = i

    def pick(self, rng: random.Random) -> tuple[str, str] | None:
        return self.items[rng.randrange(len(self.items))] if self.items else None


class ChurnDriver:
    """Generates the scenario's churn into ``store``; counts what it generated."""

    def __init__(
        self,
        store: Store,
        scenario: Scenario,
        seed: int | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        self.scenario = scenario
        self.clock: Clock = clock or store.clock or SystemClock()
        self.rng = random.Random((scenario.seed if seed is None else seed) + 7919)
        self.namespaces: dict[str, list[str]] = defaultdict(list)
        """Namespaces of each group, found by the group label populate() stamps."""
        self._live: dict[tuple[str, str], _LiveSet] = defaultdict(_LiveSet)
        for ns_obj in store.iter_objects("namespaces"):
            meta = ns_obj["metadata"]
            group = (meta.get("labels") or {}).get(objects.GROUP_LABEL)
            if group is None:
                continue
            self.namespaces[group].append(meta["name"])
            for kind in CHURN_KINDS:
                live = self._live[(group, kind)]
                for name in store.view(kind, meta["name"]).get(meta["name"], {}):
                    live.add((meta["name"], name))
        for names in self.namespaces.values():
            names.sort()
        self._acc: dict[Key, float] = defaultdict(float)
        self._t0: float | None = None
        self._pos = 0.0
        """Seconds of profile already played (across repeats)."""
        self._counter = 0
        self._index = 10_000_000  # IP/identity index space above populate()'s
        self.by_kind: Counter[str] = Counter()
        """Events generated per resource (namespace relabels count under "namespaces")."""
        self.by_namespace: Counter[str] = Counter()
        self.by_group: Counter[str] = Counter()
        self.by_op: Counter[tuple[str, str]] = Counter()
        """(kind, op) → count, op in creates/updates/deletes/relabels."""
        self.skipped: Counter[tuple[str, str]] = Counter()

    # --- time ---------------------------------------------------------------------------

    @property
    def total_seconds(self) -> float | None:
        """Length of the whole profile; None when it repeats forever."""
        if self.scenario.repeat == 0:
            return None
        return self.scenario.cycle_seconds * self.scenario.repeat

    @property
    def finished(self) -> bool:
        total = self.total_seconds
        return total is not None and self._pos >= total

    @property
    def events(self) -> int:
        return sum(self.by_kind.values())

    def _integrate(
        self, start: float, end: float, acc: dict[Key, float], relabels: list[tuple[Any, ...]]
    ) -> None:
        """Add what the profile asks for in [start, end) (profile seconds) to ``acc``."""
        cycle = self.scenario.cycle_seconds
        if cycle <= 0 or end <= start:
            return
        total = self.total_seconds
        if total is not None:
            end = min(end, total)
        t = start
        while t < end:
            c_index, in_cycle = divmod(t, cycle)
            phase_start = 0.0
            for p in self.scenario.phases:
                if in_cycle < phase_start + p.duration:
                    break
                phase_start += p.duration
            else:  # float edge at the very end of a cycle
                t = (c_index + 1) * cycle
                continue
            a = in_cycle - phase_start
            seg_end = min(end, c_index * cycle + phase_start + p.duration)
            b = a + (seg_end - t)
            for r in p.rates:
                for op in OPERATIONS:
                    rate = getattr(r, op)
                    if rate:
                        acc[(r.group, r.kind, op)] += rate * (b - a)
            for bu in p.bursts:
                lo, hi = max(a, bu.at), min(b, bu.at + bu.over)
                if hi > lo:
                    for op in OPERATIONS:
                        n = getattr(bu, op)
                        if n:
                            acc[(bu.group, bu.kind, op)] += n * (hi - lo) / bu.over
            for rl in p.relabels:
                if a <= rl.at < b or (rl.at == 0 and a == 0 and b > 0 and rl.at >= a):
                    relabels.append((rl, c_index))
            t = seg_end

    def events_due(self, now: float | None = None) -> int:
        """Operations a ``step(now)`` would perform (no side effects)."""
        now = self.clock.monotonic() if now is None else now
        t0 = now if self._t0 is None else self._t0
        acc: dict[Key, float] = defaultdict(float, self._acc)
        relabels: list[tuple[Any, ...]] = []
        self._integrate(self._pos, now - t0, acc, relabels)
        return sum(int(v) for v in acc.values()) + len(relabels)

    def step(self, now: float | None = None) -> int:
        """Perform every operation due by ``now`` (clock seconds); returns how many ran."""
        now = self.clock.monotonic() if now is None else now
        if self._t0 is None:
            self._t0 = now
        target = now - self._t0
        relabels: list[tuple[Any, ...]] = []
        self._integrate(self._pos, target, self._acc, relabels)
        self._pos = max(self._pos, target)
        done = 0
        for rl, _ in relabels:
            done += self._relabel(rl)
        for key in sorted(self._acc):
            n = int(self._acc[key])
            if n <= 0:
                continue
            self._acc[key] -= n
            group, kind, op = key
            for _ in range(n):
                done += self._op(group, kind, op)
        return done

    async def run(self, duration: float | None = None, tick: float = 0.01) -> None:
        """Play the profile on the clock until it ends or ``duration`` seconds pass."""
        start = self.clock.monotonic()
        while not self.finished:
            now = self.clock.monotonic()
            if duration is not None and now - start >= duration:
                self.step(start + duration)
                break
            self.step(now)
            await self.clock.sleep(tick)

    # --- operations -----------------------------------------------------------------------

    def _count(self, kind: str, ns: str, group: str, op: str) -> int:
        self.by_kind[kind] += 1
        self.by_namespace[ns] += 1
        self.by_group[group] += 1
        self.by_op[(kind, op)] += 1
        return 1

    def _op(self, group: str, kind: str, op: str) -> int:
        live = self._live[(group, kind)]
        key: tuple[str, str] | None = None
        try:
            if op == "creates":
                spaces = self.namespaces.get(group)
                if not spaces:
                    self.skipped[(kind, op)] += 1
                    return 0
                ns = spaces[self.rng.randrange(len(spaces))]
                obj = self._new(group, kind, ns)
                self.store.put_new(kind, obj, ns)
                live.add((ns, obj["metadata"]["name"]))
                return self._count(kind, ns, group, op)
            key = live.pick(self.rng)
            if key is None:
                self.skipped[(kind, op)] += 1
                return 0
            ns, name = key
            if op == "deletes":
                live.discard(key)
                self.store.remove(kind, name, ns)
                return self._count(kind, ns, group, op)
            old = self.store.peek(kind, name, ns)
            if old is None:
                live.discard(key)
                self.skipped[(kind, op)] += 1
                return 0
            self.store.put_update(kind, self._updated(kind, old), ns)
            return self._count(kind, ns, group, op)
        except ApiError:
            if key is not None:
                live.discard(key)  # gone behind our back (an API delete)
            self.skipped[(kind, op)] += 1
            return 0

    def _new(self, group: str, kind: str, ns: str) -> Obj:
        self._counter += 1
        self._index += 1
        g = self.scenario.group(group)
        sc = self.scenario
        if kind == "pods":
            app = f"svc-{self._counter % max(1, g.objects.get('services', 1))}"
            name = f"{app}-7d9c6b5f48-{suffix(self.rng)}{self._counter:x}"
            return objects.pod(
                name,
                ns,
                self._index,
                mesh=g.mesh,
                app=app,
                nodes=sc.nodes,
                target_bytes=sc.sizes.pod_bytes,
            )
        name = f"churn-{self._counter:x}"
        if kind == "services":
            return objects.service(name, ns, self._index, app=name)
        if kind == "endpoints":
            return objects.endpoints(name, ns, [(f"{name}-pod", self._index)], sc.nodes)
        if kind == "endpointslices":
            return objects.endpointslice(
                "churn",
                ns,
                f"{self._counter:x}",
                [(f"churn-pod-{self._counter:x}", self._index)],
                sc.nodes,
            )
        if kind == "configmaps":
            return objects.configmap(name, ns, sc.sizes.config_map_bytes)
        return objects.secret(name, ns, sc.sizes.secret_bytes)

    def _updated(self, kind: str, old: Obj) -> Obj:
        """A new version of ``old`` (never mutates it: stored objects are shared)."""
        new = dict(old)
        meta = dict(old["metadata"])
        meta.pop("resourceVersion", None)
        new["metadata"] = meta
        self._counter += 1
        if kind == "pods" and isinstance(old.get("status"), dict):
            status = dict(old["status"])
            conds = [dict(c) for c in status.get("conditions") or []]
            for c in conds:
                if c.get("type") in ("Ready", "ContainersReady"):
                    c["status"] = "False" if c.get("status") == "True" else "True"
            status["conditions"] = conds
            cs = [dict(c) for c in status.get("containerStatuses") or []]
            if cs:
                cs[0]["restartCount"] = int(cs[0].get("restartCount", 0)) + 1
                cs[0]["ready"] = not cs[0].get("ready", True)
            status["containerStatuses"] = cs
            new["status"] = status
        else:
            meta["annotations"] = dict(
                meta.get("annotations") or {}, **{_REVISION_ANNOTATION: str(self._counter)}
            )
        return new

    def _relabel(self, rl: Any) -> int:
        if rl.namespace is not None:
            targets = [rl.namespace]
        else:
            spaces = self.namespaces.get(rl.group, [])
            targets = self.rng.sample(spaces, min(rl.count, len(spaces)))
        done = 0
        for ns in targets:
            cur = self.store.peek("namespaces", ns)
            if cur is None:
                self.skipped[("namespaces", "relabels")] += 1
                continue
            labels = dict(cur["metadata"].get("labels") or {})
            for k, v in rl.labels.items():
                if v is None:
                    labels.pop(k, None)
                else:
                    labels[k] = v
            self.store.set_namespace_labels(ns, labels)
            group = labels.get(objects.GROUP_LABEL, rl.group or "")
            done += self._count("namespaces", ns, group, "relabels")
        return done
