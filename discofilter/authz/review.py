"""``ReviewAuthorizer``: ask the API server, as the caller, with a SelfSubjectAccessReview.

A client served from a shared watch never reaches kube-apiserver itself, so the proxy asks on its
behalf: it POSTs a ``SelfSubjectAccessReview`` for the request's verb, group, version, resource
and namespace, sending the caller's own ``Authorization`` and every ``Impersonate-*`` header it
received (a repeated ``Impersonate-Group`` stays repeated) and nothing else that identifies
anyone. The API server authenticates those credentials and answers with the caller's rights; the
proxy's own token is never on this request. A request without ``Authorization`` is reviewed as it
came (anonymous): the API server answers 401 or 403 and the caller gets that, never the proxy's
rights.

Answers, as ``Verdict``:

* ``201``/``200`` with ``status.allowed: true`` → allowed.
* ``status.allowed: false`` → ``403`` with a message naming the verb, resource, group and
  namespace (and the authorizer's reason when it gave one, as kube-apiserver appends it).
* ``401`` on the review itself → ``401 Unauthorized``: the credentials were not accepted.
* ``403`` on the review itself → ``403``: the caller may not even create a
  SelfSubjectAccessReview (RBAC's ``system:basic-user`` lets every authenticated user create
  one, so this is an anonymous caller or a cluster that removed that binding); it cannot be shown
  it may read anything, so it is refused.
* Anything else (another status, a body that is not a review, a connection error, no answer in
  ``timeout`` seconds) raises ``UpstreamError``: the proxy could not learn the answer, and an
  unknown answer is never "allowed".

The cache (what, how long, why):

* **Key**: SHA-256 over the credential headers (``Authorization`` and the sorted
  ``Impersonate-*`` name/value pairs) and the attributes. Only the 32-byte digest is kept: the
  credential itself is never stored, logged or put into an exception message.
* **TTL**: 10 s for an allowed answer, 2 s for a denied one (401 or 403), measured on the injected
  clock from the moment the review was sent (so an entry is never used more than TTL after the
  API server decided). kube-apiserver's webhook authorizer caches 5 min allowed / 30 s denied by
  default, and kube-rbac-proxy caches similarly; we choose much shorter because a revoked
  RoleBinding must stop a caller's *new* requests within seconds, and one review per caller per
  10 s is cheap next to the LIST+WATCH it guards. Denied answers expire sooner so a caller whose
  RoleBinding has just been created is let in quickly. An open watch is authorized once, when it
  starts, as kube-apiserver does; revocation ends nothing already streaming.
* **Bound**: an LRU of ``max_entries`` (4,096 by default: more distinct caller x request pairs
  than a control plane has in 10 s); the least recently used entry is evicted first.
* **Errors are never cached**: the next request asks again.
* **Single flight**: concurrent identical misses share one review. The review runs in a task of
  its own, so a waiter that gives up (its client went away) does not cancel it for the others; a
  failure reaches every waiter and is then forgotten.

``stats`` counts for metrics; see ``ReviewStats`` for the invariants between its fields.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from multidict import CIMultiDict

from discofilter.authz import Attributes, Verdict
from discofilter.clock import Clock, SystemClock
from discofilter.errors import UpstreamError
from discofilter.upstream.client import Upstream

SSAR_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
_IMPERSONATE = "impersonate-"
_JSON = "application/json"


@dataclass(slots=True)
class ReviewStats:
    """Counters since start. Every ``authorize`` call adds one to exactly one of ``reviews``,
    ``cache_hits``, and, when it returns or raises ``UpstreamError`` (not when its caller
    cancels it), to exactly one of ``allowed``, ``denied``, ``errors``."""

    reviews: int = 0
    """SelfSubjectAccessReviews sent to the API server."""
    cache_hits: int = 0
    """Calls that sent no review of their own: answered from the cache or by joining an
    identical review already in flight."""
    allowed: int = 0
    """Calls answered allowed."""
    denied: int = 0
    """Calls answered 401 or 403."""
    errors: int = 0
    """Calls that raised ``UpstreamError`` (the answer could not be learnt)."""


def credential_headers(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """The caller's ``Authorization`` and ``Impersonate-*`` headers, in the order received.

    ``items()`` of a ``CIMultiDict`` (aiohttp's request headers) yields every value of a repeated
    header, as ``getall`` would, so two ``Impersonate-Group`` headers both survive; a plain dict
    yields its one value per name. Names compare case-insensitively, as HTTP's do.
    """
    out: list[tuple[str, str]] = []
    for name, value in headers.items():
        low = name.lower()
        if low == "authorization" or low.startswith(_IMPERSONATE):
            out.append((name, value))
    return out


def cache_key(creds: list[tuple[str, str]], attrs: Attributes) -> bytes:
    """SHA-256 of the credentials and the attributes: the only form in which a credential
    outlives the request. Impersonate-* pairs are sorted (a set of groups is the same identity
    in any order); header names are lower-cased (HTTP names are case-insensitive)."""
    auth = [v for n, v in creds if n.lower() == "authorization"]
    imp = sorted((n.lower(), v) for n, v in creds if n.lower() != "authorization")
    doc = [
        auth,
        imp,
        [attrs.verb, attrs.group, attrs.version, attrs.resource, attrs.namespace],
    ]
    return hashlib.sha256(orjson.dumps(doc)).digest()


def review_body(attrs: Attributes) -> bytes:
    """The SelfSubjectAccessReview for ``attrs`` (namespace "" asks cluster-wide)."""
    return orjson.dumps(
        {
            "kind": "SelfSubjectAccessReview",
            "apiVersion": "authorization.k8s.io/v1",
            "spec": {
                "resourceAttributes": {
                    "verb": attrs.verb,
                    "group": attrs.group,
                    "version": attrs.version,
                    "resource": attrs.resource,
                    "namespace": attrs.namespace,
                }
            },
        }
    )


def describe(attrs: Attributes) -> str:
    """``list resource "pods" in API group "" at the cluster scope``: kube-apiserver's wording
    for what was refused (its forbidden message names the user, which the proxy does not know)."""
    scope = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
    return f'{attrs.verb} resource "{attrs.resource}" in API group "{attrs.group}" {scope}'


class ReviewAuthorizer:
    """An ``Authorizer`` asking the API server with each caller's own credentials, with a short
    cache (module docstring: what is cached, for how long, why)."""

    def __init__(
        self,
        upstream: Upstream,
        clock: Clock | None = None,
        *,
        allowed_ttl: float = 10.0,
        denied_ttl: float = 2.0,
        max_entries: int = 4096,
        timeout: float = 5.0,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.upstream = upstream
        self.clock: Clock = clock or SystemClock()
        self.allowed_ttl = allowed_ttl
        """Seconds an allowed answer is reused (10 s: a revoked binding bites within 10 s)."""
        self.denied_ttl = denied_ttl
        """Seconds a 401/403 answer is reused (2 s: a new binding lets the caller in soon)."""
        self.max_entries = max_entries
        """Cache bound; least recently used entries are evicted beyond it."""
        self.timeout = timeout
        """Seconds one review may take (send to body read) before it is an UpstreamError."""
        self.stats = ReviewStats()
        # digest -> (expires at, on self.clock.monotonic(); verdict). Ordered oldest use first.
        # Invariant: len(_cache) <= max_entries. An expired entry is never answered from: it is
        # dropped when next looked up, or evicted as least recently used.
        self._cache: OrderedDict[bytes, tuple[float, Verdict]] = OrderedDict()
        # digest -> the review in flight for it; present only while that task runs.
        self._inflight: dict[bytes, asyncio.Task[Verdict]] = {}

    def __len__(self) -> int:
        """Cached answers (expired ones included until looked up or evicted)."""
        return len(self._cache)

    async def authorize(self, headers: Mapping[str, str], attrs: Attributes) -> Verdict:
        creds = credential_headers(headers)
        key = cache_key(creds, attrs)
        verdict = self._cached(key)
        try:
            if verdict is not None:
                self.stats.cache_hits += 1
                return verdict
            task = self._inflight.get(key)
            if task is not None:
                self.stats.cache_hits += 1
            else:
                self.stats.reviews += 1
                task = asyncio.get_running_loop().create_task(self._review(key, creds, attrs))
                task.add_done_callback(_retrieve)
                self._inflight[key] = task
            # shield: a caller cancelled while waiting must not cancel the review for the others.
            verdict = await asyncio.shield(task)
            return verdict
        except UpstreamError:
            self.stats.errors += 1
            raise
        finally:
            if verdict is not None:
                if verdict.allowed:
                    self.stats.allowed += 1
                else:
                    self.stats.denied += 1

    def _cached(self, key: bytes) -> Verdict | None:
        hit = self._cache.get(key)
        if hit is None:
            return None
        expires, verdict = hit
        if self.clock.monotonic() >= expires:
            del self._cache[key]
            return None
        self._cache.move_to_end(key)
        return verdict

    def _store(self, key: bytes, verdict: Verdict, expires: float) -> None:
        self._cache[key] = (expires, verdict)
        self._cache.move_to_end(key)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)

    async def _review(self, key: bytes, creds: list[tuple[str, str]], attrs: Attributes) -> Verdict:
        """One review, its answer cached unless it failed; leaves ``_inflight`` when done."""
        try:
            sent = self.clock.monotonic()
            try:
                async with asyncio.timeout(self.timeout):
                    code, body = await self._post(creds, attrs)
            except TimeoutError as e:
                raise UpstreamError(
                    f"SelfSubjectAccessReview for {describe(attrs)}: "
                    f"no answer in {self.timeout:g} s"
                ) from e
            verdict = _verdict(code, body, attrs)
            ttl = self.allowed_ttl if verdict.allowed else self.denied_ttl
            self._store(key, verdict, sent + ttl)
            return verdict
        finally:
            self._inflight.pop(key, None)

    async def _post(self, creds: list[tuple[str, str]], attrs: Attributes) -> tuple[int, bytes]:
        hdrs: CIMultiDict[str] = CIMultiDict(creds)
        hdrs["Content-Type"] = _JSON
        hdrs["Accept"] = _JSON
        resp = await self.upstream.request("POST", SSAR_PATH, hdrs, review_body(attrs), own=False)
        try:
            return resp.status, await resp.read()
        finally:
            resp.release()


def _retrieve(task: asyncio.Task[Verdict]) -> None:
    # A review whose waiters all went away still ends; read its exception so asyncio does not
    # log "exception was never retrieved" for an error nobody was left to receive.
    if not task.cancelled():
        task.exception()


def _status_message(body: bytes) -> str:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    msg = doc.get("message") if isinstance(doc, dict) else None
    return msg if isinstance(msg, str) else ""


def _verdict(code: int, body: bytes, attrs: Attributes) -> Verdict:
    """The answer in one upstream response, or ``UpstreamError`` when it holds none."""
    what = describe(attrs)
    if code == 401:
        return Verdict(False, 401, "Unauthorized")
    if code == 403:
        # The API server's own message names the user it authenticated, never a credential.
        upstream = _status_message(body)
        detail = f": {upstream}" if upstream else ""
        return Verdict(
            False,
            403,
            f"discofilter: the caller may not {what}: the API server refused its "
            f"SelfSubjectAccessReview{detail}",
        )
    if code not in (200, 201):
        raise UpstreamError(f"SelfSubjectAccessReview for {what}: HTTP {code}")
    try:
        doc: Any = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise UpstreamError(f"SelfSubjectAccessReview for {what}: body is not JSON") from e
    status = doc.get("status") if isinstance(doc, dict) else None
    allowed = status.get("allowed") if isinstance(status, dict) else None
    if not isinstance(allowed, bool):
        raise UpstreamError(f"SelfSubjectAccessReview for {what}: no status.allowed in the answer")
    if allowed:
        return Verdict(True)
    reason = status.get("reason") if isinstance(status, dict) else None
    detail = f": {reason}" if isinstance(reason, str) and reason else ""
    return Verdict(False, 403, f"discofilter: the caller may not {what}{detail}")
