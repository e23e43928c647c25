"""kubeconfig / in-cluster parsing, token rotation, SSL contexts and discovery parsing."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from discofilter.clock import FakeClock
from discofilter.errors import ConfigError, UpstreamError
from discofilter.server.tuning.tls import generate_self_signed
from discofilter.upstream.client import build_ssl_context
from discofilter.upstream.discovery import namespaced_from_resource_list
from discofilter.upstream.incluster import in_cluster_available, load_in_cluster
from discofilter.upstream.kubeconfig import load_kubeconfig, parse_kubeconfig
from discofilter.upstream.target import OwnCredentials, TlsSettings
from discofilter.upstream.token import TokenFile


def _kc(**user: object) -> dict[str, object]:
    return {
        "current-context": "one",
        "contexts": [
            {"name": "one", "context": {"cluster": "c1", "user": "u1"}},
            {"name": "two", "context": {"cluster": "c2", "user": "u2"}},
        ],
        "clusters": [
            {"name": "c1", "cluster": {"server": "https://10.0.0.1:6443/",
                                       "certificate-authority": "ca.pem"}},
            {"name": "c2", "cluster": {"server": "http://127.0.0.1:18080",
                                       "insecure-skip-tls-verify": True,
                                       "tls-server-name": "kube"}},
        ],
        "users": [{"name": "u1", "user": user}, {"name": "u2", "user": {"token": "t2"}}],
    }  # fmt: skip


def test_current_context_and_relative_paths(tmp_path: Path) -> None:
    t = parse_kubeconfig(_kc(token="abc"), str(tmp_path / "config"))
    assert t.server == "https://10.0.0.1:6443"
    assert t.tls.ca_file == str(tmp_path / "ca.pem")
    assert t.own.bearer() == "abc"
    assert "context one" in t.source


def test_explicit_context() -> None:
    t = parse_kubeconfig(_kc(), "/x/config", context="two")
    assert t.server == "http://127.0.0.1:18080"
    assert t.tls.insecure and t.tls.server_name == "kube"
    assert t.own.bearer() == "t2"


def test_inline_cert_data_and_errors(tmp_path: Path) -> None:
    cert, key = generate_self_signed(["x"])
    t = parse_kubeconfig(
        _kc(**{
            "client-certificate-data": base64.b64encode(cert).decode(),
            "client-key-data": base64.b64encode(key).decode(),
        }),
        str(tmp_path / "config"),
    )  # fmt: skip
    assert t.own.has_client_cert and t.own.client_cert_data == cert
    ctx = build_ssl_context(TlsSettings(ca_data=cert), t.own)  # loads the inline chain
    assert ctx.verify_mode.name == "CERT_REQUIRED"
    with pytest.raises(ConfigError, match="together"):
        parse_kubeconfig(_kc(**{"client-certificate": "c.pem"}), "/x/config")
    with pytest.raises(ConfigError, match="plugin"):
        parse_kubeconfig(_kc(exec={"command": "aws"}), "/x/config")
    with pytest.raises(ConfigError, match="no context named"):
        parse_kubeconfig(_kc(), "/x/config", context="nope")
    with pytest.raises(ConfigError, match="base64"):
        parse_kubeconfig(_kc(**{"client-certificate-data": "!!", "client-key-data": "!!"}), "/x")


def test_insecure_context_disables_verification() -> None:
    ctx = build_ssl_context(TlsSettings(insecure=True), OwnCredentials())
    assert ctx.verify_mode.name == "CERT_NONE" and not ctx.check_hostname


def test_load_kubeconfig_file_and_token_file(tmp_path: Path) -> None:
    import yaml

    (tmp_path / "tok").write_text("first\n")
    (tmp_path / "config").write_text(yaml.safe_dump(_kc(tokenFile="tok")))
    clock = FakeClock()
    t = load_kubeconfig(str(tmp_path / "config"), clock=clock)
    assert t.own.bearer() == "first"
    with pytest.raises(ConfigError, match="cannot read"):
        load_kubeconfig(str(tmp_path / "missing"))


def test_token_file_rotation(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("one")
    clock = FakeClock()
    tf = TokenFile(str(path), clock, check_interval=1.0)
    assert tf.token() == "one"
    # Rotate the way the kubelet does: write a new file and rename it over the old one.
    (tmp_path / "token.new").write_text("two-rotated")
    os.replace(tmp_path / "token.new", path)
    assert tf.token() == "one"  # not re-checked within the interval
    clock.advance(1.0)
    assert tf.token() == "two-rotated"
    assert tf.reloads == 2
    path.unlink()
    clock.advance(1.0)
    assert tf.token() == "two-rotated"  # keeps the last good token through a hiccup


def test_in_cluster(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("sa-token")
    (tmp_path / "ca.crt").write_text("x")
    env = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}
    assert in_cluster_available(env, str(tmp_path))
    t = load_in_cluster(env, str(tmp_path))
    assert t.server == "https://[fd00::1]:443"
    assert t.tls.ca_file == str(tmp_path / "ca.crt")
    assert t.own.bearer() == "sa-token"
    assert not in_cluster_available({}, str(tmp_path))
    with pytest.raises(ConfigError):
        load_in_cluster({}, str(tmp_path))


def test_discovery_parsing_skips_subresources_and_cluster_scoped() -> None:
    doc = {
        "resources": [
            {"name": "pods", "namespaced": True},
            {"name": "pods/log", "namespaced": True},
            {"name": "nodes", "namespaced": False},
        ]
    }
    assert namespaced_from_resource_list("", doc) == {("", "pods")}


async def test_client_certificate_only_on_the_proxys_own_connections(tmp_path: Path) -> None:
    """Contract 5: kube-apiserver authenticates an x509 client certificate before a bearer
    token, so callers' requests must never ride a connection that presents the proxy's cert."""
    import ssl

    from aiohttp import web

    from discofilter.upstream.client import Upstream
    from discofilter.upstream.target import UpstreamTarget

    server_cert, server_key = generate_self_signed(["127.0.0.1"])
    client_cert, client_key = generate_self_signed(["discofilter-proxy"])
    for name, data in (("s.crt", server_cert), ("s.key", server_key), ("c.crt", client_cert)):
        (tmp_path / name).write_bytes(data)
    sctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    sctx.load_cert_chain(tmp_path / "s.crt", tmp_path / "s.key")
    sctx.load_verify_locations(cafile=str(tmp_path / "c.crt"))
    sctx.verify_mode = ssl.CERT_OPTIONAL
    seen: list[tuple[bool, str | None]] = []

    async def handler(request: web.Request) -> web.Response:
        assert request.transport is not None
        peer = request.transport.get_extra_info("peercert")
        seen.append((bool(peer), request.headers.get("Authorization")))
        return web.Response(text="{}")

    app = web.Application()
    app.router.add_get("/{t:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=sctx).start()
    port = runner.addresses[0][1]
    up = Upstream(
        UpstreamTarget(
            f"https://127.0.0.1:{port}",
            tls=TlsSettings(ca_data=server_cert),
            own=OwnCredentials(
                token="proxy", client_cert_data=client_cert, client_key_data=client_key
            ),
        )
    )
    await up.start()
    try:
        for own, hdrs in ((True, {}), (False, {"Authorization": "Bearer caller"}), (False, {})):
            resp = await up.request("GET", "/api/v1/pods", hdrs, own=own)
            resp.release()
        # Verification is on by default: the same server with no CA configured is refused.
        untrusted = Upstream(UpstreamTarget(f"https://127.0.0.1:{port}"))
        await untrusted.start()
        try:
            with pytest.raises(UpstreamError, match="certificate"):
                await untrusted.request("GET", "/api/v1/pods", {})
        finally:
            await untrusted.close()
    finally:
        await up.close()
        await runner.cleanup()
    assert seen == [(True, "Bearer proxy"), (False, "Bearer caller"), (False, None)]
