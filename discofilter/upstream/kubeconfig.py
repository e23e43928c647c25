"""kubeconfig files: the server URL, the CA and the proxy's own credentials.

Supported, as ``kubectl`` reads them: ``current-context`` or an explicit context; cluster
``server``, ``certificate-authority(-data)``, ``insecure-skip-tls-verify``, ``tls-server-name``;
user ``token``, ``tokenFile`` (re-read on change), ``client-certificate(-data)``,
``client-key(-data)``, ``username``/``password``. Relative file paths are resolved against the
kubeconfig's directory, as client-go does. ``exec`` and ``auth-provider`` plugins are not run:
they raise a ConfigError naming the user, because running arbitrary commands from a proxy is a
decision an admin should make explicitly (use a token file instead).

Only one file is read (no ``KUBECONFIG`` path-list merging); the ``KUBECONFIG`` variable's first
entry is used when no path is given.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable, Mapping
from typing import Any

import yaml

from discofilter.clock import Clock
from discofilter.errors import ConfigError
from discofilter.upstream.target import OwnCredentials, TlsSettings, UpstreamTarget
from discofilter.upstream.token import TokenFile


def default_kubeconfig_path() -> str:
    env = os.environ.get("KUBECONFIG")
    if env:
        return env.split(os.pathsep)[0]
    return os.path.join(os.path.expanduser("~"), ".kube", "config")


def _named(items: Any, name: str, what: str, path: str) -> Mapping[str, Any]:
    for entry in items or []:
        if isinstance(entry, Mapping) and entry.get("name") == name:
            body = entry.get(what)
            if not isinstance(body, Mapping):
                raise ConfigError(f"kubeconfig {path}: {what} {name!r} has no {what} body")
            return body
    raise ConfigError(f"kubeconfig {path}: no {what} named {name!r}")


def _b64(value: Any, key: str, path: str) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError) as e:
        raise ConfigError(f"kubeconfig {path}: {key} is not valid base64") from e


def parse_kubeconfig(
    doc: Mapping[str, Any],
    path: str,
    context: str | None = None,
    clock: Clock | None = None,
) -> UpstreamTarget:
    """Resolve one context of a parsed kubeconfig into an ``UpstreamTarget``."""
    base = os.path.dirname(os.path.abspath(path))

    def rel(p: str) -> str:
        return p if os.path.isabs(p) else os.path.join(base, p)

    ctx_name = context or doc.get("current-context")
    if not ctx_name:
        raise ConfigError(f"kubeconfig {path}: no current-context; pass --context")
    ctx = _named(doc.get("contexts"), ctx_name, "context", path)
    cluster = _named(doc.get("clusters"), str(ctx.get("cluster")), "cluster", path)
    user: Mapping[str, Any] = {}
    if ctx.get("user"):
        user = _named(doc.get("users"), str(ctx.get("user")), "user", path)

    server = cluster.get("server")
    if not isinstance(server, str) or not server.startswith(("http://", "https://")):
        raise ConfigError(
            f"kubeconfig {path}: cluster of context {ctx_name!r} has no http(s) server"
        )
    tls = TlsSettings(
        ca_file=rel(cluster["certificate-authority"])
        if cluster.get("certificate-authority")
        else None,
        ca_data=_b64(cluster["certificate-authority-data"], "certificate-authority-data", path)
        if cluster.get("certificate-authority-data")
        else None,
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
        server_name=cluster.get("tls-server-name") or None,
    )
    own = _own_credentials(user, str(ctx.get("user")), rel, path, clock)
    return UpstreamTarget(
        server=server.rstrip("/"), tls=tls, own=own, source=f"kubeconfig {path} context {ctx_name}"
    )


def _own_credentials(
    user: Mapping[str, Any], name: str, rel: Callable[[str], str], path: str, clock: Clock | None
) -> OwnCredentials:
    """The proxy's own identity from a kubeconfig ``user`` entry."""
    if user.get("exec") or user.get("auth-provider"):
        raise ConfigError(
            f"kubeconfig {path}: user {name!r} uses an exec/auth-provider plugin, which "
            "discofilter does not run; give the proxy a token, tokenFile or client certificate"
        )
    token_file = TokenFile(rel(user["tokenFile"]), clock) if user.get("tokenFile") else None
    basic = None
    if user.get("username"):
        basic = (str(user["username"]), str(user.get("password", "")))
    own = OwnCredentials(
        token=str(user["token"]) if user.get("token") else None,
        token_file=token_file,
        client_cert_file=rel(user["client-certificate"])
        if user.get("client-certificate")
        else None,
        client_key_file=rel(user["client-key"]) if user.get("client-key") else None,
        client_cert_data=_b64(user["client-certificate-data"], "client-certificate-data", path)
        if user.get("client-certificate-data")
        else None,
        client_key_data=_b64(user["client-key-data"], "client-key-data", path)
        if user.get("client-key-data")
        else None,
        basic_auth=basic,
    )
    if own.has_client_cert != bool(own.client_key_file or own.client_key_data):
        raise ConfigError(f"kubeconfig {path}: client certificate and key must be given together")
    return own


def load_kubeconfig(
    path: str | None = None, context: str | None = None, clock: Clock | None = None
) -> UpstreamTarget:
    path = path or default_kubeconfig_path()
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except OSError as e:
        raise ConfigError(f"cannot read kubeconfig {path}: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"kubeconfig {path} is not valid YAML: {e}") from e
    if not isinstance(doc, Mapping):
        raise ConfigError(f"kubeconfig {path} is not a mapping")
    return parse_kubeconfig(doc, path, context, clock)
