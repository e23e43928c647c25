"""``kubectl discofilter``: the real kubectl finds the ``kubectl-discofilter`` executable on
PATH and runs it — ``plugin list``, ``explain`` against the emulator, ``status`` of a running
discofilter."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tomllib
from pathlib import Path

import pytest

from discofilter.sim.server import Simulator
from tests.component.reload.test_reload_cli import _fill, _serve, _stop, _until

pytestmark = pytest.mark.timeout(120)  # kubectl + three Python start-ups on a loaded box
REPO = Path(__file__).resolve().parents[3]
KUBECTL = shutil.which("kubectl")


def test_the_package_installs_the_plugin_executable() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["kubectl-discofilter"] == "discofilter.kubectl_plugin:main"


def _plugin_dir(tmp_path: Path) -> dict[str, str]:
    """PATH with a ``kubectl-discofilter`` that runs this checkout (what pip installs)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "kubectl-discofilter"
    exe.write_text(f"#!{sys.executable}\nfrom discofilter.kubectl_plugin import main\n"
                   "raise SystemExit(main())\n")  # fmt: skip
    exe.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": str(REPO)}  # fmt: skip


async def _kubectl(env: dict[str, str], *argv: str) -> tuple[int, str, str]:
    assert KUBECTL
    proc = await asyncio.create_subprocess_exec(
        KUBECTL, *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 45)
    return int(proc.returncode or 0), out.decode(), err.decode()


@pytest.mark.skipif(KUBECTL is None, reason="no kubectl on PATH")
async def test_kubectl_runs_the_plugin(tmp_path: Path) -> None:
    env = _plugin_dir(tmp_path)
    rc, out, err = await _kubectl(env, "plugin", "list")
    assert "kubectl-discofilter" in out, (out, err)
    rc, out, _ = await _kubectl(env, "discofilter", "--help")
    assert rc == 0 and "remote-secret" in out
    config = tmp_path / "discofilter.yaml"
    config.write_text("discoverySelectors:\n- matchLabels: {istio-injection: enabled}\n")
    async with Simulator() as sim:
        _fill(sim)
        rc, out, err = await _kubectl(
            env, "discofilter", "explain", "--upstream", sim.url, "--sample", "0", "-o", "json"
        )
        assert rc == 0, err
        assert json.loads(out)["kind"] == "SelectorExplanation"
        proc, _, admin = await _serve(sim, config)
        try:
            await _until(f"{admin}/debug/enrollment", lambda d: d["synced"])
            rc, out, err = await _kubectl(env, "discofilter", "status", "--admin", admin)
            assert rc == 0, err
            assert "selectors:  [istio-injection=enabled]" in out
            assert "source:     config" in out and "healthy:    yes" in out
        finally:
            assert await _stop(proc) == 0
