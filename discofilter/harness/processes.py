"""Child processes of a run: the emulator, the proxies, ``kubectl proxy``; CPU and RSS sampling.

Every process under test runs in its own OS process so its CPU seconds are its own (psutil reads
them from /proc). Children get glibc's malloc thresholds pinned (DESIGN.md: without them a Python
proxy faulted its 64-128 KiB buffers in again and again, 2-3 µs per event).

Readiness is awaited, never slept for: a child prints a line (the emulator) or a URL answers
(proxies), polled at 50 ms with an overall timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psutil

CHILD_ENV = {"MALLOC_TRIM_THRESHOLD_": "1048576", "MALLOC_MMAP_THRESHOLD_": "1048576"}

# 0.25 s: four RSS samples a second catch a burst's peak without costing measurable CPU.
SAMPLE_INTERVAL_S = 0.25


def free_port(host: str = "127.0.0.1") -> int:
    """A port free right now (the child binds it a moment later; fine on a test machine)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(CHILD_ENV)
    # Make `python -m discofilter` importable from a source checkout without an install.
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if extra:
        env.update(extra)
    return env


@dataclass(slots=True)
class ResourceSample:
    """CPU seconds (user+system, children included) and peak RSS of one process tree."""

    cpu_s: float = 0.0
    peak_rss: int = 0
    samples: int = 0


@dataclass(slots=True)
class Child:
    """A started child process plus its resource sampler."""

    name: str
    proc: asyncio.subprocess.Process
    usage: ResourceSample = field(default_factory=ResourceSample)
    stderr_tail: list[str] = field(default_factory=list)
    _sampler: asyncio.Task[None] | None = None
    _stderr_task: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu_seconds(self) -> float:
        """CPU seconds so far of the process and its children; last sample after exit."""
        try:
            p = psutil.Process(self.pid)
            t = p.cpu_times()
            total = t.user + t.system
            for c in p.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    ct = c.cpu_times()
                    total += ct.user + ct.system
            self.usage.cpu_s = total
        except psutil.Error:
            pass
        return self.usage.cpu_s

    def _sample_rss(self) -> None:
        try:
            p = psutil.Process(self.pid)
            rss = p.memory_info().rss
            for c in p.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    rss += c.memory_info().rss
        except psutil.Error:
            return
        self.usage.peak_rss = max(self.usage.peak_rss, rss)
        self.usage.samples += 1

    async def _sample_loop(self) -> None:
        while self.proc.returncode is None:
            self._sample_rss()
            self.cpu_seconds()
            await asyncio.sleep(SAMPLE_INTERVAL_S)

    async def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        async for line in self.proc.stderr:
            self.stderr_tail.append(line.decode(errors="replace").rstrip())
            del self.stderr_tail[:-30]  # keep the last 30 lines for error reports

    def start_monitoring(self) -> None:
        self._sampler = asyncio.create_task(self._sample_loop())
        if self.proc.stderr is not None:
            self._stderr_task = asyncio.create_task(self._drain_stderr())

    async def stop(self, timeout_s: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout_s``; sampling stops after a last CPU reading."""
        if self.proc.returncode is None:
            self.cpu_seconds()
            self._sample_rss()
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), timeout_s)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()
        for t in (self._sampler, self._stderr_task):
            if t is not None:
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t


_isolate = False


def isolate_children(on: bool = True) -> None:
    """Start later children in their own session, out of reach of the terminal's Ctrl-C.

    The demo handles Ctrl-C itself (stop churn, catch up, summarise) and needs its emulator and
    proxy alive for that; the benchmark leaves this off so Ctrl-C stops every process at once.
    """
    global _isolate
    _isolate = on


async def spawn(name: str, argv: list[str], *, stdin: bool = False, stdout: bool = False) -> Child:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE if stdout else asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=child_env(),
        start_new_session=_isolate,
    )
    child = Child(name, proc)
    child.start_monitoring()
    return child


def python_module_argv(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


async def wait_http_ready(
    session: aiohttp.ClientSession, url: str, child: Child, timeout_s: float = 20.0
) -> None:
    """Poll ``url`` every 50 ms until it answers below 500; raise with the child's stderr if the
    child exits or the timeout passes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        if child.proc.returncode is not None:
            raise RuntimeError(
                f"{child.name} exited with {child.proc.returncode}: "
                + "\n".join(child.stderr_tail[-10:])
            )
        try:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as resp:
                await resp.read()
                if resp.status < 500:
                    return
        except (aiohttp.ClientError, OSError, TimeoutError):
            pass
        if loop.time() > deadline:
            raise RuntimeError(
                f"{child.name} not ready at {url} after {timeout_s:.0f} s: "
                + "\n".join(child.stderr_tail[-10:])
            )
        await asyncio.sleep(0.05)


def write_kubeconfig(path: Path, server: str, name: str = "bench") -> Path:
    """A kubeconfig with one cluster/user/context pointing at ``server`` (no credentials: the
    emulator needs none)."""
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: {name}\n  cluster:\n    server: {server}\n"
        f"users:\n- name: {name}\n  user: {{}}\n"
        f"contexts:\n- name: {name}\n  context:\n    cluster: {name}\n    user: {name}\n"
        f"current-context: {name}\n"
    )
    return path
