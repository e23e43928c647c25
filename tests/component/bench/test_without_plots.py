"""The runtime install has no matplotlib (it is the ``bench`` extra): what ``discofilter bench``
does there. It says which extra to install before a long run starts, and ``--no-plots`` runs the
whole harness without importing matplotlib at all.

Each case runs in a child interpreter in which matplotlib cannot be found or imported, as in a
runtime-only install.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

REPO = Path(__file__).resolve().parents[3]
SMOKE = REPO / "bench" / "scenarios" / "smoke.yaml"

_NO_MATPLOTLIB = """
import sys

sys.modules["matplotlib"] = None  # what the import system reports for a module not installed
from discofilter.cli import main
rc = main(sys.argv[1:])
assert sys.modules["matplotlib"] is None
sys.exit(rc)
"""


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _NO_MATPLOTLIB, "bench", "--scenario", str(SMOKE), *args],
        capture_output=True,
        text=True,
        timeout=90,
    )


def test_bench_names_the_extra_before_running(tmp_path: Path) -> None:
    proc = _bench("--out", str(tmp_path / "out"))
    assert proc.returncode == 2, proc.stderr
    assert "pip install 'discofilter[bench]'" in proc.stderr and "--no-plots" in proc.stderr
    assert not (tmp_path / "out").exists()  # refused up front, nothing ran


@pytest.mark.timeout(90)
def test_no_plots_runs_the_harness_without_matplotlib(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _bench("--out", str(out), "--no-plots", "--modes", "direct", "--duration", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = orjson.loads((out / "results.json").read_bytes())
    assert doc["final_state_matches"] is True
    assert (out / "table.txt").exists()
    assert not list(out.glob("*.png"))
