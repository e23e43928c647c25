"""Security: loopback by default, TLS required off loopback, credentials forwarded and never
logged, impersonation judged by the API server, no open-proxy behaviour, upstream TLS verified,
and the proxy's own rotating service-account token picked up without a restart."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from discofilter.clock import FakeClock
from discofilter.config import Config, with_overrides
from discofilter.config_checks import check_security
from discofilter.errors import ConfigError
from discofilter.logs import JsonFormatter, TextFormatter
from discofilter.server.tuning.tls import generate_self_signed, server_ssl_context
from discofilter.upstream.target import OwnCredentials, TlsSettings
from discofilter.upstream.token import TokenFile
from tests.reliability.conftest import SHARED
from tests.reliability.fakes import (
    JSON,
    FakeUpstream,
    frame,
    pod,
    raw_request,
    start_proxy,
    stop_proxy,
    until,
)

pytestmark = pytest.mark.timeout(60)

SECRET = "s3cr3t-caller-token-value"
OWN_SECRET = "own-service-account-token"


def test_loopback_by_default_and_tls_required_elsewhere() -> None:
    assert Config().server.listen.startswith("127.0.0.1:")
    for listen in ("127.0.0.1:8001", "[::1]:8001", "localhost:8001"):
        check_security(with_overrides(Config(), server={"listen": listen}))
    for listen in ("0.0.0.0:8001", "[::]:8001", "10.0.0.5:8001", "proxy.example.com:8001", ":8001"):
        with pytest.raises(ConfigError, match="without TLS"):
            check_security(with_overrides(Config(), server={"listen": listen}))
    check_security(
        with_overrides(Config(), server={"listen": "0.0.0.0:8001", "self_signed_tls": True})
    )
    with pytest.raises(ConfigError, match="sidecar"):
        check_security(
            with_overrides(
                Config(),
                server={"listen": "0.0.0.0:8001", "self_signed_tls": True, "sidecar": True},
            )
        )


async def test_serve_refuses_non_loopback_without_tls() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "discofilter.server", "--listen", "0.0.0.0:0",
        "--upstream", "http://127.0.0.1:1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert b"refusing to listen on non-loopback" in err


def _recording_upstream() -> FakeUpstream:
    async def script(request: web.Request) -> web.StreamResponse:
        if request.path == "/api/v1/pods" and "watch" in request.query:
            resp = web.StreamResponse(headers={"Content-Type": JSON})
            await resp.prepare(request)
            await resp.write(frame(JSON, "ADDED", pod("a", "mesh-a", 11)))
            await resp.write_eof()
            return resp
        if request.path == "/api/v1/pods":
            body = (
                b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"10"},'
                b'"items":[]}'
            )
            return web.Response(body=body, content_type=JSON)
        if request.path.endswith("/denied"):
            msg = b'{"kind":"Status","code":401,"message":"Unauthorized"}'
            return web.Response(status=401, body=msg, content_type=JSON)
        return web.Response(body=b"{}", content_type=JSON)

    return FakeUpstream(script)


@pytest.mark.parametrize("sidecar", [False, True], ids=["plain", "sidecar"])
async def test_credentials_forwarded_never_logged_impersonation_judged_upstream(
    sidecar: bool, caplog: pytest.LogCaptureFixture, sharing: str
) -> None:
    up = _recording_upstream()
    await up.start()
    cfg = with_overrides(
        Config(),
        enrollment={"selectors": ("istio-injection=enabled",)},
        server={"sidecar": sidecar},
    )
    proxy, runner, purl = await start_proxy(up.url, cfg, own=OwnCredentials(token=OWN_SECRET))
    caplog.set_level(logging.DEBUG)
    try:
        await proxy.namespaces.ready.wait()
        caller = {"Authorization": f"Bearer {SECRET}", "Impersonate-User": "alice",
                  "Impersonate-Group": "devs"}  # fmt: skip
        anon = {"Impersonate-User": "alice"}
        async with aiohttp.ClientSession() as s:
            for hdrs in (caller, anon):
                # timeoutSeconds: a watch served from the shared cache outlives the upstream's.
                for target in ("/api/v1/pods", "/api/v1/pods?watch=1&timeoutSeconds=1",
                               "/api/v1/namespaces/x/configmaps", "/api/v1/x/denied"):  # fmt: skip
                    async with s.get(purl + target, headers=hdrs) as r:
                        await r.read()
        await up.stop()  # and a failure path: the upstream is gone, errors are logged
        async with aiohttp.ClientSession() as s:
            for target in ("/api/v1/pods", "/api/v1/namespaces/x/configmaps"):
                async with s.get(purl + target, headers=caller) as r:
                    assert r.status == 503
                    assert SECRET not in await r.text()
        callers = [(p, h) for _m, p, h in up.seen if not p.startswith("/api/v1/namespaces?")
                   and p != "/api/v1" and p != "/apis"]  # fmt: skip
        served = 4  # pods LIST and WATCH, a namespaced LIST, a 401
        if sharing == SHARED:
            # The pods LIST and WATCH are served from the cache: the caller's credentials go
            # upstream only for the other two. The shared reflector's own pods LIST/WATCH (and
            # the consistent read's probe) carry the proxy's identity and nothing of a caller's.
            own = [h for p, h in callers if h.get("Authorization") == f"Bearer {OWN_SECRET}"
                   and p.startswith("/api/v1/pods")]  # fmt: skip
            assert own and not any(k.startswith("Impersonate") for h in own for k in h)
            assert not any(SECRET in v for h in own for v in h.values())
            callers = [(p, h) for p, h in callers if not p.startswith("/api/v1/pods")]
            served = 2
        with_auth = [h for _p, h in callers if h.get("Authorization") == f"Bearer {SECRET}"]
        without = [h for _p, h in callers if h.get("Authorization") != f"Bearer {SECRET}"]
        assert len(with_auth) == served and len(without) == served
        # The caller's credentials and impersonation go upstream unchanged: the API server judges.
        assert all(h["Impersonate-User"] == "alice" and h["Impersonate-Group"] == "devs"
                   for h in with_auth)  # fmt: skip
        for h in without:
            if sidecar:  # the proxy's identity is lent, but never to impersonate with it
                assert h["Authorization"] == f"Bearer {OWN_SECRET}"
                assert "Impersonate-User" not in h
            else:  # anonymous stays anonymous (the API server answers 401/403)
                assert "Authorization" not in h and h["Impersonate-User"] == "alice"
        # No log line, in either format, carries a token.
        assert caplog.records
        for rec in caplog.records:
            for fmt in (JsonFormatter(), TextFormatter()):
                line = fmt.format(rec)
                assert SECRET not in line and OWN_SECRET not in line, line
    finally:
        await stop_proxy(proxy, runner)


async def test_no_open_proxy_behaviour() -> None:
    up = _recording_upstream()
    await up.start()
    other = _recording_upstream()  # a host an attacker would like to reach through the proxy
    await other.start()
    proxy, runner, purl = await start_proxy(up.url)
    try:
        await proxy.namespaces.ready.wait()
        other_hp = other.url[7:]
        for request_line, codes in (
            (f"GET {other.url}/api/v1/namespaces/x/configmaps HTTP/1.1", (b"400",)),
            (f"GET //{other_hp}/api/v1/namespaces/x/configmaps HTTP/1.1", (b"400",)),
            (f"CONNECT {other_hp} HTTP/1.1", (b"400", b"405")),
            ("OPTIONS * HTTP/1.1", (b"400",)),
        ):
            out = await raw_request(
                purl, f"{request_line}\r\nHost: {other_hp}\r\nConnection: close\r\n\r\n".encode()
            )
            assert out.split(b" ")[1] in codes, (request_line, out[:100])
        # Host-header tricks: the request still goes to the configured upstream, never another.
        for hdr in ("Host", "X-Forwarded-Host", "Forwarded"):
            value = other_hp if hdr != "Forwarded" else f"host={other_hp}"
            host = "" if hdr == "Host" else "Host: x\r\n"
            req = (f"GET /api/v1/namespaces/x/configmaps HTTP/1.1\r\n{host}{hdr}: {value}\r\n"
                   "Connection: close\r\n\r\n")  # fmt: skip
            out = await raw_request(purl, req.encode())
            assert out.startswith(b"HTTP/1.1 200"), out[:100]
        assert other.seen == []
        assert len([p for _m, p, _h in up.seen if p == "/api/v1/namespaces/x/configmaps"]) == 3
    finally:
        await stop_proxy(proxy, runner)
        await up.stop()
        await other.stop()


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[str, str]:
    cert, key = generate_self_signed(["127.0.0.1"])
    (tmp_path / "tls.crt").write_bytes(cert)
    (tmp_path / "tls.key").write_bytes(key)
    return str(tmp_path / "tls.crt"), str(tmp_path / "tls.key")


async def test_upstream_tls_verified_by_default(tls_files: tuple[str, str]) -> None:
    cert, key = tls_files
    up = FakeUpstream(ssl_context=server_ssl_context(cert, key))
    url = await up.start()
    cfg = with_overrides(
        Config(),
        enrollment={"selectors": ("istio-injection=enabled",)},
        server={"not_ready_wait_seconds": 0.1},
    )
    proxy, runner, purl = await start_proxy(url, cfg)  # no CA: the self-signed cert is unknown
    try:
        await until(lambda: proxy.namespaces.last_error is not None)
        assert "CERTIFICATE_VERIFY_FAILED" in (proxy.namespaces.last_error or "")
        assert not proxy.ready and up.seen == []  # not one request got through
        async with (
            aiohttp.ClientSession() as s,
            s.get(purl + "/api/v1/namespaces/x/configmaps") as r,
        ):
            assert r.status == 503
            assert "CERTIFICATE_VERIFY_FAILED" in (await r.json())["message"]
    finally:
        await stop_proxy(proxy, runner)
    proxy, runner, purl = await start_proxy(url, cfg, tls=TlsSettings(ca_file=cert))
    try:
        await asyncio.wait_for(proxy.namespaces.ready.wait(), 10)  # with its CA: verified, ready
    finally:
        await stop_proxy(proxy, runner)
        await up.stop()


async def test_rotated_token_file_is_picked_up_without_restart(tmp_path: Path) -> None:
    """The kubelet swaps the projected token; the proxy's own namespace watch uses the new one."""
    path = tmp_path / "token"
    path.write_text("token-one\n")
    clock = FakeClock()
    tf = TokenFile(str(path), clock, check_interval=1.0)
    up = FakeUpstream(valid_tokens={"token-one"})
    url = await up.start()
    proxy, runner, _purl = await start_proxy(url, own=OwnCredentials(token_file=tf))
    try:
        await proxy.namespaces.ready.wait()
        await until(lambda: proxy.namespaces.watches == 1)
        # Rotate as the kubelet does (a new file renamed over the old), and revoke the old token.
        (tmp_path / "token.new").write_text("token-two\n")
        os.replace(tmp_path / "token.new", path)
        up.valid_tokens = {"token-two"}
        clock.advance(1.0)  # past TokenFile's 1 s re-check interval
        mark = len(up.seen)
        up.end_namespace_watch()  # the API server ends the watch; the proxy rewatches
        await until(lambda: proxy.namespaces.watches >= 2)
        after = up.seen[mark:]
        assert after, "the proxy did not rewatch"
        assert all(h.get("Authorization") == "Bearer token-two" for _m, _p, h in after)
        assert proxy.namespaces.last_error is None  # not a single 401 on the way
        assert tf.reloads == 2
    finally:
        await stop_proxy(proxy, runner)
        await up.stop()
