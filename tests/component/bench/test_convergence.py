"""Contract 3 through the harness: enrollment changes converge for every watched kind.

relabel-quiet-kinds enrolls three namespaces whose EndpointSlices never change afterwards. The
pods watch converges (410, relist); the endpointslices watch must too, although no EndpointSlice
event from those namespaces ever crosses the proxy: a stream that resumed from its client's LIST
ends with 410 when a namespace created before that LIST joins (server/streams/registry.py).
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from discofilter.cli import main

REPO = Path(__file__).resolve().parents[3]
SCENARIO = REPO / "bench" / "scenarios" / "relabel-quiet-kinds.yaml"

pytestmark = pytest.mark.timeout(120)


def test_quiet_kinds_converge_after_enrollment(tmp_path: Path) -> None:
    out = tmp_path / "out"
    main(["bench", "--scenario", str(SCENARIO), "--out", str(out), "--duration", "5",
          "--modes", "discofilter-nocc", "--catch-up-timeout", "8"])  # fmt: skip
    doc = orjson.loads((out / "results.json").read_bytes())
    kinds = doc["modes"]["discofilter-nocc"]["clients"]["python"]["kinds"]
    assert kinds["pods"]["final_state_matches"] is True
    assert kinds["endpointslices"]["final_state_matches"] is True, kinds["endpointslices"]
