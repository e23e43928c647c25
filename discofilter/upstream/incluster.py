"""The in-cluster service account, as client-go's ``rest.InClusterConfig`` finds it.

``KUBERNETES_SERVICE_HOST``/``KUBERNETES_SERVICE_PORT`` give the server; the token and CA come
from the projected volume. The token file is re-read when it changes (``TokenFile``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from discofilter.clock import Clock
from discofilter.errors import ConfigError
from discofilter.upstream.target import OwnCredentials, TlsSettings, UpstreamTarget
from discofilter.upstream.token import TokenFile

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def in_cluster_available(
    env: Mapping[str, str] | None = None, sa_dir: str = SERVICE_ACCOUNT_DIR
) -> bool:
    env = os.environ if env is None else env
    return bool(env.get("KUBERNETES_SERVICE_HOST")) and os.path.exists(
        os.path.join(sa_dir, "token")
    )


def load_in_cluster(
    env: Mapping[str, str] | None = None,
    sa_dir: str = SERVICE_ACCOUNT_DIR,
    clock: Clock | None = None,
) -> UpstreamTarget:
    env = os.environ if env is None else env
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise ConfigError(
            "not running in a cluster (KUBERNETES_SERVICE_HOST/PORT unset): give --upstream or "
            "--kubeconfig"
        )
    if ":" in host:  # an IPv6 address needs brackets in a URL
        host = f"[{host}]"
    token_path = os.path.join(sa_dir, "token")
    if not os.path.exists(token_path):
        raise ConfigError(f"in-cluster: no service-account token at {token_path}")
    ca = os.path.join(sa_dir, "ca.crt")
    return UpstreamTarget(
        server=f"https://{host}:{port}",
        tls=TlsSettings(ca_file=ca if os.path.exists(ca) else None),
        own=OwnCredentials(token_file=TokenFile(token_path, clock)),
        source="in-cluster service account",
    )
