"""The benchmark's emulator process: ``python -m discofilter.harness.emulator_proc``.

Starts a ``Simulator`` on an ephemeral loopback port, populates it from the scenario, and then
takes commands, one JSON object per line on stdin:

    {"churn": SECONDS}   run the scenario's churn (``ChurnDriver``) or its trace replay
                         (``TraceReplayer``, when the scenario names a ``trace:``) for SECONDS;
                         answers {"churn_done": true, "resource_version": N, "counts": {...}}
    {"stop": true}       end a running churn early (it still answers churn_done)
    EOF                  shut down

The first stdout line is ``{"url", "resource_version", "objects"}`` once the store is populated,
or ``{"error": ...}``. A separate process keeps the emulator's CPU out of the harness and out of
the proxies' measurements.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import traceback
from pathlib import Path
from typing import Any

import orjson

from discofilter.clock import SystemClock
from discofilter.harness.scenario_file import scenario_meta


def _say(msg: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(msg, default=str).decode() + "\n")
    sys.stdout.flush()


async def _stdin_lines() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def serve(a: argparse.Namespace) -> int:
    from discofilter.sim.server import Simulator
    from discofilter.sim.store import Store

    clock = SystemClock()
    meta = scenario_meta(Path(a.scenario), non_mesh_share=a.non_mesh_share)
    store = Store(clock=clock, seed=a.seed, history_size=a.history_size)
    try:
        churner = meta.build(store, seed=a.seed, clock=clock)
    except Exception as e:
        _say({"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()[-2000:]})
        return 1
    sim = Simulator(
        store, clock=clock, bookmark_interval=a.bookmark_interval, history_size=a.history_size
    )
    url = await sim.start("127.0.0.1", 0)
    _say({"url": url, "resource_version": store.resource_version})
    reader = await _stdin_lines()
    churn_task: asyncio.Task[Any] | None = None
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            cmd = orjson.loads(line)
            if "churn" in cmd:
                churn_task = asyncio.create_task(churner.run(float(cmd["churn"])))
                churn_task.add_done_callback(lambda t: _report(t, store, churner))
            elif cmd.get("stop") and churn_task is not None and not churn_task.done():
                churn_task.cancel()
    finally:
        if churn_task is not None and not churn_task.done():
            churn_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await churn_task
        await sim.stop()
    return 0


def _report(task: asyncio.Task[Any], store: Any, churner: Any) -> None:
    if not task.cancelled() and task.exception() is not None:
        exc = task.exception()
        _say({"error": f"{type(exc).__name__}: {exc}"})
        return
    _say(
        {
            "churn_done": True,
            "resource_version": store.resource_version,
            "counts": churner.counts_json(),
        }
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="discofilter.harness.emulator_proc")
    p.add_argument("--scenario", required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--non-mesh-share", type=float, default=None)
    p.add_argument("--bookmark-interval", type=float, default=1.0)
    # 200k events of history per resource: a proxy that falls behind during a 15k-pod burst must
    # not get a 410 a real watch cache would not send; history holds references, not copies.
    p.add_argument("--history-size", type=int, default=200_000)
    a = p.parse_args(argv)
    try:
        import uvloop

        return int(uvloop.run(serve(a)))
    except ImportError:
        return int(asyncio.run(serve(a)))


if __name__ == "__main__":
    raise SystemExit(main())
