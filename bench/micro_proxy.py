"""Micro-benchmark: one cluster-wide pod watch of ~6.4 KB events, direct vs discofilter vs
``kubectl proxy``, JSON and protobuf, in ONE run (same machine, same moment, same objects).

    python bench/micro_proxy.py [--content-type json|protobuf|both] [--events 40000]
                                [--chunking go|N] [--enrolled 0.5] [--runs 3] [--json]
                                [--rates full,1000,100] [--paced-seconds 10]
                                [--tls off|on|both] [--quick] [--compare LABEL=TREE ...]

The upstream is a minimal HTTP/1.1 server (its own process, uvloop) that answers the
discovery and namespace requests discofilter needs and streams a pre-encoded watch as fast as
the socket takes it, so the proxies, not the emulator, are the bottleneck. It answers the pod
watch in protobuf when the request's Accept list starts with
``application/vnd.kubernetes.protobuf`` (what istiod and client-go send), in JSON otherwise.
The objects are the codec tests' realistic pod (``tests/unit/codec/codec_samples.make_pod``:
45 env vars, managedFields; 6.3 KB as JSON, 4.3 KB as protobuf), each event a distinct pod.

The client reads the whole stream with aiohttp in this process and counts events (newlines,
or protobuf length prefixes). For each path it reports events/s (events the client received /
wall time), bytes the client received, and the proxy process's CPU seconds per *upstream*
event (psutil ``cpu_times`` user+system before/after; 10 ms resolution, so about ±0.25 µs at
40,000 events), which is the cost that matters: every upstream event is read and decoded
whether or not it is forwarded.

Paths: ``direct``; ``discofilter`` (filtering, churn control off: the filter path alone);
``discofilter+coalesce`` (the default churn control for pods, 250 ms windows; every event here
is a distinct object, so this is its worst case: all held, none merged); ``kubectl proxy``
(pass-through reference, Go). The same proxy processes serve both content types. Per path:
events/s and bytes of the fastest of ``--runs`` runs, CPU per event the lowest of the runs
(the least disturbed by the other jobs on a shared machine); ``--json`` prints every run.
Minor page faults per upstream event (Linux ``/proc``) show whether the allocator thresholds
hold. ``--compare base=/tmp/base`` also runs discofilter from another source tree (e.g. the
previous commit: ``git archive HEAD | tar -x -C /tmp/base``) in the same run, for A/B numbers.
HTTP chunking: see ``GO_BUFFER_BEFORE_CHUNKING``; docs/performance.md has the profile.

Rates (``--rates``). ``full``: the whole watch as fast as the socket takes it (the proxies'
per-event cost). A number R: the upstream *paces* the watch at R events/s, each event written
on its own as kube-apiserver does when its watch cache has nothing else queued (one ``Flush``
per event: one HTTP chunk per JSON event, the two Go chunks of a protobuf event in one socket
write), for ``--paced-seconds``; this exposes the per-read fixed costs (wake-ups, timers,
metrics, TLS records) that a quiet real cluster pays. Paced streams of all paths run at the same
time (one process each, so CPU is still per path), ``--runs`` rounds (per path the lowest
CPU); the content types one after the other.

TLS (``--tls on|both``): the upstream also serves HTTPS (a self-signed ECDSA P-256 certificate
the proxies verify), discofilter talks TLS to it and serves TLS to the client, as deployed in
front of istiod. ``kubectl proxy`` cannot serve TLS, so its TLS rows have TLS on the upstream hop
only: a reference that pays one TLS hop less than discofilter.

``--quick``: 10,000 events, 1 run, 5 s paced: the whole matrix in about 3-4 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil

ROOT = Path(__file__).resolve().parents[1]
NAMESPACES = 20
# How the upstream cuts the stream into HTTP chunks. "go" = what kube-apiserver's net/http
# does: a response is buffered in a 2,048-byte bufio.Writer (bufferBeforeChunkingSize) and a
# Write larger than the free space goes out as its own chunk, so a 6.4 KB JSON event (one Write)
# is one chunk, and a protobuf event (4-byte length Write, then the message Write) is two:
# the first 2,048 bytes, then the rest. A number N packs N events per chunk (the first version of
# this benchmark used 16: ~100 KB chunks, kinder to the proxies' per-chunk costs).
GO_BUFFER_BEFORE_CHUNKING = 2048
PROTOBUF = "application/vnd.kubernetes.protobuf"
JSON_CT = "application/json"
CONTENT_TYPES = {"json": JSON_CT, "protobuf": PROTOBUF}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pod_events(events: int, content_type: str) -> list[bytes]:
    """``events`` distinct ADDED pod events (seeded namespaces), encoded as ``content_type``."""
    sys.path.insert(0, str(ROOT / "tests" / "unit" / "codec"))
    from codec_samples import json_event, make_pod  # type: ignore[import-not-found]

    from discofilter.sim.k8sproto import encode_watch_frame

    rng = random.Random(1)
    out = []
    for i in range(events):
        pod = make_pod(f"ns-{rng.randrange(NAMESPACES)}", f"web-5d8f7c9b6d-{i:06d}", str(1000 + i))
        out.append(
            encode_watch_frame("ADDED", pod)
            if content_type == PROTOBUF
            else json_event("ADDED", pod)
        )
    return out


def go_pieces(frame: bytes, content_type: str) -> list[bytes]:
    """One event's HTTP chunk payloads as Go's net/http cuts them (GO_BUFFER_BEFORE_CHUNKING)."""
    if content_type == PROTOBUF and len(frame) > GO_BUFFER_BEFORE_CHUNKING:
        return [frame[:GO_BUFFER_BEFORE_CHUNKING], frame[GO_BUFFER_BEFORE_CHUNKING:]]
    return [frame]


def http_chunks(pieces: list[bytes]) -> bytes:
    return b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in pieces)


def chunked(frames: list[bytes], content_type: str, chunking: str) -> list[bytes]:
    """The watch body as HTTP/1.1 chunks (see GO_BUFFER_BEFORE_CHUNKING), plus the last chunk."""
    pieces: list[bytes] = []
    if chunking == "go":
        for f in frames:
            pieces += go_pieces(f, content_type)
    else:
        n = int(chunking)
        pieces = [b"".join(frames[i : i + n]) for i in range(0, len(frames), n)]
    out = [http_chunks([p]) for p in pieces]
    # Written in ~1 MiB groups: one socket write per group, not per chunk.
    groups = [b"".join(out[i : i + 128]) for i in range(0, len(out), 128)]
    return [*groups, b"0\r\n\r\n"]


# --- the upstream (its own process: `python micro_proxy.py --serve-upstream SPEC_JSON`) -------


def serve_upstream(spec: dict[str, Any]) -> None:
    """``spec``: port, tls_port (0 = none), cert, key, events, paced_max, enrolled, ctypes,
    chunking. A watch with ``pace=R&n=N`` in its query streams N events at R per second."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    ctypes = spec["ctypes"]
    mesh = {f"ns-{i}" for i in range(NAMESPACES) if i < NAMESPACES * spec["enrolled"]}
    # Pre-encoded watch bodies as lists of chunks (one copy of the events in memory, ~250 MB of
    # JSON + ~170 MB of protobuf at 40,000 events), plus the first paced_max frames for paced
    # watches (each cut into its HTTP chunks when it is sent).
    frames = {ct: pod_events(max(spec["events"], spec["paced_max"]), ct) for ct in ctypes}
    bodies = {ct: chunked(frames[ct][: spec["events"]], ct, spec["chunking"]) for ct in ctypes}
    paced = {ct: frames[ct][: spec["paced_max"]] for ct in ctypes}
    del frames
    ns_items = [
        {"metadata": {"name": n, "labels": {"mesh": "on"} if n in mesh else {}}}
        for n in (f"ns-{i}" for i in range(NAMESPACES))
    ]
    docs = {
        "/api/v1/namespaces": {"kind": "NamespaceList", "apiVersion": "v1",
                               "metadata": {"resourceVersion": "1"}, "items": ns_items},
        "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1",
                    "resources": [
                        {"name": "pods", "namespaced": True, "kind": "Pod"},
                        {"name": "namespaces", "namespaced": False, "kind": "Namespace"}]},
        "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
    }  # fmt: skip

    async def stream_paced(writer: asyncio.StreamWriter, ct: str, rate: float, n: int) -> None:
        # One write per event on the schedule t0 + i/rate (a late event goes at once: the
        # schedule does not drift), as kube-apiserver flushes each event of a quiet watch.
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for i, f in enumerate(paced[ct][:n]):
            delay = t0 + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            writer.write(http_chunks(go_pieces(f, ct)))
        writer.write(b"0\r\n\r\n")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                target = head.split(b" ", 2)[1].decode()
                path, _, query = target.partition("?")
                params = dict(p.partition("=")[::2] for p in query.split("&"))
                accept = ""
                for line in head.split(b"\r\n")[1:]:
                    if line[:7].lower() == b"accept:":
                        accept = line[7:].decode().strip()
                if "watch" in params and path == "/api/v1/pods":
                    ct = PROTOBUF if accept.startswith(PROTOBUF) and PROTOBUF in bodies else JSON_CT
                    wire_ct = ct + ";stream=watch" if ct == PROTOBUF else ct
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: " + wire_ct.encode() + b"\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n"
                    )
                    if "pace" in params:
                        await stream_paced(writer, ct, float(params["pace"]), int(params["n"]))
                    else:
                        for chunk in bodies[ct]:
                            writer.write(chunk)
                            if writer.transport.get_write_buffer_size() > 1 << 22:
                                await writer.drain()
                    await writer.drain()
                    continue
                if "watch" in params:  # the proxy's namespace watch: stay quiet and open
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n"
                    )
                    await writer.drain()
                    await reader.read()  # until the peer closes
                    return
                doc = docs.get(path, {"kind": "Status", "code": 404})
                body = json.dumps(doc).encode()
                status = b"200 OK" if path in docs else b"404 Not Found"
                writer.write(
                    b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        servers = [await asyncio.start_server(handle, "127.0.0.1", spec["port"], backlog=128)]
        if spec["tls_port"]:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(spec["cert"], spec["key"])
            servers.append(
                await asyncio.start_server(
                    handle, "127.0.0.1", spec["tls_port"], backlog=128, ssl=ctx
                )
            )
        print("ready", flush=True)
        await asyncio.gather(*(s.serve_forever() for s in servers))

    asyncio.run(main())


# --- the driver --------------------------------------------------------------------------------


@dataclass
class Target:
    """One path under test: where the client connects, and the process whose CPU is counted."""

    name: str
    url: str  # http(s)://127.0.0.1:PORT
    proc: psutil.Process | None
    tls: bool = False


@dataclass
class Tls:
    """The benchmark's self-signed certificate (one for every TLS listener) and client context."""

    cert: str
    key: str

    def client(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.cert)


def make_tls(tmp: Path) -> Tls:
    sys.path.insert(0, str(ROOT))
    from discofilter.server.tuning.tls import generate_self_signed

    cert, key = generate_self_signed(["127.0.0.1"])
    (tmp / "tls.crt").write_bytes(cert)
    (tmp / "tls.key").write_bytes(key)
    os.chmod(tmp / "tls.key", 0o600)
    return Tls(str(tmp / "tls.crt"), str(tmp / "tls.key"))


def _ssl_for(url: str, tls: Tls | None) -> ssl.SSLContext | bool:
    return tls.client() if url.startswith("https:") and tls is not None else True


async def wait_port(
    port_or_url: int | str, path: str = "/api/v1/namespaces", tls: Tls | None = None
) -> None:
    base = port_or_url if isinstance(port_or_url, str) else f"http://127.0.0.1:{port_or_url}"
    async with aiohttp.ClientSession() as s:
        for _ in range(600):
            try:
                async with s.get(base + path, ssl=_ssl_for(base, tls)) as r:
                    if r.status in (200, 404):
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{base} never answered")


def count_frames(pending: bytes, chunk: bytes) -> tuple[int, bytes]:
    """Complete protobuf watch frames in ``pending + chunk``, and the incomplete tail."""
    buf = pending + chunk if pending else chunk
    n = pos = 0
    end = len(buf)
    while end - pos >= 4:
        stop = pos + 4 + int.from_bytes(buf[pos : pos + 4], "big")
        if stop > end:
            break
        n += 1
        pos = stop
    return n, buf[pos:]


async def stream_once(
    port_or_url: int | str, content_type: str, query: str = "", tls: Tls | None = None
) -> tuple[int, int, float, str]:
    """(events, bytes, seconds, response content type) of one full watch through the port."""
    base = port_or_url if isinstance(port_or_url, str) else f"http://127.0.0.1:{port_or_url}"
    url = f"{base}/api/v1/pods?watch=1&resourceVersion=0{query}"
    # What client-go sends when a client asks for protobuf (istiod does by default).
    accept = f"{PROTOBUF}, {JSON_CT}" if content_type == PROTOBUF else JSON_CT
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout, read_bufsize=1 << 20) as s:
        t0 = time.perf_counter()
        n = nbytes = 0
        async with s.get(url, headers={"Accept": accept}, ssl=_ssl_for(base, tls)) as r:
            got = r.headers.get("Content-Type", "")
            if got.startswith(PROTOBUF):
                pending = b""
                async for chunk in r.content.iter_any():
                    k, pending = count_frames(pending, chunk)
                    n += k
                    nbytes += len(chunk)
            else:
                async for chunk in r.content.iter_any():
                    n += chunk.count(b"\n")
                    nbytes += len(chunk)
        return n, nbytes, time.perf_counter() - t0, got


def cpu_seconds(proc: psutil.Process) -> float:
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def minor_faults(proc: psutil.Process) -> int:
    """Minor page faults of the process so far (Linux /proc; 0 elsewhere)."""
    try:
        return int(Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[7])
    except (OSError, IndexError, ValueError):
        return 0


def _row(t: Target, content_type: str, rate: str, n: int, nbytes: int, secs: float) -> dict:
    return {
        "path": t.name, "content_type": content_type, "rate": rate, "tls": t.tls,
        "events_out": n, "bytes_out": nbytes, "seconds": round(secs, 3),
        "events_per_s": round(n / secs),
    }  # fmt: skip


async def measure(t: Target, content_type: str, events: int, runs: int, tls: Tls | None) -> dict:
    """The full-rate watch through ``t``, ``runs`` times: fastest run, lowest CPU per event."""
    fastest: dict = {}
    cpus: list[float] = []
    faults: list[float] = []
    proc = t.proc
    for _ in range(runs):
        c0 = cpu_seconds(proc) if proc else 0.0
        f0 = minor_faults(proc) if proc else 0
        n, nbytes, secs, got = await stream_once(t.url, content_type, tls=tls)
        c1 = cpu_seconds(proc) if proc else 0.0
        if proc:
            faults.append(round((minor_faults(proc) - f0) / events, 2))
        if not got.startswith(content_type):
            raise RuntimeError(f"{t.name}: asked for {content_type}, got {got!r}")
        cpus.append(round((c1 - c0) / events * 1e6, 2))
        row = _row(t, content_type, "full", n, nbytes, secs)
        row["upstream_events_per_s"] = round(events / secs)
        if not fastest or row["seconds"] < fastest["seconds"]:
            fastest = row
    fastest["cpu_us_per_upstream_event"] = min(cpus) if proc else None
    fastest["cpu_us_all_runs"] = cpus if proc else None
    fastest["minor_faults_per_upstream_event"] = min(faults) if proc else None
    return fastest


async def measure_paced(
    targets: list[Target], content_type: str, rate: int, events: int, tls: Tls | None
) -> list[dict]:
    """One paced watch (``rate`` events/s) through every target AT ONCE; CPU per process."""
    timed = [t for t in targets if t.proc is not None]
    c0 = [cpu_seconds(t.proc) for t in timed if t.proc]
    f0 = [minor_faults(t.proc) for t in timed if t.proc]
    got = await asyncio.gather(
        *(stream_once(t.url, content_type, f"&pace={rate}&n={events}", tls) for t in timed)
    )
    rows = []
    for t, before, faults, (n, nbytes, secs, ct) in zip(timed, c0, f0, got, strict=True):
        assert t.proc is not None
        if not ct.startswith(content_type):
            raise RuntimeError(f"{t.name}: asked for {content_type}, got {ct!r}")
        row = _row(t, content_type, str(rate), n, nbytes, secs)
        row["upstream_events_per_s"] = round(events / secs)
        # An overloaded machine makes the upstream fall behind its schedule; it then writes the
        # late events back to back, the proxies read several per wake-up, and the row no longer
        # measures the paced rate. Such rows are marked (and never preferred over on-pace ones).
        row["on_pace"] = events / secs >= 0.95 * rate
        cpu = (cpu_seconds(t.proc) - before) / events * 1e6
        row["cpu_us_per_upstream_event"] = round(cpu, 1)
        row["cpu_us_all_runs"] = [round(cpu, 1)]
        row["minor_faults_per_upstream_event"] = round((minor_faults(t.proc) - faults) / events, 2)
        rows.append(row)
    return rows


def keep_best(best: dict[str, dict], row: dict) -> None:
    """Per path the on-pace row with the lowest CPU (off-pace only when no run kept pace)."""
    old = best.get(row["path"])
    if old is not None:
        row["cpu_us_all_runs"] = old["cpu_us_all_runs"] + row["cpu_us_all_runs"]
        rank = (not row["on_pace"], row["cpu_us_per_upstream_event"])
        if (not old["on_pace"], old["cpu_us_per_upstream_event"]) <= rank:
            old["cpu_us_all_runs"] = row["cpu_us_all_runs"]
            return
    best[row["path"]] = row


def spawn(argv: list[str], **kw: Any) -> subprocess.Popen[bytes]:
    """Start a child (sync on purpose: a fork is quick, and the children outlive no run)."""
    return subprocess.Popen(argv, **kw)


def kubectl_binary() -> str | None:
    k = shutil.which("kubectl")
    return os.path.realpath(k) if k else None


def start_upstream(
    events: int,
    enrolled: float,
    ctypes: list[str],
    env: dict[str, str],
    chunking: str = "go",
    tls: Tls | None = None,
    paced_max: int = 0,
) -> tuple[subprocess.Popen[bytes], int, int]:
    """The upstream process: (process, plain port, TLS port or 0)."""
    port = free_port()
    tls_port = free_port() if tls is not None else 0
    spec = {
        "port": port, "tls_port": tls_port, "cert": tls.cert if tls else "",
        "key": tls.key if tls else "", "events": events, "paced_max": paced_max,
        "enrolled": enrolled, "ctypes": ctypes, "chunking": chunking,
    }  # fmt: skip
    up = spawn(
        [sys.executable, __file__, "--serve-upstream", json.dumps(spec)],
        stdout=subprocess.PIPE,
        env=env,
    )
    assert up.stdout is not None
    up.stdout.readline()
    return up, port, tls_port


def start_discofilter(
    upstream: int | str,
    churn: bool,
    tmp: Path,
    env: dict[str, str],
    extra: list[str] | None = None,
    tree: Path = ROOT,
    tls: Tls | None = None,
) -> tuple[subprocess.Popen[bytes], int]:
    """One ``discofilter serve`` from the source tree ``tree`` (another checkout for A/B runs).
    ``upstream``: a port (plain HTTP) or a URL; with ``tls`` it verifies an https upstream with
    the benchmark's certificate and serves TLS with it."""
    tmp.mkdir(exist_ok=True)
    env = {**env, "PYTHONPATH": str(tree)}
    up_url = upstream if isinstance(upstream, str) else f"http://127.0.0.1:{upstream}"
    tag = f"{'cc' if churn else 'nocc'}{'-tls' if tls else ''}"
    cfg = tmp / f"discofilter-{tag}.yaml"
    cfg.write_text(f"churnControl: {{enabled: {'true' if churn else 'false'}}}\n")
    port = free_port()
    log = (tmp / f"discofilter-{tag}.log").open("ab")  # the proxy's logs
    tls_args = (
        ["--ca-file", tls.cert, "--tls-cert-file", tls.cert, "--tls-key-file", tls.key]
        if tls is not None
        else []
    )
    p = spawn(
        [*(extra or []), sys.executable, "-m", "discofilter.server", "--listen",
         f"127.0.0.1:{port}", "--upstream", up_url, *tls_args,
         "--selector", "mesh=on", "--config", str(cfg)],
        env=env, cwd=tree, stderr=log,
    )  # fmt: skip
    log.close()
    return p, port


def start_kubectl(kubectl: str, up_url: str, tmp: Path, tls: Tls | None) -> tuple[Any, int]:
    """``kubectl proxy`` to ``up_url`` (it serves plain HTTP only, whatever the upstream)."""
    cluster: dict[str, Any] = {"server": up_url}
    if tls is not None:
        cluster["certificate-authority"] = tls.cert
    kc = tmp / f"kubeconfig{'-tls' if tls else ''}"
    kc.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "u",
        "clusters": [{"name": "u", "cluster": cluster}],
        # A token (the upstream ignores it): with https and no credentials kubectl prompts.
        "users": [{"name": "u", "user": {"token": "bench"} if tls else {}}],
        "contexts": [{"name": "u", "context": {"cluster": "u", "user": "u"}}],
    }))  # fmt: skip
    port = free_port()
    p = spawn(
        [kubectl, "proxy", f"--port={port}", f"--kubeconfig={kc}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return p, port


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in reversed(procs):
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
    procs.clear()


@dataclass
class Plan:
    events: int
    enrolled: float
    runs: int
    ctypes: list[str]
    chunking: str
    rates: list[str]  # "full" and/or events per second
    paced_seconds: float
    tls_modes: list[bool]
    compare: dict[str, Path] = field(default_factory=dict)

    @property
    def paced_max(self) -> int:
        return max([int(int(r) * self.paced_seconds) for r in self.rates if r != "full"] or [0])


async def start_targets(
    plan: Plan, up_url: str, tmp: Path, env: dict[str, str], tls: Tls | None, procs: list[Any]
) -> list[Target]:
    secure = tls is not None
    scheme = "https" if secure else "http"
    targets = [Target("direct", up_url, None, secure)]
    trees = [("", ROOT), *((f"@{k}", v) for k, v in plan.compare.items())]
    for label, tree in trees:
        for name, churn in (("discofilter", False), ("discofilter+coalesce", True)):
            p, port = start_discofilter(
                up_url, churn, tmp / (label.lstrip("@") or "head"), env, tree=tree, tls=tls
            )
            procs.append(p)
            url = f"{scheme}://127.0.0.1:{port}"
            await wait_port(url, "/api/v1/pods?limit=1", tls)
            targets.append(Target(name + label, url, psutil.Process(p.pid), secure))
    kubectl = kubectl_binary()
    if kubectl:
        p, port = start_kubectl(kubectl, up_url, tmp, tls)
        procs.append(p)
        await wait_port(port)
        targets.append(Target("kubectl proxy", f"http://127.0.0.1:{port}", psutil.Process(p.pid)))
        targets[-1].tls = secure
    return targets


async def run(plan: Plan) -> list[dict]:
    tmp = Path(tempfile.mkdtemp(prefix="micro-proxy-"))
    upstream: list[subprocess.Popen[bytes]] = []
    procs: list[subprocess.Popen[bytes]] = []
    rows: list[dict] = []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    tls = make_tls(tmp) if True in plan.tls_modes else None
    try:
        up, up_port, tls_port = start_upstream(
            plan.events, plan.enrolled, plan.ctypes, env, plan.chunking, tls, plan.paced_max
        )
        upstream.append(up)
        await wait_port(up_port)
        for secure in plan.tls_modes:
            mode_tls = tls if secure else None
            up_url = f"https://127.0.0.1:{tls_port}" if secure else f"http://127.0.0.1:{up_port}"
            targets = await start_targets(plan, up_url, tmp, env, mode_tls, procs)
            for rate in plan.rates:
                if rate == "full":
                    # Content types interleaved per path, so both see the same machine load.
                    for t in targets:
                        for ct in plan.ctypes:
                            rows.append(await measure(t, ct, plan.events, plan.runs, mode_tls))
                    continue
                n = int(int(rate) * plan.paced_seconds)
                for ct in plan.ctypes:
                    # --runs rounds, all paths at once in each; per path the lowest CPU.
                    best: dict[str, dict] = {}
                    for _ in range(plan.runs):
                        for row in await measure_paced(targets, ct, int(rate), n, mode_tls):
                            keep_best(best, row)
                    rows += best.values()
            stop(procs)
    finally:
        stop(procs)
        stop(upstream)
    return rows


def _short(ct: str) -> str:
    return "protobuf" if ct == PROTOBUF else "json"


def table(rows: list[dict]) -> str:
    out = [
        "| path | TLS | content type | rate | events out | MB out | events/s (client) "
        "| upstream events/s | proxy CPU µs / upstream event | page faults / upstream event |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cpu = r["cpu_us_per_upstream_event"]
        faults = r["minor_faults_per_upstream_event"]
        out.append(
            f"| {r['path']} | {'yes' if r['tls'] else 'no'} | {_short(r['content_type'])} | "
            f"{r['rate']} | {r['events_out']} | {r['bytes_out'] / 1e6:.1f} | "
            f"{r['events_per_s']:,} | {r['upstream_events_per_s']:,} | "
            f"{'—' if cpu is None else cpu} | {'—' if faults is None else faults} |"
        )
    return "\n".join(out)


def matrix(rows: list[dict]) -> str:
    """CPU µs per upstream event, path x (content type, rate), and the ratio to kubectl proxy
    of the same TLS mode, content type and rate: the issue's table with the low-rate columns."""
    cols = list(dict.fromkeys((r["content_type"], r["rate"]) for r in rows))
    ref = {
        (r["tls"], r["content_type"], r["rate"]): r["cpu_us_per_upstream_event"]
        for r in rows
        if r["path"] == "kubectl proxy"
    }
    out = []
    for secure in dict.fromkeys(r["tls"] for r in rows):
        head = " | ".join(f"{_short(ct)} {rate}" for ct, rate in cols)
        mode = "on" if secure else "off"
        title = f"TLS {mode}: proxy CPU µs per upstream event (x kubectl proxy)"
        out += ["", title, "", f"| path | {head} |", "|---" * (len(cols) + 1) + "|"]
        cells: dict[str, dict[tuple[str, str], str]] = {}
        for r in rows:
            if r["tls"] != secure or r["cpu_us_per_upstream_event"] is None:
                continue
            cpu = r["cpu_us_per_upstream_event"]
            k = ref.get((secure, r["content_type"], r["rate"]))
            ratio = f" ({cpu / k:.2f}x)" if k and r["path"] != "kubectl proxy" else ""
            late = "" if r.get("on_pace", True) else " (upstream behind its pace)"
            cells.setdefault(r["path"], {})[(r["content_type"], r["rate"])] = f"{cpu}{ratio}{late}"
        for path, c in cells.items():
            out.append(f"| {path} | " + " | ".join(c.get(col, "—") for col in cols) + " |")
    return "\n".join(out)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-upstream":
        serve_upstream(json.loads(sys.argv[2]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--content-type", choices=("json", "protobuf", "both"), default="both")
    ap.add_argument("--events", type=int, default=None, help="full-rate events (40,000)")
    ap.add_argument(
        "--chunking", default="go", help='"go" (as kube-apiserver) or N events per HTTP chunk'
    )
    ap.add_argument("--enrolled", type=float, default=0.5)
    ap.add_argument("--runs", type=int, default=None, help="full-rate runs per path (3)")
    ap.add_argument("--rates", default="full", help='comma-separated: "full" and/or events/s')
    ap.add_argument("--paced-seconds", type=float, default=None, help="per paced stream (10)")
    ap.add_argument("--tls", choices=("off", "on", "both"), default="off")
    ap.add_argument("--quick", action="store_true", help="10,000 events, 1 run, 5 s paced")
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="LABEL=TREE",
        help="also run discofilter (with and without churn control) from another source tree, "
        "e.g. "
        "base=/tmp/base after `git archive HEAD | tar -x -C /tmp/base` (A/B in one run)",
    )
    args = ap.parse_args()
    names = ["json", "protobuf"] if args.content_type == "both" else [args.content_type]
    quick = args.quick

    def pick(value: Any, normal: Any, fast: Any) -> Any:
        return value if value is not None else (fast if quick else normal)

    plan = Plan(
        events=pick(args.events, 40000, 10000),
        enrolled=args.enrolled,
        runs=pick(args.runs, 3, 1),
        ctypes=[CONTENT_TYPES[n] for n in names],
        chunking=args.chunking,
        rates=[r.strip() for r in args.rates.split(",") if r.strip()],
        paced_seconds=pick(args.paced_seconds, 10.0, 5.0),
        tls_modes={"off": [False], "on": [True], "both": [False, True]}[args.tls],
        compare={k: Path(v) for k, _, v in (c.partition("=") for c in args.compare)},
    )
    load0 = os.getloadavg()[0]
    rows = asyncio.run(run(plan))
    if args.json:
        print(json.dumps(rows, indent=2))
    print(table(rows))
    print(matrix(rows))
    print(f"\n{plan.events} upstream pod events per full-rate path and content type "
          f"({plan.runs} runs), paced rates {plan.paced_seconds:g} s each, "
          f"{plan.enrolled:.0%} enrolled, HTTP chunking {plan.chunking}; "
          f"{platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, load {load0:.1f} at start, "
          f"{os.getloadavg()[0]:.1f} at end")  # fmt: skip


if __name__ == "__main__":
    main()
