"""istiod at cluster scale: real controllers, kwok nodes, five modes side by side, total cost.

Run: `python bench/istiod_bench.py --tier S|M|L [--out DIR] [--replicas 3] [--write-results-md]`
(this module is what `--tier` runs; method and numbers: docs/istiod-bench.md, "cluster scale").

Policy and reasons:

* One real control plane (tests/peers testcluster --controllers --kwok: etcd, kube-apiserver,
  kube-controller-manager, kube-scheduler, kwok), one tier of workload objects
  (bench/workload_churn.py), and every mode's istiod started against it at once, so "the same
  churn" holds by construction and the final views are compared at one point in time.
* Modes: `direct` (empty meshConfig), `discoverySelectors` (meshConfig selector), and three
  discofilter processes, each serving one istiod: `discofilter-nocc` (churn control off),
  `discofilter` (defaults) and `discofilter-prune` (defaults + managedFields pruning). With
  `--replicas 3`, `discofilter-x3`: three istiods through ONE default proxy, each its own watch
  streams (per-client mode: shared upstream watches are another issue), costs summed.
* Total control-plane cost = istiod + its discofilter (CPU seconds and peak RSS), the figure an
  operator pays, against `direct`.
* Each istiod gets `sidecarsPerIstiod` Envoy-like ADS clients (bench/istiod_xds.py) posing as
  sidecars of real pods in enrolled namespaces: push cost scales with connected proxies.
* Everything is measured per process (psutil user+system CPU; VmHWM peak RSS) between the end
  of start-up and `settleSeconds` after the last write; istiod's and kube-apiserver's own
  /metrics give events, pushes, convergence-time histograms, Go heap and watch bytes.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

import istiod_bench as ib  # noqa: E402
from cluster_report import insert_section, markdown, plot  # noqa: E402
from istiod_xds import CDS, EDS, Sidecar  # noqa: E402
from workload_churn import LABEL, Tier, WorkloadChurn  # noqa: E402

PROXY_MODES = {
    "discofilter-nocc": ["--config", "{nocc}"],
    "discofilter": [],
    "discofilter-prune": ["--prune-managed-fields"],
}
"""Extra `discofilter serve` arguments per proxied mode ({nocc}: a config, churn control off)."""
NOCC_CONFIG = "churnControl:\n  enabled: false\n"
SAMPLE_SECONDS = 5.0
"""Time-series period (events in/out, heap) during churn: 5 s is many points per run, cheap."""
POD_READY_SECONDS_PER_1K = 90.0
"""Start-up budget for the controllers to run the tier's pods: ~20-40 s per 1k pods measured on
the shared 2-core box; the factor leaves room for load."""
ROLLOUT_TIMEOUT = 600.0
"""Seconds for the controllers to finish the rollouts after the driver's last write (seconds to
a minute under load; the CPU window must contain the work they cause, for every mode alike)."""


# ---------------------------------------------------------------- metrics text


Sample = list[tuple[str, dict[str, str], float]]
LABELS = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> Sample:
    out: Sample = []
    for line in text.splitlines():
        m = ib.METRIC_LINE.match(line)
        if m is None:
            continue
        labels = dict(LABELS.findall(m.group(2) or ""))
        try:
            out.append((m.group(1), labels, float(m.group(3))))
        except ValueError:
            continue
    return out


def total(sample: Sample, name: str, **match: str) -> float:
    return sum(
        v for n, lab, v in sample if n == name and all(lab.get(k) == w for k, w in match.items())
    )


def buckets(sample: Sample, name: str) -> dict[float, float]:
    out: dict[float, float] = {}
    for n, lab, v in sample:
        if n == name + "_bucket":
            le = float("inf") if lab["le"] == "+Inf" else float(lab["le"])
            out[le] = out.get(le, 0.0) + v
    return out


def quantile(before: dict[float, float], after: dict[float, float], q: float) -> float | None:
    """q-quantile of the observations between two cumulative-bucket readings (upper bound of
    the bucket it falls in, as Prometheus' histogram_quantile interpolates within it)."""
    les = sorted(after)
    counts = [after[le] - before.get(le, 0.0) for le in les]
    if not counts or counts[-1] <= 0:
        return None
    rank = q * counts[-1]
    prev_le, prev_c = 0.0, 0.0
    for le, c in zip(les, counts, strict=True):
        if c >= rank:
            if le == float("inf"):
                return prev_le
            span = c - prev_c
            return prev_le + (le - prev_le) * ((rank - prev_c) / span if span else 1.0)
        prev_le, prev_c = le, c
    return None


# ---------------------------------------------------------------- the control plane


@dataclass
class ControlPlane:
    proc: ib.Proc
    url: str
    kubeconfig: Path
    token: str
    ca: Path
    components: dict[str, psutil.Process]
    """kube-apiserver (with etcd, one process) and the controller children, by name."""

    def metrics(self) -> Sample:
        ctx = ssl.create_default_context(cafile=str(self.ca))
        req = urllib.request.Request(
            self.url + "/metrics", headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=30, context=ctx) as r:
            return parse_metrics(r.read().decode())

    def cpu(self) -> dict[str, float]:
        out = {}
        for name, p in self.components.items():
            t = p.cpu_times()
            out[name] = float(t.user + t.system)
        return out


def peers_dir() -> Path:
    out = subprocess.run(
        [str(REPO / "tests/peers/build.sh"), "--print-dir"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    d = Path(out.stdout.strip())
    for name in ("testcluster", "kwok", "kwok-stages.yaml"):
        if not (d / name).exists():
            raise SystemExit(f"{d / name} missing: run tests/peers/build.sh")
    return d


def start_control_plane(peers: Path, work: Path) -> ControlPlane:
    argv = [
        str(peers / "testcluster"),
        "--dir",
        str(work / "tc"),
        "--controllers",
        "--kwok",
        str(peers / "kwok"),
        "--kwok-config",
        str(peers / "kwok-stages.yaml"),
    ]
    proc = ib.Proc("testcluster", argv, work / "testcluster.log", {}, pipe=True)
    assert proc.popen.stdout is not None
    line = proc.popen.stdout.readline()
    if not line:
        raise RuntimeError(f"testcluster gave no ready line\n{proc.tail()}")
    info = json.loads(line)
    comps = {"kube-apiserver+etcd": proc.ps}
    for name, pid in (info.get("controllers") or {}).items():
        comps[name] = psutil.Process(pid)
    return ControlPlane(
        proc, info["url"], Path(info["kubeconfig"]), info["token"], Path(info["ca"]), comps
    )


def start_proxy(
    cp: ControlPlane, mode: str, extra: list[str], work: Path
) -> tuple[ib.Proc, Path, str]:
    """The proxy of one mode (``{nocc}`` in ``extra``: the churn-control-off config file)."""
    nocc = work / "nocc.yaml"
    nocc.write_text(NOCC_CONFIG)
    flags = [a.replace("{nocc}", str(nocc)) for a in extra]
    return ib.start_proxy(
        cp.kubeconfig, cp.token, work, mode, flags, ready_seconds=120, label=LABEL
    )


@dataclass
class Mode:
    """One column of the table: its istiods (1, or 3 for -x3) and its proxy (None if direct)."""

    name: str
    istiods: list[ib.Istiod]
    proxy: ib.Proc | None = None
    proxy_admin: str = ""
    sidecars: list[Sidecar] = field(default_factory=list)
    cpu0: dict[str, float] = field(default_factory=dict)
    metrics0: list[Sample] = field(default_factory=list)
    proxy_metrics0: Sample = field(default_factory=list)
    xds0: dict[str, int] = field(default_factory=dict)
    heap_peak: list[float] = field(default_factory=list)
    series: list[dict[str, float]] = field(default_factory=list)

    def procs(self) -> list[ib.Proc]:
        return [i.proc for i in self.istiods] + ([self.proxy] if self.proxy else [])

    def xds(self) -> dict[str, int]:
        out = {"cds": 0, "cds_bytes": 0, "eds": 0, "eds_bytes": 0}
        for sc in self.sidecars:
            for k, v in ib.xds_counts(sc).items():
                out[k] += v
        return out


def scrape_text(url: str) -> Sample:
    return parse_metrics(ib.http_get(url + "/metrics", timeout=30).decode())


# ---------------------------------------------------------------- the run


def log(msg: str) -> None:
    """Live progress on stderr, one timestamped line each."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def bench(
    tier: Tier, work: Path, replicas: int, modes_wanted: list[str], profile_seconds: int = 0
) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    peers = peers_dir()
    pilot = ib.newest_peer("pilot-discovery", REPO / "tests/peers/istiod/build.sh")
    crds = pilot.parent / "istio-crds.yaml"
    started: list[ib.Proc] = []
    modes: list[Mode] = []
    t_begin = time.monotonic()
    try:
        cp = start_control_plane(peers, work)
        started.append(cp.proc)
        log(f"control plane up: {', '.join(cp.components)}")
        ib.apply_istio_crds(cp.kubeconfig, crds, timeout=300)
        churn = WorkloadChurn(cp.kubeconfig, tier)
        churn.setup(lambda m: log(f"setup: {m}"))
        wait_pods(churn, tier)
        setup_s = time.monotonic() - t_begin
        mesh_ns = set(churn.enrolled)

        direct_kc = ib.write_kubeconfig(work / "direct.kubeconfig", cp.url, cp.ca, cp.token)
        wanted = [m for m in modes_wanted if m != "discofilter-x3" or replicas > 1]
        for name in wanted:
            if name in ("direct", "discoverySelectors"):
                mesh = ib.SELECTOR_MESH if name == "discoverySelectors" else "{}\n"
                ist = ib.start_istiod(pilot, name, direct_kc, mesh, work)
                modes.append(Mode(name, [ist]))
            else:
                extra = PROXY_MODES["discofilter" if name == "discofilter-x3" else name]
                proxy, kc, admin = start_proxy(cp, name, extra, work)
                started.append(proxy)
                n = replicas if name == "discofilter-x3" else 1
                ists = [
                    ib.start_istiod(pilot, f"{name}-{k}" if n > 1 else name, kc, "{}\n", work)
                    for k in range(n)
                ]
                modes.append(Mode(name, ists, proxy, admin))
            started.extend(i.proc for m in modes[-1:] for i in m.istiods)
        log(f"istiods started: {', '.join(m.name for m in modes)}")
        for m in modes:
            for ist in m.istiods:
                ib.wait_until(f"{ist.mode} /ready", ib.answers(ist.http + "/ready"), 600, ist.proc)
        all_ists = [i for m in modes for i in m.istiods]
        read_truth = functools.partial(endpoint_truth, churn, mesh_ns)
        _, truth = ib_converge(all_ists, read_truth, mesh_ns, timeout=600, strict=True)
        log(f"all istiods have the full view ({len(truth)} mesh endpoints)")
        nodes = sidecar_nodes(churn, mesh_ns, tier.sidecars)
        for m in modes:
            for ist in m.istiods:
                for node in nodes:
                    m.sidecars.append(Sidecar(ist.grpc, node))
        for m in modes:
            for sc in m.sidecars:
                ib.wait_until(
                    f"{m.name} ADS first CDS+EDS",
                    lambda sc=sc: sc.responses[CDS] > 0 and sc.responses[EDS] > 0,  # type: ignore[misc]
                    300,
                    m.istiods[0].proc,
                )
        startup_s = time.monotonic() - t_begin - setup_s
        log(f"{sum(len(m.sidecars) for m in modes)} ADS clients connected; churn starts")

        # ---- readings at the start of the churn phase
        cp_cpu0, api0 = cp.cpu(), cp.metrics()
        startup_cpu = {}
        for m in modes:
            m.cpu0 = {p.name: p.cpu_seconds() for p in m.procs()}
            startup_cpu[m.name] = dict(m.cpu0)
            m.metrics0 = [scrape_text(i.monitoring) for i in m.istiods]
            if m.proxy:
                m.proxy_metrics0 = scrape_text(m.proxy_admin)
            m.xds0 = m.xds()
        sampler = Sampler(modes)
        sampler.start()
        profilers = [
            start_profile(m.istiods[0], work, profile_seconds) for m in modes if profile_seconds
        ]
        took = churn.run(
            lambda s, k: log(f"churn {s:.0f}s: {k} ops, {churn.counters.writes} writes")
        )
        log(f"churn done in {took:.0f}s; settling {tier.settle_seconds:.0f}s")
        rolled = wait_rolled_out(churn, ROLLOUT_TIMEOUT)
        log(f"controllers done {rolled:.0f}s after the last write; settling")
        time.sleep(tier.settle_seconds)  # a fixed quiet period, the same for every mode
        sampler.stop()
        for t in profilers:
            t.join(profile_seconds + 60)

        # ---- readings at the end
        cp_cpu1, api1 = cp.cpu(), cp.metrics()
        ends = {}
        for m in modes:
            ends[m.name] = (
                {p.name: p.cpu_seconds() for p in m.procs()},
                [scrape_text(i.monitoring) for i in m.istiods],
                scrape_text(m.proxy_admin) if m.proxy else [],
                m.xds(),
            )
        t_end = time.monotonic()
        equal, truth = ib_converge(
            all_ists, read_truth, mesh_ns, timeout=ib.CONVERGE_TIMEOUT, strict=False
        )
        converge_s = time.monotonic() - t_end
        log("views: " + ", ".join(f"{k}={'ok' if v else 'STALE'}" for k, v in equal.items()))

        rows = [
            mode_row(m, ends[m.name], equal, truth, mesh_ns, startup_cpu[m.name]) for m in modes
        ]
        add_ratios(rows)
        return {
            "machine": ib.machine_info(),
            "load_avg_1m_end": os.getloadavg()[0],
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "istio_version": ib.pilot_version(pilot),
            "tier": tier.__dict__,
            "pods": tier.pods,
            "scenario": {
                "ops": dict(churn.counters.ops),
                "ops_in_mesh": churn.counters.ops_in_mesh,
                "ops_outside_mesh": churn.counters.ops_outside,
                "driver_writes": churn.counters.writes,
                "churn_seconds": round(took, 1),
                "setup_seconds": round(setup_s, 1),
                "startup_seconds": round(startup_s, 1),
                "converge_seconds": round(converge_s, 1),
                "rollouts_done_seconds_after_last_write": round(rolled, 1),
                "mesh_endpoints_truth": len(truth),
            },
            "apiserver": apiserver_delta(api0, api1),
            "control_plane_cpu_s_churn": {k: round(cp_cpu1[k] - cp_cpu0[k], 2) for k in cp_cpu1},
            "control_plane_peak_rss_mb": {
                k: round(peak_rss(p.pid) / 2**20, 1) for k, p in cp.components.items()
            },
            "views_equal": all(equal.values()),
            "rows": rows,
            "series": {m.name: m.series for m in modes},
        }
    finally:
        for m in modes:
            for sc in m.sidecars:
                sc.close()
        for p in reversed(started):
            p.stop()


def start_profile(ist: ib.Istiod, work: Path, seconds: int) -> threading.Thread:
    """istiod's own Go CPU profile (/debug/pprof/profile on --httpAddr) over the churn, saved as
    DIR/pprof-<mode>.pb.gz (`go tool pprof -top` reads it). The profiler's own cost (~1%) is
    paid by every profiled mode alike."""

    def fetch() -> None:
        url = f"{ist.http}/debug/pprof/profile?seconds={seconds}"
        try:
            (work / f"pprof-{ist.mode}.pb.gz").write_bytes(ib.http_get(url, seconds + 60))
        except (urllib.error.URLError, OSError) as e:
            log(f"profile of {ist.mode} failed: {e}")

    t = threading.Thread(target=fetch, name=f"pprof-{ist.mode}", daemon=True)
    t.start()
    return t


def wait_rolled_out(churn: WorkloadChurn, timeout: float) -> float:
    """Seconds until every Deployment's rollout finished (the controllers' last writes)."""
    start = time.monotonic()
    ib.wait_until("Deployments rolled out", churn.rolled_out, timeout, None)
    return time.monotonic() - start


def wait_pods(churn: WorkloadChurn, tier: Tier) -> None:
    deadline = time.monotonic() + max(120.0, POD_READY_SECONDS_PER_1K * tier.pods / 1000)
    last = -1
    while True:
        ready, want = churn.pods_ready()
        if ready >= want:
            log(f"setup: {ready}/{want} Deployment pods ready")
            return
        if ready != last:
            log(f"setup: {ready}/{want} Deployment pods ready")
            last = ready
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {ready}/{want} pods ready: controllers too slow or stuck")
        time.sleep(5)  # polling another process's progress; the log line is the progress report


def endpoint_truth(churn: WorkloadChurn, mesh_ns: set[str]) -> set[ib.Endpoint]:
    out: set[ib.Endpoint] = set()
    from kubernetes import client as k8s

    disc = k8s.DiscoveryV1Api(churn.api)
    for page in churn._pages(disc.list_endpoint_slice_for_all_namespaces):
        for s in page["items"]:
            ns = s["metadata"]["namespace"]
            if ns not in mesh_ns:
                continue
            svc = (s["metadata"].get("labels") or {}).get("kubernetes.io/service-name")
            if not svc:
                continue
            for ep in s.get("endpoints") or []:
                for addr in ep["addresses"]:
                    for port in s.get("ports") or []:
                        out.add((f"{svc}.{ns}.svc.cluster.local", addr, int(port["port"])))
    return out


def ib_converge(
    ists: list[ib.Istiod],
    read_truth: Callable[[], set[ib.Endpoint]],
    mesh_ns: set[str],
    *,
    timeout: float,
    strict: bool,
) -> tuple[dict[str, bool], set[ib.Endpoint]]:
    """Poll until every view equals the truth, re-reading the truth each round: with real
    controllers "the last write" is not the driver's (a rollout or a garbage-collected slice can
    still be in flight), so a truth read once could be the stale one. Returns who matched and
    the last truth read."""
    state: dict[str, bool] = {}
    truth: set[ib.Endpoint] = set()

    def all_equal() -> bool:
        nonlocal truth
        fresh = read_truth()
        if fresh != truth:
            state.clear()  # the target moved: every view must be compared again
            truth = fresh
        for ist in ists:
            if state.get(ist.mode):
                continue  # equal to this same truth already: skip the big GET
            try:
                state[ist.mode] = ib.view(ist, mesh_ns) == truth
            except (urllib.error.URLError, OSError, ValueError):
                state[ist.mode] = False
        return all(state.values())

    try:
        ib.wait_until("istiod views equal the API server", all_equal, timeout, None)
    except TimeoutError:
        if strict:
            diffs = {i.mode: sorted(ib.view(i, mesh_ns) ^ truth)[:5] for i in ists}
            raise TimeoutError(f"views differ from truth: {diffs}") from None
    return state, truth


def sidecar_nodes(churn: WorkloadChurn, mesh_ns: set[str], n: int) -> list[str]:
    """Node ids of `n` real pods in enrolled namespaces: sidecar~IP~POD.NS~NS.svc.cluster.local."""
    from kubernetes import client as k8s

    core = k8s.CoreV1Api(churn.api)
    out = []
    for ns in sorted(mesh_ns):
        raw: Any = core.list_namespaced_pod(ns, _preload_content=False)
        for p in json.loads(raw.data)["items"]:
            ip = (p.get("status") or {}).get("podIP")
            if ip:
                name = p["metadata"]["name"]
                out.append(f"sidecar~{ip}~{name}.{ns}~{ns}.svc.cluster.local")
            if len(out) >= n:
                return out
    return out


class Sampler(threading.Thread):
    """Every SAMPLE_SECONDS: each mode's istiod reg events and Go heap, proxy events in/out.

    Invariant: only this thread appends to the modes' series/heap lists until stop() joins it.
    """

    def __init__(self, modes: list[Mode]) -> None:
        super().__init__(name="sampler", daemon=True)
        self.modes = modes
        self._stop_event = threading.Event()
        self._t0 = time.monotonic()

    def run(self) -> None:
        while not self._stop_event.wait(SAMPLE_SECONDS):
            for m in self.modes:
                try:
                    point = {"t": round(time.monotonic() - self._t0, 1)}
                    heap = 0.0
                    events = 0.0
                    for ist in m.istiods:
                        s = scrape_text(ist.monitoring)
                        events += total(s, "pilot_k8s_reg_events")
                        heap += total(s, "go_memstats_heap_inuse_bytes")
                    point["istiod_reg_events"] = events
                    point["istiod_heap_mb"] = round(heap / 2**20, 1)
                    m.heap_peak.append(heap)
                    if m.proxy:
                        p = scrape_text(m.proxy_admin)
                        point["proxy_events_in"] = total(p, "discofilter_events_in_total")
                        point["proxy_events_out"] = total(p, "discofilter_events_out_total")
                    m.series.append(point)
                except (urllib.error.URLError, OSError, ValueError):
                    continue  # one missed point under load; the next one comes in 5 s

    def stop(self) -> None:
        self._stop_event.set()
        self.join(60)


def peak_rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def mode_row(
    m: Mode,
    end: tuple[dict[str, float], list[Sample], Sample, dict[str, int]],
    equal: dict[str, bool],
    truth: set[ib.Endpoint],
    mesh_ns: set[str],
    startup_cpu: dict[str, float],
) -> dict[str, Any]:
    cpu1, metrics1, proxy1, xds1 = end
    ist_cpu = sum(cpu1[i.proc.name] - m.cpu0[i.proc.name] for i in m.istiods)
    ist_rss = sum(i.proc.peak_rss_bytes() for i in m.istiods)
    proxy_cpu = (cpu1[m.proxy.name] - m.cpu0[m.proxy.name]) if m.proxy else 0.0
    proxy_rss = m.proxy.peak_rss_bytes() if m.proxy else 0

    def delta(name: str, **match: str) -> float:
        return sum(
            total(a, name, **match) - total(b, name, **match)
            for a, b in zip(metrics1, m.metrics0, strict=True)
        )

    conv_before: dict[float, float] = {}
    conv_after: dict[float, float] = {}
    for a, b in zip(metrics1, m.metrics0, strict=True):
        for le, v in buckets(a, "pilot_proxy_convergence_time").items():
            conv_after[le] = conv_after.get(le, 0.0) + v
        for le, v in buckets(b, "pilot_proxy_convergence_time").items():
            conv_before[le] = conv_before.get(le, 0.0) + v
    p50 = quantile(conv_before, conv_after, 0.5)
    p99 = quantile(conv_before, conv_after, 0.99)
    ads = {k: xds1[k] - m.xds0.get(k, 0) for k in xds1}
    views = {i.mode: equal.get(i.mode, False) for i in m.istiods}
    first = m.istiods[0]
    seen_view = ib.view(first, mesh_ns)
    row: dict[str, Any] = {
        "mode": m.name,
        "istiods": len(m.istiods),
        "istiod_cpu_s_startup": round(sum(startup_cpu[i.proc.name] for i in m.istiods), 2),
        "istiod_cpu_s_churn": round(ist_cpu, 2),
        "istiod_peak_rss_mb": round(ist_rss / 2**20, 1),
        "istiod_heap_peak_mb": round(max(m.heap_peak, default=0.0) / 2**20, 1),
        "discofilter_cpu_s_startup": round(startup_cpu[m.proxy.name], 2) if m.proxy else 0.0,
        "discofilter_cpu_s_churn": round(proxy_cpu, 2),
        "discofilter_peak_rss_mb": round(proxy_rss / 2**20, 1),
        "total_cpu_s_churn": round(ist_cpu + proxy_cpu, 2),
        "total_peak_rss_mb": round((ist_rss + proxy_rss) / 2**20, 1),
        "reg_events": int(delta("pilot_k8s_reg_events")),
        "reg_events_pods": int(delta("pilot_k8s_reg_events", type="Pods")),
        "reg_events_endpointslice": int(delta("pilot_k8s_reg_events", type="EndpointSlice")),
        "xds_pushes": int(delta("pilot_xds_pushes")),
        "push_contexts": int(delta("pilot_pushcontext_init_seconds_count")),
        "convergence_p50_s": None if p50 is None else round(p50, 3),
        "convergence_p99_s": None if p99 is None else round(p99, 3),
        "xds_bytes": ads.get("cds_bytes", 0) + ads.get("eds_bytes", 0),
        "ads_responses": ads,
        "ads_errors": sorted({sc.error for sc in m.sidecars if sc.error}),
        "services": int(total(metrics1[0], "pilot_services")),
        # Namespaces with services in istiod's registry that are neither enrolled nor always
        # enrolled: all of them for direct, none through discofilter (its contract 1).
        "foreign_namespaces": sorted(ib.namespaces_seen(first) - mesh_ns - {"istio-system"})[:10],
        "foreign_namespaces_count": len(ib.namespaces_seen(first) - mesh_ns - {"istio-system"}),
        "view_equal_truth": all(views.values()),
        "views": views,
        "view_missing": sorted(truth - seen_view)[:10],
        "view_extra": sorted(seen_view - truth)[:10],
    }
    if m.proxy:
        d = {}
        for key in ("events_in", "events_out", "events_coalesced", "bytes_in", "bytes_out"):
            name = f"discofilter_{key}_total"
            d[key] = total(proxy1, name) - total(m.proxy_metrics0, name)
        row["discofilter"] = d
    return row


def add_ratios(rows: list[dict[str, Any]]) -> None:
    by = {r["mode"]: r for r in rows}
    direct, sel = by.get("direct"), by.get("discoverySelectors")
    for r in rows:
        if direct:
            for k in (
                "istiod_cpu_s_churn",
                "istiod_peak_rss_mb",
                "total_cpu_s_churn",
                "total_peak_rss_mb",
            ):
                base = direct[k] * r["istiods"]  # per replica set: 3 istiods vs 3 direct
                r[f"{k}_vs_direct"] = round(r[k] / base, 3) if base else None
        if sel and sel["istiod_cpu_s_churn"]:
            base = sel["istiod_cpu_s_churn"] * r["istiods"]
            r["istiod_cpu_s_churn_vs_selectors"] = round(r["istiod_cpu_s_churn"] / base, 3)


def apiserver_delta(a: Sample, b: Sample) -> dict[str, Any]:
    """Watch events and bytes the API server sent, per resource, over the churn phase."""
    per: dict[str, dict[str, float]] = {}
    for name, key in (
        ("apiserver_watch_events_total", "events"),
        ("apiserver_watch_events_sizes_sum", "bytes"),
    ):
        for sample, sign in ((b, 1.0), (a, -1.0)):
            for n, lab, v in sample:
                if n == name:
                    res = lab.get("resource", "?")
                    per.setdefault(res, {}).setdefault(key, 0.0)
                    per[res][key] += sign * v
    top = sorted(per.items(), key=lambda kv: -kv[1].get("bytes", 0.0))[:8]
    return {
        "watch_events": int(sum(v.get("events", 0.0) for v in per.values())),
        "watch_bytes": int(sum(v.get("bytes", 0.0) for v in per.values())),
        "by_resource": {k: {kk: int(vv) for kk, vv in v.items()} for k, v in top},
        "cpu_s_own_metric": round(
            total(b, "process_cpu_seconds_total") - total(a, "process_cpu_seconds_total"), 2
        ),
    }


ALL_MODES = [
    "direct",
    "discoverySelectors",
    "discofilter-nocc",
    "discofilter",
    "discofilter-prune",
    "discofilter-x3",
]


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="istiod_bench.py --tier", description=__doc__.splitlines()[0])
    p.add_argument("--tier", required=True, help="S, M, L, s-ci, or a tier YAML path")
    p.add_argument("--out", default="", help="work dir (default /tmp/istiod-bench-<tier>)")
    p.add_argument("--replicas", type=int, default=1, help="3: add discofilter-x3 (3 istiods)")
    p.add_argument("--modes", default=",".join(ALL_MODES), help="comma-separated subset")
    p.add_argument("--plot-with", nargs="*", default=[], help="other tiers' results.json to plot")
    p.add_argument(
        "--profile-seconds",
        type=int,
        default=0,
        help="take each mode's first istiod's Go CPU profile this long from the churn start",
    )
    p.add_argument("--write-results-md", action="store_true")
    p.add_argument(
        "--render",
        metavar="RESULTS_JSON",
        help="no run: re-render the table (and RESULTS.md with --write-results-md) from a run",
    )
    a = p.parse_args(argv)
    tier = Tier.load(a.tier)
    out = Path(a.out or f"/tmp/istiod-bench-{tier.name}")
    if a.render:
        r = json.loads(Path(a.render).read_text())
        command = r.get("command", "python bench/istiod_bench.py " + " ".join(argv))
    else:
        r = bench(tier, out, a.replicas, a.modes.split(","), a.profile_seconds)
        command = "python bench/istiod_bench.py " + " ".join(argv)
        r["command"] = command
        (out / "results.json").write_text(json.dumps(r, indent=2, sort_keys=True))
    others = [json.loads(Path(x).read_text()) for x in a.plot_with]
    out.mkdir(parents=True, exist_ok=True)
    pngs = plot([*others, r], out)
    if out.resolve().is_relative_to(REPO):
        r["artifacts"] = str(out.resolve().relative_to(REPO))
    md = markdown(r, command)
    print(md)
    log(f"results: {out / 'results.json'}; plots: {', '.join(map(str, pngs))}")
    if a.write_results_md:
        insert_section(md, REPO / "bench" / "RESULTS.md", tier.name)
    return 0 if r["views_equal"] else 1
