"""``discofilter serve`` as a process, from the shell, in front of the emulator.

Runs ``python -m discofilter.server`` (the serve subcommand alone), so the test does not depend
on the other subcommands being importable; flags are exactly those of ``discofilter serve``.
"""

from __future__ import annotations

import asyncio
import signal
import ssl
import sys
from pathlib import Path

import aiohttp
import pytest

from discofilter.harness.processes import free_port as _free_port
from discofilter.sim.server import Simulator

pytestmark = pytest.mark.timeout(60)
MESH = {"istio-injection": "enabled"}


async def _start(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "discofilter.server", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _get_when_up(url: str, ssl_ctx: ssl.SSLContext | None = None, **kw: object) -> object:
    async with asyncio.timeout(20), aiohttp.ClientSession() as s:
        while True:
            try:
                async with s.get(url, ssl=ssl_ctx if ssl_ctx else False, **kw) as r:  # type: ignore[arg-type]
                    if r.status == 200:
                        return await r.json()
            except aiohttp.ClientConnectorError:
                pass
            await asyncio.sleep(0.1)


async def _stop(proc: asyncio.subprocess.Process) -> int:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(proc.wait(), 10)


def _fill(sim: Simulator) -> None:
    for ns, labels in (("istio-system", {}), ("mesh-a", MESH), ("batch", {})):
        sim.store.create("namespaces", {"metadata": {"name": ns, "labels": labels}})
        sim.store.create("pods", {"metadata": {"name": "p", "namespace": ns}, "spec": {}}, ns)


async def test_serve_from_the_shell_filters() -> None:
    async with Simulator() as sim:
        _fill(sim)
        port = _free_port()
        proc = await _start(
            "--listen", f"127.0.0.1:{port}", "--upstream", sim.url,
            "--selector", "istio-injection=enabled",
        )  # fmt: skip
        try:
            doc = await _get_when_up(f"http://127.0.0.1:{port}/api/v1/pods")
            assert isinstance(doc, dict)
            assert sorted(i["metadata"]["namespace"] for i in doc["items"]) == [
                "istio-system", "mesh-a"
            ]  # fmt: skip
        finally:
            assert await _stop(proc) == 0


async def test_self_signed_tls_lets_credentials_flow(tmp_path: Path) -> None:
    async with Simulator() as sim:
        _fill(sim)
        port = _free_port()
        ca = tmp_path / "ca.crt"
        proc = await _start(
            "--listen", f"127.0.0.1:{port}", "--upstream", sim.url, "--self-signed-tls",
            "--self-signed-ca-out", str(ca), "--selector", "istio-injection=enabled",
        )  # fmt: skip
        try:
            async with asyncio.timeout(20):
                while not ca.exists():  # noqa: ASYNC110 - written by another process
                    await asyncio.sleep(0.05)
            ctx = ssl.create_default_context(cafile=str(ca))  # verification on
            doc = await _get_when_up(
                f"https://127.0.0.1:{port}/api/v1/pods", ctx,
                headers={"Authorization": "Bearer t"},
            )  # fmt: skip
            assert isinstance(doc, dict) and len(doc["items"]) == 2
        finally:
            assert await _stop(proc) == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--listen", "0.0.0.0:18999"], b"without TLS"),
        (["--listen", "127.0.0.1:1", "--selector", "a in ("], b"selector"),
        (["--listen", "0.0.0.0:18999", "--self-signed-tls", "--sidecar"], b"sidecar"),
    ],
)
async def test_refusals_exit_2_with_clear_error(args: list[str], needle: bytes) -> None:
    proc = await _start(*args, "--upstream", "http://127.0.0.1:9")
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2
    assert needle in err


async def test_print_config() -> None:
    proc = await _start("--print-config", "--selector", "a=b", "--upstream", "http://x:1")
    out, _ = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0
    assert b"selectors:\n- a=b" in out and b"url: http://x:1" in out


async def test_workers_share_the_port_and_admin_answers() -> None:
    async with Simulator() as sim:
        _fill(sim)
        port, admin = _free_port(), _free_port()
        proc = await _start(
            "--listen", f"127.0.0.1:{port}", "--upstream", sim.url, "--workers", "2",
            "--selector", "istio-injection=enabled", "--admin-listen", f"127.0.0.1:{admin}",
        )  # fmt: skip
        try:
            for _ in range(6):  # several connections: the kernel spreads them over workers
                doc = await _get_when_up(f"http://127.0.0.1:{port}/api/v1/pods")
                assert isinstance(doc, dict) and len(doc["items"]) == 2
            async with aiohttp.ClientSession() as s:
                async with asyncio.timeout(20):
                    while True:
                        try:
                            async with s.get(f"http://127.0.0.1:{admin}/readyz") as r:
                                if r.status == 200:
                                    break
                        except aiohttp.ClientConnectorError:
                            pass
                        await asyncio.sleep(0.1)
                async with s.get(f"http://127.0.0.1:{admin}/metrics") as r:
                    text = await r.text()
            assert "discofilter_namespaces" in text
        finally:
            assert await _stop(proc) == 0
