"""istiod as a real peer: direct vs meshConfig.discoverySelectors vs discofilter, one run.

Policy and reasons (details and numbers: docs/istiod-bench.md):

* One real API server (tests/peers `testcluster`: etcd + kube-apiserver), Istio's own CRDs
  applied, and THREE pilot-discovery processes started side by side against it: (1) directly
  with an empty meshConfig, (2) directly with `discoverySelectors: istio-injection=enabled`,
  (3) through `discofilter serve --selector istio-injection=enabled` (TLS, caller's token
  forwarded). One churn drives all three at once, so "same scenario" holds by construction and
  the end states are compared at the same API server resourceVersion.
* Side by side needs `ENABLE_LEADER_ELECTION=false` (else only one istiod runs the leader-only
  controllers) and `ENABLE_CA_SERVER=false` (else each one writes its own root certificate into
  every namespace's istio-ca-root-cert ConfigMap and the three fight).
* CPU = the process's user+system seconds (psutil), split into start-up (to /ready and the
  first full view) and the churn phase (churn + convergence). Peak RSS = VmHWM from
  /proc/PID/status: the kernel's exact high-water mark, no sampling.
* Each istiod gets one Envoy-like ADS client (bench/istiod_xds.py) posing as a sidecar in an
  enrolled namespace: without one, istiod computes pushes but sends none (`pilot_xds_pushes` 0)
  and the cost that grows with what it watches is hidden.
* The churn: N namespaces, E of them labelled istio-injection=enabled; each holds one
  Service, P Running pods (status.podIP set: there is no kubelet) and one EndpointSlice whose
  endpoints point at the pods. Ops, namespace chosen uniformly (so (N-E)/N of the churn is
  outside the mesh), seeded: pod relabel, EndpointSlice rewrite, pod replacement (delete,
  create, status, slice), Service annotation.
* View equality: each istiod's /debug/endpointShardz restricted to the enrolled namespaces,
  as {(hostname, address, port)}, must equal each other's and the API server's truth.

Run: `python bench/istiod_bench.py --out /tmp/istiod-bench [--write-results-md]`.
At cluster scale (real controllers, kwok, five modes, tiers S/M/L; bench/cluster_bench.py):
`python bench/istiod_bench.py --tier M [--replicas 3] [--write-results-md]`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import watch as k8s_watch
from kubernetes.client.rest import ApiException

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from discofilter.harness.results import machine_info  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
from istiod_xds import CDS, EDS, Sidecar  # noqa: E402

LABEL = ("istio-injection", "enabled")
MODES = ("direct", "discoverySelectors", "discofilter")
SELECTOR_MESH = "discoverySelectors:\n- matchLabels:\n    istio-injection: enabled\n"
READY_TIMEOUT = 120.0
"""Seconds for an istiod to answer /ready: 4 s idle, ~20 s with three starting on 2 busy cores."""
CONVERGE_TIMEOUT = 90.0
"""Seconds for all three views to equal the truth after the last write (debounce is 100 ms-1 s)."""
SETTLE_SECONDS = 10.0
"""Quiet seconds after the last write before CPU and metrics are read: istiod's debounce waits
100 ms of quiet and at most PILOT_DEBOUNCE_MAX = 10 s, so every push the churn caused is done."""
XDS_TIMEOUT = 60.0
"""Seconds for a fresh ADS stream to get its first CDS and EDS responses (~0.1 s idle)."""
RESULTS_TITLE = "## istiod: direct vs discoverySelectors vs discofilter"


# ---------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Proc:
    """A child process with its output in a log file; stopped by its own pid."""

    def __init__(
        self, name: str, argv: list[str], log: Path, env: dict[str, str], *, pipe: bool = False
    ) -> None:
        """`pipe`: stdout is a pipe for a ready line (testcluster), else it goes to the log.

        Never a pipe nobody reads: istiod logs to stdout, and once 64 KiB of log filled an
        unread pipe every istiod goroutine that logged blocked in write(2). Earlier runs of this
        benchmark did exactly that; see docs/istiod-bench.md, "the stale-view finding".
        """
        self.name = name
        self.log = log
        self._log: IO[bytes] = log.open("wb")
        self.popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipe else self._log,
            stderr=self._log,
            env={**os.environ, **env},
            cwd=REPO,
        )
        self.ps = psutil.Process(self.popen.pid)

    def cpu_seconds(self) -> float:
        t = self.ps.cpu_times()
        return float(t.user + t.system)

    def peak_rss_bytes(self) -> int:
        """VmHWM: the kernel's exact resident high-water mark for the process."""
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return int(self.ps.memory_info().rss)

    def tail(self, n: int = 25) -> str:
        self._log.flush()
        lines = self.log.read_text(errors="replace").splitlines()[-n:]
        return f"--- {self.log} ---\n" + "\n".join(lines)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(15)  # istiod drains in ~1 s, kube-apiserver in ~1-5 s
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(15)
        self._log.close()


def http_get(url: str, timeout: float = 10.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        body: bytes = r.read()
        return body


def wait_until(what: str, cond: Callable[[], bool], timeout: float, proc: Proc | None) -> None:
    """Poll `cond` (another process's state: nothing to await) until true or the deadline."""
    deadline = time.monotonic() + timeout
    while not cond():
        if proc is not None and proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited {proc.popen.returncode}\n{proc.tail()}")
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{what}: not after {timeout}s" + (f"\n{proc.tail()}" if proc else "")
            )
        time.sleep(0.25)


def answers(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            http_get(url, timeout=2)
            return True
        except (urllib.error.URLError, OSError):
            return False

    return check


# ---------------------------------------------------------------- peers


def newest_peer(name: str, script: Path) -> Path:
    """The binary from the build script's current cache dir, else the newest cached one."""
    env = "DISCOFILTER_" + name.upper().replace("-", "_")
    if os.environ.get(env):
        return Path(os.environ[env])
    try:
        out = subprocess.run(
            [str(script), "--print-dir"], capture_output=True, text=True, timeout=30
        )
        path = Path(out.stdout.strip()) / name
        if os.access(path, os.X_OK):
            return path
    except (OSError, subprocess.SubprocessError):
        pass
    root = Path(os.environ.get("DISCOFILTER_PEERS_CACHE", Path.home() / ".cache/discofilter-peers"))
    found = sorted(root.glob(f"*/{name}"), key=lambda p: p.stat().st_mtime, reverse=True)
    if not found:
        raise SystemExit(f"no {name} binary: run {script} (or set ${env})")
    return found[0]


def find_kubectl() -> str:
    found = shutil.which("kubectl.1.33")
    if found:
        return found
    base = shutil.which("kubectl")
    if base is None:
        raise SystemExit("no kubectl on PATH (needed to apply Istio's CRDs)")
    beside = Path(os.path.realpath(base)).parent / "kubectl.1.33"
    return str(beside) if beside.exists() else base


@dataclass
class Cluster:
    proc: Proc
    url: str
    kubeconfig: Path
    token: str
    ca: Path


def apply_istio_crds(kubeconfig: Path, crds: Path, timeout: float) -> None:
    """Istio's CRDs (built beside pilot-discovery) into the cluster, server-side, as istiod
    needs them before it starts."""
    applied = subprocess.run(
        [
            find_kubectl(),
            "--kubeconfig",
            str(kubeconfig),
            "apply",
            "--server-side",
            "-f",
            str(crds),
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if applied.returncode != 0:
        raise RuntimeError(f"applying Istio CRDs failed: {applied.stderr}")


def start_cluster(binary: Path, work: Path) -> Cluster:
    argv = [str(binary), "--dir", str(work / "tc")]
    proc = Proc("testcluster", argv, work / "tc.log", {}, pipe=True)
    assert proc.popen.stdout is not None
    line = proc.popen.stdout.readline()  # one JSON line when ready (~5-20 s)
    if not line:
        raise RuntimeError(f"testcluster gave no ready line\n{proc.tail()}")
    info = json.loads(line)
    return Cluster(proc, info["url"], Path(info["kubeconfig"]), info["token"], Path(info["ca"]))


def write_kubeconfig(path: Path, server: str, ca: Path, token: str) -> Path:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "c", "cluster": {"server": server, "certificate-authority": str(ca)}}
                ],
                "users": [{"name": "u", "user": {"token": token}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    return path


def start_proxy(
    kubeconfig: Path,
    token: str,
    work: Path,
    name: str = "discofilter",
    extra: Sequence[str] = (),
    ready_seconds: float = 60.0,
    label: tuple[str, str] = LABEL,
) -> tuple[Proc, Path, str]:
    """One ``discofilter serve`` in front of the cluster (TLS, ``label`` as its selector,
    ``extra`` flags), ready; its process, a kubeconfig pointing at it, and its admin URL."""
    port, admin = free_port(), free_port()
    ca_out = work / f"{name}-ca.crt"
    argv = [
        sys.executable,
        "-m",
        "discofilter",
        "serve",
        "--kubeconfig",
        str(kubeconfig),
        "--listen",
        f"127.0.0.1:{port}",
        "--selector",
        "=".join(label),
        "--self-signed-tls",
        "--self-signed-ca-out",
        str(ca_out),
        "--admin-listen",
        f"127.0.0.1:{admin}",
        *extra,
    ]
    proc = Proc(name, argv, work / f"{name}.log", {})
    wait_until(f"{name} /readyz", answers(f"http://127.0.0.1:{admin}/readyz"), ready_seconds, proc)
    via = write_kubeconfig(work / f"{name}.kubeconfig", f"https://127.0.0.1:{port}", ca_out, token)
    return proc, via, f"http://127.0.0.1:{admin}"


@dataclass
class Istiod:
    mode: str
    proc: Proc
    http: str
    monitoring: str
    grpc: str
    """host:port of the plaintext xDS gRPC listener (what a sidecar's pilot-agent dials)."""
    cpu_at_ready: float = 0.0
    cpu_at_churn: float = 0.0
    sidecar: Sidecar | None = None
    xds_at_churn: dict[str, int] = field(default_factory=dict)
    metrics_at_churn: dict[str, float] = field(default_factory=dict)


def start_istiod(binary: Path, mode: str, kubeconfig: Path, mesh: str, work: Path) -> Istiod:
    http, grpc, mon = free_port(), free_port(), free_port()
    mesh_file = work / f"mesh-{mode}.yaml"
    mesh_file.write_text(mesh)
    argv = [
        str(binary),
        "discovery",
        "--kubeconfig",
        str(kubeconfig),
        "--meshConfig",
        str(mesh_file),
        "--namespace",
        "istio-system",
        "--httpAddr",
        f"127.0.0.1:{http}",
        "--grpcAddr",
        f"127.0.0.1:{grpc}",
        "--secureGRPCAddr",
        "",
        "--httpsAddr",
        "",
        "--monitoringAddr",
        f"127.0.0.1:{mon}",
        "--domain",
        "cluster.local",
    ]
    env = {
        "POD_NAMESPACE": "istio-system",
        "POD_NAME": f"istiod-{mode}",
        "ENABLE_LEADER_ELECTION": "false",
        "ENABLE_CA_SERVER": "false",
    }
    proc = Proc(f"istiod-{mode}", argv, work / f"istiod-{mode}.log", env)
    return Istiod(
        mode, proc, f"http://127.0.0.1:{http}", f"http://127.0.0.1:{mon}", f"127.0.0.1:{grpc}"
    )


# ---------------------------------------------------------------- istiod's view and metrics

METRIC_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$")
SUMMED = (
    "pilot_k8s_reg_events",
    "pilot_xds_pushes",
    "pilot_push_triggers",
    "pilot_pushcontext_init_seconds_count",
    "pilot_k8s_cfg_events",
    "pilot_services",
    "process_cpu_seconds_total",
)


def scrape(ist: Istiod) -> dict[str, float]:
    """Sums of the SUMMED families over all their label sets, plus per-type reg events."""
    text = http_get(ist.monitoring + "/metrics").decode()
    out: dict[str, float] = dict.fromkeys(SUMMED, 0.0)
    for line in text.splitlines():
        m = METRIC_LINE.match(line)
        if m is None:
            continue
        name, labels, value = m.group(1), m.group(2) or "", float(m.group(3))
        if name in out:
            out[name] += value
        if name == "pilot_k8s_reg_events":
            t = re.search(r'type="([^"]*)"', labels)
            key = f"reg_events[{t.group(1) if t else '?'}]"
            out[key] = out.get(key, 0.0) + value
    return out


Endpoint = tuple[str, str, int]


def view(ist: Istiod, namespaces: set[str]) -> set[Endpoint]:
    """{(hostname, address, port)} from /debug/endpointShardz in `namespaces`."""
    shardz: dict[str, dict[str, Any]] = json.loads(http_get(ist.http + "/debug/endpointShardz"))
    out: set[Endpoint] = set()
    for host, by_ns in shardz.items():
        for ns, entry in by_ns.items():
            if ns not in namespaces:
                continue
            for eps in (entry.get("Shards") or {}).values():
                for ep in eps or []:
                    for addr in ep.get("Addresses") or []:
                        out.add((host, addr, int(ep["EndpointPort"])))
    return out


def namespaces_seen(ist: Istiod) -> set[str]:
    services: list[dict[str, Any]] = json.loads(http_get(ist.http + "/debug/registryz"))
    return {s["Attributes"]["Namespace"] for s in services}


# ---------------------------------------------------------------- workload and churn


@dataclass
class Workload:
    """One namespace's Service, pods and EndpointSlice; `ips[i]` is pod i's current address."""

    ns: str
    pods: int
    ips: list[str]
    generation: int = 0
    rotation: int = 0
    """Order of the slice's endpoints (an update that changes nothing istiod keeps)."""


DEFAULT_MIX = "relabel=0.40,slice=0.40,replace=0.15,service=0.05"


def mix_cuts(mix: str) -> tuple[float, float, float]:
    shares = {k: float(v) for k, v in (item.split("=") for item in mix.split(","))}
    total = sum(shares.values())
    a = shares.get("relabel", 0) / total
    b = a + shares.get("slice", 0) / total
    return a, b, b + shares.get("replace", 0) / total


def rotated(items: list[tuple[int, str]], k: int) -> list[tuple[int, str]]:
    k %= len(items)
    return items[k:] + items[:k]


class Churn:
    """Writes through the real API with the official `kubernetes` client (sync: one writer)."""

    def __init__(
        self,
        kubeconfig: Path,
        namespaces: int,
        enrolled: int,
        pods: int,
        seed: int,
        mix: str = "relabel=0.40,slice=0.40,replace=0.15,service=0.05",
    ) -> None:
        self.api = k8s_config.new_client_from_config(str(kubeconfig))
        self.core = k8s.CoreV1Api(self.api)
        self.disc = k8s.DiscoveryV1Api(self.api)
        self.rand = random.Random(seed)
        self.cuts = mix_cuts(mix)
        """Cumulative shares of relabel, slice, replace (service takes the rest)."""
        self.workloads = [
            Workload(f"ns-{i:02d}", pods, [f"10.{i}.0.{p + 1}" for p in range(pods)])
            for i in range(namespaces)
        ]
        self.enrolled = {w.ns for w in self.workloads[:enrolled]}
        self.writes = 0
        self.ops: dict[str, int] = {}

    def setup(self) -> None:
        self.core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name="istio-system")))
        for w in self.workloads:
            labels = dict([LABEL]) if w.ns in self.enrolled else {"team": "batch"}
            self.core.create_namespace(
                k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=w.ns, labels=labels))
            )
            self.core.create_namespaced_service(
                w.ns,
                k8s.V1Service(
                    metadata=k8s.V1ObjectMeta(name="web"),
                    spec=k8s.V1ServiceSpec(
                        selector={"app": "web"},
                        ports=[k8s.V1ServicePort(name="http", port=80, target_port=8080)],
                    ),
                ),
            )
            for i in range(w.pods):
                self._create_pod(w, i)
            self.disc.create_namespaced_endpoint_slice(w.ns, self._slice(w))
            self.writes += 2

    def _create_pod(self, w: Workload, i: int) -> None:
        name = f"web-{i}"
        self.core.create_namespaced_pod(
            w.ns,
            k8s.V1Pod(
                metadata=k8s.V1ObjectMeta(name=name, labels={"app": "web", "gen": "0"}),
                spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="c", image="example/web:1")]),
            ),
        )
        # No kubelet: the pod becomes Running with its IP only because we say so.
        status = {
            "status": {
                "phase": "Running",
                "podIP": w.ips[i],
                "podIPs": [{"ip": w.ips[i]}],
                "conditions": [{"type": "Ready", "status": "True"}],
            }
        }
        self.core.patch_namespaced_pod_status(name, w.ns, status)
        self.writes += 2

    def _slice(self, w: Workload) -> k8s.V1EndpointSlice:
        return k8s.V1EndpointSlice(
            metadata=k8s.V1ObjectMeta(name="web-x1", labels={"kubernetes.io/service-name": "web"}),
            address_type="IPv4",
            endpoints=[
                k8s.V1Endpoint(
                    addresses=[ip],
                    conditions=k8s.V1EndpointConditions(ready=True),
                    target_ref=k8s.V1ObjectReference(kind="Pod", namespace=w.ns, name=f"web-{i}"),
                )
                for i, ip in rotated(list(enumerate(w.ips)), w.rotation)
            ],
            ports=[k8s.DiscoveryV1EndpointPort(name="http", port=8080, protocol="TCP")],
        )

    def one_op(self) -> None:
        w = self.rand.choice(self.workloads)
        r = self.rand.random()
        w.generation += 1
        cut = self.cuts
        if r < cut[0]:
            op = "pod-relabel"
            i = self.rand.randrange(w.pods)
            patch = {"metadata": {"labels": {"gen": str(w.generation)}}}
            self.core.patch_namespaced_pod(f"web-{i}", w.ns, patch)
            self.writes += 1
        elif r < cut[1]:
            op = "slice-rewrite"  # same endpoints, another order: istiod must still diff it
            w.rotation += 1
            self.disc.replace_namespaced_endpoint_slice("web-x1", w.ns, self._slice(w))
            self.writes += 1
        elif r < cut[2]:
            op = "pod-replace"
            i = self.rand.randrange(w.pods)
            self.core.delete_namespaced_pod(f"web-{i}", w.ns, grace_period_seconds=0)
            idx = self.workloads.index(w)
            w.ips[i] = f"10.{idx}.{(w.generation // 250) + 1}.{(w.generation % 250) + 1}"
            self._create_pod(w, i)
            self.disc.replace_namespaced_endpoint_slice("web-x1", w.ns, self._slice(w))
            self.writes += 2
        else:
            op = "service-annotate"
            patch = {"metadata": {"annotations": {"gen": str(w.generation)}}}
            self.core.patch_namespaced_service("web", w.ns, patch)
            self.writes += 1
        self.ops[op] = self.ops.get(op, 0) + 1

    def run(self, duration: float, rate: float) -> float:
        """`rate` ops/s for `duration` s (paced, not bursty); returns the seconds it took."""
        start = time.monotonic()
        n = int(duration * rate)
        for k in range(n):
            due = start + k / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # pacing the writer, not waiting for an event
            try:
                self.one_op()
            except ApiException as e:  # a 409/404 would be a bug in this script: fail loudly
                raise RuntimeError(f"churn op failed: {e.status} {e.reason}: {e.body}") from e
        return time.monotonic() - start

    def truth(self) -> set[Endpoint]:
        out: set[Endpoint] = set()
        for ns in self.enrolled:
            raw: Any = self.disc.list_namespaced_endpoint_slice(ns, _preload_content=False)
            for s in json.loads(raw.data)["items"]:  # plain JSON: no Optional-typed models
                svc = s["metadata"]["labels"]["kubernetes.io/service-name"]
                for ep in s.get("endpoints") or []:
                    for addr in ep["addresses"]:
                        for port in s.get("ports") or []:
                            out.add((f"{svc}.{ns}.svc.cluster.local", addr, int(port["port"])))
        return out


# ---------------------------------------------------------------- the run


def bench(a: argparse.Namespace) -> dict[str, Any]:
    work = Path(a.out)
    work.mkdir(parents=True, exist_ok=True)
    testcluster = newest_peer("testcluster", REPO / "tests/peers/build.sh")
    pilot = newest_peer("pilot-discovery", REPO / "tests/peers/istiod/build.sh")
    crds = pilot.parent / "istio-crds.yaml"
    procs: list[Proc] = []
    istiods: list[Istiod] = []
    try:
        cluster = start_cluster(
            testcluster, Path(tempfile.mkdtemp(prefix="istiod-bench-", dir=work))
        )
        procs.append(cluster.proc)
        apply_istio_crds(cluster.kubeconfig, crds, timeout=120)
        churn = Churn(cluster.kubeconfig, a.namespaces, a.enrolled, a.pods, a.seed, a.mix)
        churn.setup()
        mesh_ns = set(churn.enrolled)
        proxy, via_proxy, proxy_admin = start_proxy(cluster.kubeconfig, cluster.token, work)
        procs.append(proxy)
        witness = SliceWitness(via_proxy)
        direct_kc = write_kubeconfig(
            work / "direct.kubeconfig", cluster.url, cluster.ca, cluster.token
        )
        meshes = {"direct": "{}\n", "discoverySelectors": SELECTOR_MESH, "discofilter": "{}\n"}
        kubeconfigs = {
            "direct": direct_kc,
            "discoverySelectors": direct_kc,
            "discofilter": via_proxy,
        }
        t0 = time.monotonic()
        istiods = [start_istiod(pilot, m, kubeconfigs[m], meshes[m], work) for m in MODES]
        procs.extend(i.proc for i in istiods)
        truth = churn.truth()
        for ist in istiods:
            wait_until(f"{ist.mode} /ready", answers(ist.http + "/ready"), READY_TIMEOUT, ist.proc)
        converge(istiods, truth, mesh_ns)
        node = f"sidecar~{churn.workloads[0].ips[0]}~web-0.{churn.workloads[0].ns}~"
        node += f"{churn.workloads[0].ns}.svc.cluster.local"
        for ist in istiods:
            ist.sidecar = Sidecar(ist.grpc, node)
        for ist in istiods:
            sc = ist.sidecar
            assert sc is not None
            wait_until(
                f"{ist.mode} ADS: first CDS+EDS",
                lambda sc=sc: sc.responses[CDS] > 0 and sc.responses[EDS] > 0,  # type: ignore[misc]
                XDS_TIMEOUT,
                ist.proc,
            )
        startup_wall = time.monotonic() - t0
        proxy_cpu0 = proxy.cpu_seconds()
        proxy_metrics0 = proxy_counts(proxy_admin)
        for ist in istiods:
            ist.cpu_at_churn = ist.proc.cpu_seconds()
            ist.metrics_at_churn = scrape(ist)
            assert ist.sidecar is not None
            ist.xds_at_churn = xds_counts(ist.sidecar)
        writes0 = churn.writes
        took = churn.run(a.duration, a.rate)
        time.sleep(SETTLE_SECONDS)  # a fixed quiet period, the same for all three (see above)
        ends = {}
        for ist in istiods:
            assert ist.sidecar is not None
            ends[ist.mode] = (ist.proc.cpu_seconds(), scrape(ist), xds_counts(ist.sidecar))
        proxy_cpu1 = proxy.cpu_seconds()
        t_end = time.monotonic()
        truth = churn.truth()
        equal = converge(istiods, truth, mesh_ns, raise_on_timeout=False)
        converge_s = time.monotonic() - t_end
        witness_view = witness.endpoints(mesh_ns)
        witness.stop()
        rows = []
        for ist in istiods:
            cpu1, m, x1 = ends[ist.mode]
            assert ist.sidecar is not None
            delta = {k: m.get(k, 0.0) - ist.metrics_at_churn.get(k, 0.0) for k in m}
            seen = namespaces_seen(ist)
            rows.append(
                {
                    "mode": ist.mode,
                    "cpu_s_startup": round(ist.cpu_at_churn, 2),
                    "cpu_s_churn": round(cpu1 - ist.cpu_at_churn, 2),
                    "peak_rss_mb": round(ist.proc.peak_rss_bytes() / 2**20, 1),
                    "reg_events": int(delta["pilot_k8s_reg_events"]),
                    "reg_events_by_type": {
                        k[11:-1]: int(v)
                        for k, v in delta.items()
                        if k.startswith("reg_events[") and v
                    },
                    "push_triggers": int(delta["pilot_push_triggers"]),
                    "push_contexts": int(delta["pilot_pushcontext_init_seconds_count"]),
                    "xds_pushes": int(delta["pilot_xds_pushes"]),
                    "cpu_s_churn_own_metric": round(delta["process_cpu_seconds_total"], 2),
                    "services": int(m["pilot_services"]),
                    "namespaces_with_services": len(seen),
                    "mesh_view_equal_truth": equal[ist.mode],
                    "mesh_endpoints": len(view(ist, mesh_ns)),
                    "view_missing": sorted(truth - view(ist, mesh_ns))[:10],
                    "view_extra": sorted(view(ist, mesh_ns) - truth)[:10],
                    "ads_responses": {k: x1[k] - ist.xds_at_churn.get(k, 0) for k in x1},
                    "ads_error": ist.sidecar.error,
                    "ads_clusters": len(ist.sidecar.clusters),
                }
            )
        proxy_metrics = proxy_counts(proxy_admin)
        proxy_churn = {k: v - proxy_metrics0.get(k, 0.0) for k, v in proxy_metrics.items()}
        return {
            "machine": machine_info(),
            "load_avg_1m": os.getloadavg()[0],
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "istio_version": pilot_version(pilot),
            "scenario": {
                "namespaces": a.namespaces,
                "enrolled": a.enrolled,
                "pods_per_namespace": a.pods,
                "target_ops_per_s": a.rate,
                "ops": dict(churn.ops),
                "writes": churn.writes - writes0,
                "churn_seconds": round(took, 1),
                "converge_seconds": round(converge_s, 1),
                "startup_seconds": round(startup_wall, 1),
                "mesh_endpoints_truth": len(truth),
            },
            "views_equal": all(equal.values()),
            "discofilter_cpu_s_churn": round(proxy_cpu1 - proxy_cpu0, 2),
            "discofilter_cpu_s_total": round(proxy.cpu_seconds(), 2),
            "discofilter_peak_rss_mb": round(proxy.peak_rss_bytes() / 2**20, 1),
            "discofilter_metrics": proxy_metrics,
            "discofilter_metrics_churn": proxy_churn,
            "witness_through_proxy_equal_truth": witness_view == truth,
            "witness_missing": sorted(truth - witness_view)[:10],
            "witness_extra": sorted(witness_view - truth)[:10],
            "witness_error": witness.error,
            "rows": rows,
        }
    finally:
        for ist in istiods:
            if ist.sidecar is not None:
                ist.sidecar.close()
        for p in reversed(procs):
            p.stop()


def xds_counts(sc: Sidecar) -> dict[str, int]:
    """Responses and bytes per xDS type, flattened: cds, cds_bytes, eds, eds_bytes."""
    return {
        "cds": sc.responses[CDS],
        "cds_bytes": sc.bytes[CDS],
        "eds": sc.responses[EDS],
        "eds_bytes": sc.bytes[EDS],
    }


def converge(
    istiods: list[Istiod], truth: set[Endpoint], mesh_ns: set[str], *, raise_on_timeout: bool = True
) -> dict[str, bool]:
    """Wait until every istiod's mesh view equals `truth`; which ones did."""
    state: dict[str, bool] = {}

    def all_equal() -> bool:
        for ist in istiods:
            try:
                state[ist.mode] = view(ist, mesh_ns) == truth
            except (urllib.error.URLError, OSError, ValueError):
                state[ist.mode] = False
        return all(state.values())

    try:
        wait_until("istiod views equal the API server", all_equal, CONVERGE_TIMEOUT, None)
    except TimeoutError:
        if raise_on_timeout:
            diffs = {i.mode: sorted(view(i, mesh_ns) ^ truth)[:5] for i in istiods}
            raise TimeoutError(f"views differ from truth: {diffs}") from None
    return state


class SliceWitness:
    """A cluster-wide EndpointSlice watch THROUGH the proxy, as istiod's informer makes it.

    When an istiod's view ends stale, this tells whether the proxy's stream ended right (then
    the staleness is istiod's) or not. Invariant: `latest` is written only by the watch thread.
    """

    def __init__(self, kubeconfig: Path) -> None:
        self.api = k8s_config.new_client_from_config(str(kubeconfig))
        self.latest: dict[tuple[str, str], Any] = {}
        self.error = ""
        self._stop = threading.Event()
        raw: Any = k8s.DiscoveryV1Api(self.api).list_endpoint_slice_for_all_namespaces(
            _preload_content=False
        )
        doc = json.loads(raw.data)
        for s in doc["items"]:
            self.latest[(s["metadata"]["namespace"], s["metadata"]["name"])] = s
        self._rv = doc["metadata"]["resourceVersion"]
        self._thread = threading.Thread(target=self._run, name="slice-witness", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        w = k8s_watch.Watch()
        try:
            for ev in w.stream(
                k8s.DiscoveryV1Api(self.api).list_endpoint_slice_for_all_namespaces,
                resource_version=self._rv,
                allow_watch_bookmarks=True,
                timeout_seconds=3600,
                _preload_content=False,
            ):
                if self._stop.is_set():
                    break
                obj = ev["raw_object"]
                if ev["type"] == "BOOKMARK":
                    continue
                key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
                if ev["type"] == "DELETED":
                    self.latest.pop(key, None)
                elif ev["type"] in ("ADDED", "MODIFIED"):
                    self.latest[key] = obj
                else:
                    self.error = f"unexpected event {ev['type']}: {obj}"
        except Exception as e:  # reported in the results, not raised in a thread
            if not self._stop.is_set():
                self.error = repr(e)

    def endpoints(self, namespaces: set[str]) -> set[Endpoint]:
        out: set[Endpoint] = set()
        for (ns, _), s in list(self.latest.items()):
            if ns not in namespaces:
                continue
            svc = s["metadata"]["labels"]["kubernetes.io/service-name"]
            for ep in s.get("endpoints") or []:
                for addr in ep["addresses"]:
                    for port in s.get("ports") or []:
                        out.add((f"{svc}.{ns}.svc.cluster.local", addr, int(port["port"])))
        return out

    def stop(self) -> None:
        self._stop.set()


UPSTREAM_COUNT = "discofilter_upstream_request_duration_seconds_count"


def proxy_counts(admin: str) -> dict[str, float]:
    """The proxy's own forwarded/filtered counters (names vary; keep those with 'events'), and
    its upstream requests by verb (``upstream_requests[<verb>]``: where its CPU goes besides
    the watch streams, e.g. istiod's pass-through writes and leader-election renewals)."""
    out: dict[str, float] = {}
    try:
        text = http_get(admin + "/metrics").decode()
    except (urllib.error.URLError, OSError):
        return out
    for line in text.splitlines():
        m = METRIC_LINE.match(line)
        if not m:
            continue
        name = m.group(1)
        if "events" in name and name.endswith("_total"):
            out[name] = out.get(name, 0.0) + float(m.group(3))
        elif name == UPSTREAM_COUNT and (verb := re.search(r'verb="([^"]*)"', m.group(2) or "")):
            key = f"upstream_requests[{verb.group(1)}]"
            out[key] = out.get(key, 0.0) + float(m.group(3))
    return out


def pilot_version(binary: Path) -> str:
    text = (REPO / "tests/peers/istiod/build.sh").read_text()
    m = re.search(r'ISTIO_VERSION="([^"]+)"', text)
    return f"istio.io/istio@{m.group(1) if m else '?'} ({binary.name})"


# ---------------------------------------------------------------- output


def markdown(r: dict[str, Any], command: str) -> str:
    s, mach = r["scenario"], r["machine"]
    ops = ", ".join(f"{k} {v}" for k, v in sorted(s["ops"].items()))
    outside = 100 * (1 - s["enrolled"] / s["namespaces"])
    head = (
        f"{RESULTS_TITLE} (issue 8)\n\n"
        f"Command: `{command}` ({r['date']}; {mach['cores']}-core {mach['cpu_model']}, shared, "
        f"load {r['load_avg_1m']:.1f}; {r['istio_version']}; Python {mach['python']}). "
        "Three pilot-discovery processes side by side against one real kube-apiserver + etcd "
        "(tests/peers testcluster) under ONE churn: direct, direct with meshConfig."
        "discoverySelectors, and through `discofilter serve --selector istio-injection=enabled` "
        "(TLS, the caller's token forwarded). Each istiod has one Envoy-like ADS client "
        "(bench/istiod_xds.py: CDS wildcard + EDS for every outbound cluster, ACKing). "
        f"Churn: {s['namespaces']} namespaces, {s['enrolled']} enrolled, "
        f"{s['pods_per_namespace']} Running pods + 1 Service + 1 EndpointSlice each; "
        f"{sum(s['ops'].values())} ops ({ops}) = {s['writes']} API writes in "
        f"{s['churn_seconds']} s, namespace uniform so {outside:.0f}% of the churn is outside "
        "the mesh. CPU = istiod's user+system s (psutil) from the end of start-up to "
        f"{SETTLE_SECONDS:.0f} s after the last write; start-up (to /ready, full view, first "
        "CDS+EDS) separately; peak RSS = VmHWM (whole life); events, pushes and bytes = deltas "
        "over the churn phase (istiod's /metrics; ADS bytes as the client received them). View = "
        "/debug/endpointShardz of the enrolled namespaces vs the API server's EndpointSlices "
        f"({s['mesh_endpoints_truth']} endpoints), polled up to {CONVERGE_TIMEOUT:.0f} s after "
        "the CPU reading. discofilter's own CPU in the churn phase: "
        f"{r['discofilter_cpu_s_churn']} s (peak RSS {r['discofilter_peak_rss_mb']} MB). "
        f"{witness_sentence(r)}Method and caveats: docs/istiod-bench.md.\n\n"
    )
    table = [
        "| istiod | CPU s (churn) | CPU s (start-up) | peak RSS MB | pilot_k8s_reg_events "
        "| xDS pushes | ADS KB | push contexts | services | view equal |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in r["rows"]:
        ads = row["ads_responses"]
        kb = (ads.get("cds_bytes", 0) + ads.get("eds_bytes", 0)) / 1024
        cells = [
            row["mode"],
            row["cpu_s_churn"],
            row["cpu_s_startup"],
            row["peak_rss_mb"],
            row["reg_events"],
            row["xds_pushes"],
            f"{kb:.0f}",
            row["push_contexts"],
            row["services"],
            "yes" if row["mesh_view_equal_truth"] else "NO",
        ]
        table.append("| " + " | ".join(str(c) for c in cells) + " |")
    return head + "\n".join(table) + "\n\n"


def witness_sentence(r: dict[str, Any]) -> str:
    if "witness_through_proxy_equal_truth" not in r:
        return ""
    ok = r["witness_through_proxy_equal_truth"]
    return (
        "A separate EndpointSlice watch through the proxy (bench/istiod_bench.py SliceWitness) "
        + (
            "ended equal to the truth, so a `NO` below is istiod's own stale view. "
            if ok
            else "ended DIFFERENT from the truth: the proxy's stream lost the final state. "
        )
    )


def insert_at_top(md: str, path: Path) -> None:
    """Replace our section if present, else put it first; other sections stay as they are."""
    old = path.read_text() if path.exists() else ""
    start = old.find(RESULTS_TITLE)
    if start >= 0:
        nxt = old.find("\n## ", start + len(RESULTS_TITLE))
        old = old[:start] + (old[nxt + 1 :] if nxt >= 0 else "")
    path.write_text(md + old.lstrip("\n"))


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if any(x == "--tier" or x.startswith("--tier=") for x in args):
        # Cluster scale (issue 18): real controllers, five modes, tiers S/M/L.
        import cluster_bench

        return cluster_bench.main(args)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument(
        "--out", default="/tmp/istiod-bench", help="work dir: logs, kubeconfigs, results.json"
    )
    p.add_argument("--namespaces", type=int, default=20)
    p.add_argument("--enrolled", type=int, default=4)
    p.add_argument("--pods", type=int, default=6, help="pods per namespace")
    p.add_argument("--duration", type=float, default=60.0, help="churn seconds at --rate")
    p.add_argument("--rate", type=float, default=20.0, help="churn ops/s (1-3 API writes each)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--mix", default=DEFAULT_MIX, help="op shares: relabel,slice,replace,service")
    p.add_argument(
        "--write-results-md",
        action="store_true",
        help="put the table at the top of bench/RESULTS.md",
    )
    a = p.parse_args(argv)
    r = bench(a)
    out = Path(a.out) / "results.json"
    out.write_text(json.dumps(r, indent=2, sort_keys=True))
    command = "python bench/istiod_bench.py " + " ".join(argv if argv is not None else sys.argv[1:])
    md = markdown(r, command.strip())
    print(md)
    print(f"results: {out}", file=sys.stderr)
    if a.write_results_md:
        insert_at_top(md, REPO / "bench" / "RESULTS.md")
    return 0 if r["views_equal"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
