"""Soak: run the proxy for a long time under the CI churn rate and watch it for leaks (issue 9).

    python bench/soak.py --duration 1800            # the issue-9 soak: >= 30 min, by hand
    python bench/soak.py --duration 120 --json out.json   # a short check that the script works

Processes: the emulator (``discofilter sim --scenario bench/scenarios/soak.yaml``: 50 creates/s,
30 deletes/s, 50 updates/s in a batch tenant, a quiet mesh, two namespaces joining and leaving
the mesh every 5 minutes), the proxy in a child process of this script (so it can count its own
asyncio tasks), and in this process ``--watchers`` reflector-like clients on pods,
endpointslices, services and configmaps (rewatch from the last resourceVersion on EOF, relist on
410, exactly like client-go).

Every ``--interval`` seconds the proxy child writes one sample: RSS, open fds, asyncio tasks,
open watch streams, and its CPU seconds. The verdict compares the mean of the last quarter of the
samples with the mean of the second quarter (the first quarter is warm-up: malloc arenas, pools,
caches): RSS may grow by at most ``--rss-growth`` (10%), fds and tasks by at most a handful.
Exit status 1 when a bound is broken.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from typing import Any

import aiohttp

from discofilter.harness.processes import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCENARIO = os.path.join(ROOT, "bench", "scenarios", "soak.yaml")
SELF = os.path.abspath(__file__)
RESOURCES = ["/api/v1/pods", "/apis/discovery.k8s.io/v1/endpointslices", "/api/v1/services",
             "/api/v1/configmaps"]  # fmt: skip


# --- the proxy child --------------------------------------------------------------------------


async def proxy_child(upstream: str, port: int, interval: float) -> None:
    """The proxy as ``discofilter serve`` runs it, plus a sampler writing JSON lines to stdout."""
    import psutil
    from aiohttp import web

    from discofilter.config import Config, with_overrides
    from discofilter.metrics import Metrics
    from discofilter.server.proxy import ProxyServer
    from discofilter.upstream.client import Upstream
    from discofilter.upstream.target import UpstreamTarget

    cfg = with_overrides(
        Config(), enrollment={"selectors": ("istio-injection=enabled",)}, upstream={"url": upstream}
    )
    proxy = ProxyServer(cfg, Upstream(UpstreamTarget(upstream)), metrics=Metrics())
    await proxy.start_background()
    runner = web.AppRunner(proxy.make_app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    me = psutil.Process()
    start = time.monotonic()
    while True:
        cpu = me.cpu_times()
        sample = {
            "t": round(time.monotonic() - start, 1),
            "rss_mb": round(me.memory_info().rss / 2**20, 2),
            "fds": me.num_fds(),
            "tasks": len(asyncio.all_tasks()),
            "streams": len(proxy.registry),
            "cpu_s": round(cpu.user + cpu.system, 2),
            "ready": proxy.ready,
        }
        sys.stdout.write(json.dumps(sample) + "\n")
        sys.stdout.flush()
        await asyncio.sleep(interval)


def run_child(args: argparse.Namespace) -> None:
    from discofilter.server.tuning.malloc import tune_malloc

    tune_malloc()
    import uvloop

    uvloop.install()
    asyncio.run(proxy_child(args.upstream, args.port, args.interval))


# --- the watchers -----------------------------------------------------------------------------


class Stats:
    def __init__(self) -> None:
        self.events = 0
        self.rewatches = 0
        self.relists = 0
        self.errors = 0


async def reflector(s: aiohttp.ClientSession, base: str, path: str, stats: Stats) -> None:
    """List, then watch from the list's resourceVersion; rewatch on EOF, relist on 410."""
    rv = ""
    while True:
        try:
            if not rv:
                async with s.get(base + path) as r:
                    doc = await r.json(content_type=None)
                rv = (doc.get("metadata") or {}).get("resourceVersion", "")
                stats.relists += 1
            url = f"{base}{path}?watch=1&allowWatchBookmarks=true&resourceVersion={rv}"
            async with s.get(url) as r:
                if r.status != 200:
                    rv = ""
                    stats.errors += 1
                    await asyncio.sleep(1)
                    continue
                async for line in r.content:
                    ev = json.loads(line)
                    if ev.get("type") == "ERROR":
                        rv = ""  # 410 Expired (an enrollment flip) or any error: relist
                        break
                    stats.events += 1
                    rv = ((ev.get("object") or {}).get("metadata") or {}).get("resourceVersion", rv)
            stats.rewatches += 1
        except (aiohttp.ClientError, json.JSONDecodeError, TimeoutError):
            stats.errors += 1
            rv = ""
            await asyncio.sleep(1)


# --- the driver -------------------------------------------------------------------------------


async def wait_http(url: str, within: float = 60.0) -> None:
    async with aiohttp.ClientSession() as s, asyncio.timeout(within):
        while True:
            try:
                async with s.get(url) as r:
                    if r.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)


def verdict(samples: list[dict[str, Any]], rss_growth: float) -> dict[str, Any]:
    q = max(1, len(samples) // 4)
    early, late = samples[q : 2 * q], samples[-q:]

    def mean(rows: list[dict[str, Any]], key: str) -> float:
        return statistics.fmean(r[key] for r in rows)

    out: dict[str, Any] = {"samples": len(samples)}
    for key in ("rss_mb", "fds", "tasks", "streams"):
        out[key] = {"early": round(mean(early, key), 2), "late": round(mean(late, key), 2),
                    "max": max(r[key] for r in samples)}  # fmt: skip
    ok = out["rss_mb"]["late"] <= out["rss_mb"]["early"] * (1 + rss_growth)
    ok &= out["fds"]["late"] <= out["fds"]["early"] + 8
    ok &= out["tasks"]["late"] <= out["tasks"]["early"] + 8
    out["ok"] = bool(ok)
    return out


async def drive(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    sim_port, proxy_port = free_port(), free_port()
    sim_url, proxy_url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{proxy_port}"
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    sim = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "discofilter", "sim", "--listen", f"127.0.0.1:{sim_port}",
        "--scenario", args.scenario, "--bookmark-interval", "60",
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    child = None
    tasks: list[asyncio.Task[None]] = []
    samples: list[dict[str, Any]] = []
    stats = Stats()
    try:
        await wait_http(sim_url + "/version")
        child = await asyncio.create_subprocess_exec(
            sys.executable, SELF, "--_child", "--upstream", sim_url,
            "--port", str(proxy_port), "--interval", str(args.interval),
            env=env, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        await wait_http(proxy_url + "/api/v1/namespaces/x/pods")
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        for i in range(args.watchers):
            path = RESOURCES[i % len(RESOURCES)]
            tasks.append(asyncio.create_task(reflector(session, proxy_url, path, stats)))
        deadline = time.monotonic() + args.duration
        assert child.stdout is not None
        while time.monotonic() < deadline:
            try:
                async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
                    line = await child.stdout.readline()
            except TimeoutError:
                break
            if not line:
                break
            sample = json.loads(line)
            samples.append(sample)
            if not args.quiet:
                print(f"t={sample['t']:>7}s rss={sample['rss_mb']:>7} MB fds={sample['fds']:>4} "
                      f"tasks={sample['tasks']:>4} streams={sample['streams']:>3} "
                      f"cpu={sample['cpu_s']:>7}s events={stats.events} relists={stats.relists}",
                      flush=True)  # fmt: skip
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await session.close()
    finally:
        if child is not None and child.returncode is None:
            child.terminate()
            await child.wait()
        sim.terminate()
        await sim.wait()
    if len(samples) < 4:
        print("soak: too few samples (proxy did not start?)", file=sys.stderr)
        return 1, {"samples": samples}
    result = verdict(samples, args.rss_growth)
    result.update(
        duration_s=args.duration, watchers=args.watchers, client_events=stats.events,
        relists=stats.relists, rewatches=stats.rewatches, client_errors=stats.errors,
        proxy_cpu_s=samples[-1]["cpu_s"],
    )  # fmt: skip
    print(json.dumps(result, indent=2))
    return (0 if result["ok"] else 1), {"result": result, "samples": samples}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=1800.0, help="seconds (default 1800)")
    ap.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    ap.add_argument("--watchers", type=int, default=20, help="reflector-like client watches")
    ap.add_argument("--scenario", default=SCENARIO)
    ap.add_argument("--rss-growth", type=float, default=0.10, help="allowed RSS growth (0.10)")
    ap.add_argument("--json", help="write the samples and the verdict here")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--upstream", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child:
        run_child(args)
        return 0
    rc, out = asyncio.run(drive(args))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return rc


if __name__ == "__main__":
    sys.exit(main())
