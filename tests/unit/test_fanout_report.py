"""The fan-out run's ratios, table and RESULTS.md section, on a synthetic results document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from discofilter.harness.fanout import ratios
from discofilter.harness.fanout_report import (
    RESULTS_HEADING,
    append_results_md,
    render_markdown,
    render_table,
)


def _run(n: int, watches: int, watch_bytes: int, cpu_us: float) -> dict[str, Any]:
    return {
        "status": "ok",
        "reason": None,
        "clients": n,
        "upstream_watches": watches,
        "upstream_watches_by_kind": {"pods": watches},
        "upstream_watches_peak_by_kind": {"pods": watches},
        "upstream_list_bytes": 1000 * watches,
        "upstream_watch_bytes": watch_bytes,
        "upstream_events": 100,
        "proxy_cpu_s": cpu_us * 100 / 1e6,
        "proxy_cpu_us_per_upstream_event": cpu_us,
        "proxy_peak_rss_mb": 50.0,
        "sync_s": 0.1,
        "final_state_matches": True,
    }


def _doc() -> dict[str, Any]:
    shared = {"1": _run(1, 1, 10_000, 20.0), "10": _run(10, 1, 10_000, 26.0)}
    per = {"1": _run(1, 1, 10_000, 20.0), "10": _run(10, 10, 100_000, 200.0)}
    return {
        "kind": "fanout",
        "command": "discofilter bench --clients 1,10",
        "started_at": "2026-12-02T00:00:00Z",
        "scenario": {"name": "s", "path": "s.yaml", "kinds": ["pods"]},
        "churn_s": 5.0,
        "counts": [1, 10],
        "machine": {"cores": 2, "cpu_model": "x", "python": "3.11"},
        "modes": {
            "shared": {
                "status": "ok",
                "reason": None,
                "runs": shared,
                "ratios": ratios(shared, [1, 10]),
            },
            "per-client": {
                "status": "ok",
                "reason": None,
                "runs": per,
                "ratios": ratios(per, [1, 10]),
            },
            "kubectl-proxy": {
                "status": "skipped",
                "reason": "kubectl not found",
                "runs": {},
                "ratios": {},
            },
        },
        "final_state_matches": True,
    }


def test_ratios_are_largest_over_smallest_n() -> None:
    doc = _doc()
    shared = doc["modes"]["shared"]["ratios"]
    assert shared["cpu_per_event"] == 1.3
    assert shared["upstream_watch_bytes_per_event"] == 1.0
    assert shared["upstream_watches"] == 1.0
    per = doc["modes"]["per-client"]["ratios"]
    assert per["cpu_per_event"] == 10.0 and per["upstream_watches"] == 10.0
    assert ratios({"1": {"status": "failed", "reason": "x"}}, [1, 10]) == {}


def test_table_and_markdown_show_every_mode() -> None:
    doc = _doc()
    table = render_table(doc)
    assert "kubectl-proxy  -  skipped: kubectl not found" in table
    assert "shared: N=10 / N=1: CPU per upstream event 1.3x" in table
    md = render_markdown(doc)
    assert "Command: `discofilter bench --clients 1,10`" in md
    assert "| per-client | 10 | 10 |" in md


def test_results_md_section_is_appended_under_its_own_heading(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n\n## Other\n\ntheirs\n")
    append_results_md(_doc(), path)
    append_results_md(_doc(), path)
    text = path.read_text()
    assert text.count(RESULTS_HEADING) == 1
    assert text.index("## Other") < text.index(RESULTS_HEADING)
    assert "theirs" in text and text.count("### `s`, N = [1, 10]") == 2
