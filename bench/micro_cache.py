"""Micro-benchmark: proxy CPU per upstream event, shared cache vs one filter pass per client.

Same upstream pod stream (``--events`` events over 20 namespaces, half enrolled, pods of about
6.5 KB as JSON: DESIGN's anchor), fed in 64 KiB chunks as aiohttp delivers them, in one process,
for N = 1, 3, 10 clients and both wire formats:

* ``per-client`` (today): each client has its own upstream stream, so each of the N decodes
  every frame (``decoder_for(...).feed``) and filters it by enrollment;
* ``shared`` (issue 15): one decode + ``Framer.split`` + ``SharedCache.apply`` (filter, store,
  window, one frame built) per event, fanned out to N watchers, each drained with ``take``.

Both stop where the bytes would be written to the client's socket (writing costs the same in
both modes). The figure is CPU seconds (``time.process_time``) per upstream event, best of
``--repeat`` runs; compare ratios within one run (the machine is shared and noisy).

    python bench/micro_cache.py                  # table
    python bench/micro_cache.py --json           # one JSON object per row
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from discofilter.cache import CachedObject, CacheKey, CacheLimits, SharedCache, framer_for
from discofilter.codec import JSON, PROTOBUF, decoder_for
from discofilter.filter.enrollment import Enrollment
from discofilter.filter.selectors import parse_label_selector, selector_set
from discofilter.sim.k8sproto import encode_watch_frame
from discofilter.sim.objects import pod

CHUNK = 64 * 1024
NAMESPACES = 20


def make_stream(ctype: str, n: int) -> bytes:
    """The upstream watch body: ``n`` pod events (the cache starts empty: the first are ADDED)."""
    frames = []
    for i in range(n):
        ns = f"ns{i % NAMESPACES}"
        name = f"pod-{i % 500}"
        obj = pod(name, ns, i % 500, mesh=i % 2 == 0, target_bytes=6500)
        obj = {"kind": "Pod", "apiVersion": "v1", **obj}
        # ObjectMeta in Go's field order, so the JSON decoder takes its guarded fast scan as it
        # does on kube-apiserver's bytes.
        meta = {k: obj["metadata"][k] for k in ("name", "generateName", "namespace")}
        meta.update(uid=f"uid-{ns}-{name}", resourceVersion=str(1000 + i))
        meta.update((k, v) for k, v in obj["metadata"].items() if k not in meta)
        obj["metadata"] = meta
        type_ = "ADDED" if i < 500 else "MODIFIED"  # (ns, name) pairs repeat every 500
        if ctype == PROTOBUF:
            frames.append(encode_watch_frame(type_, obj))
        else:
            frames.append(orjson.dumps({"type": type_, "object": obj}) + b"\n")
    return b"".join(frames)


def enrollment() -> Enrollment:
    e = Enrollment(selector_set([parse_label_selector("mesh=on")]), frozenset())
    for i in range(NAMESPACES):
        e.apply_namespace(f"ns{i}", {"mesh": "on"} if i % 2 == 0 else {})
    return e


def chunks(body: bytes) -> list[bytes]:
    return [body[i : i + CHUNK] for i in range(0, len(body), CHUNK)]


def per_client(ctype: str, parts: list[bytes], n_clients: int) -> float:
    keep = enrollment().is_enrolled
    t0 = time.process_time()
    for _ in range(n_clients):
        dec = decoder_for(ctype)
        out: list[bytes] = []
        for part in parts:
            for ev in dec.feed(part):
                if keep(ev.namespace):
                    out.append(ev.raw)
        dec.flush()
    return time.process_time() - t0


def shared(ctype: str, parts: list[bytes], n_clients: int) -> float:
    fr = framer_for(ctype, "v1", "Pod")
    enrolled = {f"ns{i}" for i in range(0, NAMESPACES, 2)}
    limits = CacheLimits(watcher_frames=100_000, watcher_bytes=1 << 34)
    cache = SharedCache(CacheKey("/v1/pods", ctype), fr, enrolled, limits)
    cache.relist([], "999")
    watchers = [cache.watch("999") for _ in range(n_clients)]
    t0 = time.process_time()
    dec = decoder_for(ctype)
    split, apply = fr.split, cache.apply
    for part in parts:
        for ev in dec.feed(part):
            type_, obj = split(ev.raw)
            meta = CachedObject(ev.namespace, ev.name, ev.uid, ev.resource_version, obj)
            apply(type_, meta, ev.raw)
        for w in watchers:
            w.take(10_000)
    dec.flush()
    elapsed = time.process_time() - t0
    assert all(w.open for w in watchers)
    return elapsed


def _timed(fn: Callable[[str, list[bytes], int], float], *args: Any) -> float:
    # Start every run from a collected heap: the previous run's window (up to 32 MB of frames)
    # must not be collected on this run's clock.
    gc.collect()
    return fn(*args)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=5_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    for ctype in (JSON, PROTOBUF):
        body = make_stream(ctype, args.events)
        parts = chunks(body)
        base: dict[str, float] = {}
        for n in (1, 3, 10):
            for mode, fn in (("per-client", per_client), ("shared", shared)):
                best = min(_timed(fn, ctype, parts, n) for _ in range(args.repeat))
                us = best / args.events * 1e6
                base.setdefault(mode, us)
                rows.append(
                    {
                        "format": "protobuf" if ctype == PROTOBUF else "json",
                        "clients": n,
                        "mode": mode,
                        "us_per_upstream_event": round(us, 2),
                        "vs_n1": round(us / base[mode], 2),
                        "bytes_per_event": len(body) // args.events,
                    }
                )
    if args.json:
        for r in rows:
            print(json.dumps(r))
        return 0
    print(f"{'format':9} {'clients':>7} {'mode':11} {'µs/upstream event':>18} {'vs N=1':>6}")
    for r in rows:
        print(
            f"{r['format']:9} {r['clients']:>7} {r['mode']:11} "
            f"{r['us_per_upstream_event']:>18.2f} {r['vs_n1']:>6.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
