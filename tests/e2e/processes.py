"""Child processes of the e2e suite: the test cluster, the proxy, the emulator, the informer.

Every wait has a deadline (nothing here sleeps to wait for an event: it polls a condition with a
bound), every process is ended by its own pid, and each one's stderr goes to a log file whose
tail is put into the failure message.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

from discofilter.harness.processes import free_port as free_port  # the one helper, re-exported

REPO = Path(__file__).resolve().parents[2]

STOP_TIMEOUT = 15.0
"""Seconds a child gets after SIGTERM before SIGKILL (kube-apiserver drains in ~1-5 s)."""


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Child:
    """A subprocess with stdout as a pipe of JSON lines and stderr in a log file."""

    def __init__(
        self,
        argv: list[str],
        log: Path,
        *,
        stdin: bool = False,
        env: dict[str, str] | None = None,
        stdout_to_log: bool = False,
    ) -> None:
        self.argv = argv
        self.log = log
        self._log_file: IO[bytes] = log.open("wb")
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            # A child that logs to stdout (istiod) must not fill an unread 64 KiB pipe.
            stdout=self._log_file if stdout_to_log else subprocess.PIPE,
            stderr=self._log_file,
            cwd=REPO,
            env={**os.environ, **(env or {})},
        )
        self._buf = b""

    def read_json(self, timeout: float) -> dict[str, Any]:
        """The next JSON line on stdout, within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no line from {self.argv[0]} in {timeout}s\n{self.tail()}")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise RuntimeError(
                        f"{self.argv[0]} closed stdout (exit {self.proc.poll()})\n{self.tail()}"
                    )
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        doc: dict[str, Any] = json.loads(line)
        return doc

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def tail(self) -> str:
        return f"--- {self.log} ---\n{log_tail(self.log)}"

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
        self._log_file.close()
        return self.proc.returncode


def wait_http(url: str, timeout: float, child: Child) -> None:
    """Poll `url` until it answers 200 (any body) or the deadline passes."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise RuntimeError(f"{child.argv[:4]} exited {child.proc.returncode}\n{child.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError) as e:
            last = e
        time.sleep(0.1)  # polling a port for start-up: no event to await across processes
    raise TimeoutError(f"{url} not answering after {timeout}s ({last})\n{child.tail()}")


def python_module(*args: str) -> list[str]:
    return [sys.executable, "-m", "discofilter", *args]


def write_plain_kubeconfig(path: Path, server: str) -> Path:
    """A kubeconfig with no credentials (the proxy's sidecar mode lends its own identity)."""
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    return path
