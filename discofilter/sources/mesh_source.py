"""``meshConfigFrom``: discoverySelectors read live from istiod's own mesh ConfigMap.

Policy:

* **What is read.** The ``mesh`` key of ``configmap:NAMESPACE/NAME`` (``istio-system/istio``,
  or ``istio-<revision>``), watched with the proxy's own identity (``ObjectWatch``: one object,
  by field selector), parsed by ``discofilter.istio.meshconfig`` exactly as istiod parses it.
* **Applied like a config reload.** A good value that changes the selectors becomes the
  ``discoverySelectors`` of the effective config (``overlay``), and the running
  ``ConfigReloader`` applies it (same convergence rules: streams that saw a flipped namespace end
  with 410, resumes below the stamp relist). The config file's own ``discoverySelectors`` and
  ``--selector`` do not apply while a mesh value is in effect (``--selector`` with
  ``meshConfigFrom`` is refused at start).
* **A bad or missing value keeps the running selectors.** Unparsable YAML, a wrong type, an
  invalid selector, a missing ``mesh`` key or a deleted ConfigMap: the selectors in effect stay,
  and the refusal is logged once per resourceVersion, counted in
  ``discofilter_mesh_config_reads_total{result="rejected"|"missing"}``, flagged by
  ``discofilter_enrollment_source_healthy 0`` and, when there is an object to attach it to, told
  by a Warning Event on the ConfigMap (``kubectl describe configmap istio -n istio-system``).
  istiod itself falls back to the *default* mesh config (every namespace) when its ConfigMap is
  deleted; discofilter does not widen what it forwards on a deletion (docs/istio.md).
* **Start-up.** ``first_read`` reads the ConfigMap before the proxy serves anything, so no
  request is filtered under stale selectors. A good value is used from the first request; a bad
  or missing one leaves the config file's ``discoverySelectors`` (the fallback) in effect, with
  the same log, metric and Event. An unreachable API server is retried for ``first_read``'s
  ``timeout`` (30 s), then ``serve`` exits (the pod restarts, visibly).
* **Per scope.** A scope's own ``meshConfigFrom`` is one more source with ``scope`` set: its
  ``overlay`` writes that scope's ``discoverySelectors`` (its own are the fallback), and the
  sources share one ``SourceMetrics`` (``discofilter_enrollment_source_healthy{source}`` has one
  child per ConfigMap).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Gauge

from discofilter.clock import Clock
from discofilter.config import Config
from discofilter.errors import UpstreamError, UpstreamStatusError
from discofilter.istio.meshconfig import (
    MESH_KEY,
    MeshConfigError,
    MeshConfigRef,
    MeshSelectors,
    parse_mesh,
)
from discofilter.sources.events import EventRecorder
from discofilter.sources.object_watch import ObjectWatch
from discofilter.tasks import BackgroundTasks
from discofilter.upstream.client import Upstream

if TYPE_CHECKING:
    from discofilter.metrics import Metrics

log = logging.getLogger(__name__)

FIRST_READ_TIMEOUT_SECONDS = 30.0
"""How long start-up retries an unreachable API server before giving up (the pod restarts;
client-go's own first LIST retries about as long before istiod gives up on a cluster)."""
EVENT_REASON = "InvalidMeshConfig"


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """Where the live selectors come from, and whether that source is healthy (admin APIs)."""

    source: str
    """``configmap:istio-system/istio``; ``config`` when selectors come from the file/flags."""
    healthy: bool = True
    """False while the latest value read is refused (the previous selectors stay)."""
    error: str = ""
    """Why the latest value was refused; empty when healthy."""
    resource_version: str = ""
    """The ConfigMap resourceVersion whose selectors are in effect ("" = the fallback)."""
    seen_resource_version: str = ""
    """The newest ConfigMap resourceVersion read."""


class SourceMetrics:
    """The source's families, registered in the proxy's own registry."""

    def __init__(self, metrics: Metrics | None) -> None:
        self.reads: Counter | None = None
        self.healthy: Gauge | None = None
        if metrics is None:
            return
        r = metrics.registry
        self.reads = Counter(
            "discofilter_mesh_config_reads", "Mesh config values read from meshConfigFrom, by "
            "outcome: applied, unchanged (same selectors), rejected (istiod would refuse it), "
            "missing (no ConfigMap or no mesh key).", ("result",), registry=r,
        )  # fmt: skip
        self.healthy = Gauge(
            "discofilter_enrollment_source_healthy", "1 when the latest value of the selectors' "
            "source was good; 0 while a bad or missing one keeps the previous selectors.",
            ("source",), registry=r,
        )  # fmt: skip

    def read(self, result: str) -> None:
        if self.reads is not None:
            self.reads.labels(result).inc()

    def set_healthy(self, source: str, ok: bool) -> None:
        if self.healthy is not None:
            self.healthy.labels(source).set(1 if ok else 0)


class MeshConfigSource:
    """Keeps the discoverySelectors of one mesh ConfigMap and hands changes to a reload.

    Invariant: ``selectors`` is the last good value (None before any), and ``overlay`` puts
    exactly it into a config; ``status`` describes the newest value read.
    """

    def __init__(
        self,
        ref: MeshConfigRef,
        upstream: Upstream,
        clock: Clock,
        metrics: Metrics | None = None,
        events: EventRecorder | None = None,
        scope: str = "",
        source_metrics: SourceMetrics | None = None,
    ) -> None:
        self.ref = ref
        self.upstream = upstream
        self.clock = clock
        self.events = events
        self.scope = scope
        """The scope whose selectors this source gives ("" = the default scope)."""
        self.metrics = source_metrics or SourceMetrics(metrics)
        self.selectors: MeshSelectors | None = None
        self._status = SourceStatus(str(ref), healthy=False, error="not read yet")
        self._apply: Callable[[str], Coroutine[Any, Any, object]] | None = None
        self._watch = ObjectWatch(
            upstream, ref.namespace, "configmaps", ref.name, self._on_object, clock
        )
        self._tasks = BackgroundTasks()
        self._told: set[tuple[str, str]] = set()
        """(resourceVersion, error) pairs already logged and told by Event (bounded below)."""

    # --- the effective config ----------------------------------------------------------------

    def overlay(self, config: Config) -> Config:
        """``config`` with the mesh value's selectors in effect (unchanged before a good read)."""
        if self.scope:
            return self._overlay_scope(config)
        if config.enrollment.mesh_config_from not in (None, str(self.ref)):
            log.warning(
                "config change ignored until restart",
                extra={"key": "meshConfigFrom", "running": str(self.ref)},
            )
        if self.selectors is None:
            return config
        enrollment = dataclasses.replace(
            config.enrollment,
            discovery_selectors=self.selectors.selectors or None,
            selectors=(),
            mesh_config_from=str(self.ref),
        )
        return dataclasses.replace(config, enrollment=enrollment)

    def _overlay_scope(self, config: Config) -> Config:
        scope = config.scope(self.scope)
        if scope is None or scope.mesh_config_from not in (None, str(self.ref)):
            log.warning(
                "config change ignored until restart",
                extra={"key": f"scopes[{self.scope}].meshConfigFrom", "running": str(self.ref)},
            )
        if scope is None or self.selectors is None:
            return config
        new = dataclasses.replace(
            scope,
            discovery_selectors=self.selectors.selectors or None,
            selectors=(),
            mesh_config_from=str(self.ref),
        )
        scopes = tuple(new if s.name == self.scope else s for s in config.scopes)
        return dataclasses.replace(config, scopes=scopes)

    def wrap(self, load: Callable[[], Config]) -> Callable[[], Config]:
        """A config loader (file + flags) whose result carries the mesh value's selectors."""
        return lambda: self.overlay(load())

    def status(self) -> SourceStatus:
        return self._status

    # --- lifecycle ---------------------------------------------------------------------------

    async def first_read(self, within: float = FIRST_READ_TIMEOUT_SECONDS) -> None:
        """Read the ConfigMap once before serving; raises UpstreamError after ``within`` s.

        A deadline on the injected clock, not ``asyncio.timeout``: tests move that clock."""
        deadline = self.clock.monotonic() + within
        wait = 0.2
        while True:
            try:
                await self._watch.list_once()
                return
            except UpstreamStatusError as e:
                if e.code in (401, 403):
                    raise UpstreamError(
                        f"meshConfigFrom {self.ref}: the proxy may not read it ({e}); grant get, "
                        "list and watch on configmaps in that namespace (the chart's Role does)"
                    ) from e
                error: str = str(e)
            except UpstreamError as e:
                error = str(e)
            if self.clock.monotonic() + wait > deadline:
                raise UpstreamError(f"meshConfigFrom {self.ref}: cannot read it: {error}")
            log.warning(
                "meshConfigFrom: cannot read the ConfigMap yet; retrying", extra={"error": error}
            )
            await self.clock.sleep(wait)
            wait = min(wait * 2, 5.0)

    def start(self, apply: Callable[[str], Coroutine[Any, Any, object]]) -> None:
        """Watch from now on; ``apply(trigger)`` runs a reload (``ConfigReloader.reload``)."""
        self._apply = apply
        self._tasks.spawn(self._watch.run())

    async def stop(self) -> None:
        await self._tasks.stop()

    # --- one value ---------------------------------------------------------------------------

    def _on_object(self, obj: dict[str, Any] | None, rv: str) -> None:
        """One state of the ConfigMap (None: there is none). Synchronous, on the loop."""
        seen = str(((obj or {}).get("metadata") or {}).get("resourceVersion") or rv)
        if obj is None:
            self._refuse(
                None, seen, "missing", f"ConfigMap {self.ref.namespace}/{self.ref.name} not found"
            )
            return
        data = obj.get("data") or {}
        text = data.get(MESH_KEY)
        if not isinstance(text, str):
            self._refuse(
                obj,
                seen,
                "missing",
                f"ConfigMap {self.ref.namespace}/{self.ref.name} has no {MESH_KEY!r} key",
            )
            return
        try:
            parsed = parse_mesh(text, f"{self.ref} {MESH_KEY}")
        except MeshConfigError as e:
            self._refuse(obj, seen, "rejected", str(e))
            return
        changed = self.selectors is None or parsed != self.selectors
        before = self._status.resource_version
        self.selectors = parsed
        self._status = SourceStatus(str(self.ref), True, "", seen, seen)
        self.metrics.set_healthy(str(self.ref), True)
        self.metrics.read("applied" if changed else "unchanged")
        if changed:
            log.warning(
                "meshConfigFrom: discoverySelectors changed; applying",
                extra={"source": str(self.ref), "resource_version": seen,
                       "selectors": len(parsed.selectors)},
            )  # fmt: skip
            if self._apply is not None:
                reload = self._apply(f"meshConfigFrom {self.ref}@{seen}")
                self._tasks.spawn(self._applied(reload, seen, before))

    async def _applied(self, reload: Coroutine[Any, Any, object], seen: str, before: str) -> None:
        """Run the reload; a reload the rest of the config refuses (a bad ``--config`` file)
        leaves the mesh value unapplied, and the status says so until the next good one."""
        result = await reload
        if getattr(result, "ok", True) or self._status.seen_resource_version != seen:
            return
        error = f"the config reload applying it was rejected: {getattr(result, 'error', '')}"
        self._status = dataclasses.replace(
            self._status, healthy=False, error=error, resource_version=before
        )
        self.metrics.set_healthy(str(self.ref), False)

    def _refuse(self, obj: dict[str, Any] | None, seen: str, result: str, error: str) -> None:
        kept = self._status.resource_version
        self._status = SourceStatus(str(self.ref), False, error, kept, seen)
        self.metrics.set_healthy(str(self.ref), False)
        self.metrics.read(result)
        if (seen, error) in self._told:
            return  # a relist of the same refused value: said already
        if len(self._told) > 256:
            self._told.clear()
        self._told.add((seen, error))
        log.error(
            "meshConfigFrom: value refused; the running selectors stay",
            extra={"source": str(self.ref), "resource_version": seen, "error": error,
                   "selectors_from": kept or "the config file (no good mesh value yet)"},
        )  # fmt: skip
        if obj is not None and self.events is not None:
            message = f"discofilter keeps its running discoverySelectors: {error}"
            self._tasks.spawn(self.events.warn(obj, EVENT_REASON, message))
