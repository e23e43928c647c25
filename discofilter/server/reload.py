"""Live config reload: on SIGHUP and when the ``--config`` file changes, without a restart.

Policy:

* **Triggers.** SIGHUP, and a poll of the config file every ``poll_seconds`` (2 s) on the
  injected clock: a change of its SHA-256 that still holds ``SETTLE_SECONDS`` (0.25 s) later
  (the file is read whole: it is KBs, so hashing every poll costs microseconds and catches
  edits that keep mtime and size, and Kubernetes ConfigMap volumes, which swap a symlink). No
  inotify dependency. With ``--workers N`` the parent polls and forwards SIGHUP to every
  worker, so the workers reload within milliseconds of each other.
* **All or nothing.** The file is re-read and validated exactly as at start (flags from the
  command line still override it, ``check_security``, selectors, churn rules). A bad file is
  logged with its error (key and line) and counted ``rejected``; the running config stays.
  Nothing is applied before everything validated.
* **What applies live:** ``discoverySelectors`` / ``selectors`` and ``alwaysEnrolled`` (the
  enrollment view is reconfigured in place), ``churnControl`` (new streams get the new
  policies; open streams keep the coalescer they opened with; namespace-label rules of those
  read live labels as before) and ``streams`` (read by each new request). **Restart only**
  (logged "ignored until restart"): ``server.*``, ``upstream.*``, ``sharedWatches.*`` and
  ``exemptResources``
  (switching a resource between filtered and pass-through changes what every client of it
  holds, and pass-through streams are relayed byte for byte, untracked, so the proxy could not
  end them; a rolling restart makes every client relist).
* **Convergence (contract 3).** Selector flips are handled exactly like namespace relabels
  (``ProxyServer.apply_enrollment_changes`` → ``StreamRegistry.apply_changes``): an open stream
  that delivered an object of a namespace that left, or that dropped one of a namespace that
  joined or resumed from a LIST taken after that namespace existed, ends with a ``410
  Expired`` ERROR event; the others stay open. Streams are also
  checked against the new view directly (not only through the diff of known namespaces), so a
  namespace the namespace watch has not seen yet but a stream already delivered is caught.
* **Between streams.** A reload has no resourceVersion of its own, so it is *stamped*: every
  state served under the old selectors (any LIST, any event, by any worker that reloaded
  already) has a resourceVersion at most the current etcd revision ``R``, read right after the
  switch with a one-item namespace LIST (a quorum read). Watches resuming from ``<= R`` then
  get an immediate 410 (the "between streams" check of ``filtered_watch``, fed through
  ``NamespaceWatcher.stamp``: ``last_flip_rv = R + 1``); while ``R`` is being read
  (``hold_resumes``), every resume does.
  Conservative on purpose: a client that relists in a cluster where *nothing at all* was
  written since the reload gets ``R`` again and relists again (client-go backs off 0.8 s..30 s)
  until the next write; live clusters write every few seconds (leases renew every 2-10 s). No
  stamp when nothing flipped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

from discofilter.clock import Clock
from discofilter.config import Config, camel
from discofilter.config_checks import check_security
from discofilter.errors import ConfigError, UpstreamError
from discofilter.filter.enrollment import Enrollment, EnrollmentChange
from discofilter.model import rv_int
from discofilter.server.streams.registry import WatchStream
from discofilter.server.streams.stages import stage_factory
from discofilter.tasks import BackgroundTasks

if TYPE_CHECKING:
    from discofilter.server.proxy import ProxyServer
    from discofilter.server.scopes import Scope

log = logging.getLogger(__name__)

DEFAULT_POLL_SECONDS = 2.0
"""How often the config file is checked: a ConfigMap edit reaches the pod's volume within the
kubelet's sync (~60 s) anyway; 2 s adds little to that and costs one small read per poll."""
KEEP_RESULTS = 64  # bounded like every other buffer; reloads come a handful a day
SETTLE_SECONDS = 0.25
"""A changed file must read the same twice this far apart before it is loaded: an editor or
``echo >`` that truncates and rewrites in place would otherwise be caught half-written, and an
empty file is a valid config that enrolls every namespace. (ConfigMap volumes swap a symlink,
atomically; they just wait 0.25 s.)"""
_STAMP_BACKOFF = (0.2, 5.0)  # first and longest wait between attempts to read etcd's revision
_ACCEPT = {"Accept": "application/json"}


# --- pure parts -------------------------------------------------------------------------------


class ConfigFileWatch:
    """Notices a change of one file's content (polled; see the module docstring).

    Invariant: ``digest`` is the SHA-256 of the content last accepted (at construction or by
    ``changed``/``accept``), or None when the file could not be read then.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.digest: bytes | None = self.current()

    def current(self) -> bytes | None:
        """The SHA-256 of the file's content now (None: unreadable or missing)."""
        try:
            with open(self.path, "rb") as f:
                return hashlib.sha256(f.read()).digest()
        except OSError:
            return None

    def accept(self, digest: bytes | None) -> None:
        self.digest = digest

    def changed(self) -> bool:
        """True when the content differs from the last accepted (appearing or vanishing
        counts), which it then accepts. Callers that can wait use ``current`` + ``accept``
        with a settle time instead (see ``settled_change``)."""
        now = self.current()
        if now == self.digest:
            return False
        self.digest = now
        return True


def restart_only_changes(running: Config, new: Config) -> list[str]:
    """The settings (file spelling, e.g. ``server.listen``) that differ but need a restart."""
    out: list[str] = []
    for group, spelled in (("server", "server"), ("upstream", "upstream"),
                           ("shared_watches", "sharedWatches")):  # fmt: skip
        a, b = getattr(running, group), getattr(new, group)
        for f in dataclasses.fields(a):
            if getattr(a, f.name) != getattr(b, f.name):
                out.append(f"{spelled}.{camel(f.name)}")
    if running.enrollment.exempt_resources != new.enrollment.exempt_resources:
        out.append("exemptResources")
    if [s.name for s in running.scopes] != [s.name for s in new.scopes]:
        out.append("scopes")  # which scopes exist (their selectors reload live)
    return out


def reconfigure_scopes(
    proxy: ProxyServer, new: Config
) -> tuple[dict[Scope, list[EnrollmentChange]], bool]:
    """Switch every running scope to ``new``'s selectors for it (and the top-level
    always-enrolled names and safety list); return each scope's flips, and whether a scope
    switched between "every namespace" and selectors (a stamp is then needed as well)."""
    out: dict[Scope, list[EnrollmentChange]] = {}
    toggled = False
    for scope in proxy.scopes.values():
        sc = new.scope(scope.scope)
        if sc is None:
            continue  # removed from the file: kept until restart (restart_only_changes)
        enrollment = sc.enrollment(new.enrollment)
        selectors, names = enrollment.selector_set()
        toggled |= (scope.enrollment.selectors is None) != (selectors is None)
        changes = scope.enrollment.reconfigure(
            selectors, frozenset(enrollment.always_enrolled), names
        )
        changes += stream_changes(proxy.registry.streams(scope.scope), scope.enrollment, changes)
        scope.stage_factory = stage_factory(
            new.churn_control, scope.enrollment, proxy.coalesce_stats
        )
        out[scope] = changes
    return out, toggled


def stream_changes(
    streams: Iterable[WatchStream], enrollment: Enrollment, known: Iterable[EnrollmentChange]
) -> list[EnrollmentChange]:
    """Flips the known-namespace diff misses, seen from the open streams under the new view:
    a namespace a stream delivered that is not enrolled now, or dropped that is enrolled now
    (e.g. delivered under "every namespace" before the namespace watch saw it). Cluster-scoped
    objects (namespace "") always pass, so "" never flips.

    Set operations only (C loops), since the event loop waits: 20 streams that each saw
    10,000 namespaces take ~10 ms, 200 take ~90 ms (a Python loop per namespace: ~340 ms).
    """
    skip = {c.namespace for c in known} | {""}
    every = enrollment.selectors is None
    # Enrolled now and not a known flip: a stream that dropped one of these must still end.
    enrolled = set() if every else enrollment.enrolled() - skip
    left: set[str] = set()
    joined: set[str] = set()
    for s in streams:
        if every:
            joined |= s.dropped_ns
        else:
            left |= s.delivered_ns - enrolled
            joined |= s.dropped_ns & enrolled
    out = [EnrollmentChange(ns, False, None) for ns in left - skip]
    out += [EnrollmentChange(ns, True, enrollment.matching_term(ns)) for ns in joined - skip]
    return sorted(out, key=lambda c: c.namespace)


@dataclass(frozen=True)
class ReloadResult:
    """What one reload did (also its log line)."""

    trigger: str
    ok: bool
    error: str = ""
    added: tuple[str, ...] = ()
    """Namespaces that became enrolled."""
    removed: tuple[str, ...] = ()
    """Namespaces that left."""
    streams_ended: int = 0
    ignored: tuple[str, ...] = ()
    """Changed settings that need a restart."""
    stamp: int = 0
    """Watches resuming from a resourceVersion below this relist (0: no stamp needed)."""


# --- the reloader -----------------------------------------------------------------------------


class ConfigReloader:
    """Re-reads the config of one running ``ProxyServer`` and applies what may change live.

    ``load`` returns the effective config exactly as at start (file + command-line flags) and
    raises ``ConfigError``; ``startup`` is the effective config the process started with (what
    restart-only settings are compared to). Reloads run one at a time; requests that arrive
    during one are folded into a single follow-up reload.
    """

    def __init__(
        self,
        proxy: ProxyServer,
        load: Callable[[], Config],
        startup: Config,
        clock: Clock,
        path: str | None = None,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        loaded_digest: bytes | None = None,
    ) -> None:
        self.proxy = proxy
        self.load = load
        self.startup = startup
        self.clock = clock
        self.file = ConfigFileWatch(path) if path else None
        self.loaded_digest = loaded_digest
        """The file's SHA-256 read just before the running config was loaded from it (None:
        unknown); ``catch_up`` compares the file with it."""
        self.poll_seconds = poll_seconds
        self.results: deque[ReloadResult] = deque(maxlen=KEEP_RESULTS)
        """The latest reloads' results, oldest first (admin and tests)."""
        self._lock = asyncio.Lock()
        self._queued = False
        """True while a requested reload waits for the lock (further requests fold into it)."""
        self.tasks = BackgroundTasks()
        """The file poll and requested reloads, ended by ``stop``."""

    # lifecycle

    def start(self) -> None:
        """Start the file poll (when there is a file and ``poll_seconds > 0``)."""
        if self.file is not None and self.poll_seconds > 0:
            self.tasks.spawn(self._poll())

    def catch_up(self) -> None:
        """Reload now when the file changed after the running config was read from it. Such a
        change reached no handler: a process ignores SIGHUP until ``serve`` installs its own
        (a worker still starting drops its parent's signal), and the poll's baseline is taken
        here, after the load. Call once the SIGHUP handler is installed, so that no change
        falls between this look and the handler."""
        if self.file is None or self.loaded_digest is None:
            return
        now = self.file.current()
        if now != self.loaded_digest:
            self.loaded_digest = now
            self.file.accept(now)  # the poll must not reload the same change again
            self.request("file changed during start-up")

    async def stop(self) -> None:
        await self.tasks.stop()

    def request(self, trigger: str = "SIGHUP") -> None:
        """Ask for a reload (from a signal handler): it runs soon, on the loop."""
        if self._queued:
            return  # a reload that has not read the file yet will see the newest one
        self._queued = True
        self.tasks.spawn(self.reload(trigger))

    async def _poll(self) -> None:
        file = self.file
        assert file is not None
        while True:
            await self.clock.sleep(self.poll_seconds)
            seen = file.current()
            if seen == file.digest:
                continue
            await self.clock.sleep(SETTLE_SECONDS)
            if file.current() != seen:
                continue  # still being written: look again at the next poll
            file.accept(seen)
            await self.reload("file change")

    # one reload

    async def reload(self, trigger: str) -> ReloadResult:
        async with self._lock:
            self._queued = False  # a request from now on must read the file again
            result = await self._reload(trigger)
        self.results.append(result)
        m = self.proxy.metrics
        if m is not None:
            m.config_reloads.labels("ok" if result.ok else "rejected").inc()
        if result.ok:
            log.info(
                "config reloaded",
                extra={
                    "trigger": trigger, "added": list(result.added),
                    "removed": list(result.removed), "streams_ended": result.streams_ended,
                    "stamp": result.stamp, "ignored_until_restart": list(result.ignored),
                },
            )  # fmt: skip
        else:
            log.error(
                "config reload rejected; the running config stays",
                extra={"trigger": trigger, "error": result.error},
            )
        return result

    async def _reload(self, trigger: str) -> ReloadResult:
        proxy = self.proxy
        # 1. Read and validate everything before touching anything (never half-apply).
        try:
            new = self.load()
            check_security(new)
            selectors, names = new.enrollment.selector_set()
            factory = stage_factory(new.churn_control, proxy.enrollment, proxy.coalesce_stats)
        except ConfigError as e:
            return ReloadResult(trigger, ok=False, error=str(e))
        ignored = restart_only_changes(self.startup, new)
        for key in ignored:
            log.warning("config change ignored until restart", extra={"key": key})
        # 2. Switch, synchronously: no event is filtered between the switch and the endings.
        all_before = proxy.enrollment.selectors is None
        changes = proxy.apply_reload(
            new, selectors, names, factory,
            lambda known: stream_changes(proxy.registry.streams(""), proxy.enrollment, known),
        )  # fmt: skip
        scoped, toggled = reconfigure_scopes(proxy, new)
        stamp = 0
        ended = 0
        if changes or all_before != (selectors is None) or toggled or any(scoped.values()):
            held = proxy.namespaces.hold_resumes()  # every resume relists until stamped
            ended = proxy.apply_enrollment_changes(changes)
            for scope, scope_changes in scoped.items():
                ended += scope.apply_changes(scope_changes)
            # 3. Stamp: etcd's revision now bounds every state served under the old view.
            stamp = await self._current_revision() + 1
            proxy.namespaces.stamp(held, stamp)
        return ReloadResult(
            trigger, ok=True,
            added=tuple(c.namespace for c in changes if c.enrolled),
            removed=tuple(c.namespace for c in changes if not c.enrolled),
            streams_ended=ended, ignored=tuple(ignored), stamp=stamp,
        )  # fmt: skip

    async def _current_revision(self) -> int:
        """etcd's current revision, from a one-item namespace LIST (a quorum read) with the
        proxy's own identity; retried with backoff while the upstream is unreachable."""
        wait, longest = _STAMP_BACKOFF
        while True:
            try:
                status, body = await self.proxy.upstream.get_own(
                    "/api/v1/namespaces?limit=1", _ACCEPT
                )
                if status == 200:
                    rv = (orjson.loads(body).get("metadata") or {}).get("resourceVersion", "")
                    if (revision := rv_int(rv, 0)) > 0:
                        return revision
                error = f"HTTP {status}"
            except (UpstreamError, orjson.JSONDecodeError, OSError) as e:
                error = str(e)
            log.warning(
                "reload: cannot read the current resourceVersion yet; resumed watches relist "
                "until then",
                extra={"error": error},
            )
            await self.clock.sleep(wait)
            wait = min(wait * 2, longest)
