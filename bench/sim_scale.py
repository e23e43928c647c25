"""Emulator scale check: memory and populate time of a big scenario, churn events/s with a watcher.

    python bench/sim_scale.py --scenario bench/scenarios/large-cluster.yaml --seconds 10

Prints one JSON object. The churn runs in this process on one core (the emulator is one event
loop), with a cluster-wide JSON pod watch attached; the watcher is a separate process (it reads
and counts watch lines) so its CPU does not count against the emulator's.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from discofilter.sim import ChurnDriver, Simulator, Store, load_scenario, populate

WATCHER = r"""
import socket, sys, time
host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.create_connection((host, port))
s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n\r\n".encode())
n = b = 0
prev = b""
s.settimeout(2.0)
try:
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        b += len(chunk)
        # an event line ends in a bare "\n"; chunked framing and headers use "\r\n"
        both = prev + chunk
        n += chunk.count(b"\n") - (both.count(b"\r\n") - prev.count(b"\r\n"))
        prev = chunk[-1:]
except (socket.timeout, OSError):
    pass
print(n, b, flush=True)
"""


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


async def main(args: argparse.Namespace) -> dict[str, object]:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        pass
    scenario = load_scenario(args.scenario)
    if args.rate_scale != 1.0:
        k = args.rate_scale
        phases = tuple(
            dataclasses.replace(
                ph,
                rates=tuple(
                    dataclasses.replace(
                        r, creates=r.creates * k, updates=r.updates * k, deletes=r.deletes * k
                    )
                    for r in ph.rates
                ),
            )
            for ph in scenario.phases
        )
        scenario = dataclasses.replace(scenario, phases=phases)
    base = rss_mb()
    store = Store(history_size=args.history_size)
    t0 = time.perf_counter()
    counts = populate(store, scenario)
    populate_s = time.perf_counter() - t0
    after_populate = rss_mb()
    sim = Simulator(store, history_size=args.history_size)
    url = await sim.start()
    port = int(url.rsplit(":", 1)[1])
    path = f"/api/v1/pods?watch=true&resourceVersion={store.resource_version}"
    watcher = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WATCHER, "127.0.0.1", str(port), path, stdout=subprocess.PIPE
    )
    while sim.watchers == 0:  # noqa: ASYNC110 - the server exposes a count, not an event
        await asyncio.sleep(0.01)
    driver = ChurnDriver(store, scenario)
    cpu0, w0 = time.process_time(), time.perf_counter()
    await driver.run(args.seconds)
    # Give the watch stream --drain seconds to send what is already generated (a caught-up
    # stream needs milliseconds; a stream that fell behind shows it in watcher_pod_events).
    await asyncio.sleep(args.drain)
    await sim.stop()
    out_b, _ = await asyncio.wait_for(watcher.communicate(), 60)
    wall, cpu = time.perf_counter() - w0, time.process_time() - cpu0
    out_s = out_b.decode()
    received, received_bytes = (int(x) for x in out_s.split())
    gen = driver.events
    return {
        "scenario": scenario.name,
        "rate_scale": args.rate_scale,
        "objects": dict(sorted(counts.items())),
        "populate_seconds": round(populate_s, 1),
        "rss_mb_before": round(base),
        "rss_mb_after_populate": round(after_populate),
        "rss_mb_after_churn": round(rss_mb()),
        "churn_seconds": args.seconds,
        "events_generated": gen,
        "events_per_second": round(gen / args.seconds),
        "cpu_seconds": round(cpu, 2),
        "cpu_us_per_event": round(cpu / max(1, gen) * 1e6, 1),
        "capacity_events_per_cpu_second": round(gen / max(cpu, 1e-9)),
        "watcher_pod_events": received,
        "watcher_mb": round(received_bytes / 2**20, 1),
        "pod_events_generated": driver.by_kind["pods"],
        "wall_seconds": round(wall, 1),
        "python": sys.version.split()[0],
        "malloc_env": {
            k: os.environ.get(k, "") for k in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")
        },
    }


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", default="bench/scenarios/large-cluster.yaml")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument(
        "--rate-scale", type=float, default=1.0, help="multiply the scenario's churn rates"
    )
    p.add_argument("--drain", type=float, default=2.0, help="seconds to let the watch catch up")
    p.add_argument("--history-size", type=int, default=100_000)
    a = p.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(main(a)), indent=1))
