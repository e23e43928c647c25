"""The harness end to end on the smoke scenario: every mode, both clients, one churn run.

Checks what results.json says about correctness and which files were written — never timings.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest

from discofilter.cli import main

REPO = Path(__file__).resolve().parents[3]
SMOKE = REPO / "bench" / "scenarios" / "smoke.yaml"

pytestmark = pytest.mark.timeout(120)


def test_smoke_every_mode_both_clients(tmp_path: Path) -> None:
    out = tmp_path / "out"
    rc = main(
        [
            "bench",
            "--scenario",
            str(SMOKE),
            "--out",
            str(out),
            "--duration",
            "3",
            "--clients",
            "python,official",
        ]
    )
    doc = orjson.loads((out / "results.json").read_bytes())
    assert rc == 0, doc
    assert doc["schema_version"] == 1
    assert set(doc["modes"]) == {"direct", "discofilter", "discofilter-nocc", "kubectl-proxy"}
    if shutil.which("kubectl") is None:
        assert doc["modes"]["kubectl-proxy"]["status"] == "skipped"
        assert doc["modes"]["kubectl-proxy"]["reason"]
    assert doc["final_state_matches"] is True
    up = doc["upstream"]
    assert up["events"] > 0 and up["enrolled_namespaces"] >= 5
    for name, mode in doc["modes"].items():
        if mode["status"] != "ok":
            continue
        assert set(mode["clients"]) == {"python", "official"}, name
        for client in mode["clients"].values():
            assert client["final_state_matches"] is True
            for kind, k in client["kinds"].items():
                assert k["final_state_matches"] is True, (name, kind, k["state_diff"])
                assert k["state_diff"]["expected_objects"] > 0
        if name != "direct":
            proxy = mode["proxy"]
            assert proxy["cpu_s"] >= 0 and proxy["peak_rss_mb"] > 0
            if mode["filtered"]:  # read from discofilter's admin /metrics
                assert proxy["slow_client_closures"] == 0
    # Filtering delivers strictly fewer events than the upstream sent (half the namespaces and
    # most of the churn are outside the mesh); pass-through delivers the same events.
    assert doc["modes"]["discofilter"]["clients"]["python"]["events"] < up["events"]
    assert doc["modes"]["discofilter-nocc"]["clients"]["python"]["events"] < up["events"]
    assert doc["modes"]["direct"]["clients"]["python"]["events"] == up["events"]
    for name in ("table.txt", "rate.png", "latency_cdf.png"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "rate.png").read_bytes()[:4] == b"\x89PNG"
    assert "discofilter-nocc" in (out / "table.txt").read_text()


def test_non_mesh_share_override_is_recorded(tmp_path: Path) -> None:
    out = tmp_path / "out"
    rc = main(
        [
            "bench",
            "--scenario",
            str(SMOKE),
            "--out",
            str(out),
            "--duration",
            "2",
            "--modes",
            "discofilter",
            "--non-mesh-share",
            "0.95",
        ]
    )
    doc = orjson.loads((out / "results.json").read_bytes())
    assert rc == 0
    assert set(doc["modes"]) == {"direct", "discofilter"}  # direct is always the reference
    assert doc["scenario"]["non_mesh_share"] == pytest.approx(0.95, abs=0.01)
    assert doc["modes"]["discofilter"]["final_state_matches"] is True
