"""One benchmark run: every mode watches the same churn at the same time.

Sequence (each step awaits a condition, with a timeout; nothing sleeps and hopes):

1. start the upstream (emulator child process, or a real cluster via kubeconfig) with the
   scenario's initial state;
2. start every mode's proxy (child processes) and every client, and wait until each client's
   LIST is done;
3. read each proxy's CPU seconds, then run the churn once — all modes see the same events;
4. after churn, take the final resourceVersion and the truth (a direct LIST of every kind and of
   the namespaces' labels); wait until each client has seen the final resourceVersion (an event or
   a bookmark) and its cache equals its expected state — the whole truth for pass-through modes,
   the enrolled namespaces' objects for discofilter modes — up to ``catch_up_timeout_s``;
5. read CPU again, stop everything, compute the numbers (``stats``) and build results.json.

Why concurrent modes: one churn run is the fairest comparison (identical events and timing), and
each proxy's CPU is still its own because each is its own process. The harness's own CPU (the
clients) is shared by all modes equally.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

import aiohttp

from discofilter.filter.selectors import SelectorSet, selector_from_label_selector, selector_set
from discofilter.harness import stats
from discofilter.harness.clients import Clients, OfficialClients, PythonClients, State
from discofilter.harness.progress import ProgressLine
from discofilter.harness.results import iso_now, machine_info
from discofilter.harness.targets import (
    DIRECT,
    DISCOFILTER,
    DISCOFILTER_NOCC,
    KUBECTL_PROXY,
    Target,
    start_discofilter,
    start_kubectl_proxy,
)
from discofilter.watchclient import Watcher, resource

log = logging.getLogger(__name__)


class Upstream(Protocol):
    """Where the churn happens and the truth lives."""

    url: str
    kind: str
    """"emulator" or "cluster"."""
    headers: dict[str, str]
    ssl: Any

    async def churn(self, duration_s: float) -> int:
        """Run the scenario's churn for ``duration_s``; return the final resourceVersion."""

    async def stop(self) -> None: ...


@dataclass(slots=True)
class RunSpec:
    """Everything a run needs besides the upstream."""

    scenario_name: str
    scenario_path: str
    selectors: list[dict[str, Any]]
    """Istio discoverySelectors (LabelSelector dicts): the enrollment truth and the proxy config."""
    kinds: list[str]
    churn_s: float
    modes: list[str]
    clients: list[str] = field(default_factory=lambda: ["python"])
    non_mesh_share: float | None = None
    always_enrolled: list[str] = field(default_factory=lambda: ["istio-system"])
    """Namespaces enrolled whatever their labels (the proxy's ``alwaysEnrolled``, same default)."""
    kubeconfig: str | None = None
    catch_up_timeout_s: float = 30.0
    sync_timeout_s: float = 300.0
    """Seconds for every client's first LIST (150k pods through a proxy on 2 busy cores: ~1 min)."""
    command: str = ""


@dataclass(slots=True)
class ModeRun:
    target: Target
    clients: dict[str, Clients] = field(default_factory=dict)
    cpu_start: float = 0.0
    cpu_end: float = 0.0
    caught_up: dict[tuple[str, str], bool] = field(default_factory=dict)
    slow_closures: float | None = None
    """The proxy's own count of slow clients it cut off (its admin /metrics); None if absent."""


SLOW_CLOSURES_METRIC = "discofilter_slow_client_closures"


async def scrape_slow_closures(session: aiohttp.ClientSession, url: str) -> float | None:
    """Sum of the proxy's slow-client closures from ``url``/metrics; None when not served."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        async with session.get(url + "/metrics", timeout=aiohttp.ClientTimeout(total=5)) as r:
            if r.status != 200:
                return None
            text = await r.text()
        total = 0.0
        for fam in text_string_to_metric_families(text):
            if fam.name == SLOW_CLOSURES_METRIC:
                total += sum(s.value for s in fam.samples if s.name.endswith("_total"))
        return total
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
        return None


def enrolled(
    selectors: SelectorSet, ns_labels: dict[str, dict[str, str]], always: list[str]
) -> set[str]:
    """Namespaces a filtering proxy must forward: selector matches plus the always-enrolled."""
    return {ns for ns, labels in ns_labels.items() if selectors.matches(labels) or ns in always}


async def list_truth(
    session: aiohttp.ClientSession, up: Upstream, kinds: list[str]
) -> tuple[dict[str, State], dict[str, dict[str, str]], int]:
    """Per kind key->(uid, rv), namespace labels, and the list resourceVersion (direct LISTs)."""
    states: dict[str, State] = {}
    for k in kinds:
        w = Watcher(session, up.url, resource(k), headers=up.headers)
        await w.list_once()
        states[k] = w.state()
    labels: dict[str, dict[str, str]] = {}
    async with session.get(f"{up.url}/api/v1/namespaces", headers=up.headers) as resp:
        resp.raise_for_status()
        doc = await resp.json(content_type=None)
    for ns in doc.get("items") or ():
        meta = ns.get("metadata") or {}
        labels[meta.get("name", "")] = dict(meta.get("labels") or {})
    rv = int((doc.get("metadata") or {}).get("resourceVersion") or -1)
    return states, labels, rv


async def _start_mode(
    mode: str, session: aiohttp.ClientSession, up: Upstream, spec: RunSpec, work: Path
) -> Target:
    if mode == DIRECT:
        return Target(DIRECT, up.url)
    if mode in (DISCOFILTER, DISCOFILTER_NOCC):
        return await start_discofilter(
            mode,
            session,
            up.url,
            spec.selectors,
            work,
            kubeconfig=spec.kubeconfig,
            always_enrolled=spec.always_enrolled,
        )
    if mode == KUBECTL_PROXY:
        return await start_kubectl_proxy(session, up.url, work, kubeconfig=spec.kubeconfig)
    raise ValueError(f"unknown mode {mode!r}")


async def run(
    spec: RunSpec,
    up: Upstream,
    *,
    progress: TextIO | None = None,
    show_progress: bool = True,
    on_tick: Callable[[float, dict[str, ModeRun]], Awaitable[None] | None] | None = None,
    on_synced: Callable[[], Awaitable[None] | None] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run every mode against ``up``; return (results, raw series for plots).

    ``on_tick`` is called once a second during churn and catch-up (the demo's live view);
    ``on_synced`` once every client has listed, just before churn starts.
    """
    sel = selector_set(selector_from_label_selector(s) for s in spec.selectors)
    started_at = iso_now()
    modes: dict[str, ModeRun] = {}
    connector = aiohttp.TCPConnector(limit=0, ssl=up.ssl)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
    work = Path(tempfile.mkdtemp(prefix="discofilter-bench-"))
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        try:
            targets = await asyncio.gather(
                *(_start_mode(m, session, up, spec, work) for m in spec.modes)
            )
            for t in targets:
                modes[t.mode] = ModeRun(t)
            for m in modes.values():
                if m.target.status != "ok":
                    continue
                hdr = up.headers if m.target.mode == DIRECT else {}
                py = PythonClients(session, m.target.url, spec.kinds, m.target.mode)
                for w in py.watchers.values():
                    w.headers = hdr
                m.clients["python"] = py
                # The official-client process gets no credentials: against a real cluster it
                # watches through the proxies only.
                if "official" in spec.clients and (
                    up.kind == "emulator" or m.target.mode != DIRECT
                ):
                    m.clients["official"] = OfficialClients(
                        m.target.url, spec.kinds, m.target.mode, work
                    )
            await asyncio.gather(
                *(c.start(spec.sync_timeout_s) for m in modes.values() for c in m.clients.values())
            )
            for m in modes.values():
                if m.target.child is not None:
                    m.cpu_start = m.target.child.cpu_seconds()

            if on_synced is not None:
                r0 = on_synced()
                if inspect.isawaitable(r0):
                    await r0
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            mono0 = _mono()
            line = ProgressLine(progress)

            async def ticker(phase: list[str]) -> None:
                while True:
                    await asyncio.sleep(1.0)
                    totals = {
                        name: sum(c.events() for c in m.clients.values() if c.name == "python")
                        for name, m in modes.items()
                        if m.clients
                    }
                    if show_progress:
                        line.tick(loop.time() - t0, phase[0], totals)
                    if on_tick is not None:
                        r = on_tick(loop.time() - t0, modes)
                        if inspect.isawaitable(r):
                            await r

            phase = ["churn"]
            tick_task = asyncio.create_task(ticker(phase))
            try:
                final_rv = await up.churn(spec.churn_s)
                churn_end = _mono()
                phase[0] = "catch-up"
                truth, ns_labels, list_rv = await list_truth(session, up, spec.kinds)
                final_rv = max(final_rv, list_rv)
                enr = enrolled(sel, ns_labels, spec.always_enrolled)
                await asyncio.gather(
                    *(
                        _catch_up(m, k, final_rv, truth[k], enr, spec.catch_up_timeout_s)
                        for m in modes.values()
                        for k in spec.kinds
                    )
                )
            finally:
                tick_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await tick_task
                line.done()
            end = _mono()
            for m in modes.values():
                if m.target.child is not None:
                    m.cpu_end = m.target.child.cpu_seconds()
                admin = m.target.extra.get("admin_url")
                if admin and m.target.status == "ok":
                    m.slow_closures = await scrape_slow_closures(session, admin)
        finally:
            await asyncio.gather(
                *(c.finish() for m in modes.values() for c in m.clients.values()),
                return_exceptions=True,
            )
            await asyncio.gather(
                *(m.target.child.stop() for m in modes.values() if m.target.child is not None),
                return_exceptions=True,
            )
            shutil.rmtree(work, ignore_errors=True)
    return _assemble(spec, up, modes, truth, enr, started_at, mono0, churn_end, end)


def _mono() -> float:
    # CLOCK_MONOTONIC: the clock the watchers (and the official-client process) stamp with.
    return time.monotonic()


def expected_state(kind: str, full: State, enrolled_ns: set[str], filtered: bool) -> State:
    """The state a client of a mode should end with: the truth, restricted to enrolled
    namespaces when the mode filters (cluster-scoped kinds pass whole)."""
    if not filtered or not resource(kind).namespaced:
        return full
    return {k: v for k, v in full.items() if k[0] in enrolled_ns}


async def _catch_up(
    m: ModeRun, kind: str, final_rv: int, full: State, enr: set[str], timeout_s: float
) -> None:
    """Wait until each client has seen ``final_rv`` and its cache equals its expected state.

    Both conditions, because neither implies the other: a filtering proxy may hold no bookmark
    newer than its last enrolled event (the state matches, the rv never comes), and a proxy that
    learns of an enrollment change from its own namespace watch converges the client (410 and
    relist) *after* the client already saw the final rv.
    """
    want = expected_state(kind, full, enr, m.target.filtered)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    for name, c in m.clients.items():
        rv_ok = await c.wait_for_rv(kind, final_rv, max(0.0, deadline - loop.time()))
        state_ok = await c.wait_for_state(kind, want, max(1.0, deadline - loop.time()))
        m.caught_up[(name, kind)] = rv_ok and state_ok


def _assemble(
    spec: RunSpec,
    up: Upstream,
    modes: dict[str, ModeRun],
    truth: dict[str, State],
    enr: set[str],
    started_at: str,
    t_start: float,
    t_churn_end: float,
    t_end: float,
) -> tuple[dict[str, Any], dict[str, Any]]:
    ref_clients = modes[DIRECT].clients["python"]
    up_events: dict[str, int] = {}
    up_bytes: dict[str, int] = {}
    ref_seen: dict[str, dict[str, float]] = {}
    for k in spec.kinds:
        lg = ref_clients.log(k)
        up_events[k] = sum(1 for ty in lg.type if ty in stats.WATCH_EVENT_TYPES)
        up_bytes[k] = sum(lg.nbytes)
        ref_seen[k] = stats.first_seen(lg.t, lg.type, lg.rv)
    total_up_events = sum(up_events.values())
    total_up_bytes = sum(up_bytes.values())

    rates: dict[str, list[int]] = {}
    latencies: dict[str, list[float]] = {}
    out_modes: dict[str, Any] = {}
    for name, m in modes.items():
        t = m.target
        if t.status != "ok":
            out_modes[name] = {"status": t.status, "reason": t.reason, "final_state_matches": None}
            continue
        clients_out: dict[str, Any] = {}
        for cname, c in m.clients.items():
            kinds_out: dict[str, Any] = {}
            all_lat: list[float] = []
            times: list[float] = []
            ev_total = by_total = 0
            for k in spec.kinds:
                lg = c.log(k)
                ev = sum(1 for ty in lg.type if ty in stats.WATCH_EVENT_TYPES)
                by = sum(lg.nbytes)
                ev_total += ev
                by_total += by
                times.extend(tt for tt, ty in zip(lg.t, lg.type, strict=True) if ty != "BOOKMARK")
                if not (name == DIRECT and cname == "python"):
                    all_lat.extend(stats.added_latencies(ref_seen[k], lg.t, lg.type, lg.rv))
                want = expected_state(k, truth[k], enr, t.filtered)
                diff = stats.compare_states(c.state(k), want)
                counters = c.counters(k)
                kinds_out[k] = {
                    "events": ev,
                    "bytes": by,
                    "bookmarks": sum(1 for ty in lg.type if ty == "BOOKMARK"),
                    "upstream_events": up_events[k],
                    "upstream_bytes": up_bytes[k],
                    "counters": counters,
                    "caught_up": m.caught_up.get((cname, k), False),
                    "final_state_matches": bool(diff["matches"]),
                    "state_diff": diff,
                }
            clients_out[cname] = {
                "events": ev_total,
                "bytes": by_total,
                "event_share": ev_total / total_up_events if total_up_events else None,
                "byte_share": by_total / total_up_bytes if total_up_bytes else None,
                "latency": stats.latency_summary(all_lat)
                if not (name == DIRECT and cname == "python")
                else stats.latency_summary([]),
                "kinds": kinds_out,
                "final_state_matches": all(v["final_state_matches"] for v in kinds_out.values()),
            }
            if cname == "python":
                rates[name] = stats.rate_series(times, t_start, t_end)
                if name != DIRECT:
                    latencies[name] = all_lat
        proxy = None
        if t.child is not None:
            cpu = max(0.0, m.cpu_end - m.cpu_start)
            proxy = {
                "pid": t.child.pid,
                "cpu_s": round(cpu, 3),
                "cpu_s_per_1k_upstream_events": round(cpu / (total_up_events / 1000), 4)
                if total_up_events
                else None,
                "peak_rss_mb": round(t.child.usage.peak_rss / 1e6, 1),
                "slow_client_closures": m.slow_closures,
                "client_stream_closures": sum(
                    int(c.counters(k).get("stream_ends", 0))
                    + int(c.counters(k).get("error_events", 0))
                    for c in m.clients.values()
                    for k in spec.kinds
                ),
            }
        out_modes[name] = {
            "status": "ok",
            "reason": None,
            "url": t.url,
            "filtered": t.filtered,
            "proxy": proxy,
            "clients": clients_out,
            "final_state_matches": all(c["final_state_matches"] for c in clients_out.values()),
        }
    results: dict[str, Any] = {
        "schema_version": 1,
        "command": spec.command or shlex.join(sys.argv),
        "started_at": started_at,
        "scenario": {
            "name": spec.scenario_name,
            "path": spec.scenario_path,
            "non_mesh_share": spec.non_mesh_share,
            "selectors": spec.selectors,
            "kinds": spec.kinds,
        },
        "machine": machine_info(),
        "upstream": {
            "kind": up.kind,
            "url": up.url,
            "events": total_up_events,
            "bytes": total_up_bytes,
            "events_by_kind": up_events,
            "bytes_by_kind": up_bytes,
            "enrolled_namespaces": len(enr),
        },
        "churn_s": round(t_churn_end - t_start, 3),
        "catch_up_s": round(t_end - t_churn_end, 3),
        "modes": out_modes,
        "final_state_matches": all(
            v["final_state_matches"] for v in out_modes.values() if v["status"] == "ok"
        ),
    }
    return results, {"rates": rates, "latencies": latencies}
