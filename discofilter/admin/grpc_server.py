"""The gRPC admin server: ``discofilter.v1.Admin``, ``grpc.health.v1.Health`` and reflection.

Health policy (what a Kubernetes ``grpc:`` probe or ``grpc_health_probe`` sees):

* service ``""`` (overall) is SERVING iff the proxy is ready (upstream reachable and namespaces
  synced), NOT_SERVING otherwise: it is a readiness signal, refreshed every ``health_interval``
  seconds (default 1 s, well under a kubelet probe period of 10 s) and on every Check;
* service ``discofilter.v1.Admin`` is SERVING while this server runs (the admin API itself
  answers even while the proxy is not ready: that is when an SRE needs it).

Everything runs on the proxy's event loop (``grpc.aio``), reading ``AdminState`` snapshots.
Bind to loopback by default: the admin API has no authentication of its own (it exposes
namespace names and labels, never credentials).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from discofilter._generated.discofilter.v1 import admin_pb2 as pb
from discofilter._generated.discofilter.v1 import admin_pb2_grpc as pb_grpc
from discofilter.admin import messages
from discofilter.admin.state import AdminState
from discofilter.clock import Clock, SystemClock
from discofilter.errors import ConfigError
from discofilter.filter import candidates
from discofilter.filter.dryrun import NamespaceFacts, compare
from discofilter.filter.selectors import SelectorSet

log = logging.getLogger(__name__)

ADMIN_SERVICE = pb.DESCRIPTOR.services_by_name["Admin"].full_name
OVERALL = ""
_BACKGROUND: set[asyncio.Future[None]] = set()


class AdminServicer(pb_grpc.AdminServicer):
    def __init__(self, state: AdminState) -> None:
        self._state = state

    async def Status(
        self, request: pb.StatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.StatusResponse:
        state = self._state.scoped(request.scope)
        if state is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no scope named {request.scope!r}")
            raise AssertionError("unreachable: abort raises")
        return messages.status_message(state, request.all_namespaces, request.scope)

    async def WatchDecisions(
        self, request: pb.WatchDecisionsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.Decision]:
        kinds = frozenset(request.kinds)
        namespaces = frozenset(request.namespaces)
        actions = frozenset(messages.PB_TO_ACTION.get(a, "") for a in request.actions)
        sampler = self._state.decisions()
        async with sampler.subscribe(replay_recent=request.replay_recent) as sub:
            async for d in sub:
                if kinds and d.kind not in kinds:
                    continue
                if namespaces and d.namespace not in namespaces:
                    continue
                if actions and d.action not in actions:
                    continue
                yield messages.decision(d)

    async def ExplainSelectors(
        self, request: pb.ExplainSelectorsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ExplainSelectorsResponse:
        try:
            candidate = _candidate(request)
        except ConfigError as e:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
            raise AssertionError("unreachable") from e  # abort raises
        churn = self._state.churn()
        facts = [
            NamespaceFacts(name=ns.name, labels=ns.labels, churn=churn.get(ns.name, 0.0))
            for ns in self._state.namespaces()
        ]
        info = self._state.info()
        cmp = compare(facts, self._state.selector_set(), candidate, info.always_enrolled)
        return messages.explain_response(cmp)


def _candidate(request: pb.ExplainSelectorsRequest) -> SelectorSet | None:
    given = bool(request.selectors) or bool(request.discovery_selectors_yaml.strip())
    if request.select_all:
        if given:
            raise ConfigError("select_all excludes selectors and discovery_selectors_yaml")
        return None
    if not given:
        raise ConfigError(
            "no candidate: set selectors, discovery_selectors_yaml, or select_all (every namespace)"
        )
    file_sets: list[SelectorSet | None] = []
    if request.discovery_selectors_yaml.strip():
        file_sets.append(
            candidates.from_yaml_text(request.discovery_selectors_yaml, "discovery_selectors_yaml")
        )
    return candidates.combine(list(request.selectors), file_sets)


class _ReadinessHealth(health.aio.HealthServicer):
    """The standard async health servicer, with the overall status refreshed on each Check."""

    def __init__(self, state: AdminState) -> None:
        super().__init__()
        self._state = state

    async def refresh(self) -> None:
        ready = self._state.readiness().ready
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if ready
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        await self.set(OVERALL, status)

    async def Check(
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext
    ) -> health_pb2.HealthCheckResponse:
        if request.service == OVERALL:
            await self.refresh()
        return await super().Check(request, context)


async def _refresh_until_stopped(
    server: grpc.aio.Server, servicer: _ReadinessHealth, clock: Clock, interval: float
) -> None:
    async def loop() -> None:
        while True:
            try:
                await servicer.refresh()
            except Exception:  # a failing state must not kill the health loop
                log.exception("health refresh failed")
            await clock.sleep(interval)

    refresher = asyncio.ensure_future(loop())
    try:
        await server.wait_for_termination()
    finally:
        refresher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await refresher


async def start_admin_grpc(
    state: AdminState,
    host: str = "127.0.0.1",
    port: int = 9091,
    *,
    clock: Clock | None = None,
    health_interval: float = 1.0,
) -> tuple[grpc.aio.Server, int]:
    """Start the admin gRPC server; ``port=0`` picks a free port. Stop it with ``server.stop()``."""
    # grpcio sets SO_REUSEPORT by default: a second process would then silently share the port
    # and answer half the health checks with its own state. One admin server per port.
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    pb_grpc.add_AdminServicer_to_server(AdminServicer(state), server)
    health_servicer = _ReadinessHealth(state)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    services = (ADMIN_SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME)
    reflection.enable_server_reflection(services, server)
    try:
        # grpcio returns 0 or raises RuntimeError (depending on version) when it cannot bind.
        bound = server.add_insecure_port(f"{_bracket(host)}:{port}")
    except RuntimeError as e:
        raise ConfigError(f"admin gRPC: cannot listen on {host}:{port}: {e}") from e
    if bound == 0:
        raise ConfigError(f"admin gRPC: cannot listen on {host}:{port}")
    await server.start()
    await health_servicer.set(ADMIN_SERVICE, health_pb2.HealthCheckResponse.SERVING)
    await health_servicer.refresh()
    task = asyncio.ensure_future(
        _refresh_until_stopped(server, health_servicer, clock or SystemClock(), health_interval)
    )
    # asyncio keeps only weak references to tasks: hold it until it ends with the server.
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)
    log.info("admin gRPC listening", extra={"address": f"{host}:{bound}"})
    return server, bound


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
