"""The proxy's own namespace LIST+WATCH, feeding the ``Enrollment`` view (its own identity).

Structure follows client-go's Reflector: ``run`` is the retry loop, ``list_once`` and
``watch_once`` are the testable passes.

* LIST pages with ``limit=500`` (10k namespaces = 20 pages) and *replaces* the view
  (``Enrollment.sync``), so namespaces deleted while the watch was down are noticed.
* WATCH resumes from the newest resourceVersion (events and bookmarks); ``410 Expired`` (ERROR
  event or HTTP status) → relist; EOF or a broken connection → rewatch from the same version.
* Every flip is handed to ``on_changes`` synchronously, on the event loop, so no filtered event
  can interleave between a flip and the streams it ends.
* ``ready`` is set after the first successful LIST and stays set: later outages leave the view
  stale but consistent, which is what an informer gives istiod as well.
* Named scopes (``server/scopes.py``) are fed by the same LIST and events: each ``ScopeFeed``
  has its own ``Enrollment`` and flip stamp, and gets only its own flips.
Failures back off 0.2 s doubling to 10 s (injected clock).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlencode

import orjson

from discofilter.clock import Clock, SystemClock
from discofilter.errors import UpstreamError
from discofilter.filter.enrollment import Enrollment, EnrollmentChange
from discofilter.model import rv_int
from discofilter.upstream.client import Upstream
from discofilter.upstream.json_events import each_json_event
from discofilter.upstream.queries import watch_query
from discofilter.upstream.reflector import backoff, list_and_watch

log = logging.getLogger(__name__)

PAGE_SIZE = 500
FLIP_RV_UNKNOWN = 1 << 62
WATCH_TIMEOUT_SECONDS = 300  # client-go uses 5-10 min random; the server may end it sooner
_ACCEPT = {"Accept": "application/json"}


def newest_flip(last_flip_rv: int, changes: list[EnrollmentChange], rv: str) -> int:
    """The flip stamp after ``changes`` came at ``rv`` (contract 3: resumes below it relist)."""
    if not changes:
        return last_flip_rv
    try:
        return max(last_flip_rv, int(rv))
    except ValueError:
        return FLIP_RV_UNKNOWN


def resumes_before(resource_version: str, last_flip_rv: int) -> bool:
    """True when a watch resuming from ``resource_version`` starts before ``last_flip_rv``."""
    if not resource_version or resource_version == "0":
        return False
    try:
        return int(resource_version) < last_flip_rv
    except ValueError:
        return True  # opaque version: cannot prove it is current, so relist (safe)


class ScopeFeed(Protocol):
    """A named scope's view, fed by the one namespace watch (``server/scopes.py``)."""

    enrollment: Enrollment
    last_flip_rv: int

    @property
    def scope(self) -> str:
        """The scope's name (for log lines)."""

    def apply_changes(self, changes: list[EnrollmentChange]) -> int:
        """End the scope's streams the flips leave inexact."""


class _Expired(Exception):
    """The resourceVersion is too old: relist."""


def _labels(obj: Any) -> tuple[str, dict[str, str]]:
    meta = obj.get("metadata") or {}
    return str(meta.get("name", "")), dict(meta.get("labels") or {})


class NamespaceWatcher:
    def __init__(
        self,
        upstream: Upstream,
        enrollment: Enrollment,
        on_changes: Callable[[list[EnrollmentChange]], object],
        clock: Clock | None = None,
    ) -> None:
        self.upstream = upstream
        self.enrollment = enrollment
        self.on_changes = on_changes
        self.clock = clock or SystemClock()
        self.ready = asyncio.Event()
        self.resource_version = ""
        self.lists = 0
        self.watches = 0
        self.last_error: str | None = None
        self.last_flip_rv = 0
        """Invariant: >= the resourceVersion of every enrollment flip applied so far (the
        namespace event's, or the LIST's for flips found by a relist); FLIP_RV_UNKNOWN when a
        flip came with a non-numeric resourceVersion (then every resumed watch relists)."""
        self.last_ok_after_error = True
        """False from a failure until the next successful LIST or WATCH start (readiness)."""
        self.created_rv: dict[str, int] = {}
        """Namespace -> the resourceVersion of its ADDED event on our watch; 0 for namespaces
        first seen in a LIST (created at some unknown, older version). Streams use it to know
        whether a joining namespace may hold objects their client's LIST filtered out."""
        self.scopes: list[ScopeFeed] = []
        """Named scopes fed by this watch besides ``enrollment`` (the default scope)."""
        self._scopes_held: list[int] = []

    def resumes_before_flip(self, resource_version: str) -> bool:
        """True when a watch resuming from ``resource_version`` starts before the newest
        enrollment flip: what the client holds was filtered under the old enrollment (its
        LIST, or a stream that ended before the flip), so it must relist (contract 3).
        Etcd-backed resourceVersions are integers; "" or "0" (start from now) never needs it.
        """
        return resumes_before(resource_version, self.last_flip_rv)

    def hold_resumes(self) -> int:
        """Until ``stamp``: every resumed watch relists (a reload reads etcd's revision).
        Returns the flip version to pass back to ``stamp``."""
        before = self.last_flip_rv
        self.last_flip_rv = FLIP_RV_UNKNOWN
        # A reload may flip any scope (the top-level alwaysEnrolled and safety list are in each).
        self._scopes_held = [scope.last_flip_rv for scope in self.scopes]
        for scope in self.scopes:
            scope.last_flip_rv = FLIP_RV_UNKNOWN
        return before

    def stamp(self, before: int, stamp: int) -> None:
        """End ``hold_resumes``: watches resuming from below ``stamp`` (and below every flip
        seen since, including the namespace watch's own version) relist."""
        self.last_flip_rv = max(before, stamp, rv_int(self.resource_version, 0))
        held = self._scopes_held or [0] * len(self.scopes)
        for scope, scope_before in zip(self.scopes, held, strict=True):
            scope.last_flip_rv = max(scope_before, stamp, rv_int(self.resource_version, 0))
        self._scopes_held = []

    def _apply(self, changes: list[EnrollmentChange], rv: str) -> None:
        # Remember the newest flip's resourceVersion: a watch resuming from an older one
        # was filtered under the old enrollment and must relist (``resumes_before_flip``).
        self.last_flip_rv = newest_flip(self.last_flip_rv, changes, rv)
        for ch in changes:
            log.info(
                "namespace enrollment changed",
                extra={"namespace": ch.namespace, "enrolled": ch.enrolled, "term": ch.term},
            )
        if changes:
            self.on_changes(changes)

    def _apply_scope(self, scope: ScopeFeed, changes: list[EnrollmentChange], rv: str) -> None:
        scope.last_flip_rv = newest_flip(scope.last_flip_rv, changes, rv)
        for ch in changes:
            log.info(
                "namespace enrollment changed",
                extra={"namespace": ch.namespace, "enrolled": ch.enrolled, "term": ch.term,
                       "scope": scope.scope},
            )  # fmt: skip
        if changes:
            scope.apply_changes(changes)

    async def list_once(self) -> str:
        names: dict[str, dict[str, str]] = {}
        cont = ""
        rv = ""
        while True:
            q = {"limit": str(PAGE_SIZE)}
            if cont:
                q["continue"] = cont
            status, body = await self.upstream.get_own(
                "/api/v1/namespaces?" + urlencode(q), _ACCEPT
            )
            if status == 410:
                names, cont = {}, ""  # continue token expired mid-list: start over
                continue
            if status != 200:
                raise UpstreamError(f"namespace LIST: HTTP {status}: {body[:200]!r}")
            doc = orjson.loads(body)
            for item in doc.get("items") or []:
                name, labels = _labels(item)
                names[name] = labels
            meta = doc.get("metadata") or {}
            rv = str(meta.get("resourceVersion", ""))
            cont = str(meta.get("continue") or "")
            if not cont:
                break
        self.created_rv = {n: self.created_rv.get(n, 0) for n in names}
        self._apply(self.enrollment.sync(names), rv)
        for scope in self.scopes:
            self._apply_scope(scope, scope.enrollment.sync(names), rv)
        self.lists += 1
        self.last_ok_after_error = True
        self.resource_version = rv
        self.ready.set()
        return rv

    async def watch_once(self) -> None:
        """One WATCH from ``resource_version``; returns on EOF, raises _Expired on 410."""
        q = watch_query(self.resource_version, WATCH_TIMEOUT_SECONDS)
        resp = await self.upstream.request("GET", "/api/v1/namespaces?" + q, _ACCEPT, own=True)
        self.watches += 1
        try:
            if resp.status == 410:
                raise _Expired()
            if resp.status != 200:
                raise UpstreamError(f"namespace WATCH: HTTP {resp.status}")
            self.last_ok_after_error = True
            await each_json_event(resp, self._event, "namespace WATCH", _Expired)
        finally:
            resp.release()

    def _event(self, ev: dict[str, Any]) -> None:
        typ = ev.get("type")
        obj = ev.get("object") or {}
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if typ in ("ADDED", "MODIFIED"):
            name, labels = _labels(obj)
            if name not in self.created_rv:
                self.created_rv[name] = rv_int(rv, 0) if typ == "ADDED" else 0
            change = self.enrollment.apply_namespace(name, labels)
            self._apply([change] if change else [], str(rv))
            for scope in self.scopes:
                change = scope.enrollment.apply_namespace(name, labels)
                self._apply_scope(scope, [change] if change else [], str(rv))
        elif typ == "DELETED":
            name, _ = _labels(obj)
            self.created_rv.pop(name, None)
            change = self.enrollment.remove_namespace(name)
            self._apply([change] if change else [], str(rv))
            for scope in self.scopes:
                change = scope.enrollment.remove_namespace(name)
                self._apply_scope(scope, [change] if change else [], str(rv))
        if rv:
            self.resource_version = str(rv)

    async def run(self) -> None:
        await list_and_watch(
            self.list_once,
            self.watch_once,
            expired=_Expired,
            retryable=(UpstreamError, orjson.JSONDecodeError),
            on_error=self._failed,
            sleep=self.clock.sleep,
            delay=backoff,
        )

    def _failed(self, e: Exception) -> None:
        self.last_error = str(e)
        self.last_ok_after_error = False
        log.warning("namespace watch failed; retrying", extra={"error": str(e)})
