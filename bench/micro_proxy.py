"""Micro-benchmark: one cluster-wide pod watch of 6.5 KB events, direct vs discofilter vs
``kubectl proxy``, in ONE run (same machine, same moment, same bytes).

    python bench/micro_proxy.py [--events 40000] [--enrolled 0.5] [--runs 3]

The upstream is a minimal HTTP/1.1 server (its own process, uvloop) that answers the
discovery and namespace requests discofilter needs and streams a pre-encoded watch as fast as
the socket takes it, so the proxies, not the emulator, are the bottleneck. The client reads the
whole stream with aiohttp in this process. For each path it reports events/s (events the client
received / wall time) and the proxy process's CPU seconds per *upstream* event (psutil
``cpu_times`` user+system before/after), which is the cost that matters: every upstream event
is read and decoded whether or not it is forwarded.

Paths: ``direct``; ``discofilter`` (filtering, churn control off: the filter path alone);
``discofilter+coalesce`` (the default churn control for pods, 250 ms windows; every event here
is a distinct object, so this is its worst case: all held, none merged); ``kubectl proxy``
(pass-through reference, Go). Best of ``--runs`` per path.
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
EVENT_BYTES = 6500


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pod_event(i: int, ns: str) -> bytes:
    obj = {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": f"pod-{i}",
            "namespace": ns,
            "uid": f"00000000-0000-0000-0000-{i:012d}",
            "resourceVersion": str(1000 + i),
            "labels": {"app": "web", "pod-template-hash": "7d4b9c"},
            "annotations": {"pad": ""},
        },
        "spec": {"containers": [{"name": "c", "image": "registry/app:1.0"}]},
        "status": {"phase": "Running", "podIP": "10.0.0.1"},
    }
    line = json.dumps({"type": "ADDED", "object": obj}, separators=(",", ":")).encode()
    pad = max(0, EVENT_BYTES - len(line) - 1)
    obj["metadata"]["annotations"]["pad"] = "x" * pad  # type: ignore[index]
    return json.dumps({"type": "ADDED", "object": obj}, separators=(",", ":")).encode() + b"\n"


# --- the upstream (runs in its own process: `python micro_proxy.py --serve-upstream PORT N F`) --


def serve_upstream(port: int, events: int, enrolled: float) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    rng = random.Random(1)
    mesh = {f"ns-{i}" for i in range(NAMESPACES) if i < NAMESPACES * enrolled}
    lines = [pod_event(i, f"ns-{rng.randrange(NAMESPACES)}") for i in range(events)]
    # 16 events per HTTP chunk (~100 KB): about what kube-apiserver's 64-256 KiB writes give.
    chunks = []
    for i in range(0, len(lines), 16):
        body = b"".join(lines[i : i + 16])
        chunks.append(b"%x\r\n" % len(body) + body + b"\r\n")
    watch_body = b"".join(chunks) + b"0\r\n\r\n"
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
                if "watch" in query and path == "/api/v1/pods":
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n"
                    )
                    writer.write(watch_body)
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
        for _ in range(300):
            try:
                async with s.get(f"http://127.0.0.1:{port}{path}") as r:
                    if r.status in (200, 404):
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"port {port} never answered")


async def stream_once(port: int) -> tuple[int, int, float]:
    """(events, bytes, seconds) of one full watch through 127.0.0.1:port."""
    url = f"http://127.0.0.1:{port}/api/v1/pods?watch=1&resourceVersion=0"
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout, read_bufsize=1 << 20) as s:
        t0 = time.perf_counter()
        n = nbytes = 0
        async with s.get(url) as r:
            async for chunk in r.content.iter_any():
                n += chunk.count(b"\n")
                nbytes += len(chunk)
        return n, nbytes, time.perf_counter() - t0


def cpu_seconds(proc: psutil.Process) -> float:
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


async def measure(
    name: str, port: int, proc: psutil.Process | None, events: int, runs: int
) -> dict:
    best: dict = {}
    for _ in range(runs):
        c0 = cpu_seconds(proc) if proc else 0.0
        n, nbytes, secs = await stream_once(port)
        c1 = cpu_seconds(proc) if proc else 0.0
        row = {
            "path": name, "events_out": n, "bytes_out": nbytes, "seconds": round(secs, 3),
            "events_per_s": round(n / secs), "upstream_events_per_s": round(events / secs),
            "cpu_us_per_upstream_event": round((c1 - c0) / events * 1e6, 2) if proc else None,
        }  # fmt: skip
        if not best or row["seconds"] < best["seconds"]:
            best = row
    return best


def spawn(argv: list[str], **kw: Any) -> subprocess.Popen[bytes]:
    """Start a child (sync on purpose: a fork is quick, and the children outlive no run)."""
    return subprocess.Popen(argv, **kw)


def kubectl_binary() -> str | None:
    k = shutil.which("kubectl")
    return os.path.realpath(k) if k else None


async def run(events: int, enrolled: float, runs: int) -> list[dict]:
    tmp = Path(tempfile.mkdtemp(prefix="micro-proxy-"))
    up_port = free_port()
    procs: list[subprocess.Popen[bytes]] = []
    rows: list[dict] = []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        up = spawn(
            [sys.executable, __file__, "--serve-upstream", str(up_port), str(events),
             str(enrolled)],
            stdout=subprocess.PIPE, env=env,
        )  # fmt: skip
        procs.append(up)
        assert up.stdout is not None
        up.stdout.readline()
        await wait_port(up_port)
        rows.append(await measure("direct", up_port, None, events, runs))

        for name, churn in (("discofilter", False), ("discofilter+coalesce", True)):
            cfg = tmp / f"{name}.yaml"
            cfg.write_text(f"churnControl: {{enabled: {'true' if churn else 'false'}}}\n")
            port = free_port()
            p = spawn(
                [sys.executable, "-m", "discofilter.server", "--listen", f"127.0.0.1:{port}",
                 "--upstream", f"http://127.0.0.1:{up_port}", "--selector", "mesh=on",
                 "--config", str(cfg)],
                env=env, cwd=ROOT,
            )  # fmt: skip
            procs.append(p)
            await wait_port(port, "/api/v1/pods?limit=1")
            rows.append(await measure(name, port, psutil.Process(p.pid), events, runs))

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
            rows.append(await measure("kubectl proxy", port, psutil.Process(p.pid), events, runs))
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
        "| path | events out | events/s (client) | upstream events/s "
        "| proxy CPU µs / upstream event |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        cpu = "—" if r["cpu_us_per_upstream_event"] is None else f"{r['cpu_us_per_upstream_event']}"
        out.append(
            f"| {r['path']} | {r['events_out']} | {r['events_per_s']:,} | "
            f"{r['upstream_events_per_s']:,} | {cpu} |"
        )
    return "\n".join(out)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-upstream":
        serve_upstream(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=40000)
    ap.add_argument("--enrolled", type=float, default=0.5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = asyncio.run(run(args.events, args.enrolled, args.runs))
    if args.json:
        print(json.dumps(rows, indent=2))
    print(table(rows))
    print(f"\n{args.events} upstream events of {EVENT_BYTES} B, {args.enrolled:.0%} enrolled, "
          f"best of {args.runs}; {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} CPUs")  # fmt: skip


if __name__ == "__main__":
    main()
