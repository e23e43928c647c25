"""``discofilter sim``: run the Kubernetes API emulator with a scenario and its churn.

    discofilter sim --listen 127.0.0.1:18080 --scenario bench/scenarios/smoke.yaml --seed 7

Loopback by default (the emulator has no authentication: anyone who can reach it can write).
Without ``--scenario`` it serves an empty cluster with a ``default`` namespace.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import time
from typing import Any

from discofilter.errors import ConfigError
from discofilter.sim.churn import ChurnDriver
from discofilter.sim.populate import populate
from discofilter.sim.scenario import load_scenario
from discofilter.sim.server import Simulator
from discofilter.sim.store import Store

log = logging.getLogger("discofilter.sim")


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"--listen: expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "sim",
        help="run the Kubernetes API emulator",
        description="A Kubernetes API server emulator with scenario-driven churn.",
    )
    p.add_argument("--listen", default="127.0.0.1:18080", help="HOST:PORT (default %(default)s)")
    p.add_argument("--scenario", help="scenario YAML (see docs/sim.md); default: empty cluster")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the scenario's)")
    p.add_argument(
        "--bookmark-interval",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="seconds between watch BOOKMARK events (default %(default)s, kube-apiserver's ~1 min)",
    )
    p.add_argument(
        "--history-size",
        type=int,
        default=100_000,
        help="events kept per resource for watch resumes",
    )
    p.add_argument("--no-churn", action="store_true", help="populate, then serve without churn")
    p.add_argument(
        "--duration", type=float, default=None, metavar="SECONDS", help="exit after this long"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        host, port = parse_listen(args.listen)
        scenario = load_scenario(args.scenario) if args.scenario else None
    except ConfigError as e:
        log.error("%s", e)
        return 2
    return asyncio.run(_serve(args, host, port, scenario))


async def _serve(args: argparse.Namespace, host: str, port: int, scenario: Any) -> int:
    store = Store(history_size=args.history_size, seed=args.seed)
    t0 = time.perf_counter()
    if scenario is not None:
        counts = populate(store, scenario, args.seed)
        log.warning(
            "populated %s in %.1fs: %s",
            scenario.name,
            time.perf_counter() - t0,
            ", ".join(f"{k}={v}" for k, v in sorted(counts.items())),
        )
    else:
        store.create("namespaces", {"metadata": {"name": "default"}})
    sim = Simulator(store, bookmark_interval=args.bookmark_interval, history_size=args.history_size)
    url = await sim.start(host, port)
    print(f"discofilter sim serving on {url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    tasks: list[asyncio.Task[Any]] = [asyncio.ensure_future(stop.wait())]
    driver = None
    if scenario is not None and not args.no_churn and scenario.phases:
        driver = ChurnDriver(store, scenario, args.seed)
        tasks.append(asyncio.ensure_future(driver.run(args.duration)))
    if args.duration is not None:
        tasks.append(asyncio.ensure_future(asyncio.sleep(args.duration)))
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        await sim.stop()
    if driver is not None:
        log.warning("churn generated %d events: %s", driver.events, dict(driver.by_kind))
    return 0
