"""The cluster-scale istiod benchmark's pure parts: tiers, the seeded op sequence, the metric
arithmetic (histogram quantiles, ratios) and the RESULTS.md section splice."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import cluster_bench as cb  # noqa: E402
import cluster_report as cr  # noqa: E402
from workload_churn import Tier, WorkloadChurn  # noqa: E402


@pytest.mark.parametrize("name", ["S", "M", "L", "s-ci"])
def test_tiers_load_and_keep_90_percent_outside(name: str) -> None:
    t = Tier.load(name)
    assert t.enrolled / t.namespaces == pytest.approx(0.10)
    assert t.nodes * t.max_pods_per_node >= t.pods * 1.1  # room for surge during rollouts
    assert t.sidecars >= (20 if name != "s-ci" else 1)


def test_tier_sizes_match_the_issue() -> None:
    assert Tier.load("S").pods == 2000 and Tier.load("S").namespaces == 200
    assert Tier.load("M").namespaces == 1000 and 10_000 <= Tier.load("M").pods <= 11_000


class _Recorder:
    """Stands in for the typed API groups: records every call, answers nothing."""

    def __init__(self, calls: list[tuple[str, tuple[Any, ...]]]) -> None:
        self.calls = calls

    def __getattr__(self, name: str) -> Any:
        return lambda *a, **kw: self.calls.append((name, a[:2]))


def _ops(seed_tier: Tier, n: int) -> list[tuple[str, tuple[Any, ...]]]:
    churn = WorkloadChurn.__new__(WorkloadChurn)
    calls: list[tuple[str, tuple[Any, ...]]] = []
    rec: Any = _Recorder(calls)
    churn.tier = seed_tier
    churn.core = churn.apps = churn.batch = rec
    import random

    from workload_churn import Counters

    churn.rand = random.Random(seed_tier.seed)
    churn.namespaces = [f"t-{i:04d}" for i in range(seed_tier.namespaces)]
    churn.enrolled = set(churn.namespaces[: seed_tier.enrolled])
    churn.replicas = {
        (ns, f"app-{d}"): seed_tier.replicas
        for ns in churn.namespaces
        for d in range(seed_tier.deployments)
    }
    churn.extra_services = []
    churn.counters = Counters()
    churn._extra_seq = 0
    churn._cuts = WorkloadChurn._cumulative(seed_tier.mix)
    for _ in range(n):
        churn.one_op()
    # Calls are (method, first two positional args): names and namespaces, not bodies (the
    # restart annotation is wall time).
    return calls


def test_op_sequence_is_a_function_of_the_seed() -> None:
    t = Tier.load("s-ci")
    assert _ops(t, 200) == _ops(t, 200)
    kinds = {name for name, _ in _ops(t, 200)}
    assert {
        "patch_namespaced_deployment",
        "patch_namespaced_deployment_scale",
        "create_namespaced_service",
    } <= kinds
    assert not any("pod" in k or "endpoint" in k for k in kinds)  # workload objects only


def test_quantile_from_bucket_deltas() -> None:
    before = {0.1: 5.0, 1.0: 5.0, float("inf"): 5.0}
    after = {0.1: 55.0, 1.0: 100.0, float("inf"): 105.0}  # 50 in <=0.1, 45 in (0.1,1], 5 above
    assert cb.quantile(before, after, 0.5) == pytest.approx(0.1)
    assert cb.quantile(before, after, 0.9) == pytest.approx(0.1 + 0.9 * (40 / 45))
    assert cb.quantile(before, after, 0.99) == pytest.approx(1.0)  # +Inf bucket: its lower edge
    assert cb.quantile(after, after, 0.5) is None  # nothing observed


def test_parse_and_total_metrics() -> None:
    text = (
        "# HELP x y\n"
        'pilot_k8s_reg_events{type="Pods",event="add"} 3\n'
        'pilot_k8s_reg_events{type="EndpointSlice",event="update"} 4\n'
        "pilot_xds_pushes 2.5e+01\n"
    )
    s = cb.parse_metrics(text)
    assert cb.total(s, "pilot_k8s_reg_events") == 7
    assert cb.total(s, "pilot_k8s_reg_events", type="Pods") == 3
    assert cb.total(s, "pilot_xds_pushes") == 25


def test_ratios_per_replica_set() -> None:
    rows = [
        {"mode": "direct", "istiods": 1, "istiod_cpu_s_churn": 10.0, "istiod_peak_rss_mb": 100.0,
         "total_cpu_s_churn": 10.0, "total_peak_rss_mb": 100.0},
        {"mode": "discoverySelectors", "istiods": 1, "istiod_cpu_s_churn": 4.0,
         "istiod_peak_rss_mb": 90.0, "total_cpu_s_churn": 4.0, "total_peak_rss_mb": 90.0},
        {"mode": "discofilter-x3", "istiods": 3, "istiod_cpu_s_churn": 3.0,
         "istiod_peak_rss_mb": 90.0, "total_cpu_s_churn": 6.0, "total_peak_rss_mb": 150.0},
    ]  # fmt: skip
    cb.add_ratios(rows)
    x3 = rows[2]
    assert x3["istiod_cpu_s_churn_vs_direct"] == pytest.approx(0.1)  # 3 s vs 3 x 10 s
    assert x3["total_cpu_s_churn_vs_direct"] == pytest.approx(0.2)
    assert x3["istiod_cpu_s_churn_vs_selectors"] == pytest.approx(0.25)
    assert rows[0]["istiod_cpu_s_churn_vs_direct"] == 1.0


def test_results_section_splice(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text("## other\n\nkeep me\n")
    cr.insert_section("### Tier cluster-s (2000 pods)\n\nS1\n\n", path, "cluster-s")
    cr.insert_section("### Tier cluster-m (10700 pods)\n\nM1\n\n", path, "cluster-m")
    cr.insert_section("### Tier cluster-s (2000 pods)\n\nS2\n\n", path, "cluster-s")
    text = path.read_text()
    assert text.startswith(cr.RESULTS_TITLE)
    assert "S2" in text and "S1" not in text and "M1" in text
    assert text.index("M1") < text.index("S2") < text.index("## other")  # newest tier first
    assert text.endswith("keep me\n")
