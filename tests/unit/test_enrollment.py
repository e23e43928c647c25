"""Enrollment semantics (Istio discoverySelectors) and the flips that end watches."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from discofilter.filter.enrollment import Enrollment, EnrollmentChange
from discofilter.filter.selectors import (
    SelectorSet,
    parse_label_selector,
    selector_from_label_selector,
)

MESH = SelectorSet((parse_label_selector("istio-injection=enabled"),))


def test_none_selectors_enroll_everything() -> None:
    e = Enrollment(None)
    assert e.is_enrolled("anything")
    assert e.apply_namespace("a", {}) is None
    assert e.matching_term("a") == "all namespaces (no discoverySelectors)"


def test_empty_set_enrolls_only_always() -> None:
    e = Enrollment(SelectorSet(()))
    e.apply_namespace("a", {"istio-injection": "enabled"})
    assert not e.is_enrolled("a")
    assert e.is_enrolled("istio-system")
    assert e.enrolled() == frozenset({"istio-system"})


def test_apply_and_flips() -> None:
    e = Enrollment(MESH)
    assert not e.is_enrolled("a")  # unknown yet
    assert e.apply_namespace("a", {"istio-injection": "enabled"}) == EnrollmentChange(
        "a", True, "discoverySelectors[0]"
    )
    assert e.apply_namespace("a", {"istio-injection": "enabled", "x": "y"}) is None
    assert e.apply_namespace("b", {}) is None  # unknown -> not enrolled: no flip
    assert e.apply_namespace("a", {}) == EnrollmentChange("a", False, None)
    assert e.apply_namespace("a", {"istio-injection": "enabled"}) is not None
    assert e.remove_namespace("a") == EnrollmentChange("a", False, None)
    assert e.remove_namespace("a") is None
    assert e.namespaces().keys() == {"b"}


def test_always_enrolled_even_unlabelled_and_never_flips() -> None:
    e = Enrollment(MESH)
    assert e.is_enrolled("istio-system")
    assert e.apply_namespace("istio-system", {}) is None
    assert e.matching_term("istio-system") == "alwaysEnrolled"
    assert e.remove_namespace("istio-system") is None
    assert e.is_enrolled("istio-system")


def test_or_between_terms_and_term_names() -> None:
    sels = SelectorSet(
        (
            selector_from_label_selector({"matchLabels": {"team": "a"}}),
            selector_from_label_selector(
                {"matchExpressions": [{"key": "mesh", "operator": "Exists"}]}
            ),
        )
    )
    e = Enrollment(sels)
    e.apply_namespace("x", {"mesh": ""})
    e.apply_namespace("y", {"team": "a"})
    e.apply_namespace("z", {"team": "b"})
    assert e.enrolled() == {"x", "y", "istio-system"}
    assert e.matching_term("x") == "discoverySelectors[1]"
    assert e.matching_term("y") == "discoverySelectors[0]"
    assert e.matching_term("z") is None


def test_sync_reports_removed_and_added() -> None:
    e = Enrollment(MESH)
    e.sync({"a": {"istio-injection": "enabled"}, "b": {}})
    ch = e.sync({"b": {"istio-injection": "enabled"}, "c": {}})
    assert sorted((c.namespace, c.enrolled) for c in ch) == [("a", False), ("b", True)]


def test_with_selectors_dry_run() -> None:
    e = Enrollment(MESH, term_names=("--selector 0",))
    e.sync({"a": {"istio-injection": "enabled"}, "b": {"team": "x"}})
    new, changes = e.with_selectors(SelectorSet((parse_label_selector("team=x"),)))
    assert {(c.namespace, c.enrolled) for c in changes} == {("a", False), ("b", True)}
    assert e.is_enrolled("a") and not e.is_enrolled("b")  # original untouched
    assert new.is_enrolled("b") and not new.is_enrolled("a")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c", "istio-system"]),
            st.one_of(st.none(), st.dictionaries(st.sampled_from(["istio-injection", "t"]),
                                                 st.sampled_from(["enabled", "x"]))),
        ),
        max_size=30,
    )
)  # fmt: skip
def test_invariant_matches_recomputation(ops: list[tuple[str, dict[str, str] | None]]) -> None:
    e = Enrollment(MESH)
    state: dict[str, bool] = {}
    for name, labels in ops:
        before = e.is_enrolled(name)
        ch = e.remove_namespace(name) if labels is None else e.apply_namespace(name, labels)
        after = e.is_enrolled(name)
        assert (ch is not None) == (before != after)
        if labels is None:
            state.pop(name, None)
        else:
            state[name] = MESH.matches(labels)
    for name in ("a", "b", "c"):
        assert e.is_enrolled(name) == state.get(name, False)
    assert e.is_enrolled("istio-system")


def test_registry_ends_only_streams_that_saw_the_namespace() -> None:
    from discofilter.server.streams.registry import StreamRegistry, WatchStream

    reg = StreamRegistry()
    dropped_late, delivered_a, untouched = (
        WatchStream("pods"),
        WatchStream("pods"),
        WatchStream("x"),
    )
    dropped_late.dropped_ns.add("late")  # an event arrived before its namespace was known
    delivered_a.delivered_ns.add("a")
    for s in (dropped_late, delivered_a, untouched):
        reg.add(s)
    e = Enrollment(MESH)
    e.apply_namespace("a", {"istio-injection": "enabled"})
    changes = [c for c in (e.apply_namespace("late", {"istio-injection": "enabled"}),) if c]
    assert reg.apply_changes(changes) == 1 and dropped_late.expired and not delivered_a.expired
    left = e.apply_namespace("a", {})
    assert left is not None and reg.apply_changes([left]) == 1
    assert delivered_a.expired and "left" in delivered_a.expired
    assert untouched.expired is None
