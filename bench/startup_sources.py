"""Start-up cost of the enrollment sources (issue 16): `discofilter serve` from spawn to its
first /readyz 200 against the emulator, the three modes interleaved (no sources; the safety
list; the safety list + meshConfigFrom), N runs each, one process at a time. Both sources read
once before the proxy listens (docs/istio.md), so this is what they add to a restart.

    python bench/startup_sources.py 7
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import sys
import time

import aiohttp

from discofilter.sim.server import Simulator


def port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def once(sim: Simulator, flags: list[str]) -> float:
    p, a = port(), port()
    t0 = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "discofilter.server",
        "--listen",
        f"127.0.0.1:{p}",
        "--upstream",
        sim.url,
        "--admin-listen",
        f"127.0.0.1:{a}",
        *flags,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    async with aiohttp.ClientSession() as s:
        while True:
            try:
                async with s.get(f"http://127.0.0.1:{a}/readyz") as r:
                    if r.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.01)
    dt = time.monotonic() - t0
    proc.terminate()
    await proc.wait()
    return dt


async def main() -> None:
    async with Simulator() as sim:
        sim.store.create("namespaces", {"metadata": {"name": "istio-system"}})
        sim.store.create(
            "configmaps",
            {
                "metadata": {"name": "istio", "namespace": "istio-system"},
                "data": {"mesh": "discoverySelectors:\n- matchLabels: {a: b}\n"},
            },
            "istio-system",
        )
        modes = {
            "no sources (--no-safety-list)": ["--no-safety-list"],
            "safety list (default)": [],
            "safety list + meshConfigFrom": ["--mesh-config-from", "configmap:istio-system/istio"],
        }
        res: dict[str, list[float]] = {k: [] for k in modes}
        for _ in range(int(sys.argv[1])):
            for k, f in modes.items():
                res[k].append(await once(sim, f))
        for k, v in res.items():
            med, low = statistics.median(v) * 1000, min(v) * 1000
            print(f"{k:32s} median {med:7.0f} ms  min {low:6.0f} ms  (n={len(v)})")


asyncio.run(main())
