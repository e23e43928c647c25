"""Process supervision: one worker's lifetime (listeners, signals, reload), or N workers.

``serve`` runs one worker on the event loop until SIGTERM/SIGINT: the proxy's background tasks,
the admin HTTP and gRPC listeners (when given), the proxy's own listener, and the live config
reload (SIGHUP and the file poll, ``reload.py``). ``run_workers`` starts N processes that each
bind the port with SO_REUSEPORT and keep their own upstream connections and enrollment view (a
fixed port is required: with port 0 each worker would get its own); the parent forwards
signals and polls the config file, so the workers reload within milliseconds of each other.

The command line (``discofilter.cli.serve``) builds the ``Config`` and the ``ReloadSource``;
nothing here parses arguments.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import TYPE_CHECKING, Any

from aiohttp import web

from discofilter.clock import SystemClock
from discofilter.config import DEFAULT_ADMIN_LISTEN, Config, split_host_port
from discofilter.errors import ConfigError
from discofilter.upstream.client import Upstream
from discofilter.upstream.resolve import resolve_target

if TYPE_CHECKING:
    from discofilter.sources.startup import EnrollmentSources

log = logging.getLogger("discofilter.serve")


@dataclass(frozen=True)
class ReloadSource:
    """Where a live reload reads the config from (picklable: workers are spawned)."""

    load: Callable[[], Config]
    """The effective config exactly as at start (file + command-line flags); raises
    ``ConfigError``."""
    path: str | None = None
    """The ``--config`` file polled for changes (None: SIGHUP only)."""
    poll_seconds: float = 2.0
    """How often the file is polled (0: only on SIGHUP)."""
    digest: bytes | None = None
    """The file's SHA-256 read just before the start-up config was loaded from it: a worker
    reloads at once when the file no longer matches (``ConfigReloader.catch_up``)."""


@dataclass(frozen=True)
class WorkerSettings:
    """What one worker process serves with (picklable: workers are spawned)."""

    config: Config
    reuse_port: bool = False
    """Share the port with sibling workers (SO_REUSEPORT)."""
    admin_listen: str | None = None
    admin_grpc_listen: str | None = None
    reload: ReloadSource | None = None
    """With one, SIGHUP and a change of the config file reload the config live."""
    startup: Config | None = None
    """The effective config before start-up substitutions, what restart-only settings are
    compared to (default: ``config``)."""
    poll_config: bool = True
    """Poll the config file for changes (false under a parent of several workers: it polls)."""


@dataclass
class _Listeners:
    """What ``serve`` started, stopped in reverse order."""

    proxy_runner: web.AppRunner | None = None
    admin_runner: web.AppRunner | None = None
    grpc_server: Any = None

    async def stop(self) -> None:
        if self.proxy_runner is not None:
            await self.proxy_runner.cleanup()
        if self.admin_runner is not None:
            await self.admin_runner.cleanup()
        if self.grpc_server is not None:
            await self.grpc_server.stop(1.0)


async def _start_admin_http(state: Any, metrics: Any, listen: str) -> web.AppRunner | None:
    from discofilter.admin.http import make_admin_app

    host, port = split_host_port(listen)
    runner = web.AppRunner(make_admin_app(state, metrics), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as e:
        await runner.cleanup()
        if listen != DEFAULT_ADMIN_LISTEN:
            raise ConfigError(f"admin.listen: cannot listen on {listen}: {e}") from e
        # The built-in default is best effort (config.AdminConfig.listen): a second proxy
        # on this host (the benchmark starts several) must not fail for want of /metrics.
        log.warning(
            "admin listener not started: default address in use; set --admin-listen",
            extra={"listen": listen, "error": str(e)},
        )
        return None
    return runner


async def _start_admin(
    up: _Listeners, state: Any, metrics: Any, listen: str | None, grpc_listen: str | None
) -> None:
    """The admin HTTP and gRPC listeners that are configured (worker 0 only)."""
    from discofilter.admin.grpc_server import start_admin_grpc

    if listen:
        up.admin_runner = await _start_admin_http(state, metrics, listen)
    if grpc_listen:
        up.grpc_server, _ = await start_admin_grpc(state, *split_host_port(grpc_listen))


async def _start_proxy_site(app: web.Application, config: Config, reuse_port: bool) -> Any:
    from discofilter.server.tuning.tls import server_ssl_context

    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    host, port = split_host_port(config.server.listen)
    s = config.server
    ssl_ctx = (
        server_ssl_context(s.tls_cert_file, s.tls_key_file)
        if s.tls_cert_file and s.tls_key_file
        else None
    )
    site = web.TCPSite(runner, host, port, ssl_context=ssl_ctx, reuse_port=reuse_port or None)
    await site.start()
    return runner, ssl_ctx is not None


async def serve(w: WorkerSettings) -> None:
    """Run one worker until SIGTERM/SIGINT (with the admin listeners when given; live reload
    with ``w.reload``: ``discofilter.server.reload``)."""
    from discofilter.metrics import Metrics
    from discofilter.server.admin_state import ProxyAdminState
    from discofilter.server.proxy import ProxyServer  # aiohttp app import only when serving
    from discofilter.server.tuning.gc import tune_gc

    config = w.config
    target = resolve_target(config)
    metrics = Metrics()
    config, sources = await _open_sources(config, target, metrics)
    proxy = ProxyServer(
        config, Upstream(target, config.upstream.connect_timeout_seconds), metrics=metrics
    )
    await proxy.start_background()
    up = _Listeners()
    try:
        state = ProxyAdminState(proxy, sources)
        await _start_admin(up, state, metrics, w.admin_listen, w.admin_grpc_listen)
        up.proxy_runner, tls = await _start_proxy_site(proxy.make_app(), config, w.reuse_port)
    except BaseException:
        await up.stop()
        await proxy.stop()
        await _stop_live(sources, None)
        raise
    tune_gc()  # start-up done: freeze its objects, rarer young collections (tuning/gc.py)
    log.warning(
        "discofilter serving",
        extra={
            "listen": up.proxy_runner.addresses, "upstream": target.server,
            "upstream_from": target.source, "tls": tls, "pid": os.getpid(),
        },
    )  # fmt: skip
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    reloader = None
    if w.reload is not None or sources is not None:
        reloader = _start_reloader(
            proxy, w.reload, config, w.startup or config, w.poll_config, sources
        )
        loop.add_signal_handler(signal.SIGHUP, reloader.request)
        reloader.catch_up()  # a change made while this worker started reached no handler
    try:
        await stop.wait()
    finally:
        await _stop_live(sources, reloader)
        await proxy.stop()
        await up.stop()


async def _stop_live(sources: EnrollmentSources | None, reloader: Any) -> None:
    """The live inputs, sources first: nothing asks a stopped reloader to reload."""
    if sources is not None:
        await sources.stop()
    if reloader is not None:
        await reloader.stop()


async def _open_sources(
    config: Config, target: Any, metrics: Any
) -> tuple[Config, EnrollmentSources | None]:
    """meshConfigFrom and the safety list, each read once before serving (sources/startup.py),
    and the config they make effective."""
    from discofilter.sources.startup import open_sources

    sources = await open_sources(config, target, SystemClock(), metrics)
    return (sources.overlay(config) if sources is not None else config), sources


def _start_reloader(
    proxy: Any,
    reload: ReloadSource | None,
    running: Config,
    startup: Config,
    poll: bool,
    sources: EnrollmentSources | None,
) -> Any:
    """The live reload: the config file and SIGHUP (``reload``), and the enrollment sources'
    changes, which overlay their selectors on what the file gives (without a file: on the
    running config)."""
    from discofilter.server.reload import ConfigReloader

    seconds = reload.poll_seconds if poll and reload is not None else 0.0
    load: Callable[[], Config] = reload.load if reload is not None else (lambda: running)
    if sources is not None:
        load = sources.wrap(load)
    path = reload.path if reload is not None else None
    digest = reload.digest if reload is not None else None
    reloader = ConfigReloader(proxy, load, startup, SystemClock(), path, seconds, digest)
    reloader.start()
    if sources is not None:
        sources.start(reloader.reload)
    return reloader


def run_worker(w: WorkerSettings) -> None:
    """One worker process: allocator tuning, uvloop, then ``serve`` until a stop signal."""
    from discofilter.server.tuning.malloc import tune_malloc

    # SIGHUP's default action ends the process: ignore it until serve() handles it (reload).
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    tune_malloc()
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        pass
    asyncio.run(serve(w))


def run_workers(
    config: Config,
    admin: str | None,
    admin_grpc: str | None,
    reload: ReloadSource,
    startup: Config,
) -> int:
    """``config.server.workers`` processes sharing the port; the exit code of the worst one."""
    ctx = multiprocessing.get_context("spawn")
    # Admin listeners run in worker 0 only: its /metrics and /readyz describe that worker.
    # The parent polls the config file and forwards SIGHUP, so workers reload together.
    procs = [
        ctx.Process(
            target=run_worker,
            args=(
                WorkerSettings(
                    config, True, *((admin, admin_grpc) if i == 0 else (None, None)),
                    reload, startup, poll_config=False,
                ),
            ),
            name=f"discofilter-worker-{i}",
        )
        for i in range(config.server.workers)
    ]  # fmt: skip
    for p in procs:
        p.start()

    def forward(signum: int, _frame: object) -> None:
        for p in procs:
            if p.pid is not None and p.is_alive():
                os.kill(p.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGHUP, forward)  # each worker reloads its own view
    _supervise(procs, reload.path, reload.poll_seconds)
    return max((p.exitcode or 0) for p in procs)


def _supervise(procs: list[Any], config_path: str | None, poll_seconds: float) -> None:
    """Wait for the workers; meanwhile poll the config file and SIGHUP them when it changes."""
    from discofilter.server.reload import SETTLE_SECONDS, ConfigFileWatch

    watch = ConfigFileWatch(config_path) if config_path and poll_seconds > 0 else None
    while True:
        alive = [p for p in procs if p.is_alive()]
        if not alive:
            break
        wait([p.sentinel for p in alive], timeout=poll_seconds if watch else None)
        if watch is None or (seen := watch.current()) == watch.digest:
            continue
        time.sleep(SETTLE_SECONDS)  # the same settle as a worker's own poll (reload.py)
        if watch.current() == seen:
            watch.accept(seen)
            log.warning("config file changed; reloading every worker")
            for p in alive:
                if p.pid is not None and p.is_alive():
                    os.kill(p.pid, signal.SIGHUP)
    for p in procs:
        p.join()
