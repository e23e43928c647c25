"""Label and field selectors: kubectl string syntax and Istio discoverySelectors semantics."""

from __future__ import annotations

import pytest

from discofilter.errors import SelectorError
from discofilter.filter.selectors import (
    SelectorSet,
    parse_field_selector,
    parse_label_selector,
    selector_from_label_selector,
)

MESH = {"istio-injection": "enabled", "team": "a"}
REV = {"istio.io/rev": "canary", "env": "prod"}
BARE: dict[str, str] = {}


@pytest.mark.parametrize(
    ("text", "labels", "want"),
    [
        ("istio-injection=enabled", MESH, True),
        ("istio-injection==enabled", MESH, True),
        ("istio-injection=enabled", BARE, False),
        ("istio-injection!=enabled", BARE, True),  # != matches a missing key
        ("istio-injection!=enabled", MESH, False),
        ("env in (prod, staging)", REV, True),
        ("env in (dev)", REV, False),
        ("env notin (dev)", BARE, True),  # notin matches a missing key
        ("env notin (prod)", REV, False),
        ("istio.io/rev", REV, True),
        ("!istio.io/rev", REV, False),
        ("!istio.io/rev", BARE, True),
        ("istio.io/rev,env=prod", REV, True),
        ("istio.io/rev,env=dev", REV, False),
        ("", BARE, True),  # the empty selector matches everything
        ("a=", {"a": ""}, True),
        ("a=", {"a": "x"}, False),
        ("n>3", {"n": "4"}, True),
        ("n>3", {"n": "3"}, False),
        ("n<3", {"n": "x"}, False),
        ("n<3", BARE, False),
        ("  team = a ,  istio-injection  ", MESH, True),
    ],
)
def test_string_selector_matches(text: str, labels: dict[str, str], want: bool) -> None:
    assert parse_label_selector(text).matches(labels) is want


@pytest.mark.parametrize(
    "text",
    [
        "a=b,",
        ",a",
        "a in ()",
        "a in (b",
        "a in b",
        "a=b c",
        "=x",
        "-bad=x",
        "a=-x-",
        "x" * 64 + "=y",
        "a=" + "v" * 64,
        "Bad_Prefix!/x=y",
        "n>x",
        "a b",
        "!",
    ],
)
def test_string_selector_errors(text: str) -> None:
    with pytest.raises(SelectorError):
        parse_label_selector(text)


def test_string_selector_round_trips_through_str() -> None:
    text = "a=b,c!=d,e in (x,y),f notin (z),g,!h,n>1,m<9"
    sel = parse_label_selector(text)
    assert parse_label_selector(str(sel)) == sel


def test_discovery_selectors_or_between_entries_and_within_entry() -> None:
    # Istio semantics: entries are ORed; matchLabels AND matchExpressions inside one entry.
    entries = [
        {"matchLabels": {"istio-injection": "enabled"}},
        {
            "matchLabels": {"env": "prod"},
            "matchExpressions": [{"key": "istio.io/rev", "operator": "Exists"}],
        },
    ]
    ss = SelectorSet(tuple(selector_from_label_selector(e) for e in entries))
    assert ss.matches(MESH)
    assert ss.matching_term(MESH) == 0
    assert ss.matches(REV)
    assert ss.matching_term(REV) == 1
    assert not ss.matches({"env": "prod"})
    assert not ss.matches(BARE)
    assert not SelectorSet().matches(MESH)  # no entries: nothing


def test_empty_label_selector_entry_matches_everything() -> None:
    assert selector_from_label_selector({}).matches(BARE)


@pytest.mark.parametrize(
    ("expr", "labels", "want"),
    [
        ({"key": "env", "operator": "In", "values": ["prod"]}, REV, True),
        ({"key": "env", "operator": "NotIn", "values": ["prod"]}, REV, False),
        ({"key": "env", "operator": "NotIn", "values": ["prod"]}, BARE, True),
        ({"key": "env", "operator": "Exists"}, REV, True),
        ({"key": "env", "operator": "DoesNotExist"}, REV, False),
        ({"key": "env", "operator": "DoesNotExist"}, BARE, True),
    ],
)
def test_match_expressions(expr: dict[str, object], labels: dict[str, str], want: bool) -> None:
    assert selector_from_label_selector({"matchExpressions": [expr]}).matches(labels) is want


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"matchLabel": {"a": "b"}}, "unknown field"),
        ({"matchLabels": ["a"]}, "mapping"),
        ({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["b"]}]}, "operator"),
        ({"matchExpressions": [{"key": "a", "operator": "In"}]}, "at least one value"),
        ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["b"]}]}, "no values"),
        ({"matchExpressions": [{"key": "a b", "operator": "Exists"}]}, "invalid label key"),
        ({"matchLabels": {"a": 1}}, "strings"),
    ],
)
def test_label_selector_errors_name_the_field(obj: dict[str, object], message: str) -> None:
    with pytest.raises(SelectorError, match=message):
        selector_from_label_selector(obj, where="discoverySelectors[0]")


def test_field_selectors() -> None:
    fs = parse_field_selector("metadata.namespace=a,status.phase!=Running")
    assert fs.matches({"metadata.namespace": "a", "status.phase": "Pending"})
    assert not fs.matches({"metadata.namespace": "a", "status.phase": "Running"})
    assert fs.fields == {"metadata.namespace", "status.phase"}
    assert parse_field_selector("spec.nodeName==n1").matches({"spec.nodeName": "n1"})
    assert parse_field_selector("").matches({})
    escaped = parse_field_selector(r"metadata.name=a\,b")
    assert escaped.matches({"metadata.name": "a,b"})


@pytest.mark.parametrize("text", ["a", "=b", "a=b,,c=d", r"a=b\x"])
def test_field_selector_errors(text: str) -> None:
    with pytest.raises(SelectorError):
        parse_field_selector(text)
