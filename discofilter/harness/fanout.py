"""``discofilter bench --clients N[,N...]``: what N identical clients cost each proxy mode.

The question is the one shared watches answer (issue 15): does the API server's and the proxy's
cost grow with the number of replicas watching the same kinds? For each mode and each N, one
*phase*: a fresh emulator (same scenario, same seed, so every phase starts from the same state
and plays the same churn rates), one proxy, N informer-style clients per watched kind through it;
sync, churn, catch up, stop. Per phase, from the emulator's own ``/metrics`` (the upstream's
count, not the proxy's claim):

* upstream watches open per kind during churn (``apiserver_longrunning_requests``) and the peak;
* bytes the API server sent: LIST bodies, and watch frames during churn + catch-up;
* upstream events committed during the phase (the denominator of CPU per event);

and from the proxy's process: CPU seconds over churn + catch-up and peak RSS.

Modes: ``shared`` (``discofilter serve --shared-watches``), ``per-client`` (``discofilter serve``
as shipped today: one upstream watch per client watch) and ``kubectl-proxy``. A mode that cannot
run (no ``--shared-watches`` in this build, no kubectl) is skipped with the reason.

Phases run one after another, not concurrently as ``bench``'s modes do: each phase's upstream
numbers must be that mode's alone, and a shared emulator would mix them. Every client's final
cache is checked against the truth, as in ``bench``.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from discofilter.filter.selectors import selector_from_label_selector, selector_set
from discofilter.harness.apiserver import EmulatorUpstream
from discofilter.harness.clients import PythonClients
from discofilter.harness.processes import python_module_argv
from discofilter.harness.results import iso_now, machine_info
from discofilter.harness.runner import enrolled, expected_state, list_truth
from discofilter.harness.scenario_file import scenario_meta
from discofilter.harness.targets import (
    DISCOFILTER,
    Target,
    start_discofilter,
    start_kubectl_proxy,
)
from discofilter.sim.metrics import WATCHES_OPEN, parse

SHARED = "shared"
PER_CLIENT = "per-client"
KUBECTL = "kubectl-proxy"
FANOUT_MODES = (SHARED, PER_CLIENT, KUBECTL)
SHARED_FLAG = "--shared-watches"

Metrics = dict[str, dict[tuple[tuple[str, str], ...], float]]


@dataclass(slots=True)
class FanoutSpec:
    scenario: Path
    counts: list[int]
    modes: list[str] = field(default_factory=lambda: list(FANOUT_MODES))
    duration_s: float | None = None
    kinds: list[str] | None = None
    seed: int = 1
    non_mesh_share: float | None = None
    catch_up_timeout_s: float = 30.0
    sync_timeout_s: float = 300.0
    command: str = ""


def shared_watches_unsupported() -> str | None:
    """Why ``--shared-watches`` cannot be measured with this build, or None when it can."""
    argv = python_module_argv("discofilter", "serve", "--help")
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"discofilter serve --help failed: {e}"
    if SHARED_FLAG not in out.stdout:
        return f"this discofilter build has no `serve {SHARED_FLAG}` (shared watches not built)"
    return None


def _sum(m: Metrics, name: str, **labels: str) -> float:
    """Sum of ``name``'s samples whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for k, v in m.get(name, {}).items() if want <= set(k))


async def scrape(session: aiohttp.ClientSession, url: str) -> Metrics:
    async with session.get(url + "/metrics", timeout=aiohttp.ClientTimeout(total=10)) as r:
        r.raise_for_status()
        return parse(await r.text())


def _say(stream: TextIO, text: str) -> None:
    stream.write(f"[fanout] {text}\n")
    stream.flush()


async def _start_target(
    mode: str, session: aiohttp.ClientSession, up: EmulatorUpstream, selectors: list[Any], w: Path
) -> Target:
    if mode == KUBECTL:
        return await start_kubectl_proxy(session, up.url, w)
    extra = [SHARED_FLAG] if mode == SHARED else []
    # The product as shipped (churn control on) in both discofilter modes: only sharing differs.
    t = await start_discofilter(DISCOFILTER, session, up.url, selectors, w, extra_args=extra)
    t.mode = mode
    return t


async def run_phase(
    spec: FanoutSpec, mode: str, n: int, selectors: list[Any], kinds: list[str], churn_s: float
) -> dict[str, Any]:
    """One (mode, N) phase on its own emulator; the numbers of that phase."""
    sel = selector_set(selector_from_label_selector(s) for s in selectors)
    up = await EmulatorUpstream.start(
        spec.scenario, seed=spec.seed, non_mesh_share=spec.non_mesh_share
    )
    work = Path(tempfile.mkdtemp(prefix="discofilter-fanout-"))
    connector = aiohttp.TCPConnector(limit=0)
    clients: list[PythonClients] = []
    target: Target | None = None
    try:
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=None, sock_connect=10)
        ) as session:
            target = await _start_target(mode, session, up, selectors, work)
            if target.status != "ok":
                return {"status": target.status, "reason": target.reason}
            clients = [PythonClients(session, target.url, kinds, f"{mode}-{i}") for i in range(n)]
            t_sync = time.monotonic()
            await asyncio.gather(*(c.start(spec.sync_timeout_s) for c in clients))
            sync_s = time.monotonic() - t_sync
            child = target.child
            assert child is not None
            m0 = await scrape(session, up.url)
            cpu0 = child.cpu_seconds()
            final_rv = await up.churn(churn_s)
            m_churn = await scrape(session, up.url)  # the watches open while churn ran
            truth, ns_labels, list_rv = await list_truth(session, up, kinds)
            m_truth = await scrape(session, up.url)  # the harness's own truth LISTs, not counted
            final_rv = max(final_rv, list_rv)
            enr = enrolled(sel, ns_labels, ["istio-system"])
            filtered = mode != KUBECTL
            matches = await _catch_up(clients, kinds, truth, enr, filtered, final_rv, spec)
            cpu1 = child.cpu_seconds()
            m1 = await scrape(session, up.url)
            for c in clients:
                await c.finish()
            return _phase_numbers(
                n,
                kinds,
                (m0, m_churn, m_truth, m1),
                cpu1 - cpu0,
                child.usage.peak_rss,
                matches,
                sync_s,
            )
    finally:
        for c in clients:
            await c.finish()
        if target is not None and target.child is not None:
            await target.child.stop()
        await up.stop()


async def _catch_up(
    clients: list[PythonClients],
    kinds: list[str],
    truth: dict[str, Any],
    enr: set[str],
    filtered: bool,
    final_rv: int,
    spec: FanoutSpec,
) -> bool:
    """Every client has seen ``final_rv`` and holds its expected state, within the timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + spec.catch_up_timeout_s

    async def one(c: PythonClients, k: str) -> bool:
        want = expected_state(k, truth[k], enr, filtered)
        rv_ok = await c.wait_for_rv(k, final_rv, max(0.0, deadline - loop.time()))
        return rv_ok and await c.wait_for_state(k, want, max(1.0, deadline - loop.time()))

    oks = await asyncio.gather(*(one(c, k) for c in clients for k in kinds))
    return all(oks)


def _phase_numbers(
    n: int,
    kinds: list[str],
    scrapes: tuple[Metrics, Metrics, Metrics, Metrics],
    cpu_s: float,
    peak_rss: int,
    matches: bool,
    sync_s: float,
) -> dict[str, Any]:
    """Numbers from the emulator's scrapes: after sync (m0), after churn (m_churn), after the
    harness's truth LISTs (m_truth) and after catch-up (m1)."""
    m0, m_churn, m_truth, m1 = scrapes
    watches = {k: int(_sum(m_churn, WATCHES_OPEN, verb="WATCH", resource=k)) for k in kinds}
    peak = {k: int(_sum(m1, "emulator_watches_peak", resource=k)) for k in kinds}

    def lists(m: Metrics) -> float:
        return sum(_sum(m, "emulator_sent_bytes_total", verb="LIST", resource=k) for k in kinds)

    list_bytes = lists(m1) - (lists(m_truth) - lists(m_churn))
    watch_bytes = sum(
        _sum(m1, "emulator_sent_bytes_total", verb="WATCH", resource=k)
        - _sum(m0, "emulator_sent_bytes_total", verb="WATCH", resource=k)
        for k in kinds
    )
    events = sum(
        _sum(m1, "emulator_events_total", resource=k)
        - _sum(m0, "emulator_events_total", resource=k)
        for k in kinds
    )
    return {
        "status": "ok",
        "reason": None,
        "clients": n,
        "upstream_watches": sum(watches.values()),
        "upstream_watches_by_kind": watches,
        "upstream_watches_peak_by_kind": peak,
        "upstream_list_bytes": int(list_bytes),
        "upstream_watch_bytes": int(watch_bytes),
        "upstream_events": int(events),
        "proxy_cpu_s": round(cpu_s, 3),
        "proxy_cpu_us_per_upstream_event": round(cpu_s * 1e6 / events, 2) if events else None,
        "proxy_peak_rss_mb": round(peak_rss / 1e6, 1),
        "sync_s": round(sync_s, 2),
        "final_state_matches": matches,
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def ratios(runs: dict[str, dict[str, Any]], counts: list[int]) -> dict[str, float | None]:
    """Largest N over smallest N, per number (the issue's targets are such ratios)."""
    lo, hi = runs.get(str(min(counts))), runs.get(str(max(counts)))
    if not lo or not hi or lo.get("status") != "ok" or hi.get("status") != "ok":
        return {}
    return {
        "cpu_per_event": _ratio(
            hi["proxy_cpu_us_per_upstream_event"], lo["proxy_cpu_us_per_upstream_event"]
        ),
        "upstream_watch_bytes_per_event": _ratio(
            hi["upstream_watch_bytes"] / max(1, hi["upstream_events"]),
            lo["upstream_watch_bytes"] / max(1, lo["upstream_events"]),
        ),
        "upstream_list_bytes": _ratio(hi["upstream_list_bytes"], lo["upstream_list_bytes"]),
        "upstream_watches": _ratio(hi["upstream_watches"], lo["upstream_watches"]),
        "rss": _ratio(hi["proxy_peak_rss_mb"], lo["proxy_peak_rss_mb"]),
    }


async def run_fanout(
    spec: FanoutSpec,
    progress: TextIO | None = None,
    unsupported: Callable[[], str | None] = shared_watches_unsupported,
) -> dict[str, Any]:
    """Every (mode, N) phase in turn; the results document (``kind: fanout``)."""
    out = progress if progress is not None else sys.stderr
    meta = scenario_meta(spec.scenario, non_mesh_share=spec.non_mesh_share)
    kinds = spec.kinds or meta.kinds
    churn_s = spec.duration_s if spec.duration_s is not None else meta.duration_s
    started_at = iso_now()
    modes: dict[str, Any] = {}
    total = len(spec.modes) * len(spec.counts)
    done = 0
    for mode in spec.modes:
        reason = unsupported() if mode == SHARED else None
        if reason is not None:
            _say(out, f"{mode}: skipped ({reason})")
            modes[mode] = {"status": "skipped", "reason": reason, "runs": {}, "ratios": {}}
            done += len(spec.counts)
            continue
        runs: dict[str, Any] = {}
        for n in spec.counts:
            done += 1
            _say(
                out,
                f"phase {done}/{total}: {mode} N={n}: {n * len(kinds)} client watches, "
                f"{churn_s:g} s churn",
            )
            t0 = time.monotonic()
            r = await run_phase(spec, mode, n, meta.selectors, kinds, churn_s)
            runs[str(n)] = r
            _say(
                out,
                f"phase {done}/{total}: {mode} N={n}: {_summary(r)} "
                f"({time.monotonic() - t0:.0f} s)",
            )
        statuses = {r["status"] for r in runs.values()}
        modes[mode] = {
            "status": "ok" if statuses == {"ok"} else "failed",
            "reason": next((r["reason"] for r in runs.values() if r.get("reason")), None),
            "runs": runs,
            "ratios": ratios(runs, spec.counts),
        }
    ok_runs = [r for m in modes.values() for r in m["runs"].values() if r["status"] == "ok"]
    return {
        "kind": "fanout",
        "schema_version": 1,
        "command": spec.command,
        "started_at": started_at,
        "scenario": {"name": meta.name, "path": str(spec.scenario), "kinds": kinds},
        "churn_s": churn_s,
        "counts": spec.counts,
        "machine": machine_info(),
        "modes": modes,
        "final_state_matches": bool(ok_runs) and all(r["final_state_matches"] for r in ok_runs),
    }


def _summary(r: dict[str, Any]) -> str:
    if r["status"] != "ok":
        return f"{r['status']}: {r['reason']}"
    return (
        f"{r['upstream_watches']} upstream watches, "
        f"{r['upstream_watch_bytes'] / 1e6:.2f} MB watch + {r['upstream_list_bytes'] / 1e6:.2f} MB "
        f"LIST from the API server, {r['proxy_cpu_us_per_upstream_event']} µs CPU/event, "
        f"RSS {r['proxy_peak_rss_mb']} MB, final state "
        + ("ok" if r["final_state_matches"] else "MISMATCH")
    )
