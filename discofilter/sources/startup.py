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
from discofilter.sources.mesh_source import MeshConfigSource, SourceMetrics, SourceStatus
from discofilter.sources.safety_source import SafetySource
from discofilter.upstream.client import Upstream
from discofilter.upstream.target import UpstreamTarget

if TYPE_CHECKING:
    from discofilter.metrics import Metrics


class EnrollmentSources:
    def __init__(
        self,
        upstream: Upstream,
        mesh: MeshConfigSource | None,
        safety: SafetySource | None,
        scoped: dict[str, MeshConfigSource] | None = None,
    ) -> None:
        self.upstream = upstream
        self.mesh = mesh
        self.safety = safety
        self.scoped = scoped or {}
        """Scope name -> the source of that scope's ``meshConfigFrom``."""

    def _meshes(self) -> list[MeshConfigSource]:
        return [*([self.mesh] if self.mesh is not None else []), *self.scoped.values()]

    def overlay(self, config: Config) -> Config:
        for mesh in self._meshes():
            config = mesh.overlay(config)
        if self.safety is not None:
            config = self.safety.overlay(config)
        return config

    def wrap(self, load: Callable[[], Config]) -> Callable[[], Config]:
        return lambda: self.overlay(load())

    def status(self) -> SourceStatus:
        """The selectors' source for the admin APIs (``config`` without meshConfigFrom)."""
        return self.mesh.status() if self.mesh is not None else SourceStatus("config")

    def scope_status(self, scope: str) -> SourceStatus:
        """The named scope's selectors' source (``config`` without its own meshConfigFrom)."""
        mesh = self.scoped.get(scope)
        return mesh.status() if mesh is not None else SourceStatus("config")

    def start(self, reload: Callable[[str], Coroutine[Any, Any, object]]) -> None:
        for mesh in self._meshes():
            mesh.start(reload)
        if self.safety is not None:
            self.safety.start(reload)

    async def stop(self) -> None:
        for mesh in self._meshes():
            await mesh.stop()
        if self.safety is not None:
            await self.safety.stop()
        await self.upstream.close()


async def open_sources(
    config: Config, target: UpstreamTarget, clock: Clock, metrics: Metrics | None
) -> EnrollmentSources | None:
    """The configured sources, each read once; None when there are none."""
    e = config.enrollment
    in_scopes = [s for s in config.scopes if s.mesh_config_from]
    if not e.mesh_config_from and not e.safety_list and not in_scopes:
        return None
    upstream = Upstream(target, config.upstream.connect_timeout_seconds)
    await upstream.start()
    try:
        mesh = None
        # One set of families for every mesh source (a registry takes a name once).
        shared = SourceMetrics(metrics) if e.mesh_config_from or in_scopes else None
        if e.mesh_config_from:
            ref = parse_ref(e.mesh_config_from)
            mesh = MeshConfigSource(
                ref, upstream, clock, metrics, EventRecorder(upstream), source_metrics=shared
            )
            await mesh.first_read()
        scoped: dict[str, MeshConfigSource] = {}
        for sc in in_scopes:
            assert sc.mesh_config_from is not None
            scoped[sc.name] = MeshConfigSource(
                parse_ref(sc.mesh_config_from), upstream, clock, None, EventRecorder(upstream),
                scope=sc.name, source_metrics=shared,
            )  # fmt: skip
            await scoped[sc.name].first_read()
        safety = None
        if e.safety_list:
            safety = SafetySource(upstream, clock, metrics)
            await safety.first_poll()
    except BaseException:
        await upstream.close()
        raise
    return EnrollmentSources(upstream, mesh, safety, scoped)
