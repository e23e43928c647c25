"""Which namespaces a filtered watch asks the API server to leave out (pure).

A cluster-wide watch through the proxy drops every event of a namespace that is not enrolled,
but the proxy pays for each one first: a TLS record, an HTTP chunk, a wake-up and a decode
(docs/performance.md: at the rates a real cluster runs, ~60% of the proxy's CPU is per
wake-up and per record). kube-apiserver can drop them itself: every resource supports the field
selector ``metadata.namespace!=<name>``, and comma-separated terms are ANDed. So the proxy adds
one such term per not-enrolled namespace it knows (``upstreamExcludedNamespaces`` of them at
most, the churniest first) to the upstream watch's ``fieldSelector``; the client's own terms
stay as they were.

Why it stays exact (contract 1): an object never changes namespace, so the API server sends
exactly the events the proxy would have kept, with the same resourceVersions and bytes (and
bookmarks as before). Why it stays convergent (contract 3): the stream records every excluded
namespace as *dropped*, so an excluded namespace that joins the mesh ends the stream with 410
exactly as a namespace whose events it dropped does. Why bounded: each term is at most 83
characters (a namespace name is a DNS label of at most 63), so the default 1,000 make a URL of
at most ~83 KB (tier M's 904 six-character names: 30 KB), inside kube-apiserver's 1 MiB
request-header limit (a load balancer with a smaller one answers 414/431, and the watch goes out
without them). The API server pays one string comparison per term per event of the watch,
which the cluster benchmark does not see in its CPU (bench/RESULTS.md "Exclusions upstream").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from urllib.parse import quote

NAMESPACE_FIELD = "metadata.namespace"


def excluded_namespaces(
    known: Iterable[str],
    is_enrolled: Callable[[str], bool],
    limit: int,
    rates: Callable[[], Mapping[str, float]] | None = None,
    previous: frozenset[str] = frozenset(),
) -> frozenset[str]:
    """The not-enrolled namespaces of ``known`` to leave out upstream: all of them when they
    are at most ``limit``; otherwise ``limit`` of them, those excluded last time first (their
    churn no longer reaches the proxy, so their rate reads 0: without this they would swap in
    and out), then by recent churn (``rates()``, events/s, read only then), then by name."""
    if limit <= 0:
        return frozenset()
    outside = [ns for ns in known if not is_enrolled(ns)]
    if len(outside) <= limit:
        return frozenset(outside)
    rate = rates() if rates is not None else {}
    outside.sort(key=lambda ns: (ns not in previous, -rate.get(ns, 0.0), ns))
    return frozenset(outside[:limit])


def with_exclusions(raw_path: str, excluded: Iterable[str]) -> str:
    """``raw_path`` (path and raw query, as the client sent them) with one
    ``metadata.namespace!=`` term per excluded namespace ANDed to its ``fieldSelector`` (added
    when it has none). Every other byte of the query stays as the client sent it; the terms are
    percent-encoded and need no selector escaping (namespace names are DNS labels)."""
    names = sorted(excluded)
    if not names:
        return raw_path
    terms = quote(",".join(f"{NAMESPACE_FIELD}!={ns}" for ns in names), safe="")
    path, _, query = raw_path.partition("?")
    parts = query.split("&") if query else []
    for i, part in enumerate(parts):
        if part.startswith("fieldSelector="):
            value = part[len("fieldSelector=") :]
            parts[i] = f"fieldSelector={value}%2C{terms}" if value else f"fieldSelector={terms}"
            break
    else:
        parts.append(f"fieldSelector={terms}")
    return f"{path}?{'&'.join(parts)}"
