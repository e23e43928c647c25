"""`discofilter sim` as a user runs it: a shipped scenario, kubectl sees pods, churn, labels."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from discofilter.errors import ConfigError
from discofilter.harness.processes import free_port as _free_port
from discofilter.sim.command import parse_listen

from .conftest import kubectl_binary

ROOT = Path(__file__).resolve().parents[3]


def test_parse_listen() -> None:
    assert parse_listen("127.0.0.1:18080") == ("127.0.0.1", 18080)
    assert parse_listen("[::1]:80") == ("::1", 80)
    with pytest.raises(ConfigError):
        parse_listen("localhost")


@pytest.mark.kubectl
async def test_cli_serves_smoke_scenario_with_churn(tmp_path: Path) -> None:
    kubectl = kubectl_binary("1.33")
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "discofilter",
        "sim",
        "--listen",
        f"127.0.0.1:{port}",
        "--scenario",
        str(ROOT / "bench/scenarios/smoke.yaml"),
        "--duration",
        "20",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 15)
        assert f"127.0.0.1:{port}" in line.decode()
        server = ["--server", f"http://127.0.0.1:{port}"]

        async def kc(*args: str) -> str:
            p = await asyncio.create_subprocess_exec(
                kubectl,
                *server,
                *args,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            try:
                out, _ = await asyncio.wait_for(p.communicate(), 15)
            except TimeoutError:
                p.kill()
                out, _ = await p.communicate()
            return out.decode()

        pods = await kc("get", "pods", "-A", "--no-headers")
        assert len(pods.splitlines()) >= 60 and "mesh-00" in pods
        # a watch shows the churn: more events than the initial list within ~1.5 s
        p = await asyncio.create_subprocess_exec(
            kubectl,
            *server,
            "get",
            "pods",
            "-A",
            "-w",
            "--output-watch-events",
            "--no-headers",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert p.stdout is not None
        try:
            # the churn shows: a MODIFIED or DELETED line arrives after the initial ADDED ones
            while True:
                text = (await asyncio.wait_for(p.stdout.readline(), 10)).decode()
                assert text, "kubectl watch ended"
                if text.split()[0] in ("MODIFIED", "DELETED"):
                    break
        finally:
            p.kill()
            await p.communicate()
        # a label shows up in a namespace watch (-L prints the label as a column)
        w = await asyncio.create_subprocess_exec(
            kubectl,
            *server,
            "get",
            "ns",
            "batch-03",
            "-w",
            "--output-watch-events",
            "--no-headers",
            "-L",
            "istio-injection",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert w.stdout is not None
        try:
            first = (await asyncio.wait_for(w.stdout.readline(), 10)).decode().split()
            assert first[:2] == ["ADDED", "batch-03"]
            await kc("label", "ns", "batch-03", "istio-injection=enabled")
            while True:
                cols = (await asyncio.wait_for(w.stdout.readline(), 10)).decode().split()
                assert cols, "kubectl watch ended"
                if cols[0] == "MODIFIED" and cols[-1] == "enabled":
                    break
        finally:
            w.kill()
            await w.communicate()
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)
