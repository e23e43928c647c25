"""Which kube-apiserver the proxy talks to, and as whom: the settings → an ``UpstreamTarget``.

Resolution order: ``upstream.url`` (``--upstream``); else ``upstream.kubeconfig`` (with
``upstream.context``); else the in-cluster service account when its token exists; else the
default kubeconfig (``$KUBECONFIG`` or ``~/.kube/config``). ``caFile``, ``insecureSkipTlsVerify``
and ``tokenFile`` then override what the source said.
"""

from __future__ import annotations

import dataclasses
import os

from discofilter.config import Config
from discofilter.errors import ConfigError
from discofilter.upstream.incluster import in_cluster_available, load_in_cluster
from discofilter.upstream.kubeconfig import default_kubeconfig_path, load_kubeconfig
from discofilter.upstream.target import OwnCredentials, UpstreamTarget
from discofilter.upstream.token import TokenFile


def resolve_target(config: Config) -> UpstreamTarget:
    u = config.upstream
    if u.url:
        target = UpstreamTarget(
            server=u.url.rstrip("/"),
            own=OwnCredentials(token_file=TokenFile(u.token_file) if u.token_file else None),
        )
    elif u.kubeconfig:
        target = load_kubeconfig(u.kubeconfig, u.context)
    elif in_cluster_available():
        target = load_in_cluster()
    elif os.path.exists(default_kubeconfig_path()):
        target = load_kubeconfig(None, u.context)
    else:
        raise ConfigError("no upstream: give --upstream URL or --kubeconfig, or run in a cluster")
    tls = target.tls
    if u.ca_file or u.insecure_skip_tls_verify:
        tls = dataclasses.replace(
            tls,
            ca_file=u.ca_file or tls.ca_file,
            insecure=u.insecure_skip_tls_verify or tls.insecure,
        )
    own = target.own
    if u.token_file and target.own.token_file is None:
        own = dataclasses.replace(own, token_file=TokenFile(u.token_file), token=None)
    return dataclasses.replace(target, tls=tls, own=own)
