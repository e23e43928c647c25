"""The safety list, live: namespaces where ztunnel, gateways and istiod run, enrolled always.

A poll, not a watch: every ``POLL_SECONDS`` (30 s) one pod LIST per mark of
``discofilter.istio.safety.SAFETY_MARKS`` (five), each with its label selector and
``resourceVersion=0`` so the API server answers from its watch cache without an etcd read.
Those pods are a handful per cluster; a new gateway namespace is enrolled within 30 s, which
is about as long as a new gateway Deployment takes to become ready. A change triggers a config
reload whose effective config carries the found namespaces in ``alwaysEnrolled`` (``overlay``).

Failures (no RBAC to list pods, the API server away) keep the last list found, log once per
distinct error and count ``discofilter_safety_list_errors_total``; ``istio-system`` and
istiod's namespace when known (``$DISCOFILTER_ISTIOD_NAMESPACE``, set by the chart's sidecar
mode) stay in whatever happens.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import orjson
from prometheus_client import Counter, Gauge

from discofilter.clock import Clock
from discofilter.config import Config
from discofilter.errors import UpstreamError
from discofilter.istio.safety import SAFETY_MARKS, SafetyReason, safety_namespaces
from discofilter.tasks import BackgroundTasks
from discofilter.upstream.client import Upstream

if TYPE_CHECKING:
    from discofilter.metrics import Metrics

log = logging.getLogger(__name__)

POLL_SECONDS = 30.0
ISTIOD_NAMESPACE_ENV = "DISCOFILTER_ISTIOD_NAMESPACE"
_ACCEPT = {"Accept": "application/json"}


class SafetySource:
    """Finds the safety namespaces and keeps ``alwaysEnrolled`` a superset of them.

    Invariant: ``namespaces`` always holds istio-system and ``own_namespace`` (when known),
    plus the namespaces of the marked pods of the last successful poll.
    """

    def __init__(
        self,
        upstream: Upstream,
        clock: Clock,
        metrics: Metrics | None = None,
        own_namespace: str | None = None,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.upstream = upstream
        self.clock = clock
        # The chart's sidecar mode sets it to the pod's namespace: istiod's (docs/istio.md).
        self.own_namespace = own_namespace or os.environ.get(ISTIOD_NAMESPACE_ENV) or None
        self.poll_seconds = poll_seconds
        self.namespaces: dict[str, SafetyReason] = safety_namespaces((), self.own_namespace)
        self.last_error = ""
        self._apply: Callable[[str], Coroutine[Any, Any, object]] | None = None
        self._tasks = BackgroundTasks()
        self.errors: Counter | None = None
        self.found: Gauge | None = None
        if metrics is not None:
            self.errors = Counter(
                "discofilter_safety_list_errors", "Failed safety-list polls (pods of ztunnel, "
                "gateways, istiod); the last list found stays.", registry=metrics.registry,
            )  # fmt: skip
            self.found = Gauge(
                "discofilter_safety_list_namespaces", "Namespaces enrolled by the safety list "
                "(istio-system, ztunnel's, gateways', istiod's).", registry=metrics.registry,
            )  # fmt: skip
            self.found.set(len(self.namespaces))

    def overlay(self, config: Config) -> Config:
        """``config`` with the safety namespaces added to ``alwaysEnrolled``."""
        if not config.enrollment.safety_list:
            return config
        always = tuple(sorted(set(config.enrollment.always_enrolled) | set(self.namespaces)))
        enrollment = dataclasses.replace(config.enrollment, always_enrolled=always)
        return dataclasses.replace(config, enrollment=enrollment)

    async def poll_once(self) -> bool:
        """One poll; True when the set of namespaces changed. Raises UpstreamError."""
        pods: list[tuple[str, dict[str, str]]] = []
        for selector, _, _ in SAFETY_MARKS:
            q = urlencode({"labelSelector": selector, "resourceVersion": "0"})
            status, body = await self.upstream.get_own(f"/api/v1/pods?{q}", _ACCEPT)
            if status != 200:
                raise UpstreamError(f"pod LIST ({selector}): HTTP {status}: {body[:200]!r}")
            try:
                items = orjson.loads(body).get("items") or []
            except (orjson.JSONDecodeError, AttributeError) as e:
                raise UpstreamError(f"pod LIST ({selector}): not a list: {e}") from e
            for item in items:
                meta = item.get("metadata") or {}
                pods.append((str(meta.get("namespace") or ""), dict(meta.get("labels") or {})))
        found = safety_namespaces(pods, self.own_namespace)
        changed = set(found) != set(self.namespaces)
        self.namespaces = found
        self.last_error = ""
        if self.found is not None:
            self.found.set(len(found))
        return changed

    async def first_poll(self) -> None:
        """Start-up: one poll, its failure only logged (the defaults stay)."""
        await self._poll_logged()

    async def _poll_logged(self) -> bool:
        try:
            return await self.poll_once()
        except UpstreamError as e:
            if self.errors is not None:
                self.errors.inc()
            if str(e) != self.last_error:
                log.warning(
                    "safety list: cannot list ztunnel/gateway/istiod pods; keeping "
                    "the namespaces found so far", extra={"error": str(e),
                    "namespaces": sorted(self.namespaces)},
                )  # fmt: skip
            self.last_error = str(e)
            return False

    def start(self, apply: Callable[[str], Coroutine[Any, Any, object]]) -> None:
        self._apply = apply
        self._tasks.spawn(self._run())

    async def _run(self) -> None:
        while True:
            await self.clock.sleep(self.poll_seconds)
            if await self._poll_logged():
                log.warning(
                    "safety list changed; enrolling", extra={"namespaces": sorted(self.namespaces)}
                )
                if self._apply is not None:
                    await self._apply("safety list")

    async def stop(self) -> None:
        await self._tasks.stop()
