"""Micro-benchmark: one cluster-wide pod watch of ~6.4 KB events, direct vs discofilter vs
``kubectl proxy``, JSON and protobuf, in ONE run (same machine, same moment, same objects).

    python bench/micro_proxy.py [--content-type json|protobuf|both] [--events 40000]
                                [--chunking go|N] [--enrolled 0.5] [--runs 3] [--json]
                                [--compare LABEL=TREE ...]

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
import subprocess
import sys
import tempfile
import time
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


def chunked(frames: list[bytes], content_type: str, chunking: str) -> list[bytes]:
    """The watch body as HTTP/1.1 chunks (see GO_BUFFER_BEFORE_CHUNKING), plus the last chunk."""
    pieces: list[bytes] = []
    if chunking == "go":
        for f in frames:
            if content_type == PROTOBUF and len(f) > GO_BUFFER_BEFORE_CHUNKING:
                pieces += (f[:GO_BUFFER_BEFORE_CHUNKING], f[GO_BUFFER_BEFORE_CHUNKING:])
            else:
                pieces.append(f)
    else:
        n = int(chunking)
        pieces = [b"".join(frames[i : i + n]) for i in range(0, len(frames), n)]
    out = [b"%x\r\n" % len(p) + p + b"\r\n" for p in pieces]
    # Written in ~1 MiB groups: one socket write per group, not per chunk.
    groups = [b"".join(out[i : i + 128]) for i in range(0, len(out), 128)]
    return [*groups, b"0\r\n\r\n"]


# --- the upstream (runs in its own process: `python micro_proxy.py --serve-upstream PORT N F C`) -


def serve_upstream(
    port: int, events: int, enrolled: float, ctypes: list[str], chunking: str
) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    mesh = {f"ns-{i}" for i in range(NAMESPACES) if i < NAMESPACES * enrolled}
    # Pre-encoded watch bodies as lists of chunks (one copy of the events in memory, ~250 MB of
    # JSON + ~170 MB of protobuf at 40,000 events).
    bodies = {ct: chunked(pod_events(events, ct), ct, chunking) for ct in ctypes}
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

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                target = head.split(b" ", 2)[1].decode()
                path, _, query = target.partition("?")
                accept = ""
                for line in head.split(b"\r\n")[1:]:
                    if line[:7].lower() == b"accept:":
                        accept = line[7:].decode().strip()
                if "watch" in query and path == "/api/v1/pods":
                    ct = PROTOBUF if accept.startswith(PROTOBUF) and PROTOBUF in bodies else JSON_CT
                    wire_ct = ct + ";stream=watch" if ct == PROTOBUF else ct
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: " + wire_ct.encode() + b"\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n"
                    )
                    for chunk in bodies[ct]:
                        writer.write(chunk)
                        if writer.transport.get_write_buffer_size() > 1 << 22:
                            await writer.drain()
                    await writer.drain()
                    continue
                if "watch" in query:  # the proxy's namespace watch: stay quiet and open
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
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=128)
        print("ready", flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# --- the driver --------------------------------------------------------------------------------


async def wait_port(port: int, path: str = "/api/v1/namespaces") -> None:
    async with aiohttp.ClientSession() as s:
        for _ in range(600):
            try:
                async with s.get(f"http://127.0.0.1:{port}{path}") as r:
                    if r.status in (200, 404):
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"port {port} never answered")


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


async def stream_once(port: int, content_type: str) -> tuple[int, int, float, str]:
    """(events, bytes, seconds, response content type) of one full watch through the port."""
    url = f"http://127.0.0.1:{port}/api/v1/pods?watch=1&resourceVersion=0"
    # What client-go sends when a client asks for protobuf (istiod does by default).
    accept = f"{PROTOBUF}, {JSON_CT}" if content_type == PROTOBUF else JSON_CT
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout, read_bufsize=1 << 20) as s:
        t0 = time.perf_counter()
        n = nbytes = 0
        async with s.get(url, headers={"Accept": accept}) as r:
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


async def measure(
    name: str, port: int, proc: psutil.Process | None, content_type: str, events: int, runs: int
) -> dict:
    fastest: dict = {}
    cpus: list[float] = []
    faults: list[float] = []
    for _ in range(runs):
        c0 = cpu_seconds(proc) if proc else 0.0
        f0 = minor_faults(proc) if proc else 0
        n, nbytes, secs, got = await stream_once(port, content_type)
        c1 = cpu_seconds(proc) if proc else 0.0
        if proc:
            faults.append(round((minor_faults(proc) - f0) / events, 2))
        if not got.startswith(content_type):
            raise RuntimeError(f"{name}: asked for {content_type}, got {got!r}")
        cpus.append(round((c1 - c0) / events * 1e6, 2))
        row = {
            "path": name, "content_type": content_type, "events_out": n, "bytes_out": nbytes,
            "seconds": round(secs, 3), "events_per_s": round(n / secs),
            "upstream_events_per_s": round(events / secs),
        }  # fmt: skip
        if not fastest or row["seconds"] < fastest["seconds"]:
            fastest = row
    fastest["cpu_us_per_upstream_event"] = min(cpus) if proc else None
    fastest["cpu_us_all_runs"] = cpus if proc else None
    fastest["minor_faults_per_upstream_event"] = min(faults) if proc else None
    return fastest


def spawn(argv: list[str], **kw: Any) -> subprocess.Popen[bytes]:
    """Start a child (sync on purpose: a fork is quick, and the children outlive no run)."""
    return subprocess.Popen(argv, **kw)


def kubectl_binary() -> str | None:
    k = shutil.which("kubectl")
    return os.path.realpath(k) if k else None


def start_upstream(
    events: int, enrolled: float, ctypes: list[str], env: dict[str, str], chunking: str = "go"
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    up = spawn(
        [sys.executable, __file__, "--serve-upstream", str(port), str(events), str(enrolled),
         ",".join(ctypes), chunking],
        stdout=subprocess.PIPE, env=env,
    )  # fmt: skip
    assert up.stdout is not None
    up.stdout.readline()
    return up, port


def start_discofilter(
    up_port: int,
    churn: bool,
    tmp: Path,
    env: dict[str, str],
    extra: list[str] | None = None,
    tree: Path = ROOT,
) -> tuple[subprocess.Popen[bytes], int]:
    """One ``discofilter serve`` from the source tree ``tree`` (another checkout for A/B runs)."""
    tmp.mkdir(exist_ok=True)
    env = {**env, "PYTHONPATH": str(tree)}
    cfg = tmp / f"discofilter-{'cc' if churn else 'nocc'}.yaml"
    cfg.write_text(f"churnControl: {{enabled: {'true' if churn else 'false'}}}\n")
    port = free_port()
    log = (tmp / f"discofilter-{'cc' if churn else 'nocc'}.log").open("ab")  # the proxy's logs
    p = spawn(
        [*(extra or []), sys.executable, "-m", "discofilter.server", "--listen",
         f"127.0.0.1:{port}", "--upstream", f"http://127.0.0.1:{up_port}",
         "--selector", "mesh=on", "--config", str(cfg)],
        env=env, cwd=tree, stderr=log,
    )  # fmt: skip
    log.close()
    return p, port


async def run(
    events: int,
    enrolled: float,
    runs: int,
    ctypes: list[str],
    chunking: str,
    compare: dict[str, Path] | None = None,
) -> list[dict]:
    tmp = Path(tempfile.mkdtemp(prefix="micro-proxy-"))
    procs: list[subprocess.Popen[bytes]] = []
    rows: list[dict] = []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        up, up_port = start_upstream(events, enrolled, ctypes, env, chunking)
        procs.append(up)
        await wait_port(up_port)
        paths: list[tuple[str, int, psutil.Process | None]] = [("direct", up_port, None)]
        for name, churn in (("discofilter", False), ("discofilter+coalesce", True)):
            p, port = start_discofilter(up_port, churn, tmp, env)
            procs.append(p)
            await wait_port(port, "/api/v1/pods?limit=1")
            paths.append((name, port, psutil.Process(p.pid)))
        for label, tree in (compare or {}).items():
            for suffix, churn in (("", False), ("+coalesce", True)):
                p, port = start_discofilter(up_port, churn, tmp / label, env, tree=tree)
                procs.append(p)
                await wait_port(port, "/api/v1/pods?limit=1")
                paths.append((f"discofilter{suffix}@{label}", port, psutil.Process(p.pid)))
        kubectl = kubectl_binary()
        if kubectl:
            kc = tmp / "kubeconfig"
            kc.write_text(json.dumps({
                "apiVersion": "v1", "kind": "Config", "current-context": "u",
                "clusters": [{"name": "u", "cluster": {"server": f"http://127.0.0.1:{up_port}"}}],
                "users": [{"name": "u", "user": {}}],
                "contexts": [{"name": "u", "context": {"cluster": "u", "user": "u"}}],
            }))  # fmt: skip
            port = free_port()
            p = spawn(
                [kubectl, "proxy", f"--port={port}", f"--kubeconfig={kc}"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            procs.append(p)
            await wait_port(port)
            paths.append(("kubectl proxy", port, psutil.Process(p.pid)))
        # Content types interleaved per path, so both see the same machine load.
        for name, port, proc in paths:
            for ct in ctypes:
                rows.append(await measure(name, port, proc, ct, events, runs))
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
    return rows


def table(rows: list[dict]) -> str:
    out = [
        "| path | content type | events out | MB out | events/s (client) | upstream events/s "
        "| proxy CPU µs / upstream event | page faults / upstream event |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cpu = r["cpu_us_per_upstream_event"]
        faults = r["minor_faults_per_upstream_event"]
        short = "protobuf" if r["content_type"] == PROTOBUF else "json"
        out.append(
            f"| {r['path']} | {short} | {r['events_out']} | {r['bytes_out'] / 1e6:.1f} | "
            f"{r['events_per_s']:,} | {r['upstream_events_per_s']:,} | "
            f"{'—' if cpu is None else cpu} | {'—' if faults is None else faults} |"
        )
    return "\n".join(out)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-upstream":
        a = sys.argv
        serve_upstream(int(a[2]), int(a[3]), float(a[4]), a[5].split(","), a[6])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--content-type", choices=("json", "protobuf", "both"), default="both")
    ap.add_argument("--events", type=int, default=40000)
    ap.add_argument(
        "--chunking", default="go", help='"go" (as kube-apiserver) or N events per HTTP chunk'
    )
    ap.add_argument("--enrolled", type=float, default=0.5)
    ap.add_argument("--runs", type=int, default=3)
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
    ctypes = [CONTENT_TYPES[n] for n in names]
    compare = {k: Path(v) for k, _, v in (c.partition("=") for c in args.compare)}
    rows = asyncio.run(run(args.events, args.enrolled, args.runs, ctypes, args.chunking, compare))
    if args.json:
        print(json.dumps(rows, indent=2))
    print(table(rows))
    print(f"\n{args.events} upstream pod events per path and content type, "
          f"{args.enrolled:.0%} enrolled, HTTP chunking {args.chunking}, {args.runs} runs; "
          f"{platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
