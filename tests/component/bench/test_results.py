"""results.json schema, the terminal table, RESULTS.md appends and the PNG plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from discofilter.harness.outputs import write_outputs
from discofilter.harness.results import (
    RESULTS_HEADING,
    append_results_md,
    machine_info,
    render_table,
)


def _client(events: int, nbytes: int, ok: bool = True) -> dict[str, Any]:
    return {
        "events": events,
        "bytes": nbytes,
        "event_share": events / 1000,
        "byte_share": nbytes / 100_000,
        "latency": {"count": 3, "p50_ms": 1.0, "p90_ms": 2.0, "p99_ms": 3.0, "max_ms": 4.0},
        "kinds": {"pods": {"events": events, "final_state_matches": ok}},
        "final_state_matches": ok,
    }


def sample_results() -> dict[str, Any]:
    return {
        "schema_version": 1,
        "command": "discofilter bench --scenario smoke.yaml --out x",
        "started_at": "2026-11-25T22:00:00Z",
        "scenario": {"name": "smoke", "path": "smoke.yaml", "non_mesh_share": 0.8, "selectors": []},
        "machine": machine_info(),
        "upstream": {"kind": "emulator", "url": "http://x", "events": 1000, "bytes": 100_000},
        "churn_s": 5.0,
        "modes": {
            "direct": {
                "status": "ok",
                "proxy": None,
                "clients": {"python": _client(1000, 100_000)},
                "final_state_matches": True,
            },
            "discofilter": {
                "status": "ok",
                "proxy": {"cpu_s": 1.0, "cpu_s_per_1k_upstream_events": 1.0, "peak_rss_mb": 50.0},
                "clients": {"python": _client(200, 20_000)},
                "final_state_matches": True,
            },
            "kubectl-proxy": {
                "status": "skipped",
                "reason": "kubectl not found on PATH",
                "final_state_matches": None,
            },
        },
        "final_state_matches": True,
    }


def test_machine_info_fields() -> None:
    m = machine_info()
    assert set(m) == {"cores", "cpu_model", "python", "platform"}
    assert m["cores"] >= 1


def test_table_has_every_mode_and_the_skip_reason() -> None:
    table = render_table(sample_results())
    assert "direct" in table and "discofilter" in table
    assert "skipped: kubectl not found" in table
    assert "20.0%" in table  # the discofilter share of upstream events
    assert "correct in every mode" in table


def test_results_md_appends_under_its_own_heading(tmp_path: Path) -> None:
    md = tmp_path / "RESULTS.md"
    md.write_text("# Benchmark results\n\n## Codec microbenchmarks\n\nother team's table\n")
    append_results_md(sample_results(), md)
    append_results_md(sample_results(), md)
    text = md.read_text()
    assert text.count(RESULTS_HEADING) == 1
    assert "other team's table" in text
    assert text.count("Command: `discofilter bench") == 2
    assert "cores" in text and "Python" in text


def test_results_md_inserts_before_a_later_section(tmp_path: Path) -> None:
    md = tmp_path / "RESULTS.md"
    md.write_text(f"# R\n\n{RESULTS_HEADING}\n\n## Later section\n\nkeep last\n")
    append_results_md(sample_results(), md)
    text = md.read_text()
    assert text.index("Command: `discofilter bench") < text.index("## Later section")
    assert text.rstrip().endswith("keep last")


def test_write_outputs_writes_json_table_and_pngs(tmp_path: Path) -> None:
    series = {
        "rates": {"direct": [10, 20, 30], "discofilter": [2, 4, 6]},
        "latencies": {"discofilter": [0.001, 0.002, 0.0], "kubectl-proxy": []},
    }
    paths = write_outputs(sample_results(), series, tmp_path / "out")
    doc = orjson.loads(paths["results"].read_bytes())
    assert doc["modes"]["discofilter"]["clients"]["python"]["kinds"]["pods"]["final_state_matches"]
    assert paths["table"].read_text().startswith("scenario smoke")
    for key in ("rate_plot", "latency_plot"):
        assert paths[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
