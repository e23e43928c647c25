"""The proxy's settings: grouped frozen dataclasses, a camelCase YAML file, flags on top.

Policy:

* Every attribute says its unit, default and reason; the Helm chart's values mirror these groups
  one to one (``server.listen`` here is ``server.listen`` there).
* The YAML file uses camelCase keys (``discoverySelectors`` has exactly Istio's meshConfig
  shape). Errors name the bad key *and* its line (``config.yaml:12: server.listne: unknown key``),
  taken from PyYAML's node marks, so an SRE finds the typo without reading code.
* Flags override the file; ``--print-config`` prints the effective result as YAML.
* ``check_security`` (``config_checks.py``) refuses the unsafe combinations before anything
  listens: a non-loopback listener without TLS (callers' credentials would cross the network in
  clear, and client-go sends none over plain http anyway), and sidecar mode on a non-loopback
  listener (it lends the proxy's identity to unauthenticated requests).
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from discofilter.coalesce import PolicyRule, rules_from_config
from discofilter.errors import ConfigError, SelectorError
from discofilter.filter.selectors import (
    SelectorSet,
    parse_label_selector,
    selector_from_label_selector,
)
from discofilter.istio.meshconfig import parse_ref


@dataclass(frozen=True)
class ServerConfig:
    listen: str = "127.0.0.1:8001"
    """HOST:PORT to serve on. Loopback by default: contract 5, nobody gets in who should not."""
    tls_cert_file: str | None = None
    """PEM certificate to serve TLS with (with ``tls_key_file``). TLS is what lets client-go send
    the caller's credentials: it sends none over plain http."""
    tls_key_file: str | None = None
    """PEM private key of ``tls_cert_file``."""
    self_signed_tls: bool = False
    """Generate a self-signed certificate at start (for IPs/names of the listener and localhost)."""
    self_signed_ca_out: str | None = None
    """Where to write the generated certificate (PEM) for the client's kubeconfig
    ``certificate-authority``. None: not written."""
    sidecar: bool = False
    """Opt-in: requests without Authorization use the proxy's own identity. Loopback only; the
    proxy shares istiod's pod and service account. Never run with hostNetwork."""
    workers: int = 1
    """Worker processes sharing the port with SO_REUSEPORT, each with its own enrollment view.
    One watch stream is one connection and one event loop; more workers spread streams, not
    events of one stream."""
    not_ready_wait_seconds: float = 5.0
    """How long a filtered request waits for the first namespace sync before a 503 with
    Retry-After: 1. 5 s covers a LIST of 10k namespaces; client-go retries a 503 anyway."""


@dataclass(frozen=True)
class UpstreamConfig:
    url: str | None = None
    """kube-apiserver URL (``--upstream``). Without it: kubeconfig, then in-cluster."""
    kubeconfig: str | None = None
    """kubeconfig path for the proxy's own identity and the server URL."""
    context: str | None = None
    """kubeconfig context (default: current-context)."""
    ca_file: str | None = None
    """CA bundle to verify the upstream with, overriding the kubeconfig's."""
    insecure_skip_tls_verify: bool = False
    """Turn off upstream TLS verification. Off by default; never in production."""
    token_file: str | None = None
    """Bearer token file for the proxy's own identity; re-read when it changes (projected
    service-account tokens rotate about hourly)."""
    connect_timeout_seconds: float = 10.0
    """TCP+TLS connect timeout to the upstream. Watches have no read timeout: they are long."""
    discovery_refresh_seconds: float = 60.0
    """How often to re-read the API discovery (custom resources appear and go). A CRD created
    in between is passed through unfiltered for at most this long."""


@dataclass(frozen=True)
class EnrollmentConfig:
    discovery_selectors: tuple[Mapping[str, Any], ...] | None = None
    """Istio's meshConfig.discoverySelectors (LabelSelectors OR-ed). None or [] = every
    namespace, exactly as Istio reads it."""
    selectors: tuple[str, ...] = ()
    """kubectl-syntax selectors from ``--selector``, each an OR term; they replace the file's
    discoverySelectors when given."""
    always_enrolled: tuple[str, ...] = ("istio-system",)
    """Namespaces enrolled whatever their labels: the control plane must see itself."""
    exempt_resources: tuple[str, ...] = ()
    """Resources never filtered (kubectl group-resource spelling: "leases.coordination.k8s.io")."""
    mesh_config_from: str | None = None
    """``configmap:NAMESPACE/NAME``: read discoverySelectors live from istiod's own mesh
    ConfigMap (``istio-system/istio``, ``istio-<revision>`` for a revision), exactly as istiod
    parses it, so the two never drift apart (``discofilter.sources.mesh_source``). The file's
    ``discoverySelectors`` are then only the fallback until a good mesh value is read; excludes
    ``selectors``. None: selectors come from this file and the flags."""
    safety_list: bool = True
    """Enroll, whatever the selectors say, istio-system and the namespaces where ztunnel,
    gateways and istiod run (found by a pod poll every 30 s; istio/istio#52057, #33586;
    ``discofilter.istio.safety``). Off: only ``alwaysEnrolled``."""

    def selector_set(self) -> tuple[SelectorSet | None, tuple[str, ...]]:
        """The compiled OR of selectors and a name per term (raises SelectorError)."""
        if self.selectors:
            sels = tuple(parse_label_selector(s) for s in self.selectors)
            return SelectorSet(sels), tuple(f"--selector {i}" for i in range(len(sels)))
        if not self.discovery_selectors:
            # Istio: an absent and an empty discoverySelectors both mean every namespace (Go
            # cannot tell them apart: len(nil) == len([]) == 0).
            return None, ()
        sels = tuple(
            selector_from_label_selector(s, f"discoverySelectors[{i}]")
            for i, s in enumerate(self.discovery_selectors)
        )
        return SelectorSet(sels), tuple(f"discoverySelectors[{i}]" for i in range(len(sels)))


@dataclass(frozen=True)
class ScopeConfig:
    """One named scope: its own selectors, reached at ``/scopes/<name>`` (docs/istio.md
    "Scopes"). The top-level ``alwaysEnrolled`` and the safety list are added to every scope:
    each control plane must see istio-system and the gateways' namespaces as well."""

    name: str = ""
    """DNS-1123 label; the path prefix ``/scopes/<name>`` of this scope's kubeconfig server."""
    discovery_selectors: tuple[Mapping[str, Any], ...] | None = None
    """Istio's meshConfig.discoverySelectors for this scope (None or [] = every namespace)."""
    selectors: tuple[str, ...] = ()
    """kubectl-syntax selectors, each an OR term; they replace ``discoverySelectors``."""
    always_enrolled: tuple[str, ...] = ()
    """Namespaces this scope enrolls whatever their labels (added to the top-level list)."""
    mesh_config_from: str | None = None
    """``configmap:NAMESPACE/NAME``: this scope's selectors read live from its istiod's mesh
    ConfigMap, as the top-level ``meshConfigFrom`` does for the default scope (the scope's
    ``discoverySelectors`` are then the fallback until a good value is read)."""

    def enrollment(self, top: EnrollmentConfig) -> EnrollmentConfig:
        """This scope's selectors as an ``EnrollmentConfig`` (with ``top``'s always-enrolled
        names and safety list added)."""
        return EnrollmentConfig(
            discovery_selectors=self.discovery_selectors,
            selectors=self.selectors,
            always_enrolled=tuple(dict.fromkeys((*top.always_enrolled, *self.always_enrolled))),
            exempt_resources=top.exempt_resources,
            mesh_config_from=self.mesh_config_from,
            safety_list=top.safety_list,
        )


@dataclass(frozen=True)
class StreamsConfig:
    max_frame_bytes: int = 16 * 1024 * 1024
    """Largest single watch line/frame accepted from the upstream. etcd caps objects at ~1.5 MB;
    16 MiB leaves room for big CRs and still bounds memory per stream."""
    client_buffer_bytes: int = 4 * 1024 * 1024
    """Bytes a watch client may leave unread before it is cut off (contract 6)."""
    slow_client_seconds: float = 10.0
    """A write that cannot drain for this long ends the stream (kube-apiserver cuts a
    cluster-wide pod watcher whose 1,000-event buffer stays full for ~100 ms; clients relist)."""
    prune_managed_fields: bool = False
    """Strip metadata.managedFields from forwarded objects (istiod never reads them)."""
    upstream_excluded_namespaces: int = 1000
    """Not-enrolled namespaces a filtered watch asks the API server to leave out (one
    ``metadata.namespace!=`` field-selector term each, the churniest first when there are more),
    so their events never reach the proxy; 0 = every event comes and is dropped here
    (docs/proxy.md "Exclusions upstream")."""


@dataclass(frozen=True)
class SharedWatchesConfig:
    """``sharedWatches:``: one upstream LIST+WATCH per kind, served to every client from a
    filtered cache (docs/shared-watches.md). ``sharedWatches: true`` is short for
    ``{enabled: true}``. Restart-only: a reload keeps the running value."""

    enabled: bool = False
    """Off by default for ``serve`` (a sidecar serves one istiod: nothing to share); the Helm
    chart turns it on in standalone mode, where replicas and revisions share one proxy."""
    window_events: int = 10_000
    """Events kept per kind for resumes: ~75 s (kube-apiserver's window) at 100 filtered
    events/s."""
    window_bytes: int = 64 * 1024 * 1024
    """Bytes of events kept per kind, so large objects cannot make the window unbounded."""
    watcher_frames: int = 1_000
    """Live events one client may have undelivered before it is cut off (10 s at 100/s, the
    largest buffer kube-apiserver gives a watcher)."""
    watcher_bytes: int = 8 * 1024 * 1024
    """Live bytes one client may have undelivered before it is cut off."""
    consistent_read_timeout_seconds: float = 3.0
    """How long a consistent read (``resourceVersion=""``) waits for the cache to reach the
    upstream's current resourceVersion before it is served from the upstream instead
    (kube-apiserver waits 3 s for its own cache)."""
    bookmark_seconds: float = 60.0
    """BOOKMARKs to every watcher that allows them at least this often (kube-apiserver: ~1 min)."""
    idle_seconds: float = 300.0
    """A kind's upstream watch stops after this long without clients (and is listed again on
    the next one): a proxy must not keep watching what nobody reads."""

    def __post_init__(self) -> None:
        for name in ("window_events", "window_bytes", "watcher_frames", "watcher_bytes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"sharedWatches.{camel(name)}: must be at least 1")
        for name in ("consistent_read_timeout_seconds", "bookmark_seconds", "idle_seconds"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"sharedWatches.{camel(name)}: must be more than 0")


DEFAULT_ADMIN_LISTEN = "127.0.0.1:9090"
ADMIN_OFF = ("", "off")
"""Values of ``admin.listen`` / ``admin.grpcListen`` (and their flags) that disable a listener."""


@dataclass(frozen=True)
class AdminConfig:
    listen: str = DEFAULT_ADMIN_LISTEN
    """HOST:PORT of the admin HTTP listener (``/metrics``, ``/healthz``, ``/readyz``,
    ``/debug/enrollment``); "" or "off" = none. On by default because probes, Prometheus and the
    container HEALTHCHECK expect it; loopback because it has no authentication and shows
    namespace names and labels. This default address is best effort: if another process holds
    it (a second proxy on the host, the benchmark's proxies), ``serve`` warns and runs without
    it; any other address must bind or ``serve`` exits. With ``--workers N`` only worker 0
    binds it (its ``/metrics`` describe that worker)."""
    grpc_listen: str = ""
    """HOST:PORT of the admin gRPC service (status, decisions, selector dry-run,
    grpc.health.v1); "" or "off" = none (the default: it costs the grpcio import and its
    threads, and HTTP covers probes and metrics; the Helm chart turns it on). Worker 0 only,
    like ``listen``."""


def admin_address(value: str | None) -> str | None:
    """The address to bind, or None when ``value`` disables the listener ("" / "off")."""
    if value is None or value.strip().lower() in ADMIN_OFF:
        return None
    return value.strip()


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    upstream: UpstreamConfig = field(default_factory=UpstreamConfig)
    enrollment: EnrollmentConfig = field(default_factory=EnrollmentConfig)
    streams: StreamsConfig = field(default_factory=StreamsConfig)
    churn_control: Mapping[str, Any] | None = None
    """The ``churnControl:`` section, handed to the coalesce package as is (None = defaults)."""
    admin: AdminConfig = field(default_factory=AdminConfig)
    shared_watches: SharedWatchesConfig = field(default_factory=SharedWatchesConfig)
    scopes: tuple[ScopeConfig, ...] = ()
    """Named scopes besides the default one (today's URLs), each with its own selectors."""

    def scope(self, name: str) -> ScopeConfig | None:
        return next((s for s in self.scopes if s.name == name), None)


# The enrollment keys sit at the top level of the file, as in Istio's meshConfig.
_TOP_LEVEL_ENROLLMENT = (
    "discoverySelectors",
    "selectors",
    "alwaysEnrolled",
    "exemptResources",
    "meshConfigFrom",
    "safetyList",
)
_SECTIONS: dict[str, type] = {
    "server": ServerConfig,
    "upstream": UpstreamConfig,
    "streams": StreamsConfig,
    "admin": AdminConfig,
    "sharedWatches": SharedWatchesConfig,
}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _where(source: str, node: yaml.Node) -> str:
    return f"{source}:{node.start_mark.line + 1}"


def _plain(node: yaml.Node) -> Any:
    return yaml.safe_load(yaml.serialize(node))


def _convert(value_node: yaml.Node, tp: Any, key: str, source: str) -> Any:
    """Check a scalar/sequence node against a field type; return the Python value."""
    where = f"{_where(source, value_node)}: {key}"
    value = _plain(value_node)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(value_node, inner[0], key, source)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        assert isinstance(value_node, yaml.SequenceNode)
        return tuple(
            _convert(item, args[0], f"{key}[{i}]", source)
            for i, item in enumerate(value_node.value)
        )
    if origin is Mapping or tp is Mapping:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return value
    return value


def _section(
    node: yaml.Node, cls: type, prefix: str, source: str, only: tuple[str, ...] = ()
) -> Any:
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"{_where(source, node)}: {prefix}: expected a mapping")
    hints = typing.get_type_hints(cls)
    by_camel = {camel(f.name): f.name for f in dataclasses.fields(cls)}
    if only:
        by_camel = {k: v for k, v in by_camel.items() if k in only}
    values: dict[str, Any] = {}
    for k_node, v_node in node.value:
        key = k_node.value
        if key not in by_camel:
            hint = ", ".join(sorted(by_camel))
            raise ConfigError(
                f"{_where(source, k_node)}: {prefix}{key}: unknown key (expected one of {hint})"
            )
        values[by_camel[key]] = _convert(v_node, hints[by_camel[key]], prefix + key, source)
    return values


def load_config_text(text: str, source: str = "<config>") -> Config:
    """Parse and validate a YAML config document. Raises ConfigError naming key and line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: not valid YAML: {e}") from e
    if root is None:
        return Config()
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{_where(source, root)}: the config file must be a mapping")
    groups: dict[str, Any] = {}
    enrollment: dict[str, Any] = {}
    churn: Mapping[str, Any] | None = None
    scopes: tuple[ScopeConfig, ...] = ()
    for k_node, v_node in root.value:
        key = k_node.value
        if key == "sharedWatches" and isinstance(_plain(v_node), bool):
            groups[key] = SharedWatchesConfig(enabled=_plain(v_node))
        elif key in _SECTIONS:
            values = _section(v_node, _SECTIONS[key], key + ".", source)
            try:
                groups[key] = _SECTIONS[key](**values)
            except ConfigError as e:  # a bound checked by the section itself
                raise ConfigError(f"{_where(source, v_node)}: {e}") from e
        elif key in _TOP_LEVEL_ENROLLMENT:
            sub = yaml.MappingNode("tag:yaml.org,2002:map", [(k_node, v_node)])
            enrollment.update(_section(sub, EnrollmentConfig, "", source, _TOP_LEVEL_ENROLLMENT))
            if key == "discoverySelectors":
                _check_discovery_selectors(v_node, source)
            if key == "selectors":
                for i, item in enumerate(v_node.value):
                    try:
                        parse_label_selector(item.value)
                    except SelectorError as e:
                        raise ConfigError(f"{_where(source, item)}: selectors[{i}]: {e}") from e
        elif key == "churnControl":
            churn = _plain(v_node)
            if churn is not None and not isinstance(churn, dict):
                raise ConfigError(f"{_where(source, v_node)}: churnControl: expected a mapping")
            _check_churn_control(churn, v_node, source)
        elif key == "scopes":
            scopes = _scopes(v_node, source)
        else:
            allowed = sorted([*_SECTIONS, *_TOP_LEVEL_ENROLLMENT, "churnControl", "scopes"])
            raise ConfigError(
                f"{_where(source, k_node)}: {key}: unknown key (expected one of "
                f"{', '.join(allowed)})"
            )
    return Config(
        server=groups.get("server", ServerConfig()),
        upstream=groups.get("upstream", UpstreamConfig()),
        enrollment=EnrollmentConfig(**enrollment),
        streams=groups.get("streams", StreamsConfig()),
        churn_control=churn,
        admin=groups.get("admin", AdminConfig()),
        shared_watches=groups.get("sharedWatches", SharedWatchesConfig()),
        scopes=scopes,
    )


def _check_discovery_selectors(node: yaml.Node, source: str, prefix: str = "") -> None:
    if not isinstance(node, yaml.SequenceNode):
        return  # _convert already rejected it
    for i, item in enumerate(node.value):
        try:
            selector_from_label_selector(_plain(item), f"{prefix}discoverySelectors[{i}]")
        except SelectorError as e:
            raise ConfigError(f"{_where(source, item)}: {e}") from e


def _check_selectors(node: yaml.Node, source: str, prefix: str = "") -> None:
    if not isinstance(node, yaml.SequenceNode):
        return  # _convert already rejected it
    for i, item in enumerate(node.value):
        try:
            parse_label_selector(item.value)
        except SelectorError as e:
            raise ConfigError(f"{_where(source, item)}: {prefix}selectors[{i}]: {e}") from e


DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
"""A namespace or scope name (a DNS-1123 label; at most 63 characters, checked beside)."""


def _scopes(node: yaml.Node, source: str) -> tuple[ScopeConfig, ...]:
    """The ``scopes:`` list: each item a mapping with a unique DNS-1123 ``name`` and at most
    one selector source (``discoverySelectors``, ``selectors`` or ``meshConfigFrom``)."""
    if not isinstance(node, yaml.SequenceNode):
        raise ConfigError(f"{_where(source, node)}: scopes: expected a list of mappings")
    out: list[ScopeConfig] = []
    for i, item in enumerate(node.value):
        prefix = f"scopes[{i}]."
        values = _section(item, ScopeConfig, prefix, source)
        for k_node, v_node in item.value:
            if k_node.value == "discoverySelectors":
                _check_discovery_selectors(v_node, source, prefix)
            elif k_node.value == "selectors":
                _check_selectors(v_node, source, prefix)
        where = _where(source, item)
        name = values.get("name")
        if not name:
            raise ConfigError(f"{where}: {prefix}name: required")
        if not DNS1123_LABEL.match(name) or len(name) > 63:
            raise ConfigError(f"{where}: {prefix}name: {name!r} is not a DNS-1123 label")
        if any(s.name == name for s in out):
            raise ConfigError(f"{where}: {prefix}name: {name!r} is already a scope")
        # Empty values are unset (what --print-config writes for them). As at the top level,
        # discoverySelectors beside meshConfigFrom are its fallback; selectors replace both.
        if values.get("selectors"):
            for other in ("discovery_selectors", "mesh_config_from"):
                if values.get(other):
                    raise ConfigError(
                        f"{where}: {prefix}selectors: a scope takes selectors or "
                        f"{camel(other)}, not both"
                    )
        if values.get("mesh_config_from"):
            try:
                parse_ref(values["mesh_config_from"])
            except ConfigError as e:
                raise ConfigError(f"{where}: {prefix}meshConfigFrom: {e}") from e
        out.append(ScopeConfig(**values))
    return tuple(out)


CHURN_KEYS = frozenset({"enabled", "rules"})


def parse_churn_control(section: Mapping[str, Any] | None) -> tuple[bool, list[PolicyRule]]:
    """(enabled, rules) from the ``churnControl`` mapping; raises ConfigError naming the key.

    ``enabled`` defaults to true (the built-in policies: pods, endpoints and endpointslices
    coalesce in 250 ms windows); ``rules`` are ``discofilter.coalesce.rules_from_config`` rules.
    """
    if section is None:
        return True, []
    unknown = set(section) - CHURN_KEYS
    if unknown:
        raise ConfigError(
            f"churnControl.{sorted(unknown)[0]}: unknown key (expected enabled, rules)"
        )
    enabled = section.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"churnControl.enabled: expected true or false, got {enabled!r}")
    rules = rules_from_config(section.get("rules") or [], "churnControl.rules")
    return enabled, rules


def _check_churn_control(churn: Any, node: yaml.Node, source: str) -> None:
    try:
        parse_churn_control(churn)
    except ConfigError as e:
        line = node.start_mark.line + 1
        # Point at the offending key's own line when the message names a top-level key of it.
        if isinstance(node, yaml.MappingNode):
            for k, _ in node.value:
                if f"churnControl.{k.value}" in str(e):
                    line = k.start_mark.line + 1
        raise ConfigError(f"{source}:{line}: {e}") from e


def load_config_file(path: str) -> Config:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from e
    return load_config_text(text, path)


def with_overrides(config: Config, **groups: Mapping[str, Any]) -> Config:
    """Return ``config`` with the non-None values of each group's overrides applied (flags)."""
    out = config
    for group, values in groups.items():
        changed = {k: v for k, v in values.items() if v is not None}
        if changed:
            out = dataclasses.replace(
                out, **{group: dataclasses.replace(getattr(out, group), **changed)}
            )
    return out


def split_host_port(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"server.listen: {listen!r} is not HOST:PORT")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


def _to_plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {camel(f.name): _to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple | list):
        return [_to_plain(x) for x in obj]
    if isinstance(obj, Mapping):
        return {k: _to_plain(v) for k, v in obj.items()}
    return obj


def dump_config(config: Config) -> str:
    """The effective config as YAML, in the file's own shape (loadable again)."""
    doc: dict[str, Any] = {
        "server": _to_plain(config.server),
        "upstream": _to_plain(config.upstream),
        "streams": _to_plain(config.streams),
        "admin": _to_plain(config.admin),
        "sharedWatches": _to_plain(config.shared_watches),
    }
    doc.update(_to_plain(config.enrollment))
    if config.churn_control is not None:
        doc["churnControl"] = _to_plain(config.churn_control)
    doc["scopes"] = _to_plain(config.scopes)
    return yaml.safe_dump(doc, sort_keys=False)
