"""Codec micro-benchmark: µs per event for each decode path on ~6.5 KB pod events, one core.

Run: ``python bench/micro_codec.py`` from the repo root (about 15 s; ``--quick`` for ~3 s).
Prints a table; ``--json`` prints the same numbers as JSON.

Paths measured (each on the same pod, encoded as a real kube-apiserver would):
- JSON: ``decode_json_event`` (the guarded scan of Go's typed prefix hits on this pod), the
  msgspec metadata-only fallback, the incremental ``JsonWatchDecoder`` on a stream, and orjson
  full decode for reference.
- protobuf: upb partial parsing with the lite metadata messages (``decode_proto_event``, what
  the proxy uses) and the incremental ``ProtoWatchDecoder``; upb with the full generated
  PartialObjectMetadata (whole ObjectMeta incl. managedFields, not spec/status); and a
  hand-written Python wire walk, both honouring protobuf semantics (every field) and with an
  early exit that is correct only for Go's field order.
- list filtering per item, and managedFields pruning cost and savings.

The sample pod comes from tests/unit/codec/codec_samples.py so tests and numbers agree.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "unit" / "codec"))

from codec_samples import json_event, make_pod  # noqa: E402

from discofilter._generated.k8s.apimachinery import meta_v1_pb2, runtime_pb2  # noqa: E402
from discofilter.codec import (  # noqa: E402
    JsonWatchDecoder,
    ProtoWatchDecoder,
    decode_json_event,
    decode_proto_event,
    filter_list,
    protoencode,
    prune_managed_fields_json,
    prune_managed_fields_proto,
)
from discofilter.codec.jsonwatch import decode_json_event_msgspec  # noqa: E402
from discofilter.codec.protowatch import unwrap_unknown  # noqa: E402
from discofilter.codec.wire import LEN, iter_fields, text  # noqa: E402
from discofilter.model import WatchEvent  # noqa: E402
from discofilter.sim.k8sproto import encode_list, encode_watch_frame  # noqa: E402


def wire_walk(frame: bytes, early_exit: bool = False) -> WatchEvent:
    """Pure-Python wire walk to ObjectMeta (the alternative to upb that was measured).

    ``early_exit`` stops reading ObjectMeta at its first field above 6 and the object after
    its metadata: faster, but correct only for encoders that write fields in number order.
    """
    end = len(frame)
    type_ = ""
    ext = (0, 0)
    for fnum, wt, s, e in iter_fields(frame, 4, end):
        if wt == LEN and fnum == 1:
            type_ = text(frame, s, e)
        elif wt == LEN and fnum == 2:
            ext = (s, e)
    raw = (0, 0)
    for fnum, wt, s, e in iter_fields(frame, *ext):
        if wt == LEN and fnum == 1:
            raw = (s, e)
    obj_s, obj_e, _ = unwrap_unknown(frame, *raw)
    ns = name = uid = rv = ""
    for fnum, wt, s, e in iter_fields(frame, obj_s, obj_e):
        if fnum != 1 or wt != LEN:
            continue
        for f2, w2, s2, e2 in iter_fields(frame, s, e):
            if early_exit and f2 > 6:
                break
            if w2 != LEN:
                continue
            if f2 == 3:
                ns = text(frame, s2, e2)
            elif f2 == 1:
                name = text(frame, s2, e2)
            elif f2 == 5:
                uid = text(frame, s2, e2)
            elif f2 == 6:
                rv = text(frame, s2, e2)
        if early_exit:
            break
    return WatchEvent(type_, ns, name, uid, rv, frame)


def upb_partial(frame: bytes) -> WatchEvent:
    """upb with the generated PartialObjectMetadata: the whole ObjectMeta is decoded."""
    ev = meta_v1_pb2.WatchEvent.FromString(frame[4:])
    unknown = runtime_pb2.Unknown.FromString(ev.object.raw[4:])
    m = meta_v1_pb2.PartialObjectMetadata.FromString(unknown.raw).metadata
    return WatchEvent(ev.type, m.namespace, m.name, m.uid, m.resourceVersion, frame)


def _time(fn: Callable[[], object], n: int) -> float:
    """Best of 5 runs of n calls, in µs per call (the machine is shared: take the quietest)."""
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - t0)
    return best / n * 1e6


def run(quick: bool) -> list[tuple[str, float, str]]:
    n = 2_000 if quick else 10_000
    pod = make_pod("mesh-a", "web-5d8f7c9b6d-abcde", "123456")
    line = json_event("MODIFIED", pod)
    frame = encode_watch_frame("MODIFIED", pod)
    want = decode_proto_event(frame)
    for fn in (upb_partial, wire_walk, lambda f: wire_walk(f, early_exit=True)):
        got = fn(frame)
        assert (got.namespace, got.name, got.uid, got.resource_version) == (
            want.namespace,
            want.name,
            want.uid,
            want.resource_version,
        )
    stream_j = line * 100
    stream_p = frame * 100
    chunk = 65536

    def feed(dec_cls: type, data: bytes) -> Callable[[], object]:
        # Results are dropped per chunk, as a streaming proxy does; keeping 100 events (640 KB)
        # alive per call instead costs ~1.5 µs/event more in fresh memory (see DESIGN's
        # allocator note).
        def go() -> object:
            dec = dec_cls()
            n = 0
            for i in range(0, len(data), chunk):
                n += len(dec.feed(data[i : i + chunk]))
            return n

        return go

    rows: list[tuple[str, float, str]] = [
        (
            "json: guarded scan hit (decode_json_event)",
            _time(lambda: decode_json_event(line), n),
            f"{len(line)} B",
        ),
        (
            "json: msgspec metadata-only (fallback path)",
            _time(lambda: decode_json_event_msgspec(line), n),
            "",
        ),
        (
            "json: JsonWatchDecoder.feed, 64 KiB chunks",
            _time(feed(JsonWatchDecoder, stream_j), n // 100) / 100,
            "per event",
        ),
        ("json: orjson full decode (reference)", _time(lambda: orjson.loads(line), n), ""),
        (
            "pb: upb lite metadata (decode_proto_event)",
            _time(lambda: decode_proto_event(frame), n),
            f"{len(frame)} B",
        ),
        (
            "pb: ProtoWatchDecoder.feed, 64 KiB chunks",
            _time(feed(ProtoWatchDecoder, stream_p), n // 100) / 100,
            "per event",
        ),
        (
            "pb: upb full ObjectMeta (PartialObjectMetadata)",
            _time(lambda: upb_partial(frame), n),
            "",
        ),
        ("pb: Python wire walk, every field", _time(lambda: wire_walk(frame), n), ""),
        (
            "pb: Python wire walk, early exit (order-dependent)",
            _time(lambda: wire_walk(frame, True), n),
            "",
        ),
        (
            "pb: upb unwrap only (WatchEvent + Unknown)",
            _time(
                lambda: runtime_pb2.Unknown.FromString(
                    meta_v1_pb2.WatchEvent.FromString(frame[4:]).object.raw[4:]
                ),
                n,
            ),
            "",
        ),
    ]
    items = [make_pod("mesh-a" if i % 2 else "batch", f"p-{i}") for i in range(500)]
    jlist = orjson.dumps(
        {
            "kind": "PodList",
            "apiVersion": "v1",
            "metadata": {"resourceVersion": "9"},
            "items": items,
        }
    )
    plist = encode_list(
        {
            "kind": "PodList",
            "apiVersion": "v1",
            "metadata": {"resourceVersion": "9"},
            "items": items,
        }
    )

    def keep(ns: str) -> bool:
        return ns == "mesh-a"

    reps = max(n // 2000, 2)
    rows += [
        (
            "list json: filter_list, 500 pods, 50% kept",
            _time(lambda: filter_list(jlist, "application/json", keep), reps) / 500,
            "per item",
        ),
        (
            "list pb: filter_list, 500 pods, 50% kept",
            _time(lambda: filter_list(plist, "application/vnd.kubernetes.protobuf", keep), reps)
            / 500,
            "per item",
        ),
    ]
    distinct = [make_pod("mesh-a", f"p-{i}", str(i)) for i in range(n // 20)]
    for p in distinct:
        p["spec"]["containers"][0]["image"] += p["metadata"]["name"]  # defeat the memo

    def misses() -> float:
        protoencode._memo.clear()
        t0 = time.perf_counter()
        for p in distinct:
            encode_watch_frame("MODIFIED", p)
        return (time.perf_counter() - t0) / len(distinct) * 1e6

    rows += [
        (
            "emulator encode: JSON line (orjson)",
            _time(lambda: json_event("MODIFIED", pod), n),
            "reference",
        ),
        (
            "emulator encode: pb frame, memo hit",
            _time(lambda: encode_watch_frame("MODIFIED", pod), n // 4),
            "same spec/status",
        ),
        (
            "emulator encode: pb frame, memo miss",
            misses(),
            "distinct specs",
        ),
    ]
    pj, pp = prune_managed_fields_json(line), prune_managed_fields_proto(frame)
    rows += [
        (
            "prune json: managedFields",
            _time(lambda: prune_managed_fields_json(line), n // 4),
            f"{len(line)} -> {len(pj)} B ({1 - len(pj) / len(line):.0%} saved)",
        ),
        (
            "prune pb: managedFields",
            _time(lambda: prune_managed_fields_proto(frame), n // 4),
            f"{len(frame)} -> {len(pp)} B ({1 - len(pp) / len(frame):.0%} saved)",
        ),
    ]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="codec micro-benchmark (µs per event)")
    parser.add_argument("--quick", action="store_true", help="10x fewer iterations")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    rows = run(args.quick)
    if args.json:
        print(
            orjson.dumps(
                [{"path": p, "us": round(us, 3), "note": note} for p, us, note in rows]
            ).decode()
        )
        return 0
    width = max(len(p) for p, _, _ in rows)
    print(f"{'path':<{width}}  {'µs/event':>9}  note")
    for p, us, note in rows:
        print(f"{p:<{width}}  {us:9.2f}  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
