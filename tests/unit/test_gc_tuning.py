"""``tune_gc`` (serve's start-up GC settings): run in a child so this process's GC is untouched."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import gc
from discofilter.server.tuning.gc import GEN0_THRESHOLD, tune_gc
before = gc.get_threshold()
alive = [[] for _ in range(100)]  # container objects alive at start-up: frozen, not scanned
tune_gc()
after = gc.get_threshold()
assert after == (GEN0_THRESHOLD, before[1], before[2]), (before, after)
assert gc.get_freeze_count() >= 100, gc.get_freeze_count()
a = []; a.append(a); del a  # cycles are still collected
assert gc.collect() >= 1
print("ok")
"""


def test_tune_gc_freezes_start_up_objects_and_raises_gen0_threshold() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
