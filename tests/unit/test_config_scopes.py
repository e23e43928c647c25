"""``scopes:``: named selector sets; errors name the key and its line like the rest of config."""

from __future__ import annotations

import textwrap

import pytest

from discofilter.config import dump_config, load_config_text
from discofilter.config_checks import check_security
from discofilter.errors import ConfigError

TWO = textwrap.dedent(
    """\
    alwaysEnrolled: [istio-system, gateways]
    scopes:
      - name: team-a
        discoverySelectors: [{matchLabels: {mesh: team-a}}]
        alwaysEnrolled: [istio-a]
      - name: team-b
        meshConfigFrom: configmap:istio-b/istio
      - name: team-c
        selectors: ["mesh in (c, cc)"]
    """
)


def test_scopes_parse_with_top_level_always_enrolled_added() -> None:
    c = load_config_text(TWO, "c.yaml")
    assert [s.name for s in c.scopes] == ["team-a", "team-b", "team-c"]
    a = c.scope("team-a")
    assert a is not None
    e = a.enrollment(c.enrollment)
    assert e.always_enrolled == ("istio-system", "gateways", "istio-a")
    sels, names = e.selector_set()
    assert sels is not None and names == ("discoverySelectors[0]",)
    assert sels.matches({"mesh": "team-a"}) and not sels.matches({"mesh": "team-b"})
    b = c.scope("team-b")
    assert b is not None and b.mesh_config_from == "configmap:istio-b/istio"
    assert c.scope("nope") is None


def test_print_config_round_trips_scopes() -> None:
    c = load_config_text(TWO, "c.yaml")
    dumped = dump_config(c)
    assert "scopes:" in dumped and "team-c" in dumped
    assert load_config_text(dumped, "dump") == c


def test_no_scopes_dumps_an_empty_list() -> None:
    c = load_config_text("{}", "c.yaml")
    assert c.scopes == ()
    assert load_config_text(dump_config(c)) == c


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("scopes: {a: 1}\n", "c.yaml:1: scopes: expected a list of mappings"),
        (
            "scopes:\n  - name: a\n    discoverySelector: []\n",
            "c.yaml:3: scopes[0].discoverySelector: unknown key",
        ),
        ("scopes:\n  - discoverySelectors: []\n", "c.yaml:2: scopes[0].name: required"),
        (
            "scopes:\n  - name: Team_A\n",
            "c.yaml:2: scopes[0].name: 'Team_A' is not a DNS-1123 label",
        ),
        ("scopes:\n  - name: a\n  - name: a\n", "c.yaml:3: scopes[1].name: 'a' is already a scope"),
        (
            "scopes:\n  - name: a\n    selectors: [x=y]\n    meshConfigFrom: configmap:a/b\n",
            "c.yaml:2: scopes[0].selectors: a scope takes selectors or meshConfigFrom, not both",
        ),
        (
            "scopes:\n  - name: a\n    discoverySelectors:\n      - matchLabels: {a: b}\n"
            "      - matchExpressions: [{key: k, operator: Maybe}]\n",
            "c.yaml:5: scopes[0].discoverySelectors[1]",
        ),
        ("scopes:\n  - name: a\n    selectors: ['a in b']\n", "c.yaml:3: scopes[0].selectors[0]"),
        (
            "scopes:\n  - name: a\n    meshConfigFrom: secret:x/y\n",
            "c.yaml:2: scopes[0].meshConfigFrom: meshConfigFrom: 'secret:x/y' must look like",
        ),
        ("scopes:\n  - name: a\n    workers: 2\n", "c.yaml:3: scopes[0].workers: unknown key"),
    ],
)
def test_scope_errors_name_key_and_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_config_text(text, "c.yaml")
    assert str(e.value).startswith(message), str(e.value)


def test_scope_always_enrolled_checked() -> None:
    c = load_config_text("scopes:\n  - name: a\n    alwaysEnrolled: [Bad_NS]\n", "c.yaml")
    with pytest.raises(ConfigError, match=r"scopes\[0\].alwaysEnrolled: 'Bad_NS'"):
        check_security(c)


def test_scope_discovery_selectors_are_the_mesh_fallback() -> None:
    c = load_config_text(
        "scopes:\n  - name: a\n    meshConfigFrom: configmap:istio-a/istio\n"
        "    discoverySelectors: [{matchLabels: {mesh: a}}]\n",
        "c.yaml",
    )
    check_security(c)
    sc = c.scope("a")
    assert sc is not None and sc.mesh_config_from == "configmap:istio-a/istio"
    assert sc.discovery_selectors == ({"matchLabels": {"mesh": "a"}},)
