"""Profile the discofilter process while it filters the micro-benchmark's pod watch (py-spy).

    python bench/profile_proxy.py [--content-type json|protobuf] [--coalesce] [--events 20000]
                                  [--chunking go|N] [--streams 5] [--native] [--top 25]
                                  [--lines] [--raw-out FILE] [--tree DIR]
                                  [--rate R --seconds 20] [--tls]

Starts the ``micro_proxy.py`` upstream and one discofilter (churn control off unless
``--coalesce``), attaches ``py-spy record`` (raw collapsed stacks, 250 Hz) to the proxy, streams
the watch ``--streams`` times, then prints the frames with the most samples, self and
inclusive, as percentages of the samples taken while the proxy was on CPU (idle samples are
left out by py-spy). ``--raw-out`` keeps the collapsed stacks for a flame graph. py-spy pauses the
process per sample: absolute rates are lower under it; use the percentages, and
``micro_proxy.py`` for µs per event. ``--rate R`` paces the watch at R events/s for
``--seconds`` (``micro_proxy.py --rates``), one event per upstream write: the per-read fixed
costs of a quiet cluster. ``--tls``: TLS on both hops, as deployed.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import micro_proxy as mp


def frame_name(frame: str, lines: bool) -> str:
    """``func (path/file.py:123)`` → ``func (file.py:123)``, or ``func (file.py)``."""
    func, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit("/", 1)[-1]
    return f"{func} ({where if lines else where.split(':')[0]})"


# Leaf frames that are the loop waiting, not working: with --native py-spy samples a thread
# blocked in epoll as "active", so these are left out of every share.
IDLE_LEAVES = ("epoll_wait", "epoll_pwait", "poll (", "select (")

# Where a sample's CPU goes: the first category (in this order) matching a frame of its stack,
# searched from the leaf up. Patterns are substrings of "func (file.py)" / "func (lib.so)".
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("TLS (OpenSSL, ssl module, uvloop SSL protocol)",
     ("libssl", "libcrypto", "_ssl", "ssl.py", "SSLProtocol", "sslproto", "SSLObject")),
    ("metrics, churn meter, decision sampling",
     ("prometheus_client", "values.py", "metrics.py", "churn.py", "_report", "_decide",
      "decisions.py", "Counter.update", "registry.py")),
    ("coalescing", ("coalesce/", "coalescer.py", "deadlines.py", "held.py", "stats.py",
                    "retype.py", "bucket.py")),
    ("decoding (codec)", ("protowatch.py", "jsonwatch.py", "jsonscan.py", "_upb", "upb")),
    ("filtering (WatchPump.filter)", ("WatchPump.filter",)),
    ("timers (asyncio.timeout per read/write)", ("timeouts.py", "TimerHandle", "call_at",
                                                 "call_later")),
    ("HTTP: aiohttp client read side (parser, StreamReader)",
     ("client_proto.py", "streams.py", "http_parser", "_http_parser", "client_reqrep.py")),
    ("HTTP: aiohttp server write side", ("web_response.py", "http_writer.py",
                                        "web_protocol.py", "base_protocol.py", "_writelines")),
    ("pump (WatchPump rest)", ("watch_stream.py",)),
    ("event loop, syscalls, kernel (read/write/epoll dispatch)",
     ("loop.c", "read (", "write (", "writev", "libuv", "core.c", "stream.c", "uv_",
      "_asynciomodule", "tasks.py", "events.py", "base_events")),
]  # fmt: skip


# Which stream a sample serves: the first of these in the stack, from the root. Samples in the
# loop's C code before it calls into Python (socket reads, TLS records) name no stream.
STREAMS: list[tuple[str, tuple[str, ...]]] = [
    ("filtered watches", ("filtered_watch.py", "watch_stream.py")),
    ("pass-through (discovery, CRDs, other kinds)", ("passthrough.py",)),
    ("filtered lists", ("filtered_list.py", "listfilter.py")),
    ("namespace watch (enrollment)", ("namespace_watch.py",)),
    ("admin, metrics endpoint", ("admin/",)),
    (STARTUP := "start-up (imports)", ("importlib", "_bootstrap")),
]


def stream_of(frames: list[str]) -> str:
    for f in frames:
        for name, patterns in STREAMS:
            if any(p in f for p in patterns):
                return name
    return "not attributable (loop, TLS and socket work outside a Python frame)"


def category(frames: list[str]) -> str:
    for f in reversed(frames):
        for name, patterns in CATEGORIES:
            if any(p in f for p in patterns):
                return name
    return "other (interpreter, allocator, GC)"


def summarize(raw: Path, top: int, lines: bool = False) -> str:
    """Self and inclusive sample shares per frame from py-spy's collapsed ``raw`` output, and
    the split of the on-CPU samples between the CATEGORIES."""
    self_n: collections.Counter[str] = collections.Counter()
    incl_n: collections.Counter[str] = collections.Counter()
    cat_n: collections.Counter[str] = collections.Counter()
    stream_n: collections.Counter[str] = collections.Counter()
    total = idle = startup = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = [frame_name(f, lines) for f in stack.split(";")]
        # "process" / "thread" pseudo-frames py-spy puts first carry no information.
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        if frames[-1].startswith(IDLE_LEAVES):
            idle += n
            continue
        stream = stream_of([frame_name(f, True) for f in stack.split(";")])
        if stream == STARTUP:
            startup += n  # imports: a one-off, not what serving costs
            continue
        total += n
        self_n[frames[-1]] += n
        cat_n[category(frames)] += n
        stream_n[stream] += n
        for f in set(frames):
            incl_n[f] += n
    total = max(total, 1)
    out = [
        f"{total} samples on CPU ({idle} idle samples in epoll and {startup} of start-up "
        "imports left out)",
        "",
        "split %",
    ]
    out += [f"{100 * n / total:5.1f}  {c}" for c, n in cat_n.most_common()]
    out += ["", "by stream %"]
    out += [f"{100 * n / total:5.1f}  {c}" for c, n in stream_n.most_common()]
    out += ["", "self %  frame"]
    out += [f"{100 * n / total:5.1f}  {f}" for f, n in self_n.most_common(top)]
    out += ["", "incl %  frame"]
    out += [f"{100 * n / total:5.1f}  {f}" for f, n in incl_n.most_common(top)]
    return "\n".join(out)


async def drive(args: argparse.Namespace) -> None:
    ct = mp.CONTENT_TYPES[args.content_type]
    tmp = Path(tempfile.mkdtemp(prefix="profile-proxy-"))
    env = {**os.environ, "PYTHONPATH": str(mp.ROOT)}
    procs: list[subprocess.Popen[bytes]] = []
    tls = mp.make_tls(tmp) if args.tls else None
    paced = int(args.rate * args.seconds) if args.rate else 0
    try:
        up, up_port, tls_port = mp.start_upstream(
            args.events if not paced else 10, 0.5, [ct], env, args.chunking, tls, paced
        )
        procs.append(up)
        await mp.wait_port(up_port)
        upstream = f"https://127.0.0.1:{tls_port}" if tls else up_port
        proxy, port = mp.start_discofilter(
            upstream, args.coalesce, tmp, env, tree=Path(args.tree), tls=tls
        )
        procs.append(proxy)
        url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        await mp.wait_port(url, "/api/v1/pods?limit=1", tls)
        query = f"&pace={args.rate}&n={paced}" if paced else ""
        await mp.stream_once(url, ct, query if not paced else "&pace=1000&n=200", tls)  # warm-up
        raw = tmp / "stacks.txt"
        spy_argv = ["py-spy", "record", "--format", "raw", "--rate", str(args.hz), "-o", str(raw),
                    "--pid", str(proxy.pid)]  # fmt: skip
        if args.native:
            spy_argv.append("--native")
        spy = mp.spawn(spy_argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await asyncio.sleep(1.0)  # py-spy attaches asynchronously
        for _ in range(1 if paced else args.streams):
            await mp.stream_once(url, ct, query, tls)
        spy.send_signal(2)  # SIGINT: py-spy writes its output and exits
        spy.wait(30)
        print(summarize(raw, args.top, args.lines))
        if args.raw_out:
            shutil.copy(raw, args.raw_out)
            print(f"\nraw collapsed stacks (flamegraph.pl / speedscope input): {args.raw_out}")
    finally:
        mp.stop(procs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--content-type", choices=("json", "protobuf"), default="json")
    ap.add_argument("--coalesce", action="store_true")
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--chunking", default="go", help="as micro_proxy.py --chunking")
    ap.add_argument("--streams", type=int, default=5)
    ap.add_argument("--native", action="store_true")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--raw-out", default="")
    ap.add_argument("--tree", default=str(mp.ROOT), help="discofilter source tree to profile")
    ap.add_argument("--lines", action="store_true", help="per source line, not per function")
    ap.add_argument("--rate", type=int, default=0, help="pace the watch at R events/s")
    ap.add_argument("--seconds", type=float, default=20.0, help="paced watch length")
    ap.add_argument("--tls", action="store_true", help="TLS on both hops")
    ap.add_argument("--hz", type=int, default=250, help="py-spy sampling rate")
    ap.add_argument("--summarize", default="", help="only summarize this raw stacks file")
    args = ap.parse_args()
    if args.summarize:
        print(summarize(Path(args.summarize), args.top, args.lines))
        return
    asyncio.run(drive(args))


if __name__ == "__main__":
    main()
