"""The selectors a running discofilter has in effect, read from its admin ``/debug/enrollment``.

``selectors explain --proxy-admin URL`` compares a candidate with what the proxy *actually*
filters by now (after every reload and every ``meshConfigFrom`` edit), and says where those
selectors came from: ``configmap:istio-system/istio@<resourceVersion>`` and whether that source
is healthy (a refused mesh value leaves older selectors in effect; the explanation says so).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from discofilter.errors import ConfigError, UpstreamError
from discofilter.explain.render import SelectorSource
from discofilter.filter.dryrun import term_names
from discofilter.filter.selectors import SelectorSet, parse_label_selector


@dataclass(frozen=True, slots=True)
class LiveSelectors:
    selectors: SelectorSet | None
    source: SelectorSource
    always_enrolled: frozenset[str]
    warning: str
    """Non-empty when the proxy's selector source is refusing its latest value."""


def from_debug_enrollment(doc: Mapping[str, Any], url: str) -> LiveSelectors:
    """Parse a ``/debug/enrollment`` document (the proxy's kubectl-syntax OR-terms)."""
    try:
        terms = [str(t) for t in doc.get("selectors") or []]
        select_all = bool(doc.get("selectAll"))
        sels = None if select_all else SelectorSet(tuple(parse_label_selector(t) for t in terms))
    except ConfigError as e:
        raise UpstreamError(f"{url}: unexpected /debug/enrollment selectors: {e}") from e
    src = doc.get("selectorsSource") or {}
    origin = str(src.get("source") or "config")
    rv = str(src.get("resourceVersion") or "")
    what = f"discofilter at {url}: {origin}" + (f"@{rv}" if rv else "")
    warning = ""
    if not src.get("healthy", True):
        kept = f"{origin}@{rv}" if rv else "the config file's fallback"
        warning = (
            f"the proxy refuses its source's latest value ({src.get('error', '')}); "
            f"the selectors in effect are still those of {kept}"
        )
    return LiveSelectors(
        sels,
        SelectorSource(what, term_names(sels), sels is None),
        frozenset(str(n) for n in doc.get("alwaysEnrolled") or ()),
        warning,
    )


async def read_live(url: str) -> LiveSelectors:
    base = url.rstrip("/")
    try:
        async with aiohttp.ClientSession() as s, s.get(f"{base}/debug/enrollment") as r:
            if r.status != 200:
                raise UpstreamError(f"{base}/debug/enrollment: HTTP {r.status}")
            doc = await r.json(content_type=None)
    except aiohttp.ClientError as e:
        raise UpstreamError(f"{base}/debug/enrollment: {e}") from e
    if not isinstance(doc, Mapping):
        raise UpstreamError(f"{base}/debug/enrollment: not a JSON object")
    return from_debug_enrollment(doc, base)
