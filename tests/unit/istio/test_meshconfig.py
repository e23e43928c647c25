"""The mesh value parser: istiod's YAML → JSON → proto JSON → LabelSelector rules, case by case.

Every case here was run through istiod's own code at the pinned istio commit
(``mesh.ApplyMeshConfigDefaults`` then ``labelselector.LabelSelectorAsSelector``, a scratch Go
program outside the repository): the good ones gave the same selectors, the bad ones were
refused by one of the two. docs/istio.md has the table."""

from __future__ import annotations

import pytest

from discofilter.config import ConfigError
from discofilter.istio.meshconfig import MeshConfigError, parse_mesh, parse_ref


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("", ()),
        ("# only a comment\n", ()),
        ("{}", ()),
        ("trustDomain: cluster.local\n", ()),
        ("discoverySelectors: []\n", ()),
        ("discoverySelectors: null\n", ()),
        (
            "discoverySelectors:\n- matchLabels: {istio-injection: enabled}\n",
            ({"matchLabels": {"istio-injection": "enabled"}},),
        ),
        # the proto name of the MeshConfig field is accepted too, as jsonpb does; the
        # LabelSelector's fields are declared camelCase, so match_labels is an unknown field
        # (ignored) and the selector selects everything, exactly as istiod reads it
        ("discovery_selectors:\n- match_labels: {a: b}\n", ({},)),
        # the JSON name wins over the proto name when both are there
        (
            "discovery_selectors: [{matchLabels: {x: y}}]\n"
            "discoverySelectors: [{matchLabels: {a: b}}]\n",
            ({"matchLabels": {"a": "b"}},),
        ),
        # unknown fields are ignored (jsonpb's second, lenient pass), at every level
        (
            "futureField: 1\ndiscoverySelectors:\n- matchLabels: {a: b}\n  somethingNew: true\n",
            ({"matchLabels": {"a": "b"}},),
        ),
        (
            "discoverySelectors:\n- matchExpressions:\n  - {key: istio.io/rev, operator: Exists}\n",
            ({"matchExpressions": [{"key": "istio.io/rev", "operator": "Exists"}]},),
        ),
        (
            "discoverySelectors:\n- matchExpressions:\n"
            "  - {key: team, operator: In, values: [a, b]}\n",
            ({"matchExpressions": [{"key": "team", "operator": "In", "values": ["a", "b"]}]},),
        ),
        # an empty selector selects everything (apimachinery: labels.Everything())
        ("discoverySelectors:\n- {}\n", ({},)),
        # null fields are "not set"
        ("discoverySelectors:\n- {matchLabels: null, matchExpressions: null}\n", ({},)),
        # YAML map keys that are not strings become their text (sigs.k8s.io/yaml)
        ("discoverySelectors:\n- matchLabels: {1: a}\n", ({"matchLabels": {"1": "a"}},)),
        ("discoverySelectors:\n- matchLabels: {on: b}\n", ({"matchLabels": {"true": "b"}},)),
        # null strings are "", a null item is an empty selector (every namespace)
        ("discoverySelectors: [~]\n", ({},)),
        ("discoverySelectors:\n- matchLabels: {a: ~}\n", ({"matchLabels": {"a": ""}},)),
        (
            "discoverySelectors:\n- matchExpressions: [{key: a, operator: In, values: [b, ~]}]\n",
            ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["b", ""]}]},),
        ),
        # a duplicate key: the last one wins, in PyYAML as in sigs.k8s.io/yaml
        (
            "discoverySelectors:\n- matchLabels: {a: b}\n  matchLabels: {c: d}\n",
            ({"matchLabels": {"c": "d"}},),
        ),
        # the ConfigMap value is often JSON
        (
            '{"discoverySelectors": [{"matchLabels": {"a": "b"}}]}',
            ({"matchLabels": {"a": "b"}},),
        ),
    ],
)
def test_good_values(text: str, want: tuple[object, ...]) -> None:
    assert parse_mesh(text).selectors == want


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("discoverySelectors: [\n", "not valid YAML"),
        ("- a\n- b\n", "a mesh config is a mapping"),
        ("just text\n", "a mesh config is a mapping"),
        ("discoverySelectors: {matchLabels: {a: b}}\n", "discoverySelectors: expected a list"),
        ("discoverySelectors: [a]\n", "discoverySelectors[0]: expected a LabelSelector"),
        # a YAML boolean or number where a string goes: jsonpb refuses the document
        ("discoverySelectors:\n- matchLabels: {istio-injection: true}\n", "a boolean (true)"),
        ("discoverySelectors:\n- matchLabels: {injected: yes}\n", "a boolean (true)"),
        ("discoverySelectors:\n- matchLabels: {version: 2}\n", "a number (2)"),
        ("discoverySelectors:\n- matchLabels: [a]\n", "matchLabels: expected a mapping"),
        ("discoverySelectors:\n- matchExpressions: {key: a}\n", "expected a list"),
        (
            "discoverySelectors:\n- matchExpressions: [{key: a, operator: In, values: b}]\n",
            "values: expected a list",
        ),
        # apimachinery's LabelSelectorAsSelector
        ("discoverySelectors:\n- matchExpressions: [{key: a, operator: Gt}]\n", "is not one of"),
        (
            "discoverySelectors:\n- matchExpressions: [{key: a, operator: in, values: [b]}]\n",
            "is not one of",
        ),
        (
            "discoverySelectors:\n- matchExpressions: [{key: a, operator: In}]\n",
            "needs at least one",
        ),
        (
            "discoverySelectors:\n- matchExpressions: [{key: a, operator: Exists, values: [b]}]\n",
            "takes no values",
        ),
        ("discoverySelectors:\n- matchExpressions: [{operator: Exists}]\n", "key"),
        ("discoverySelectors:\n- matchExpressions: [~]\n", "expected a mapping"),
        ("discoverySelectors:\n- matchExpressions: [{key: a, operator: ~}]\n", "is not one of"),
        (
            "discoverySelectors:\n- matchExpressions: [{key: a, operator: In, values: [1]}]\n",
            "a number (1)",
        ),
        ("discoverySelectors:\n- matchLabels: {'bad key!': a}\n", "bad key!"),
        ("discoverySelectors:\n- matchLabels: {a: 'not a value!'}\n", "not a value!"),
    ],
)
def test_bad_values_name_the_field(text: str, says: str) -> None:
    with pytest.raises(MeshConfigError) as e:
        parse_mesh(text, "configmap:istio-system/istio mesh")
    assert says in str(e.value)
    assert str(e.value).startswith("configmap:istio-system/istio mesh: ")  # where, always


def test_selector_set_or_between_entries() -> None:
    got = parse_mesh("discoverySelectors:\n- matchLabels: {a: b}\n- matchLabels: {c: d}\n")
    sel = got.selector_set()
    assert sel is not None
    assert sel.matches({"a": "b"}) and sel.matches({"c": "d"}) and not sel.matches({"a": "x"})
    assert parse_mesh("").selector_set() is None


@pytest.mark.parametrize(
    ("text", "namespace", "name"),
    [
        ("configmap:istio-system/istio", "istio-system", "istio"),
        ("configmap:istio-system/istio-canary", "istio-system", "istio-canary"),
        ("configmap:mesh/istio-1-27.x", "mesh", "istio-1-27.x"),
    ],
)
def test_refs(text: str, namespace: str, name: str) -> None:
    ref = parse_ref(text)
    assert (ref.namespace, ref.name) == (namespace, name)
    assert str(ref) == text
    assert ref.path == f"/api/v1/namespaces/{namespace}/configmaps/{name}"


@pytest.mark.parametrize(
    "text",
    [
        "istio-system/istio",
        "configmap:istio",
        "secret:istio-system/istio",
        "configmap:Istio/istio",
        "configmap:istio-system/",
        "configmap:/istio",
    ],
)
def test_bad_refs(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_ref(text)
