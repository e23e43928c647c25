"""The Helm chart without helm: values vs schema, values vs config.py, templates vs values.

A real ``helm template`` run lives in test_chart_render.py (skipped where helm is absent).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from discofilter import config as cfgmod
from discofilter.config_checks import check_security

CHART = Path(__file__).resolve().parents[2] / "charts" / "discofilter"
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
SCHEMA = json.loads((CHART / "values.schema.json").read_text())
GROUPS = {"server": cfgmod.ServerConfig, "upstream": cfgmod.UpstreamConfig,
          "streams": cfgmod.StreamsConfig, "admin": cfgmod.AdminConfig,
          "sharedWatches": cfgmod.SharedWatchesConfig}  # fmt: skip
TOP_LEVEL = {
    "discoverySelectors",
    "selectors",
    "alwaysEnrolled",
    "exemptResources",
    "meshConfigFrom",
    "safetyList",
    "churnControl",
    "scopes",
}
# Values the chart fills in by install mode (documented in values.yaml); "" (or null for
# sharedWatches.enabled) means "chart decides".
CHART_DECIDES = {
    ("server", "listen"),
    ("admin", "listen"),
    ("admin", "grpc_listen"),
    ("sharedWatches", "enabled"),
}


def _validator() -> jsonschema.Validator:
    cls = jsonschema.validators.validator_for(SCHEMA)
    cls.check_schema(SCHEMA)
    return cls(SCHEMA)


def test_values_yaml_is_valid() -> None:
    errors = [e.message for e in _validator().iter_errors(VALUES)]
    assert not errors


def _with(path: str, value: Any) -> dict[str, Any]:
    v = copy.deepcopy(VALUES)
    node = v
    *parents, last = path.split(".")
    for p in parents:
        node = node[p]
    node[last] = value
    return v


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("mode", "daemonset"),
        ("config.server.listne", "0.0.0.0:1"),  # typo: unknown keys are refused
        ("config.server.workers", 0),
        ("config.server.listen", "no-port"),
        ("config.upstream.url", "ftp://x"),
        ("config.discoverySelectors", [{"matchExpressions": [{"key": "a", "operator": "Gt"}]}]),
        ("config.discoverySelectors", [{"matchLabel": {"a": "b"}}]),
        ("config.alwaysEnrolled", ["Not_A_Namespace"]),
        ("config.meshConfigFrom", "istio-system/istio"),
        ("config.meshConfigFrom", "configmap:Istio_System/istio"),
        ("tls.source", "vault"),
        ("admin.listen", ":::"),
        ("sidecar.port", 70000),
        ("config.sharedWatches.enabled", "yes"),
        ("config.sharedWatches.windowEvents", 0),
        ("config.sharedWatches.watcherBytes", 0),
        ("config.sharedWatches.bookmarkSeconds", 0),
        ("config.sharedWatches.idleSecond", 300),  # typo
        ("config.sharedWatches", True),  # the config file's shorthand: values spell it out
        (
            "rbac.extraSharedWatchRules",
            [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}],
        ),  # read verbs of a watch only
        (
            "rbac.extraSharedWatchRules",
            [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list", "create"]}],
        ),
        ("rbac.extraSharedWatchRules", [{"apiGroups": [""], "resources": [], "verbs": ["list"]}]),
    ],
)
def test_schema_rejects(path: str, value: Any) -> None:
    assert list(_validator().iter_errors(_with(path, value))), f"{path}={value!r} was accepted"


def test_schema_needs_existing_secret_for_tls_secret() -> None:
    v = _with("tls.source", "secret")
    assert list(_validator().iter_errors(v))
    v["tls"]["existingSecret"] = "my-cert"
    assert not list(_validator().iter_errors(v))


def test_schema_accepts_istio_discovery_selectors() -> None:
    sels = [
        {"matchLabels": {"istio-injection": "enabled"}},
        {"matchExpressions": [{"key": "team", "operator": "In", "values": ["a", "b"]}]},
    ]
    assert not list(_validator().iter_errors(_with("config.discoverySelectors", sels)))


def test_values_config_mirrors_config_dataclasses() -> None:
    config = VALUES["config"]
    for group, cls in GROUPS.items():
        want = {cfgmod.camel(f.name) for f in dataclasses.fields(cls)}
        assert set(config[group]) == want, f"config.{group} keys differ from {cls.__name__}"
    enrollment = {cfgmod.camel(f.name) for f in dataclasses.fields(cfgmod.EnrollmentConfig)}
    assert set(config) == set(GROUPS) | TOP_LEVEL
    assert enrollment | {"churnControl", "scopes"} == TOP_LEVEL
    scope = SCHEMA["properties"]["config"]["properties"]["scopes"]["items"]["properties"]
    assert set(scope) == {cfgmod.camel(f.name) for f in dataclasses.fields(cfgmod.ScopeConfig)}


def test_values_config_defaults_equal_config_defaults() -> None:
    for group, cls in GROUPS.items():
        default = cls()
        for f in dataclasses.fields(cls):
            if (group, f.name) in CHART_DECIDES:
                continue
            want = getattr(default, f.name)
            have = VALUES["config"][group][cfgmod.camel(f.name)]
            assert have == ("" if want is None else want), f"config.{group}.{f.name}"
    e = cfgmod.EnrollmentConfig()
    assert VALUES["config"]["discoverySelectors"] == e.discovery_selectors
    assert tuple(VALUES["config"]["alwaysEnrolled"]) == e.always_enrolled


def _chart_config(mode_listen: str, shared: bool) -> dict[str, Any]:
    """What templates/_helpers.tpl discofilter.configFile renders, for the defaults."""
    cfg = copy.deepcopy(VALUES["config"])
    cfg["server"]["listen"] = mode_listen
    cfg["server"]["tlsCertFile"] = "/etc/discofilter/tls/tls.crt"
    cfg["server"]["tlsKeyFile"] = "/etc/discofilter/tls/tls.key"
    cfg["sharedWatches"]["enabled"] = shared
    return cfg


@pytest.mark.parametrize(
    ("listen", "shared"), [("0.0.0.0:8443", True), ("127.0.0.1:8443", False)],
    ids=["alone", "sidecar"],
)  # fmt: skip
def test_rendered_config_loads_and_is_secure(listen: str, shared: bool) -> None:
    text = yaml.safe_dump(_chart_config(listen, shared))
    config = cfgmod.load_config_text(text, "chart config.yaml")
    check_security(config)  # TLS on a non-loopback listener: accepted
    assert config.server.listen == listen
    assert config.enrollment.always_enrolled == ("istio-system",)
    assert config.shared_watches == cfgmod.SharedWatchesConfig(enabled=shared)


def test_shared_watches_enabled_defaults_to_by_mode() -> None:
    # null, not false: the chart decides by mode (templates/_helpers.tpl discofilter.sharedWatches),
    # and an explicit true/false must stay distinguishable from "not set".
    assert VALUES["config"]["sharedWatches"]["enabled"] is None
    for value in (True, False, None):
        v = _with("config.sharedWatches.enabled", value)
        assert not list(_validator().iter_errors(v)), value
    rules = [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list", "watch"]}]
    assert not list(_validator().iter_errors(_with("rbac.extraSharedWatchRules", rules)))


def _dig(values: Any, path: list[str]) -> bool:
    node = values
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def _templates() -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((CHART / "templates").iterdir()) if p.is_file()}


def test_every_values_reference_exists() -> None:
    missing = []
    for name, text in _templates().items():
        for ref in re.findall(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", text):
            if not _dig(VALUES, ref.strip(".").split(".")):
                missing.append(f"{name}: .Values{ref}")
    assert not missing


def test_every_include_is_defined() -> None:
    texts = _templates()
    defined = set(re.findall(r'define "([^"]+)"', "\n".join(texts.values())))
    used = {u for t in texts.values() for u in re.findall(r'include "([^"]+)"', t)}
    assert used <= defined, used - defined


def test_template_actions_are_balanced() -> None:
    opening = re.compile(r"\{\{-?\s*(if|range|with|define)\b")
    closing = re.compile(r"\{\{-?\s*end\s*-?\}\}")
    for name, text in _templates().items():
        assert len(opening.findall(text)) == len(closing.findall(text)), name


def test_scopes_values_validate_and_load() -> None:
    scopes = [
        {"name": "team-a", "discoverySelectors": [{"matchLabels": {"mesh": "a"}}]},
        {"name": "team-b", "selectors": ["mesh=b"], "alwaysEnrolled": ["istio-b"]},
    ]
    assert not [e.message for e in _validator().iter_errors(_with("config.scopes", scopes))]
    for bad in ([{"name": "Team_A"}], [{"discoverySelectors": []}], [{"name": "a", "x": 1}]):
        assert list(_validator().iter_errors(_with("config.scopes", bad))), bad
    # What the chart writes to config.yaml is what the binary loads.
    loaded = cfgmod.load_config_text(yaml.safe_dump({"scopes": scopes}), "values")
    assert [s.name for s in loaded.scopes] == ["team-a", "team-b"]
