"""``discofilter demo``: emulator + churn + proxy + two watching clients, side by side.

One command, no cluster: the emulator (a child process) is populated with the demo scenario —
most churn in namespaces outside the mesh — a ``discofilter serve`` child filters it, and two
informer-style clients watch pods and endpointslices, one directly and one through discofilter.
Every second the view shows events/s and bytes on each side and the noisiest namespaces with
their enrollment; after ``--duration`` seconds (or Ctrl-C) churn stops and the summary states
events and bytes saved and whether the proxied client's cache equals the filtered truth.

Exit code: 0 only when the client behind discofilter ends with exactly the filtered truth.
The demo reuses the benchmark's runner (same clients, same correctness check) with two modes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from discofilter.demo.view import Sample, noisiest, render_frame, render_line, render_summary
from discofilter.errors import DiscofilterError
from discofilter.filter.selectors import selector_from_label_selector, selector_set
from discofilter.harness.apiserver import EmulatorUpstream
from discofilter.harness.processes import isolate_children
from discofilter.harness.runner import ModeRun, RunSpec, run
from discofilter.harness.scenario_file import scenario_meta
from discofilter.harness.targets import DIRECT, DISCOFILTER

DEFAULT_SCENARIO = Path(__file__).resolve().parent / "demo.yaml"
# Churn runs until Ctrl-C when no duration is given; a day is "forever" for a demo.
FOREVER_S = 86_400.0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="emulator + churn + proxy + two watchers: what discofilter spares a controller",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    p.add_argument(
        "--duration", type=float, default=None, help="seconds of churn (default: until Ctrl-C)"
    )
    p.add_argument(
        "--scenario", type=Path, default=DEFAULT_SCENARIO, help="scenario YAML (default: demo)"
    )
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(func=run_demo_command)


def run_demo_command(args: argparse.Namespace) -> int:
    coro = demo(args.duration, args.scenario, seed=args.seed)
    try:
        try:
            import uvloop
        except ImportError:
            return int(asyncio.run(coro))
        return int(uvloop.run(coro))
    except (DiscofilterError, RuntimeError, OSError) as e:
        print(f"discofilter demo: {e}", file=sys.stderr)
        return 2


class LiveView:
    """Turns the runner's once-a-second callback into frames on ``out``."""

    def __init__(
        self, out: TextIO, up_url: str, selectors: list[dict[str, Any]], duration: float | None
    ):
        self.out = out
        self.tty = bool(getattr(out, "isatty", lambda: False)())
        self.up_url = up_url
        self.sel = selector_set(selector_from_label_selector(s) for s in selectors)
        self.duration = duration
        self._seen = {DIRECT: 0, DISCOFILTER: 0}
        self._idx: dict[str, int] = {}
        self.enrolled: set[str] = set()
        self.session: aiohttp.ClientSession | None = None

    async def refresh_enrollment(self) -> None:
        if self.session is None:
            self.session = aiohttp.ClientSession()
        with contextlib.suppress(aiohttp.ClientError, OSError):
            async with self.session.get(f"{self.up_url}/api/v1/namespaces") as r:
                doc = await r.json(content_type=None)
            self.enrolled = {
                n["metadata"]["name"]
                for n in doc.get("items") or ()
                if self.sel.matches(n["metadata"].get("labels") or {})
            }

    async def tick(self, elapsed: float, modes: dict[str, ModeRun]) -> None:
        await self.refresh_enrollment()
        totals: dict[str, tuple[int, int]] = {}
        recent: Counter[str] = Counter()
        for name in (DIRECT, DISCOFILTER):
            m = modes.get(name)
            if m is None or "python" not in m.clients:
                totals[name] = (0, 0)
                continue
            c = m.clients["python"]
            ev = by = 0
            for k, w in c.watchers.items():  # type: ignore[union-attr]
                lg = w.log
                ev += sum(1 for t in lg.type if t != "BOOKMARK")
                by += sum(lg.nbytes)
                if name == DIRECT:
                    start = self._idx.get(k, 0)
                    for ns, ty in zip(lg.namespace[start:], lg.type[start:], strict=True):
                        if ty != "BOOKMARK" and ns:
                            recent[ns] += 1
                    self._idx[k] = len(lg)
            totals[name] = (ev, by)
        s = Sample(
            elapsed_s=elapsed,
            direct_events=totals[DIRECT][0],
            direct_bytes=totals[DIRECT][1],
            proxied_events=totals[DISCOFILTER][0],
            proxied_bytes=totals[DISCOFILTER][1],
            direct_rate=totals[DIRECT][0] - self._seen[DIRECT],
            proxied_rate=totals[DISCOFILTER][0] - self._seen[DISCOFILTER],
            noisy=noisiest(recent, self.enrolled),
        )
        self._seen = {DIRECT: totals[DIRECT][0], DISCOFILTER: totals[DISCOFILTER][0]}
        if self.tty:
            self.out.write("\x1b[H\x1b[2J" + render_frame(s, self.duration))
        else:
            self.out.write(render_line(s) + "\n")
        self.out.flush()

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


async def demo(
    duration: float | None,
    scenario: Path = DEFAULT_SCENARIO,
    *,
    seed: int = 1,
    out: TextIO | None = None,
) -> int:
    """Run the demo; return 0 when the proxied client's final cache is the filtered truth."""
    out = out or sys.stdout
    meta = scenario_meta(scenario)
    out.write(
        f"discofilter demo: scenario {meta.name}, {len(meta.selectors)} discovery selector(s); "
        "starting the emulator and discofilter...\n"
    )
    out.flush()
    isolate_children(True)
    try:
        up = await EmulatorUpstream.start(scenario, seed=seed)
    finally:
        isolate_children(False)
    spec = RunSpec(
        scenario_name=meta.name,
        scenario_path=str(scenario),
        selectors=meta.selectors,
        kinds=meta.kinds,
        churn_s=duration if duration is not None else FOREVER_S,
        modes=[DIRECT, DISCOFILTER],
        clients=["python"],
        catch_up_timeout_s=20.0,
        command="discofilter demo",
    )
    view = LiveView(out, up.url, meta.selectors, duration)
    loop = asyncio.get_running_loop()

    pending: set[asyncio.Task[None]] = set()
    main_task = asyncio.current_task()
    presses = [0]

    def interrupt() -> None:
        # First Ctrl-C: stop churn, let the clients catch up, summarise. Second: give up.
        presses[0] += 1
        if presses[0] > 1 and main_task is not None:
            main_task.cancel()
            return
        out.write("\nstopping churn; waiting for both clients to catch up...\n")
        t = asyncio.ensure_future(up.request_stop())
        pending.add(t)
        t.add_done_callback(pending.discard)

    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, interrupt)
    isolate_children(True)
    try:
        results, _ = await run(spec, up, show_progress=False, on_tick=view.tick)
    except asyncio.CancelledError:
        out.write("interrupted: no summary\n")
        return 130
    finally:
        isolate_children(False)
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGINT)
        await view.close()
        await up.stop()
    if results["modes"][DISCOFILTER]["status"] != "ok":
        out.write(f"discofilter did not start: {results['modes'][DISCOFILTER]['reason']}\n")
        return 1
    d = results["modes"][DIRECT]["clients"]["python"]
    p = results["modes"][DISCOFILTER]["clients"]["python"]
    correct = bool(results["modes"][DISCOFILTER]["final_state_matches"])
    lat = p["latency"]
    details = {
        "churn": f"{results['churn_s']:.1f} s, kinds {', '.join(meta.kinds)}",
        "enrolled namespaces": results["upstream"]["enrolled_namespaces"],
        "added latency": f"p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms, max {lat['max_ms']} ms",
        "discofilter CPU": f"{(results['modes'][DISCOFILTER]['proxy'] or {}).get('cpu_s')} s",
    }
    out.write(render_summary(d["events"], d["bytes"], p["events"], p["bytes"], correct, details))
    out.flush()
    return 0 if correct else 1
