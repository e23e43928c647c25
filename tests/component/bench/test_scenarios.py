"""Scenario handling: the non-mesh share override, default selectors, shipped scenario files."""

from __future__ import annotations

from pathlib import Path

import pytest

from discofilter.errors import ConfigError
from discofilter.harness.scenario_file import scenario_meta
from discofilter.harness.sim_scenario import (
    DEFAULT_SELECTORS,
    _enrolled_groups,
    churn_share,
    with_non_mesh_share,
)
from discofilter.sim.scenario import load_scenario, parse_scenario

REPO = Path(__file__).resolve().parents[3]
SCENARIOS = sorted((REPO / "bench" / "scenarios").glob("*.yaml"))

DOC = {
    "name": "t",
    "namespaceGroups": [
        {"name": "mesh", "labels": {"istio-injection": "enabled"}},
        {"name": "batch"},
    ],
    "churn": {
        "phases": [
            {
                "name": "p",
                "duration": 10,
                "rates": [
                    {"group": "batch", "kind": "pods", "creates": 8},
                    {"group": "mesh", "kind": "pods", "creates": 2},
                ],
                "bursts": [{"at": 1, "group": "batch", "kind": "pods", "creates": 100}],
            }
        ]
    },
}


@pytest.mark.parametrize("share", [0.5, 0.8, 0.95])
def test_non_mesh_share_keeps_total_and_hits_target(share: float) -> None:
    sc = parse_scenario(DOC)
    enrolled = _enrolled_groups(sc, DEFAULT_SELECTORS)
    assert enrolled == {"mesh"}
    before = sum(churn_share(sc, enrolled))
    non, mesh = churn_share(with_non_mesh_share(sc, enrolled, share), enrolled)
    assert non + mesh == pytest.approx(before, rel=0.01)
    assert non / (non + mesh) == pytest.approx(share, abs=0.01)


def test_non_mesh_share_needs_mesh_churn() -> None:
    doc = {
        **DOC,
        "churn": {
            "phases": [{"duration": 1, "rates": [{"group": "batch", "kind": "pods", "creates": 1}]}]
        },
    }
    sc = parse_scenario(doc)
    with pytest.raises(ConfigError):
        with_non_mesh_share(sc, {"mesh"}, 0.5)
    with pytest.raises(ConfigError):
        with_non_mesh_share(sc, {"mesh"}, 1.0)


def test_harness_keys_are_stripped_before_the_emulator_validates(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    import yaml

    p.write_text(
        yaml.safe_dump(
            {
                **DOC,
                "discoverySelectors": [{"matchLabels": {"a": "b"}}],
                "kinds": ["pods", "services"],
            }
        )
    )
    meta = scenario_meta(p)
    assert meta.selectors == [{"matchLabels": {"a": "b"}}]
    assert meta.kinds == ["pods", "services"]


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_shipped_scenarios_load_in_the_emulator_and_the_harness(path: Path) -> None:
    load_scenario(path)  # the emulator accepts it as is (no harness-only keys)
    meta = scenario_meta(path)
    assert meta.kinds and meta.selectors and meta.duration_s > 0
