"""The upstream of a run: the emulator in a child process (default) or a real cluster.

``EmulatorUpstream`` starts ``python -m discofilter.harness.emulator_proc`` and talks to it over
stdin/stdout (one JSON object per line), so the emulator's CPU is not the harness's and the
churn starts only when every client is synced. ``ClusterUpstream`` points at a kubeconfig's
server and drives churn through the API (``cluster_churn``), the way kube-burner does.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import orjson

from discofilter.harness.processes import Child, python_module_argv, spawn

# Emulator bookmark interval for benchmark runs: 1 s (kube-apiserver: ~1 min). Clients behind a
# filtering proxy learn the final resourceVersion from a bookmark when the last events were in
# non-enrolled namespaces; 1 s bounds the catch-up wait without adding measurable traffic.
BENCH_BOOKMARK_INTERVAL_S = 1.0


class EmulatorUpstream:
    kind = "emulator"

    def __init__(self, child: Child, hello: dict[str, Any]) -> None:
        self.child = child
        self.hello = hello
        self.url: str = hello["url"]
        self.headers: dict[str, str] = {}
        self.ssl: Any = None
        self.churn_counts: dict[str, Any] = {}

    @classmethod
    async def start(
        cls,
        scenario: Path,
        *,
        seed: int = 1,
        non_mesh_share: float | None = None,
        bookmark_interval_s: float = BENCH_BOOKMARK_INTERVAL_S,
        timeout_s: float = 120.0,
    ) -> EmulatorUpstream:
        args = ["--scenario", str(scenario), "--seed", str(seed)]
        args += ["--bookmark-interval", str(bookmark_interval_s)]
        if non_mesh_share is not None:
            args += ["--non-mesh-share", str(non_mesh_share)]
        child = await spawn(
            "emulator",
            python_module_argv("discofilter.harness.emulator_proc", *args),
            stdin=True,
            stdout=True,
        )
        hello = await cls._read(child, timeout_s)
        if "error" in hello:
            await child.stop()
            raise RuntimeError(f"emulator: {hello['error']}")
        return cls(child, hello)

    @staticmethod
    async def _read(child: Child, timeout_s: float) -> dict[str, Any]:
        assert child.proc.stdout is not None
        try:
            line = await asyncio.wait_for(child.proc.stdout.readline(), timeout_s)
        except TimeoutError:
            line = b""
        if not line:
            await asyncio.sleep(0.1)  # let the stderr reader collect the traceback
            raise RuntimeError("emulator exited: " + "\n".join(child.stderr_tail[-15:]))
        msg: dict[str, Any] = orjson.loads(line)
        return msg

    async def churn(self, duration_s: float) -> int:
        proc = self.child.proc
        assert proc.stdin is not None
        proc.stdin.write(orjson.dumps({"churn": duration_s}) + b"\n")
        await proc.stdin.drain()
        # Churn ends on its own; the extra minute covers a slow 2-core machine's populate lag.
        msg = await self._read(self.child, duration_s + 60.0)
        if "error" in msg:
            raise RuntimeError(f"emulator churn failed: {msg['error']}")
        self.churn_counts = msg.get("counts", {})
        return int(msg["resource_version"])

    async def request_stop(self) -> None:
        """End the churn early (the demo's Ctrl-C); ``churn`` then returns as usual."""
        proc = self.child.proc
        if proc.stdin is not None and proc.returncode is None:
            proc.stdin.write(b'{"stop": true}\n')
            await proc.stdin.drain()

    async def stop(self) -> None:
        proc = self.child.proc
        if proc.stdin is not None and proc.returncode is None:
            try:
                proc.stdin.close()
            except (ConnectionError, RuntimeError):
                pass
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            pass
        await self.child.stop()


class ClusterUpstream:
    """A real cluster from a kubeconfig; churn via the API (``cluster_churn.ClusterChurn``)."""

    kind = "cluster"

    def __init__(self, api: Any, churner: Any) -> None:
        self.api = api
        self.churner = churner
        cfg = api.configuration
        self.url: str = str(cfg.host).rstrip("/")
        self.headers = _auth_headers(cfg)
        self.ssl: Any = _ssl_context(cfg) if self.url.startswith("https") else None
        self.churn_counts: dict[str, Any] = {}

    async def churn(self, duration_s: float) -> int:
        self.churn_counts = dict(await self.churner.run(duration_s))
        return int(await self.churner.current_resource_version())

    async def stop(self) -> None:
        await self.churner.cleanup()
        await self.api.close()


def _auth_headers(cfg: Any) -> dict[str, str]:
    key = (cfg.api_key or {}).get("BearerToken") or (cfg.api_key or {}).get("authorization")
    if not key:
        return {}
    prefix = (cfg.api_key_prefix or {}).get("BearerToken") or ""
    return {"Authorization": f"{prefix} {key}".strip() if prefix else str(key)}


def _ssl_context(cfg: Any) -> ssl.SSLContext | bool:
    if not cfg.verify_ssl:
        return False
    ctx = ssl.create_default_context(cafile=cfg.ssl_ca_cert or None)
    if cfg.cert_file:
        ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
    return ctx
