"""``ProxyContext``: what the HTTP front reads from one worker's parts.

``ProxyServer`` implements it; the front's modules import this protocol, never the server
class, so the arrow runs one way (proxy → front) and a handler can be read without the hub.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from discofilter.authz import Authorizer
from discofilter.classify import ResourceCatalog, ResourceRef
from discofilter.clock import Clock
from discofilter.config import Config
from discofilter.server.shared.manager import SharedWatches
from discofilter.server.streams.exclusions import UpstreamExclusions
from discofilter.server.streams.pump import Stage, StreamTelemetry
from discofilter.server.streams.registry import StreamRegistry
from discofilter.upstream.client import Upstream


class ProxyContext(Protocol):
    # Read-only members: a named scope (``server/scopes.py``) lends the worker's own.
    @property
    def config(self) -> Config:
        """The config in effect (a reload replaces it; read it per request)."""

    @property
    def upstream(self) -> Upstream: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def registry(self) -> StreamRegistry:
        """The open filtered watch streams and their per-kind totals."""

    @property
    def telemetry(self) -> StreamTelemetry: ...

    @property
    def catalog(self) -> ResourceCatalog: ...

    @property
    def discovery_attempted(self) -> asyncio.Event:
        """Set after the first API discovery attempt (success or failure)."""

    @property
    def scope(self) -> str:
        """The scope this context serves ("" = the default scope, today's URLs)."""

    def scope_named(self, name: str) -> ProxyContext | None:
        """The context of the named scope (``/scopes/<name>``), None when none is configured."""

    def count_request(self, request_class: str) -> None:
        """One request classified as ``request_class`` (``PassThrough``, ``FilteredList``...)."""

    def observe_upstream(self, verb: str, seconds: float) -> None:
        """One upstream request of ``verb`` took ``seconds`` (until headers; a LIST until its
        body): ``discofilter_upstream_request_duration_seconds``."""

    async def wait_ready(self) -> bool:
        """Wait (bounded) for the first namespace LIST; False when it did not come in time."""

    def is_enrolled(self, namespace: str) -> bool:
        """Whether ``namespace`` is enrolled now."""

    @property
    def exclusions(self) -> UpstreamExclusions:
        """The namespaces this scope's filtered watches ask the API server to leave out."""

    @property
    def enrollment_generation(self) -> int:
        """Bumped each time enrollment flips are applied (this scope's)."""

    def stale_resume(self, resource_version: str) -> bool:
        """True when a watch resuming from ``resource_version`` holds state filtered under an
        older enrollment than the current one (contract 3, "between streams")."""

    def stale_served(self, resource_version: str) -> bool:
        """True when the proxy handed out ``resource_version`` (a LIST, a stream's last event)
        under an older enrollment than the current one; False when it never did."""

    @property
    def shared(self) -> SharedWatches | None:
        """The shared-watch keys (``sharedWatches.enabled``), None when off or in a named scope."""

    @property
    def authorizer(self) -> Authorizer | None:
        """Authorizes callers served from the shared cache (set whenever ``shared`` is)."""

    def record_served(self, resource_version: str) -> None:
        """A response ending at ``resource_version`` was filtered under the current enrollment."""

    def stage_for(self, ref: ResourceRef, initial_events: bool) -> Stage | None:
        """The coalescing stage of a new watch stream of ``ref`` (None = no coalescing)."""
