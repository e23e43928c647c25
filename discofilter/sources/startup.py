"""The enrollment sources of one worker, together: what ``serve`` calls at start and stop.

``open_sources`` builds them (``meshConfigFrom`` when configured, the safety list unless
``safetyList: false``) on one upstream client of their own (the proxy's identity), reads each
once before the proxy serves, and hands back one object whose ``overlay`` turns the loaded
config (file + flags) into the effective one: mesh selectors first, then the safety namespaces
added to ``alwaysEnrolled``. ``start(reload)`` makes their changes live through the worker's
``ConfigReloader``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from discofilter.clock import Clock
from discofilter.config import Config
from discofilter.istio.meshconfig import parse_ref
from discofilter.sources.events import EventRecorder
from discofilter.sources.mesh_source import MeshConfigSource, SourceStatus
from discofilter.sources.safety_source import SafetySource
from discofilter.upstream.client import Upstream
from discofilter.upstream.target import UpstreamTarget

if TYPE_CHECKING:
    from discofilter.metrics import Metrics


class EnrollmentSources:
    def __init__(
        self, upstream: Upstream, mesh: MeshConfigSource | None, safety: SafetySource | None
    ) -> None:
        self.upstream = upstream
        self.mesh = mesh
        self.safety = safety

    def overlay(self, config: Config) -> Config:
        if self.mesh is not None:
            config = self.mesh.overlay(config)
        if self.safety is not None:
            config = self.safety.overlay(config)
        return config

    def wrap(self, load: Callable[[], Config]) -> Callable[[], Config]:
        return lambda: self.overlay(load())

    def status(self) -> SourceStatus:
        """The selectors' source for the admin APIs (``config`` without meshConfigFrom)."""
        return self.mesh.status() if self.mesh is not None else SourceStatus("config")

    def start(self, reload: Callable[[str], Coroutine[Any, Any, object]]) -> None:
        if self.mesh is not None:
            self.mesh.start(reload)
        if self.safety is not None:
            self.safety.start(reload)

    async def stop(self) -> None:
        if self.mesh is not None:
            await self.mesh.stop()
        if self.safety is not None:
            await self.safety.stop()
        await self.upstream.close()


async def open_sources(
    config: Config, target: UpstreamTarget, clock: Clock, metrics: Metrics | None
) -> EnrollmentSources | None:
    """The configured sources, each read once; None when there are none."""
    e = config.enrollment
    if not e.mesh_config_from and not e.safety_list:
        return None
    upstream = Upstream(target, config.upstream.connect_timeout_seconds)
    await upstream.start()
    try:
        mesh = None
        if e.mesh_config_from:
            ref = parse_ref(e.mesh_config_from)
            mesh = MeshConfigSource(ref, upstream, clock, metrics, EventRecorder(upstream))
            await mesh.first_read()
        safety = None
        if e.safety_list:
            safety = SafetySource(upstream, clock, metrics)
            await safety.first_poll()
    except BaseException:
        await upstream.close()
        raise
    return EnrollmentSources(upstream, mesh, safety)
