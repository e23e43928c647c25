"""``ProxyContext``: what the HTTP front reads from one worker's parts.

``ProxyServer`` implements it; the front's modules import this protocol, never the server
class, so the arrow runs one way (proxy → front) and a handler can be read without the hub.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from discofilter.classify import ResourceCatalog, ResourceRef
from discofilter.clock import Clock
from discofilter.config import Config
from discofilter.server.streams.pump import Stage, StreamTelemetry
from discofilter.server.streams.registry import StreamRegistry
from discofilter.upstream.client import Upstream


class ProxyContext(Protocol):
    config: Config
    """The config in effect (a reload replaces it; read it per request)."""
    upstream: Upstream
    clock: Clock
    registry: StreamRegistry
    """The open filtered watch streams and their per-kind totals."""
    telemetry: StreamTelemetry
    catalog: ResourceCatalog
    discovery_attempted: asyncio.Event
    """Set after the first API discovery attempt (success or failure)."""

    def count_request(self, request_class: str) -> None:
        """One request classified as ``request_class`` (``PassThrough``, ``FilteredList``...)."""

    async def wait_ready(self) -> bool:
        """Wait (bounded) for the first namespace LIST; False when it did not come in time."""

    def is_enrolled(self, namespace: str) -> bool:
        """Whether ``namespace`` is enrolled now."""

    def stale_resume(self, resource_version: str) -> bool:
        """True when a watch resuming from ``resource_version`` holds state filtered under an
        older enrollment than the current one (contract 3, "between streams")."""

    def record_served(self, resource_version: str) -> None:
        """A response ending at ``resource_version`` was filtered under the current enrollment."""

    def stage_for(self, ref: ResourceRef, initial_events: bool) -> Stage | None:
        """The coalescing stage of a new watch stream of ``ref`` (None = no coalescing)."""
