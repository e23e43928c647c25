"""Policies: defaults, validation, rule resolution and config parsing."""

from __future__ import annotations

import pytest

from discofilter.coalesce.policy import (
    DEFAULT_POLICIES,
    OFF,
    CoalescePolicy,
    PolicyRule,
    has_namespace_rules,
    policy_from_config,
    resolve_policy,
    rules_from_config,
)
from discofilter.errors import ConfigError
from discofilter.filter.selectors import parse_label_selector


def test_defaults_cover_the_churny_kinds_only() -> None:
    assert set(DEFAULT_POLICIES) == {"pods", "endpoints", "endpointslices"}
    p = DEFAULT_POLICIES["pods"]
    assert (p.window_seconds, p.max_events_per_second, p.burst, p.max_hold_seconds) == (
        0.25,
        0.0,
        100,
        5.0,
    )
    assert p.enabled and not p.rate_limited and not p.suppress_noop
    assert not OFF.enabled


@pytest.mark.parametrize(
    "kwargs",
    [
        {"window_seconds": -1},
        {"window_seconds": float("nan")},
        {"max_events_per_second": float("inf")},
        {"burst": 0},
        {"burst": 1.5},
        {"window_seconds": 2.0, "max_hold_seconds": 1.0},
        {"window_seconds": 0.0, "max_hold_seconds": 0.0, "max_events_per_second": 10.0},
        {"window_seconds": "1"},
        {"noop_max_keys": -1},
    ],
)
def test_invalid_policies_raise_config_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        CoalescePolicy(**kwargs)  # type: ignore[arg-type]


FAST = CoalescePolicy(window_seconds=0.1)
SLOW = CoalescePolicy(window_seconds=1.0, max_events_per_second=50.0)


@pytest.mark.parametrize(
    ("rules", "resource", "labels", "expected"),
    [
        ([], "pods", {"x": "y"}, DEFAULT_POLICIES["pods"]),
        ([], "services", {}, None),
        ([], "endpointslices.discovery.k8s.io", None, DEFAULT_POLICIES["endpointslices"]),
        ([PolicyRule("pods", None, FAST)], "pods", None, FAST),
        ([PolicyRule("*", None, FAST)], "services", {}, FAST),
        ([PolicyRule("pods", None, OFF)], "pods", {}, None),
        # first match wins
        ([PolicyRule("pods", None, FAST), PolicyRule("pods", None, SLOW)], "pods", {}, FAST),
        # namespace selector: matching labels, non-matching labels, cluster-wide (None)
        (
            [PolicyRule("pods", parse_label_selector("tier=batch"), SLOW)],
            "pods",
            {"tier": "batch"},
            SLOW,
        ),
        (
            [PolicyRule("pods", parse_label_selector("tier=batch"), SLOW)],
            "pods",
            {"tier": "web"},
            DEFAULT_POLICIES["pods"],
        ),
        (
            [PolicyRule("pods", parse_label_selector("tier=batch"), SLOW)],
            "pods",
            None,
            DEFAULT_POLICIES["pods"],
        ),
        ([PolicyRule("endpointslices.discovery.k8s.io", None, FAST)], "endpointslices", {}, FAST),
    ],
)
def test_resolve_policy(
    rules: list[PolicyRule],
    resource: str,
    labels: dict[str, str] | None,
    expected: CoalescePolicy | None,
) -> None:
    assert resolve_policy(rules, resource, labels) == expected


def test_has_namespace_rules() -> None:
    rules = [PolicyRule("pods", parse_label_selector("a=b"), FAST), PolicyRule("nodes", None, FAST)]
    assert has_namespace_rules(rules, "pods")
    assert not has_namespace_rules(rules, "nodes")


def test_policy_from_config_camel_case_and_base() -> None:
    p = policy_from_config({"windowSeconds": 0.5, "maxEventsPerSecond": 200, "suppressNoop": True})
    assert p == CoalescePolicy(window_seconds=0.5, max_events_per_second=200, suppress_noop=True)
    assert policy_from_config({}) == CoalescePolicy()


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"window": 1}, "window: unknown key"),
        ({"suppressNoop": "yes"}, "expected true or false"),
        ({"burst": 0}, "burst"),
        ([], "expected a mapping"),
    ],
)
def test_policy_from_config_errors_name_the_key(obj: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        policy_from_config(obj, "coalescing.pods")  # type: ignore[arg-type]


def test_rules_from_config() -> None:
    rules = rules_from_config(
        [
            {
                "resource": "pods",
                "namespaceSelector": {"matchLabels": {"tier": "batch"}},
                "maxEventsPerSecond": 200,
            },
            {"resource": "nodes", "suppressNoop": True},
        ]
    )
    assert rules[0].namespace_selector is not None
    assert rules[0].namespace_selector.matches({"tier": "batch"})
    assert rules[0].policy.max_events_per_second == 200
    assert rules[0].policy.window_seconds == 0.25  # the pods default underneath
    assert rules[1].namespace_selector is None and rules[1].policy.suppress_noop
    assert resolve_policy(rules, "pods", {"tier": "batch"}) is rules[0].policy


@pytest.mark.parametrize(
    "items",
    [
        "pods",
        [{"windowSeconds": 1}],
        [{"resource": "pods", "namespaceSelector": {"matchLabel": {}}}],
        [{"resource": "pods", "burst": -1}],
        ["pods"],
    ],
)
def test_rules_from_config_errors(items: object) -> None:
    with pytest.raises(ConfigError):
        rules_from_config(items)  # type: ignore[arg-type]
