"""Request classification: method, target, query and headers -> a typed request (pure).

Policy, in the order it is applied:

1. **Reject odd targets with 400.** CONNECT, absolute-URL or authority-form request targets,
   ``..``/``.`` segments (also percent-encoded: ``%2e%2e``), empty segments (``//``), encoded
   slashes/backslashes (``%2f``, ``%5c``), NUL and control bytes. kube-apiserver would 404 most of
   these, but a proxy that *normalised* them differently from the API server could be tricked into
   filtering one path and forwarding another; refusing is the only safe answer (no open-proxy
   behaviour, issue 9).
2. **Upgrades get 501.** exec/attach/portforward (and any request carrying ``Upgrade:``) are
   answered with a 501 ``Status``: istiod never uses them, and a half-working SPDY relay is worse
   than a clear refusal. Use ``kubectl`` against the API server directly for those.
3. **Filtered LIST/WATCH** only for a GET of a *cluster-wide collection* of a *namespaced* resource
   per the ``ResourceCatalog`` (discovered from the upstream), not listed in ``exemptResources``:
   ``/api/v1/pods``, ``/apis/G/V/R``, the legacy ``/api/v1/watch/pods`` and ``?watch=`` with any
   value except ``0``/``false`` (apimachinery's ``Convert_Slice_string_To_bool``; only the first
   value counts).
4. **Everything else passes through** byte for byte with a reason (discovery, writes,
   subresources, single-namespace reads — even of a non-enrolled namespace: the caller asked for
   that namespace by name and the API server authorizes it — cluster-scoped resources, unknown
   resources).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

# Resources that are namespaced in every Kubernetes release the proxy supports. Discovery replaces
# this at start-up; the seed only matters until the first discovery answer (or when it fails).
DEFAULT_NAMESPACED: frozenset[tuple[str, str]] = frozenset(
    {("", r) for r in (
        "pods", "services", "endpoints", "configmaps", "secrets", "serviceaccounts", "events",
        "limitranges", "persistentvolumeclaims", "podtemplates", "replicationcontrollers",
        "resourcequotas",
    )}
    | {("apps", r) for r in ("deployments", "replicasets", "statefulsets", "daemonsets")}
    | {("discovery.k8s.io", "endpointslices"), ("batch", "jobs"), ("batch", "cronjobs")}
    | {("coordination.k8s.io", "leases"), ("networking.k8s.io", "ingresses")}
)  # fmt: skip

UNKNOWN_RESOURCE = "cluster-scoped or unknown resource"
"""PassThrough reason of a collection the catalog does not list as namespaced."""
_SUBRESOURCE_UPGRADES = frozenset({"exec", "attach", "portforward"})
_SEGMENT_RE = re.compile(r"^[A-Za-z0-9._~:@!$&'()*+,;=%-]+$")


@dataclass(frozen=True, slots=True)
class ResourceRef:
    """A resource collection: API group ("" for core), version and plural resource name."""

    group: str
    version: str
    resource: str

    @property
    def group_resource(self) -> str:
        """``resource`` for core, ``resource.group`` otherwise (kubectl's spelling)."""
        return self.resource if not self.group else f"{self.resource}.{self.group}"


@dataclass(frozen=True, slots=True)
class ResourceCatalog:
    """Which (group, resource) pairs are namespaced, and which are exempt from filtering.

    Invariant: ``namespaced`` holds plural resource names without subresources ("pods", never
    "pods/log"); versions are ignored because scope does not change across versions.
    ``exempt`` entries are kubectl group-resource spellings ("pods", "leases.coordination.k8s.io").
    """

    namespaced: frozenset[tuple[str, str]] = DEFAULT_NAMESPACED
    exempt: frozenset[str] = frozenset()

    def is_namespaced(self, group: str, resource: str) -> bool:
        return (group, resource) in self.namespaced

    def is_exempt(self, ref: ResourceRef) -> bool:
        return ref.group_resource in self.exempt

    def with_exempt(self, exempt: Iterable[str]) -> ResourceCatalog:
        return ResourceCatalog(self.namespaced, frozenset(exempt))

    def with_namespaced(self, namespaced: Iterable[tuple[str, str]]) -> ResourceCatalog:
        return ResourceCatalog(frozenset(namespaced), self.exempt)


@dataclass(frozen=True, slots=True)
class FilteredList:
    """GET of a cluster-wide collection: the response is filtered by namespace enrollment."""

    resource: ResourceRef
    path: str
    query: str


@dataclass(frozen=True, slots=True)
class FilteredWatch:
    """WATCH of a cluster-wide collection. ``legacy_path`` is true for ``/watch/`` URLs."""

    resource: ResourceRef
    path: str
    query: str
    legacy_path: bool = False
    send_initial_events: bool = False


@dataclass(frozen=True, slots=True)
class PassThrough:
    """Forwarded unchanged; ``reason`` says why (for logs and /debug)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Upgrade:
    """A connection upgrade (exec, attach, port-forward, websocket): answered with 501."""

    what: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """A request target the proxy refuses; ``code`` is 400 or 405."""

    code: int
    message: str


Classified = FilteredList | FilteredWatch | PassThrough | Upgrade | Rejected


def _query_flag(params: list[tuple[str, str]], name: str) -> bool:
    for k, v in params:
        if k == name:
            return v != "0" and v.lower() != "false"
    return False


def _check_target(target: str) -> str | Rejected:
    """Split off the query and validate the path; return the path or a Rejected."""
    if not target.startswith("/"):
        return Rejected(400, "only origin-form request targets (/path?query) are accepted")
    path = target.split("?", 1)[0].split("#", 1)[0]
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in target):
        return Rejected(400, "control characters or spaces in the request target")
    if path == "/":
        return path
    segments = path[1:].split("/")
    if path.endswith("/"):
        segments.pop()
    for seg in segments:
        if not seg:
            return Rejected(400, "empty path segment ('//') in the request target")
        low = seg.lower()
        decoded = low.replace("%2e", ".")
        if decoded in (".", ".."):
            return Rejected(400, "dot segments ('.', '..') are not allowed in the request path")
        if "%2f" in low or "%5c" in low or "%00" in low or "\\" in seg:
            return Rejected(400, "encoded slashes, backslashes or NUL in the request path")
        if not _SEGMENT_RE.match(seg):
            return Rejected(400, "invalid characters in the request path")
    return path


def _upgrade(headers: Mapping[str, str], segs: list[str]) -> Upgrade | None:
    upgrade = headers.get("Upgrade") or headers.get("upgrade")
    # "Upgrade: h2c" is an optional offer (curl --http2 over http) the server may ignore; the
    # header is hop-by-hop and dropped, and the request is served as HTTP/1.1.
    if upgrade and upgrade.strip().lower() != "h2c":
        return Upgrade(f"Upgrade: {upgrade}")
    # /api/v1/namespaces/NS/pods/NAME/exec and friends are upgrades even without the header.
    if len(segs) >= 2 and segs[-1] in _SUBRESOURCE_UPGRADES and "namespaces" in segs:
        return Upgrade(segs[-1])
    return None


def classify(
    method: str,
    target: str,
    headers: Mapping[str, str],
    catalog: ResourceCatalog,
) -> Classified:
    """Classify one request. ``target`` is the raw request target (path plus query).

    ``headers`` must be case-insensitive for lookups of ``Upgrade`` (aiohttp's CIMultiDict is);
    a plain dict with lower-case keys works too.
    """
    method = method.upper()
    if method == "CONNECT":
        return Rejected(405, "CONNECT is not supported: discofilter is not a forward proxy")
    checked = _check_target(target)
    if isinstance(checked, Rejected):
        return checked
    path = checked.rstrip("/") or "/"
    query = target.split("?", 1)[1] if "?" in target else ""
    # The API server routes on the percent-decoded path (Go's URL.Path): "/api/v1/%70ods" IS
    # the pod list there, so classify what it will see (%2f/%5c/%00 were refused above).
    segs = [unquote(s) for s in path[1:].split("/")] if path != "/" else []

    upgrade = _upgrade(headers, segs)
    if upgrade is not None:
        return upgrade
    if method != "GET":
        return PassThrough(f"method {method}")

    if len(segs) >= 2 and segs[0] == "api":
        group, version, rest = "", segs[1], segs[2:]
    elif len(segs) >= 3 and segs[0] == "apis":
        group, version, rest = segs[1], segs[2], segs[3:]
    else:
        return PassThrough("not a resource path")

    legacy = False
    if rest and rest[0] == "watch":
        legacy, rest = True, rest[1:]
    if not rest:
        return PassThrough("discovery")
    if len(rest) != 1:
        if rest[0] == "namespaces" and len(rest) >= 3:
            return PassThrough("single-namespace request")
        return PassThrough("named object or subresource")
    ref = ResourceRef(group, version, rest[0])
    if not catalog.is_namespaced(group, ref.resource):
        return PassThrough(UNKNOWN_RESOURCE)
    if catalog.is_exempt(ref):
        return PassThrough("exempt resource")

    params = parse_qsl(query, keep_blank_values=True)
    if legacy or _query_flag(params, "watch"):
        return FilteredWatch(
            ref, path, query, legacy_path=legacy,
            send_initial_events=_query_flag(params, "sendInitialEvents"),
        )  # fmt: skip
    return FilteredList(ref, path, query)
