"""The peers themselves: the test cluster's identities behave as documented (RBAC, not
AlwaysAllow), and helm runs (the chart tests find it through tests/e2e/peers.py)."""

from __future__ import annotations

import json
import ssl
import subprocess

import pytest
import urllib3

from .harness import Cluster, require_peer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


def _call(cluster: Cluster, token: str, method: str, path: str, body: object = None) -> int:
    http = urllib3.PoolManager(ssl_context=ssl.create_default_context(cafile=str(cluster.ca)))
    r = http.request(
        method,
        cluster.url + path,
        body=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=10.0,
        retries=False,
    )
    return r.status


def test_identities(cluster: Cluster) -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "peers-rbac"}}
    assert _call(cluster, cluster.istiod_token, "GET", "/api/v1/pods") == 200
    assert _call(cluster, cluster.istiod_token, "POST", "/api/v1/namespaces", ns) == 403
    assert _call(cluster, "not-a-token", "GET", "/api/v1/pods") == 401
    assert _call(cluster, cluster.token, "POST", "/api/v1/namespaces", ns) == 201


def test_helm_runs() -> None:
    helm = require_peer("helm")
    out = subprocess.run(
        [str(helm), "version", "--short"], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("v3.22."), out.stdout


def test_compact_command(cluster: Cluster) -> None:
    first = cluster.compact()
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "peers-compact"}}
    assert _call(cluster, cluster.token, "POST", "/api/v1/namespaces", ns) == 201
    assert cluster.compact() > first > 0
