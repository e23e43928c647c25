"""What the e2e fixtures hand to tests: the running cluster and proxy, and the skip rule."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client as k8s

from .peers import missing_reason, peer_binary

SELECTOR = "istio-injection=enabled"
"""The proxy's one enrollment term; istio-system is always enrolled by the proxy's default."""

ALWAYS_ENROLLED = frozenset({"istio-system"})


@dataclass(frozen=True)
class Cluster:
    url: str
    kubeconfig: Path
    token: str
    ca: Path
    istiod_token: str
    istiod_kubeconfig: Path
    api: k8s.ApiClient
    compact: Callable[[], int]
    """Compact etcd to its current revision now; returns the revision (older RVs then get 410)."""


@dataclass(frozen=True)
class Proxy:
    url: str
    kubeconfig: Path
    """No credentials: the proxy runs in --sidecar mode and lends its admin identity."""
    pid: int
    """The `discofilter serve` process (its CPU is charged to the discofilter mode in benches)."""


def require_peer(name: str) -> Path:
    path = peer_binary(name)
    if path is None:
        pytest.skip(f"E2E SKIPPED — real peer {name!r} missing: {missing_reason(name)}")
    return path
