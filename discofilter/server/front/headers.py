"""Hop-by-hop headers (RFC 7230 section 6.1) are not forwarded; everything else is.

Removed in both directions: the fixed hop-by-hop set, any header named in ``Connection``, and
``Host`` (aiohttp writes the upstream's). Impersonation headers (``Impersonate-*``) pass through
unchanged: the API server decides whether the *caller* may impersonate. The one exception is
sidecar mode lending the proxy's identity to an unauthenticated request: then they are dropped,
or an anonymous local caller could impersonate with the proxy's rights.
"""

from __future__ import annotations

from collections.abc import Iterable

from multidict import CIMultiDict, CIMultiDictProxy

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


def _connection_tokens(headers: CIMultiDict[str] | CIMultiDictProxy[str]) -> set[str]:
    out: set[str] = set()
    for value in headers.getall("Connection", []):
        out.update(t.strip().lower() for t in value.split(",") if t.strip())
    return out


def forward_headers(
    headers: CIMultiDict[str] | CIMultiDictProxy[str],
    drop: Iterable[str] = (),
    drop_impersonation: bool = False,
) -> CIMultiDict[str]:
    """Copy ``headers`` without hop-by-hop ones, ``Host`` and the extra names in ``drop``."""
    skip = HOP_BY_HOP | _connection_tokens(headers) | {"host"} | {d.lower() for d in drop}
    out: CIMultiDict[str] = CIMultiDict()
    for k, v in headers.items():
        lk = k.lower()
        if lk in skip or (drop_impersonation and lk.startswith("impersonate-")):
            continue
        out.add(k, v)
    return out
