"""Profile the discofilter process while it filters the micro-benchmark's pod watch (py-spy).

    python bench/profile_proxy.py [--content-type json|protobuf] [--coalesce] [--events 20000]
                                  [--chunking go|N] [--streams 5] [--native] [--top 25]
                                  [--lines] [--raw-out FILE] [--tree DIR]

Starts the ``micro_proxy.py`` upstream and one discofilter (churn control off unless
``--coalesce``), attaches ``py-spy record`` (raw collapsed stacks, 250 Hz) to the proxy, streams
the watch ``--streams`` times, then prints the frames with the most samples, self and
inclusive, as percentages of the samples taken while the proxy was on CPU (idle samples are
left out by py-spy). ``--raw-out`` keeps the collapsed stacks for a flame graph. py-spy pauses the
process per sample: absolute rates are lower under it; use the percentages, and
``micro_proxy.py`` for µs per event.
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


def summarize(raw: Path, top: int, lines: bool = False) -> str:
    """Self and inclusive sample shares per frame from py-spy's collapsed ``raw`` output."""
    self_n: collections.Counter[str] = collections.Counter()
    incl_n: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = [frame_name(f, lines) for f in stack.split(";")]
        # "process" / "thread" pseudo-frames py-spy puts first carry no information.
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        self_n[frames[-1]] += n
        for f in set(frames):
            incl_n[f] += n
    out = [f"{total} samples on CPU", "", "self %  frame"]
    out += [f"{100 * n / total:5.1f}  {f}" for f, n in self_n.most_common(top)]
    out += ["", "incl %  frame"]
    out += [f"{100 * n / total:5.1f}  {f}" for f, n in incl_n.most_common(top)]
    return "\n".join(out)


async def drive(args: argparse.Namespace) -> None:
    ct = mp.CONTENT_TYPES[args.content_type]
    tmp = Path(tempfile.mkdtemp(prefix="profile-proxy-"))
    env = {**os.environ, "PYTHONPATH": str(mp.ROOT)}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        up, up_port, _ = mp.start_upstream(args.events, 0.5, [ct], env, args.chunking)
        procs.append(up)
        await mp.wait_port(up_port)
        proxy, port = mp.start_discofilter(up_port, args.coalesce, tmp, env, tree=Path(args.tree))
        procs.append(proxy)
        await mp.wait_port(port, "/api/v1/pods?limit=1")
        await mp.stream_once(port, ct)  # warm up (imports, first-use allocations)
        raw = tmp / "stacks.txt"
        spy_argv = ["py-spy", "record", "--format", "raw", "--rate", "250", "-o", str(raw),
                    "--pid", str(proxy.pid)]  # fmt: skip
        if args.native:
            spy_argv.append("--native")
        spy = mp.spawn(spy_argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await asyncio.sleep(1.0)  # py-spy attaches asynchronously
        for _ in range(args.streams):
            await mp.stream_once(port, ct)
        spy.send_signal(2)  # SIGINT: py-spy writes its output and exits
        spy.wait(30)
        print(summarize(raw, args.top, args.lines))
        if args.raw_out:
            shutil.copy(raw, args.raw_out)
            print(f"\nraw collapsed stacks (flamegraph.pl / speedscope input): {args.raw_out}")
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()


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
    asyncio.run(drive(ap.parse_args()))


if __name__ == "__main__":
    main()
