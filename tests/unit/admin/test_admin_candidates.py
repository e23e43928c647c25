"""Candidate selector sets from flags and the file shapes SREs already have."""

from __future__ import annotations

from pathlib import Path

import pytest

from discofilter.errors import ConfigError, SelectorError
from discofilter.explain.command import selectors_from_file
from discofilter.filter import candidates
from discofilter.filter.dryrun import NamespaceFacts, compare

LABELS = {"env": "prod", "istio-injection": "enabled"}

SHAPES = {
    "discofilter-config": "discoverySelectors:\n- matchLabels: {env: prod}\n",
    "istio-values": "meshConfig:\n  discoverySelectors:\n  - matchLabels: {env: prod}\n",
    "istio-operator": "spec:\n  meshConfig:\n    discoverySelectors:\n"
    "    - matchExpressions: [{key: env, operator: In, values: [prod]}]\n",
    "configmap": "apiVersion: v1\nkind: ConfigMap\ndata:\n  mesh: |\n    discoverySelectors:\n"
    "    - matchLabels: {env: prod}\n",
    "bare-list": "- matchLabels: {env: prod}\n",
}


@pytest.mark.parametrize("text", SHAPES.values(), ids=SHAPES.keys())
def test_shapes(text: str) -> None:
    sel = candidates.from_yaml_text(text)
    assert sel is not None and len(sel.selectors) == 1
    assert sel.matches(LABELS) and not sel.matches({"env": "dev"})


def test_no_discovery_selectors_means_all() -> None:
    assert candidates.from_yaml_text("meshConfig: {accessLogFile: /dev/stdout}\n") is None
    assert candidates.combine(["a=b"], [None]) is None


def test_combine_ors_flags_and_files(tmp_path: Path) -> None:
    f = tmp_path / "mesh.yaml"
    f.write_text(SHAPES["istio-values"])
    sel = candidates.combine(["team=ci"], [selectors_from_file(f)])
    assert sel is not None
    assert [str(s) for s in sel.selectors] == ["team=ci", "env=prod"]
    assert candidates.combine().selectors == ()


@pytest.mark.parametrize(
    "text",
    ["discoverySelectors: {matchLabels: {a: b}}\n", "- matchLabels: {a: [b]}\n", "- {bogus: 1}\n"],
)
def test_bad_shapes_raise_selector_error(text: str) -> None:
    with pytest.raises(SelectorError):
        candidates.from_yaml_text(text)


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        selectors_from_file(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError):
        candidates.from_yaml_text("a: [")


def test_compare_names_terms_by_selector_text() -> None:
    facts = [
        NamespaceFacts("istio-system"),
        NamespaceFacts("a", {"env": "prod"}, churn=3.0),
        NamespaceFacts("b", {"env": "dev"}, churn=1.0),
    ]
    cmp = compare(facts, None, candidates.from_strings(["env=prod", ""]))
    terms = {r.name: (r.term_before, r.term_after) for r in cmp.rows}
    assert terms["istio-system"] == ("alwaysEnrolled", "alwaysEnrolled")
    assert terms["a"] == ("all namespaces (no discoverySelectors)", "env=prod")
    assert terms["b"][1] == "{}"  # the empty selector matches everything
    assert cmp.removed == [] and cmp.churn_share_after == pytest.approx(1.0)
    empty = compare(facts, None, candidates.from_strings([]))
    assert empty.removed == ["a", "b"] and empty.removed_churn_share == pytest.approx(1.0)
