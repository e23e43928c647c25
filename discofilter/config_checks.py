"""What a loaded config may not be (``check_security``): the listener rules that keep callers'
credentials safe (see ``discofilter.config``'s policy), and values out of range. ``serve``
checks at start, a live reload before it applies.
"""

from __future__ import annotations

import ipaddress

from discofilter.config import DNS1123_LABEL, Config, admin_address, camel, split_host_port
from discofilter.errors import ConfigError
from discofilter.istio.meshconfig import parse_ref


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_security(config: Config) -> None:
    """Refuse unsafe listener settings (see the module docstring) and values out of range."""
    s = config.server
    host, _ = split_host_port(s.listen)
    tls = bool(s.tls_cert_file) or s.self_signed_tls
    if bool(s.tls_cert_file) != bool(s.tls_key_file):
        raise ConfigError("server.tlsCertFile and server.tlsKeyFile must be given together")
    if s.tls_cert_file and s.self_signed_tls:
        raise ConfigError("server.selfSignedTls and server.tlsCertFile are mutually exclusive")
    if not is_loopback(host) and not tls:
        raise ConfigError(
            f"server.listen: refusing to listen on non-loopback {host!r} without TLS: callers' "
            "credentials would cross the network in clear (and client-go sends none over http). "
            "Give --tls-cert-file/--tls-key-file or --self-signed-tls, or listen on 127.0.0.1."
        )
    if s.sidecar and not is_loopback(host):
        raise ConfigError(
            "server.sidecar: sidecar mode lends the proxy's identity to unauthenticated requests "
            f"and is allowed only on a loopback listener, not {host!r}"
        )
    if s.workers < 1:
        raise ConfigError("server.workers: must be at least 1")
    url = config.upstream.url
    if url and not url.startswith(("http://", "https://")):  # "" = unset (Helm values)
        raise ConfigError(f"upstream.url: {url!r} must start with http:// or https://")
    for key, names in (
        ("alwaysEnrolled", config.enrollment.always_enrolled),
        *(
            (f"scopes[{i}].alwaysEnrolled", sc.always_enrolled)
            for i, sc in enumerate(config.scopes)
        ),
    ):
        for name in names:
            if not DNS1123_LABEL.match(name) or len(name) > 63:
                raise ConfigError(f"{key}: {name!r} is not a valid namespace name")
    for key in ("not_ready_wait_seconds",):
        if getattr(s, key) < 0:
            raise ConfigError(f"server.{camel(key)}: must be >= 0")
    st = config.streams
    if st.max_frame_bytes < 1024 or st.client_buffer_bytes < 1024 or st.slow_client_seconds <= 0:
        raise ConfigError(
            "streams: maxFrameBytes and clientBufferBytes must be >= 1024 and slowClientSeconds > 0"
        )
    if st.upstream_excluded_namespaces < 0:
        raise ConfigError("streams.upstreamExcludedNamespaces: must be >= 0 (0 = off)")
    for key, value in (("listen", config.admin.listen), ("grpcListen", config.admin.grpc_listen)):
        address = admin_address(value)
        if address is not None:
            try:
                split_host_port(address)
            except ConfigError:
                raise ConfigError(f"admin.{key}: {value!r} is not HOST:PORT, '' or off") from None
    mesh = config.enrollment.mesh_config_from
    if mesh:  # "" = unset (Helm values)
        parse_ref(mesh)
        if config.enrollment.selectors:
            raise ConfigError(
                "meshConfigFrom and --selector/selectors are mutually exclusive: the mesh "
                "ConfigMap's discoverySelectors are the selectors"
            )
    config.enrollment.selector_set()  # raises SelectorError (a ConfigError) when invalid
    for sc in config.scopes:
        sc.enrollment(config.enrollment).selector_set()
