"""``discofilter bench --clients N`` end to end on the smoke scenario, briefly.

Checks the upstream's own counts (the emulator's /metrics), which are exact, never timings:
per-client proxying opens N upstream watches per kind for N clients; shared watches open one
whatever N.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from discofilter.cli import main
from discofilter.harness.fanout import shared_watches_unsupported

REPO = Path(__file__).resolve().parents[3]
SMOKE = REPO / "bench" / "scenarios" / "smoke.yaml"
KINDS = ["pods", "endpointslices"]

pytestmark = pytest.mark.timeout(180)


def _bench(tmp_path: Path, modes: str, *extra: str) -> tuple[int, dict[str, Any], Path]:
    out = tmp_path / "out"
    argv = ["bench", "--scenario", str(SMOKE), "--out", str(out), "--duration", "2"]
    argv += ["--clients", "1,2", "--modes", modes, "--kinds", ",".join(KINDS), *extra]
    rc = main(argv)
    return rc, orjson.loads((out / "results.json").read_bytes()), out


def test_per_client_upstream_watches_grow_with_n(tmp_path: Path) -> None:
    rc, doc, out = _bench(tmp_path, "per-client")
    assert rc == 0, doc
    assert doc["kind"] == "fanout" and doc["counts"] == [1, 2]
    assert set(doc["modes"]) == {"per-client"}
    runs = doc["modes"]["per-client"]["runs"]
    for n in (1, 2):
        r = runs[str(n)]
        assert r["status"] == "ok" and r["final_state_matches"] is True, r
        # One upstream watch per client watch: the cost shared watches remove.
        assert r["upstream_watches_by_kind"] == {k: n for k in KINDS}
        assert r["upstream_events"] > 0 and r["upstream_list_bytes"] > 0
    # Every phase plays the same churn from the same state (fresh emulator, same seed).
    assert runs["1"]["upstream_events"] == runs["2"]["upstream_events"]
    # The API server writes every frame once per watch: twice the watches, ~twice the bytes
    # (bookmarks are timed, so not exactly).
    ratio = runs["2"]["upstream_watch_bytes"] / runs["1"]["upstream_watch_bytes"]
    assert 1.7 < ratio < 2.3, ratio
    assert doc["modes"]["per-client"]["ratios"]["upstream_watches"] == 2.0
    table = (out / "table.txt").read_text()
    assert "per-client" in table and "upstream watches" in table


def test_shared_upstream_watches_do_not_grow_with_n(tmp_path: Path) -> None:
    reason = shared_watches_unsupported()
    if reason is not None:
        pytest.skip(reason)
    rc, doc, _ = _bench(tmp_path, "shared")
    assert rc == 0, doc
    runs = doc["modes"]["shared"]["runs"]
    for n in (1, 2):
        r = runs[str(n)]
        assert r["status"] == "ok" and r["final_state_matches"] is True, r
        assert r["upstream_watches_by_kind"] == {k: 1 for k in KINDS}, r
    lo, hi = runs["1"], runs["2"]
    assert lo["upstream_events"] == hi["upstream_events"]
    # Same upstream watch, same frames: the bytes do not double (bookmark timing aside).
    assert hi["upstream_watch_bytes"] < 1.3 * lo["upstream_watch_bytes"], (lo, hi)


def test_unknown_fanout_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="unknown modes"):
        main(
            [
                "bench",
                "--scenario",
                str(SMOKE),
                "--out",
                str(tmp_path),
                "--clients",
                "1,3",
                "--modes",
                "discofilter",
            ]
        )
