"""The Secret istiod's multi-cluster controller reads, pointing at a discofilter (pure).

istiod (``pkg/kube/multicluster``) watches Secrets in its namespace labelled
``istio/multiCluster: "true"``; every data key is a cluster ID and its value a kubeconfig for
that cluster. ``istioctl create-remote-secret`` writes one key per Secret and annotates the
Secret with ``networking.istio.io/cluster``; this builds the same shape, with the kubeconfig's
server being the discofilter that fronts the remote cluster instead of its API server, so the
remote istiod view is filtered before it crosses the network.

Credentials are a **bearer token** of the remote cluster (its istio reader service account):
discofilter terminates TLS and forwards the caller's ``Authorization`` header to the API
server, so a token passes through and a client certificate cannot (it would authenticate to
discofilter, not to kube-apiserver). The certificate authority is discofilter's serving CA.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

from discofilter.errors import ConfigError

MULTICLUSTER_LABEL = "istio/multiCluster"
CLUSTER_ANNOTATION = "networking.istio.io/cluster"
SECRET_PREFIX = "istio-remote-secret-"
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


@dataclass(frozen=True)
class RemoteSecretSpec:
    cluster_name: str
    """The remote cluster's ID (its istiod's ``CLUSTER_ID``); the data key istiod reads."""
    server: str
    """``https://`` URL of the discofilter in front of that cluster."""
    ca_pem: bytes
    """discofilter's serving certificate authority (PEM)."""
    token: str
    """A bearer token of the remote cluster (istio-reader-service-account)."""
    namespace: str = "istio-system"
    """Where the primary's istiod runs (it reads remote secrets from its own namespace)."""
    tls_server_name: str = ""
    """Name to verify discofilter's certificate against, when the URL's host is not in it."""
    name: str = ""
    """Secret name; default ``istio-remote-secret-<cluster>`` like istioctl."""


def validate(spec: RemoteSecretSpec) -> None:
    if not spec.cluster_name or len(spec.cluster_name) > 253 or not _NAME.match(spec.cluster_name):
        raise ConfigError(
            f"--cluster-name {spec.cluster_name!r}: lowercase letters, digits, '-' and '.' "
            "(it becomes a Secret data key and the name suffix)"
        )
    if not spec.server.startswith("https://"):
        raise ConfigError(
            f"--server {spec.server!r} must be https://: istiod sends the remote cluster's "
            "token, which must not cross the network in clear"
        )
    if b"-----BEGIN CERTIFICATE-----" not in spec.ca_pem:
        raise ConfigError("--ca-file: no PEM certificate in it (discofilter's serving CA)")
    if not spec.token.strip():
        raise ConfigError("the remote cluster's token is empty")


def kubeconfig(spec: RemoteSecretSpec) -> dict[str, Any]:
    """The kubeconfig istiod uses for the remote cluster (one cluster, user and context)."""
    cluster: dict[str, Any] = {
        "server": spec.server.rstrip("/"),
        "certificate-authority-data": base64.b64encode(spec.ca_pem).decode("ascii"),
    }
    if spec.tls_server_name:
        cluster["tls-server-name"] = spec.tls_server_name
    name = spec.cluster_name
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": {"token": spec.token.strip()}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "preferences": {},
    }


def remote_secret(spec: RemoteSecretSpec, kubeconfig_text: str) -> dict[str, Any]:
    """The Secret object; ``kubeconfig_text`` is ``kubeconfig(spec)`` serialized (YAML)."""
    validate(spec)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": spec.name or f"{SECRET_PREFIX}{spec.cluster_name}",
            "namespace": spec.namespace,
            "labels": {MULTICLUSTER_LABEL: "true"},
            "annotations": {CLUSTER_ANNOTATION: spec.cluster_name},
        },
        "type": "Opaque",
        "stringData": {spec.cluster_name: kubeconfig_text},
    }
