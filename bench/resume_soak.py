"""Issue 13's real-client check: kubernetes_asyncio watchers that hang up and resume under churn.

    python bench/resume_soak.py --duration 600     # the issue-13 acceptance: 10 minutes, by hand
    python bench/resume_soak.py --duration 20      # a quick check that the script works

Processes: the emulator runs in this process and is written to directly (``--rate`` pod writes per
second, ~400 by default as in the issue's report: creates, label updates, deletes, and deletes +
re-creations under the same name with a new uid, in 4 enrolled and 2 non-enrolled namespaces;
the pods history is compacted every ``--compact-every`` seconds, so resumes from before it are
answered 410). The proxy is ``python -m discofilter.server`` with its default config (churn
control on: pods in 250 ms windows). ``--watchers`` kubernetes_asyncio watchers run through it.

Each watcher LISTs (paged, limit 500), then WATCHes from the list's version with
allowWatchBookmarks, and hangs up after a random number of events, right after a BOOKMARK, or
when the server ends the watch (timeoutSeconds 5-30 s); it resumes from the last version it saw
(an event's or a bookmark's), now or, one time in ten, after being away 0.2-3 s, and relists on
410 (kubernetes_asyncio raises ``ApiException``).
On every event it checks what it can observe: no ADDED for a key it holds, no MODIFIED or
DELETED for an object (key and uid) it does not hold, resourceVersions never going back, and,
since the emulator is in this process, that the objects it holds right after the event are
exactly the emulator's enrolled pods at that resourceVersion. When the churn stops, every
watcher must reach the emulator's final state exactly. Exit status 1 on any violation.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from discofilter.harness.processes import free_port
from discofilter.sim.history import StoredEvent
from discofilter.sim.server import Simulator
from tests.component.churn.informer_asyncio import list_pods  # the tests' paged LIST

MESH = {"istio-injection": "enabled"}
ENROLLED = [f"mesh-{i}" for i in range(4)]
OTHERS = ["batch-0", "batch-1"]
NAMES = [f"rs-{i:02d}" for i in range(30)]
Key = tuple[str, str]


class Truth:
    """The emulator's enrolled pods as a log of changes: (rv, key, uid or None if deleted)."""

    def __init__(self, sim: Simulator) -> None:
        self.log: list[tuple[int, Key, str | None]] = []
        self.base = 0  # absolute index of log[0]
        sim.store.subscribe(self._on_commit)

    def _on_commit(self, resource: str, ev: StoredEvent) -> None:
        if resource == "pods" and ev.namespace in ENROLLED:
            uid = None if ev.type == "DELETED" else ev.obj["metadata"]["uid"]
            self.log.append((ev.rv, (ev.namespace, ev.name), uid))

    def trim(self, upto: int) -> None:
        del self.log[: upto - self.base]
        self.base = upto


@dataclass
class Counts:
    events: int = 0
    object_events: int = 0
    bookmarks: int = 0
    watches: int = 0
    hangups: int = 0
    server_ends: int = 0
    resumes_from_bookmark: int = 0
    relists: int = 0
    expired: int = 0
    violations: list[str] = field(default_factory=list)


class Watcher:
    """client-go Reflector semantics, checking every event against the emulator's history."""

    def __init__(self, url: str, truth: Truth, rng: random.Random, counts: Counts) -> None:
        self.url, self.truth, self.rng, self.counts = url, truth, rng, counts
        self.cache: dict[Key, tuple[str, str]] = {}  # key -> (uid, resourceVersion)
        self.rv = 0
        self.after_bookmark = False
        self.cursor = 0  # absolute index into truth.log: every change up to self.rv applied
        self.upstream: dict[Key, str] = {}  # the emulator's enrolled pods at self.rv: key -> uid
        self.mismatch: set[Key] = set()

    def _check(self, key: Key) -> None:
        have = self.cache.get(key)
        if self.upstream.get(key) != (have[0] if have else None):
            self.mismatch.add(key)
        else:
            self.mismatch.discard(key)

    def _advance(self, rv: int) -> None:
        log, base = self.truth.log, self.truth.base
        while self.cursor - base < len(log) and log[self.cursor - base][0] <= rv:
            _, key, uid = log[self.cursor - base]
            if uid is None:
                self.upstream.pop(key, None)
            else:
                self.upstream[key] = uid
            self._check(key)
            self.cursor += 1

    def _violation(self, text: str) -> None:
        self.counts.violations.append(text)
        print(f"VIOLATION: {text}", flush=True)

    async def run(self, stop: asyncio.Event) -> None:
        cfg = client.Configuration()
        cfg.host = self.url
        async with client.ApiClient(cfg) as api_client:
            api = client.CoreV1Api(api_client)
            while True:  # cancelled at the end
                await self._list(api)
                while await self._watch(api, stop):
                    if not stop.is_set() and self.rng.random() < 0.1:
                        # away for a while (a restart): its version may be compacted by then
                        await asyncio.sleep(self.rng.uniform(0.2, 3.0))

    async def _list(self, api: client.CoreV1Api) -> None:
        self.cache, self.rv = await list_pods(api)
        self.after_bookmark = False
        self._advance(self.rv)
        self.mismatch = set()
        for key in set(self.cache) | set(self.upstream):
            self._check(key)
        if self.mismatch:
            self._violation(f"LIST at {self.rv} differs from the emulator: {sorted(self.mismatch)}")
        self.counts.relists += 1

    async def _watch(self, api: client.CoreV1Api, stop: asyncio.Event) -> bool:
        """One watch; False when the cache must be relisted."""
        c, rng = self.counts, self.rng
        c.watches += 1
        c.resumes_from_bookmark += self.after_bookmark
        budget = rng.randint(1, 60) if rng.random() < 0.6 else None
        at_bookmark = rng.random() < 0.3
        w = watch.Watch()
        seen = 0
        try:
            async for ev in w.stream(
                api.list_pod_for_all_namespaces,
                resource_version=str(self.rv),
                allow_watch_bookmarks=True,
                timeout_seconds=rng.randint(5, 30),
            ):
                self._apply(ev["type"], ev["raw_object"]["metadata"])
                seen += 1
                if stop.is_set():
                    continue  # the churn is over: stay to receive the final state
                if (budget is not None and seen >= budget) or (
                    at_bookmark and ev["type"] == "BOOKMARK"
                ):
                    c.hangups += 1
                    return True  # the finally closes the connection: a hang-up
            c.server_ends += 1
        except ApiException as e:
            if e.status == 410:
                c.expired += 1
                return False
            raise
        finally:
            await w.close()
        return True

    def _apply(self, type_: str, meta: dict[str, Any]) -> None:
        c = self.counts
        c.events += 1
        rv = int(meta["resourceVersion"])
        if rv < self.rv or (rv == self.rv and type_ != "BOOKMARK"):
            self._violation(f"{type_}@{rv}: resourceVersion went back from {self.rv}")
        self.rv = rv
        self.after_bookmark = type_ == "BOOKMARK"
        if type_ == "BOOKMARK":
            c.bookmarks += 1
        else:
            c.object_events += 1
            key = (meta["namespace"], meta["name"])
            have = self.cache.get(key)
            what = f"{type_} {key[0]}/{key[1]}@{rv}"
            if type_ == "ADDED" and have is not None:
                self._violation(f"{what}: a second ADDED (the client holds uid {have[0]})")
            elif type_ in ("MODIFIED", "DELETED") and (have is None or have[0] != meta["uid"]):
                self._violation(f"{what} for an object the client does not hold")
            if type_ == "DELETED":
                self.cache.pop(key, None)
            else:
                self.cache[key] = (meta["uid"], meta["resourceVersion"])
            self._check(key)
        self._advance(rv)
        if self.mismatch:
            self._violation(
                f"at {rv} the client and the emulator differ on {sorted(self.mismatch)}"
            )
            self.mismatch.clear()  # report each divergence once


def one_write(sim: Simulator, rng: random.Random, step: int) -> None:
    store = sim.store
    ns = rng.choice(ENROLLED + OTHERS)
    name = rng.choice(NAMES)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}  # fmt: skip
    obj = store.peek("pods", name, ns)
    if obj is None:
        store.create("pods", pod, ns)
        return
    r = rng.random()
    if r < 0.3:
        store.delete("pods", name, ns)
        if r < 0.15:  # re-created under the same name: a new uid
            store.create("pods", pod, ns)
        return
    obj = store.get("pods", name, ns)
    obj["metadata"]["labels"] = {"step": str(step)}
    store.update("pods", obj)


async def churn(sim: Simulator, args: argparse.Namespace, truth: Truth, ws: list[Watcher]) -> int:
    """Write ``args.rate`` pods/s for ``args.duration`` s (paced by elapsed time)."""
    rng = random.Random(args.seed)
    start = last_compact = last_report = time.monotonic()
    done = 0
    while (elapsed := time.monotonic() - start) < args.duration:
        while done < int(elapsed * args.rate):
            one_write(sim, rng, done)
            done += 1
        now = time.monotonic()
        if now - last_compact >= args.compact_every:
            sim.store.compact("pods")  # resumes from before now are answered 410
            last_compact = now
        if now - last_report >= 30:
            truth.trim(min(w.cursor for w in ws))
            print(f"{elapsed:.0f} s: {done} writes, {ws[0].counts.events} events", flush=True)
            last_report = now
        await asyncio.sleep(0.01)
    return done


async def wait_for_proxy(url: str) -> None:
    async with aiohttp.ClientSession() as s, asyncio.timeout(20):
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                async with s.get(url + "/api/v1/namespaces") as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.1)  # another process starting up: no event to wait on


async def scrape(admin: str) -> dict[str, float]:
    out = {}
    async with aiohttp.ClientSession() as s, s.get(admin + "/metrics") as r:
        for line in (await r.text()).splitlines():
            if line.startswith("discofilter_coalesce_") and 'kind="pods"' in line:
                name, value = line.rsplit(" ", 1)
                out[name.split("{")[0].removeprefix("discofilter_coalesce_")] = float(value)
    return out


async def main_async(args: argparse.Namespace) -> int:
    sim = Simulator(bookmark_interval=1.0)
    await sim.start()
    for ns in ENROLLED:
        sim.store.create("namespaces", {"metadata": {"name": ns, "labels": MESH}})
    for ns in OTHERS:
        sim.store.create("namespaces", {"metadata": {"name": ns, "labels": {}}})
    truth = Truth(sim)
    port, admin = free_port(), free_port()
    proxy = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "discofilter.server", "--listen", f"127.0.0.1:{port}",
        "--upstream", sim.url, "--selector", "istio-injection=enabled",
        "--admin-listen", f"127.0.0.1:{admin}", stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    counts = Counts()
    try:
        await wait_for_proxy(url)
        stop = asyncio.Event()
        ws = [
            Watcher(url, truth, random.Random(args.seed + i), counts) for i in range(args.watchers)
        ]
        tasks = [asyncio.create_task(w.run(stop)) for w in ws]
        t0 = time.monotonic()
        writes = await churn(sim, args, truth, ws)
        final_rv = sim.store.resource_version
        stop.set()  # watchers stop hanging up and wait for the final state
        converged = False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(30):
                while any(w.rv < final_rv for w in ws):  # noqa: ASYNC110 - bookmarks arrive
                    await asyncio.sleep(0.1)
                converged = True
        expected = {
            (o["metadata"]["namespace"], o["metadata"]["name"]):
                (o["metadata"]["uid"], o["metadata"]["resourceVersion"])
            for o in sim.store.iter_objects("pods") if o["metadata"]["namespace"] in ENROLLED
        }  # fmt: skip
        for i, w in enumerate(ws):
            if w.cache != expected:
                counts.violations.append(f"watcher {i} did not end with the emulator's state")
        coalesce = await scrape(f"http://127.0.0.1:{admin}")
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        report = {
            "seconds": round(time.monotonic() - t0, 1), "pod_writes": writes,
            "watchers": args.watchers, "converged": converged, **asdict(counts),
            "violations": len(counts.violations), "proxy_coalesce_pods": coalesce,
        }  # fmt: skip
        print(json.dumps(report, indent=1))
        if args.json:
            text = json.dumps({**report, "violation_lines": counts.violations}, indent=1)
            await asyncio.to_thread(Path(args.json).write_text, text)
        return 0 if converged and not counts.violations else 1
    finally:
        proxy.terminate()
        await proxy.wait()
        await sim.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=600.0, help="seconds of churn (600)")
    ap.add_argument("--rate", type=float, default=400.0, help="pod writes per second (400)")
    ap.add_argument("--watchers", type=int, default=3)
    ap.add_argument("--compact-every", type=float, default=30.0, help="seconds (30)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--json", help="write the report here")
    return asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
