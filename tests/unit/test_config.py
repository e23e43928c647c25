"""Config file parsing: errors name the key and its line; flags override; security refusals."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from discofilter.config import (
    Config,
    dump_config,
    load_config_text,
    with_overrides,
)
from discofilter.config_checks import check_security
from discofilter.errors import ConfigError

GOOD = textwrap.dedent(
    """\
    server:
      listen: 127.0.0.1:9443
      workers: 2
    upstream:
      kubeconfig: /tmp/kc
      connectTimeoutSeconds: 3
    discoverySelectors:
      - matchLabels: {istio-injection: enabled}
      - matchExpressions:
          - {key: istio.io/rev, operator: Exists}
    alwaysEnrolled: [istio-system, gateways]
    exemptResources: [leases.coordination.k8s.io]
    streams:
      maxFrameBytes: 1048576
    churnControl:
      enabled: true
      rules:
        - {resource: pods, windowSeconds: 0.2}
    """
)


def test_good_file_loads() -> None:
    c = load_config_text(GOOD, "c.yaml")
    assert c.server.listen == "127.0.0.1:9443" and c.server.workers == 2
    assert c.upstream.connect_timeout_seconds == 3.0
    assert c.enrollment.always_enrolled == ("istio-system", "gateways")
    sels, names = c.enrollment.selector_set()
    assert sels is not None and len(sels.selectors) == 2
    assert names == ("discoverySelectors[0]", "discoverySelectors[1]")
    assert sels.matches({"istio.io/rev": "canary"})
    assert c.streams.max_frame_bytes == 1048576
    assert c.churn_control == {
        "enabled": True,
        "rules": [{"resource": "pods", "windowSeconds": 0.2}],
    }


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("server:\n  listne: x\n", "c.yaml:2: server.listne: unknown key"),
        ("server:\n  listen: x\n  workers: two\n", "c.yaml:3: server.workers: expected an integer"),
        ("bogus: 1\n", "c.yaml:1: bogus: unknown key"),
        ("\n\nstreams:\n  pruneManagedFields: 1\n", "c.yaml:4: streams.pruneManagedFields"),
        (
            "discoverySelectors:\n  - matchLabels: {a: b}\n  - matchExpression: []\n",
            "c.yaml:3: discoverySelectors[1]: unknown field(s) matchExpression",
        ),
        (
            "discoverySelectors:\n  - matchExpressions:\n    - {key: a, operator: Maybe}\n",
            "c.yaml:2: discoverySelectors[0].matchExpressions[0].operator",
        ),
        ("selectors:\n  - ok=1\n  - 'bad key=1'\n", "c.yaml:3: selectors[1]"),
        ("alwaysEnrolled: istio-system\n", "c.yaml:1: alwaysEnrolled: expected a list"),
        ("server: [1]\n", "c.yaml:1: server.: expected a mapping"),
        ("a: [\n", "c.yaml: not valid YAML"),
        ("churnControl:\n  enabled: true\n  rulez: []\n", "c.yaml:3: churnControl.rulez"),
        ("churnControl:\n  enabled: yes-ish\n", "c.yaml:2: churnControl.enabled"),
        (
            "churnControl:\n  rules:\n    - {resource: pods, windowSeconds: -1}\n",
            "churnControl.rules[0]",
        ),
    ],
)
def test_errors_name_key_and_line(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as ei:
        load_config_text(text, "c.yaml")
    assert needle in str(ei.value)


def test_empty_file_is_defaults() -> None:
    assert load_config_text("", "c.yaml") == Config()


def test_empty_discovery_selectors_mean_all_namespaces_like_istio() -> None:
    c = load_config_text("discoverySelectors: []\n", "c.yaml")
    assert c.enrollment.selector_set() == (None, ())


def test_flags_override_file_and_print_roundtrips() -> None:
    c = load_config_text(GOOD, "c.yaml")
    c2 = with_overrides(
        c,
        server={"listen": "127.0.0.1:1", "workers": None},
        enrollment={"selectors": ("a=b",)},
    )
    assert c2.server.listen == "127.0.0.1:1" and c2.server.workers == 2
    _, names = c2.enrollment.selector_set()
    assert names == ("--selector 0",)  # --selector replaces discoverySelectors
    dumped = dump_config(c2)
    assert "discoverySelectors:" in dumped and "listen: 127.0.0.1:1" in dumped
    assert load_config_text(dumped, "again.yaml") == c2
    assert isinstance(yaml.safe_load(dumped), dict)


@pytest.mark.parametrize(
    ("server", "needle"),
    [
        ({"listen": "0.0.0.0:8001"}, "without TLS"),
        ({"listen": "10.1.2.3:8001"}, "without TLS"),
        ({"listen": "0.0.0.0:8443", "self_signed_tls": True, "sidecar": True}, "sidecar"),
        ({"listen": "127.0.0.1:1", "tls_cert_file": "c"}, "together"),
        ({"listen": "127.0.0.1:1", "workers": 0}, "workers"),
        ({"listen": "nonsense"}, "HOST:PORT"),
    ],
)
def test_security_refusals(server: dict[str, object], needle: str) -> None:
    c = with_overrides(Config(), server=server)
    with pytest.raises(ConfigError, match=needle):
        check_security(c)


@pytest.mark.parametrize(
    ("groups", "needle"),
    [
        ({"upstream": {"url": "ftp://x"}}, "upstream.url"),
        ({"enrollment": {"always_enrolled": ("Not_A_Namespace",)}}, "alwaysEnrolled"),
        ({"streams": {"max_frame_bytes": 10}}, "maxFrameBytes"),
    ],
)
def test_value_refusals(groups: dict[str, dict[str, object]], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        check_security(with_overrides(Config(), **groups))


@pytest.mark.parametrize(
    "server",
    [
        {"listen": "127.0.0.1:8001"},
        {"listen": "[::1]:8001", "sidecar": True},
        {"listen": "localhost:8001"},
        {"listen": "0.0.0.0:8443", "self_signed_tls": True},
        {"listen": "0.0.0.0:8443", "tls_cert_file": "c", "tls_key_file": "k"},
    ],
)
def test_security_accepts(server: dict[str, object]) -> None:
    check_security(with_overrides(Config(), server=server))


def test_invalid_cli_selector_is_config_error() -> None:
    c = with_overrides(Config(), enrollment={"selectors": ("a in (",)})
    with pytest.raises(ConfigError):
        check_security(c)


def test_shared_watches_section_shorthand_bounds_and_round_trip() -> None:
    from discofilter.config import SharedWatchesConfig

    assert load_config_text("sharedWatches: true\n").shared_watches == SharedWatchesConfig(True)
    assert load_config_text("sharedWatches: false\n").shared_watches == SharedWatchesConfig()
    cfg = load_config_text("sharedWatches:\n  enabled: true\n  windowEvents: 50\n")
    assert cfg.shared_watches.enabled and cfg.shared_watches.window_events == 50
    assert load_config_text(dump_config(cfg)) == cfg
    with pytest.raises(ConfigError, match=r"c.yaml:2: sharedWatches.windowEvents: must be at"):
        load_config_text("sharedWatches:\n  windowEvents: 0\n", "c.yaml")
    with pytest.raises(ConfigError, match=r"sharedWatches\.idleSecnds: unknown key"):
        load_config_text("sharedWatches:\n  idleSecnds: 1\n")


def test_shared_watches_flag_overrides_the_file(tmp_path: Path) -> None:
    from discofilter.cli import build_parser
    from discofilter.cli.serve import effective_config

    f = tmp_path / "c.yaml"
    f.write_text("sharedWatches: {enabled: false, idleSeconds: 9}\n")
    args = build_parser().parse_args(["serve", "--config", str(f), "--shared-watches"])
    cfg = effective_config(args)
    assert cfg.shared_watches.enabled and cfg.shared_watches.idle_seconds == 9
    args = build_parser().parse_args(["serve", "--config", str(f)])
    assert not effective_config(args).shared_watches.enabled
