"""Micro-benchmark: events/s through ``Coalescer.push`` + ``ready`` (one core, no I/O).

Synthetic stream: ``--keys`` pods in 10 namespaces, MODIFIED events round-robin over random keys
(with an ADDED the first time a key is seen), arriving ``--rate`` events per second of FAKE time
(the clock is a number we advance; nothing sleeps). ``ready(now)`` is called after every push, as
the proxy's stream loop does. Variants: pass-through policy, the default 0.25 s window, the window
plus a 200/s rate limit, and the window plus no-op suppression (a full JSON decode per event).

``--deletes F`` makes pods live and die: an event of a live pod is its DELETED with probability
F, and the key's next event is the ADDED of a new pod (new uid) under the same name. ``--burst``
gives every new pod the creation burst of a real one: its ADDED is followed within 20 ms by two
MODIFIEDs (scheduler binding, first kubelet status), interleaved with everyone else's events.

    python bench/micro_coalesce.py                # table
    python bench/micro_coalesce.py --json         # one JSON object per variant
    python bench/micro_coalesce.py --deletes 0.1 --burst   # pods that come and go
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from discofilter.coalesce import CoalescePolicy, Coalescer, CoalesceStats
from discofilter.model import WatchEvent


def make_events(
    n: int, keys: int, seed: int = 1, deletes: float = 0.0, burst: bool = False
) -> list[WatchEvent]:
    rng = random.Random(seed)
    padding = "x" * 900  # ~1 KB lines; only the suppression variant looks inside them
    uids: dict[int, str] = {}  # live pods: key -> uid
    generation = 0
    follow_ups: list[int] = []  # keys owed a creation-burst MODIFIED, soonest first
    out = []
    for rv in range(1, n + 1):
        k = follow_ups.pop(0) if follow_ups and rng.random() < 0.5 else rng.randrange(keys)
        if k not in uids:
            generation += 1
            uids[k] = f"u{k}-{generation}"
            type_ = "ADDED"
            if burst:
                follow_ups += [k, k]
        elif deletes and k not in follow_ups and rng.random() < deletes:
            type_ = "DELETED"
        else:
            type_ = "MODIFIED"
        uid = uids[k]
        if type_ == "DELETED":
            del uids[k]
        ns, name = f"ns{k % 10}", f"pod-{k}"
        obj = {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {"namespace": ns, "name": name, "uid": uid, "resourceVersion": str(rv)},
            "spec": {"nodeName": "n1", "pad": padding},
            "status": {"phase": "Running", "n": rv % 3},
        }
        raw = orjson.dumps({"type": type_, "object": obj}) + b"\n"
        out.append(WatchEvent(type_, ns, name, uid, str(rv), raw))
    return out


def run(policy: CoalescePolicy, events: list[WatchEvent], rate: float) -> dict[str, float]:
    stats = CoalesceStats(kind="pods")
    c = Coalescer(policy, kind="pods", stats=stats)
    step = 1.0 / rate
    now = 0.0
    forwarded = 0
    push, ready = c.push, c.ready
    t0 = time.perf_counter()
    for e in events:
        now += step
        push(e, now)
        forwarded += len(ready(now))
    forwarded += len(c.flush())
    elapsed = time.perf_counter() - t0
    return {
        "events": len(events),
        "forwarded": forwarded,
        "events_per_second": len(events) / elapsed,
        "us_per_event": elapsed / len(events) * 1e6,
        "coalesced": stats.coalesced,
        "vanished_pairs": stats.vanished,
        "suppressed": stats.suppressed,
        "mean_hold_ms": 1000 * stats.hold_seconds_sum / max(1, stats.hold_count),
        "longest_hold_ms": 1000 * stats.longest_hold_seconds,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--keys", type=int, default=1_000)
    ap.add_argument("--rate", type=float, default=5_000.0, help="fake-time arrival rate, events/s")
    ap.add_argument("--window", type=float, default=0.25)
    ap.add_argument("--deletes", type=float, default=0.0, help="P(an event of a pod deletes it)")
    ap.add_argument("--burst", action="store_true", help="two MODIFIEDs follow every ADDED")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    events = make_events(args.events, args.keys, deletes=args.deletes, burst=args.burst)
    variants = {
        "pass-through (window 0)": CoalescePolicy(window_seconds=0.0),
        f"window {args.window}s": CoalescePolicy(window_seconds=args.window),
        f"window {args.window}s + 200/s limit": CoalescePolicy(
            window_seconds=args.window, max_events_per_second=200.0
        ),
        f"window {args.window}s + suppress_noop": CoalescePolicy(
            window_seconds=args.window, suppress_noop=True
        ),
    }
    if not args.json:
        added = sum(e.type == "ADDED" for e in events)
        deleted = sum(e.type == "DELETED" for e in events)
        print(
            f"{args.events} events ({added} ADDED, {deleted} DELETED) over {args.keys} keys "
            f"at {args.rate:.0f} events/s (fake time)"
        )
        header = ("variant", "events/s", "us/event", "forwarded", "vanished", "mean hold")
        print(
            f"{header[0]:36} {header[1]:>10} {header[2]:>9} {header[3]:>10} {header[4]:>9} "
            f"{header[5]:>10}"
        )
    for name, policy in variants.items():
        r = run(policy, events, args.rate)
        if args.json:
            print(json.dumps({"variant": name, **r}))
        else:
            print(
                f"{name:36} {r['events_per_second']:>10,.0f} {r['us_per_event']:>9.2f} "
                f"{int(r['forwarded']):>10,} {int(r['vanished_pairs']):>9,} "
                f"{r['mean_hold_ms']:>8.1f}ms"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
