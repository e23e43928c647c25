"""``discofilter remote-secret``: the Secret's shape (what istiod's multi-cluster controller and
istioctl agree on), and its kubeconfig works — the real ``kubernetes`` client, loading it as
istiod would, reaches the emulator through a TLS discofilter and sees only enrolled
namespaces, its token forwarded."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from discofilter.cli import main
from discofilter.sim.server import Simulator
from tests.component.reload.test_reload_cli import _fill, _free_port, _stop, _until

pytestmark = pytest.mark.timeout(60)


def _secret(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    rc = main(["remote-secret", *argv])
    out = capsys.readouterr()
    return rc, (yaml.safe_load(out.out) if rc == 0 else None), out.err


def test_secret_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    token = tmp_path / "token"
    token.write_text("reader-token-123\n")
    rc, secret, err = _secret(
        capsys, "--cluster-name", "cluster2", "--server", "https://df.cluster2.example:8443",
        "--ca-file", str(ca), "--token-file", str(token),
    )  # fmt: skip
    assert rc == 0, err
    meta = secret["metadata"]
    assert (secret["apiVersion"], secret["kind"], secret["type"]) == ("v1", "Secret", "Opaque")
    assert meta["name"] == "istio-remote-secret-cluster2"
    assert meta["namespace"] == "istio-system"
    assert meta["labels"] == {"istio/multiCluster": "true"}
    assert meta["annotations"] == {"networking.istio.io/cluster": "cluster2"}
    assert list(secret["stringData"]) == ["cluster2"]  # one key: the cluster ID
    kc = yaml.safe_load(secret["stringData"]["cluster2"])
    assert kc["current-context"] == "cluster2"
    (cluster,) = kc["clusters"]
    assert cluster["cluster"]["server"] == "https://df.cluster2.example:8443"
    assert base64.b64decode(cluster["cluster"]["certificate-authority-data"]) == ca.read_bytes()
    (user,) = kc["users"]
    assert user["user"] == {"token": "reader-token-123"}
    assert "reader-token-123" not in err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--server", "http://df:8080"], "must be https://"),
        (["--cluster-name", "Cluster_2"], "--cluster-name"),
    ],
)
def test_refusals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    (tmp_path / "t").write_text("x")
    base = {"--cluster-name": "c2", "--server": "https://df:8443"}
    base.update(dict(zip(argv[::2], argv[1::2], strict=True)))
    flat = [x for kv in base.items() for x in kv]
    rc, _, err = _secret(capsys, *flat, "--ca-file", str(ca), "--token-file", str(tmp_path / "t"))
    assert rc == 2 and says in err


def test_client_certificate_users_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    kc = tmp_path / "kubeconfig"
    kc.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://10.0.0.1"}}],
        "users": [{"name": "u", "user": {"client-certificate-data": "eA==",
                                          "client-key-data": "eA=="}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    }))  # fmt: skip
    rc, _, err = _secret(
        capsys, "--cluster-name", "c2", "--server", "https://df:8443", "--ca-file", str(ca),
        "--kubeconfig", str(kc),
    )  # fmt: skip
    assert rc == 2 and "client certificate" in err


async def test_the_kubeconfig_reaches_the_cluster_through_discofilter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ca, token = tmp_path / "df-ca.pem", tmp_path / "token"
    token.write_text("remote-reader-token")
    seen: list[str | None] = []

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        # the caller's LIST; the proxy's own safety-list polls carry a labelSelector
        if request.path == "/api/v1/pods" and "labelSelector" not in request.query:
            seen.append(request.headers.get("Authorization"))
        return await handler(request)

    sim = Simulator()
    sim.app.middlewares.append(record)
    await sim.start()
    try:
        _fill(sim)
        port, admin = _free_port(), _free_port()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "discofilter.server", "--listen", f"127.0.0.1:{port}",
            "--upstream", sim.url, "--self-signed-tls", "--self-signed-ca-out", str(ca),
            "--selector", "istio-injection=enabled", "--admin-listen", f"127.0.0.1:{admin}",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            await _until(f"http://127.0.0.1:{admin}/debug/enrollment", lambda d: d["synced"])
            rc, secret, err = _secret(
                capsys, "--cluster-name", "cluster2", "--server", f"https://127.0.0.1:{port}",
                "--ca-file", str(ca), "--token-file", str(token),
            )  # fmt: skip
            assert rc == 0, err
            kc = yaml.safe_load(secret["stringData"]["cluster2"])

            def list_namespaces() -> set[str]:
                api = k8s_config.new_client_from_config_dict(kc)  # TLS verified with the CA
                try:
                    raw: Any = k8s.CoreV1Api(api).list_pod_for_all_namespaces(
                        _preload_content=False  # the emulator's pods have no containers
                    )
                    return {p["metadata"]["namespace"] for p in json.loads(raw.data)["items"]}
                finally:
                    api.close()

            assert await asyncio.to_thread(list_namespaces) == {"istio-system", "mesh-a"}
            assert seen == ["Bearer remote-reader-token"]  # forwarded, never swapped
        finally:
            assert await _stop(proc) == 0
    finally:
        await sim.stop()
