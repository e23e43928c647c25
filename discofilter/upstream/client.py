"""``Upstream``: the aiohttp client for kube-apiserver, one connection pool per identity.

* ``caller`` session: forwards callers' requests. No client certificate, no proxy token (see
  ``target.py`` for why). ``auto_decompress`` is off by default so pass-through bodies go back
  byte for byte; filtered LISTs ask for gzip and decompress (``decompress=True``).
* ``own`` session: the proxy's own identity (client certificate on its connections, bearer token
  header per request, re-read from the token file when it rotates).

Pools are unbounded in count (``limit=0``): every open watch pins one connection for its whole
life, so a count limit would make the 101st watch wait forever instead of failing. Connect has a
timeout; reads do not (watches are long; the server's ``timeoutSeconds`` ends them).
URLs are passed ``encoded=True`` so the API server sees the caller's exact path and query.
aiohttp's automatic ``User-Agent``/``Accept``/``Accept-Encoding`` are suppressed: the upstream
sees only what the caller sent.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from collections.abc import Mapping
from typing import Any

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from discofilter.errors import UpstreamError
from discofilter.upstream.target import OwnCredentials, TlsSettings, UpstreamTarget

_SKIP_AUTO = frozenset({"User-Agent", "Accept", "Accept-Encoding", "Content-Type"})


def build_ssl_context(tls: TlsSettings, own: OwnCredentials | None = None) -> ssl.SSLContext:
    """A client SSL context verifying the upstream (unless insecure), with ``own``'s certificate."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if tls.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        if tls.ca_file:
            ctx.load_verify_locations(cafile=tls.ca_file)
        if tls.ca_data:
            ctx.load_verify_locations(cadata=tls.ca_data.decode("ascii", "replace"))
    if own is not None and own.has_client_cert:
        _load_client_cert(ctx, own)
    return ctx


def _load_client_cert(ctx: ssl.SSLContext, own: OwnCredentials) -> None:
    if own.client_cert_file and own.client_key_file:
        ctx.load_cert_chain(own.client_cert_file, own.client_key_file)
        return
    # ssl can load a chain only from files: write the inline PEMs to a private temp dir briefly.
    with tempfile.TemporaryDirectory(prefix="discofilter-") as d:
        cert, key = os.path.join(d, "tls.crt"), os.path.join(d, "tls.key")
        for path, data, src in (
            (cert, own.client_cert_data, own.client_cert_file),
            (key, own.client_key_data, own.client_key_file),
        ):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                if data is None and src:
                    with open(src, "rb") as s:
                        data = s.read()
                f.write(data or b"")
        ctx.load_cert_chain(cert, key)


class Upstream:
    """The two client sessions to one API server. ``start()`` before use, ``close()`` after."""

    def __init__(self, target: UpstreamTarget, connect_timeout: float = 10.0) -> None:
        self.target = target
        self.base = URL(target.server)
        self._tls = self.base.scheme == "https"
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout, sock_connect=connect_timeout, sock_read=None
        )
        self.caller: aiohttp.ClientSession | None = None
        self.own: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        def session(ssl_ctx: ssl.SSLContext | bool) -> aiohttp.ClientSession:
            conn = aiohttp.TCPConnector(limit=0, ssl=ssl_ctx, keepalive_timeout=30)
            return aiohttp.ClientSession(
                connector=conn,
                timeout=self._timeout,
                auto_decompress=False,
                skip_auto_headers=_SKIP_AUTO,
                read_bufsize=256 * 1024,  # 64 KiB default: 4x fewer reads on a busy watch
                max_line_size=64 * 1024,
                max_field_size=64 * 1024,
            )

        try:
            caller_ctx: ssl.SSLContext | bool = (
                build_ssl_context(self.target.tls) if self._tls else False
            )
            own_ctx: ssl.SSLContext | bool = (
                build_ssl_context(self.target.tls, self.target.own) if self._tls else False
            )
        except (OSError, ssl.SSLError) as e:
            raise UpstreamError(f"cannot load TLS material for {self.target.source}: {e}") from e
        self.caller = session(caller_ctx)
        self.own = session(own_ctx)

    async def close(self) -> None:
        for s in (self.caller, self.own):
            if s is not None:
                await s.close()

    def url(self, path_qs: str) -> URL:
        return URL(str(self.base) + path_qs, encoded=True)

    def own_headers(self) -> dict[str, str]:
        """The proxy's own Authorization header (empty when it authenticates by certificate)."""
        token = self.target.own.bearer()
        if token:
            return {"Authorization": f"Bearer {token}"}
        if self.target.own.basic_auth:
            user, pw = self.target.own.basic_auth
            return {"Authorization": aiohttp.BasicAuth(user, pw).encode()}
        return {}

    async def request(
        self,
        method: str,
        path_qs: str,
        headers: Mapping[str, str] | CIMultiDict[str],
        data: Any = None,
        *,
        own: bool = False,
        decompress: bool = False,
    ) -> aiohttp.ClientResponse:
        """Send one request; the caller must release/close the response.

        ``own=True`` uses the proxy's identity; otherwise ``headers`` go as given (the caller's).
        Connection failures raise ``UpstreamError``; HTTP errors are returned as responses.
        """
        session = self.own if own else self.caller
        if session is None:
            raise UpstreamError("upstream client used before start()")
        hdrs: CIMultiDict[str] = CIMultiDict(headers)  # keeps repeated Impersonate-Group etc.
        if own:
            for k, v in self.own_headers().items():
                hdrs[k] = v
        try:
            return await session.request(
                method,
                self.url(path_qs),
                headers=hdrs,
                data=data,
                allow_redirects=False,
                auto_decompress=decompress,
                server_hostname=self.target.tls.server_name,
            )
        except aiohttp.ClientError as e:
            raise UpstreamError(f"{method} {self.base}: {type(e).__name__}: {e}") from e
        except TimeoutError as e:
            raise UpstreamError(f"{method} {self.base}: connect timed out") from e

    async def get_own(self, path_qs: str, headers: Mapping[str, str]) -> tuple[int, bytes]:
        """GET as the proxy itself, the whole body read (decompressed) and the connection
        released: the proxy's own small reads (namespace LIST pages, the mesh ConfigMap, the
        safety list's pods, the resourceVersion probe)."""
        resp = await self.request("GET", path_qs, headers, own=True, decompress=True)
        try:
            return resp.status, await resp.read()
        except (aiohttp.ClientError, ConnectionError) as e:  # reset or truncated mid-body
            raise UpstreamError(f"GET {self.base}: body broke: {type(e).__name__}") from e
        finally:
            resp.release()
