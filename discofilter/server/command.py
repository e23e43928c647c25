"""``discofilter serve``: flags → effective ``Config`` → one or N worker processes.

Upstream resolution order: ``--upstream URL``; else ``--kubeconfig`` (with ``--context``); else
the in-cluster service account when its token exists; else the default kubeconfig
(``$KUBECONFIG`` or ``~/.kube/config``). ``--workers N`` starts N processes that each bind the
port with SO_REUSEPORT and keep their own upstream connections and enrollment view (a fixed port
is required: with port 0 each worker would get its own).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import multiprocessing
import os
import signal
import sys
from typing import Any

from aiohttp import web

from discofilter.config import (
    DEFAULT_ADMIN_LISTEN,
    Config,
    admin_address,
    check_security,
    dump_config,
    load_config_file,
    split_host_port,
    with_overrides,
)
from discofilter.errors import ConfigError, UpstreamError
from discofilter.upstream.client import Upstream
from discofilter.upstream.incluster import in_cluster_available, load_in_cluster
from discofilter.upstream.kubeconfig import default_kubeconfig_path, load_kubeconfig
from discofilter.upstream.target import OwnCredentials, UpstreamTarget
from discofilter.upstream.token import TokenFile

log = logging.getLogger("discofilter.serve")


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "serve",
        help="run the namespace-filtering proxy",
        description="Forward only mesh-enrolled namespaces' objects and watch events between "
        "clients (istiod) and kube-apiserver. Upstream: --upstream, else --kubeconfig, else the "
        "in-cluster service account, else $KUBECONFIG/~/.kube/config. Flags override --config. "
        "See docs/proxy.md and docs/configuration.md.",
    )
    p.add_argument("--config", help="YAML config file (camelCase keys; flags override it)")
    p.add_argument(
        "--config-poll-seconds", type=float, default=2.0, metavar="SECONDS",
        help="reload when the --config file's content changes, checked this often (0: only "
        "on SIGHUP; default 2)",
    )  # fmt: skip
    p.add_argument("--print-config", action="store_true", help="print the effective config, exit")
    p.add_argument("--listen", help="HOST:PORT (default 127.0.0.1:8001)")
    p.add_argument("--upstream", help="kube-apiserver URL (else kubeconfig / in-cluster)")
    p.add_argument("--kubeconfig", help="kubeconfig for the proxy's own identity and server")
    p.add_argument("--context", help="kubeconfig context (default: current-context)")
    p.add_argument("--ca-file", help="CA bundle to verify the upstream")
    p.add_argument("--token-file", help="bearer token file for the proxy's own identity")
    p.add_argument(
        "--insecure-skip-tls-verify", action="store_true", default=None,
        help="do not verify the upstream's certificate (never in production)",
    )  # fmt: skip
    p.add_argument(
        "--selector", action="append", default=None, metavar="SELECTOR",
        help="namespace label selector, kubectl syntax; repeatable, each one an OR term "
        "(replaces the file's discoverySelectors)",
    )  # fmt: skip
    p.add_argument(
        "--always-enrolled", action="append", default=None, metavar="NAMESPACE",
        help="namespace enrolled whatever its labels (repeatable; default istio-system)",
    )  # fmt: skip
    p.add_argument(
        "--mesh-config-from", metavar="configmap:NAMESPACE/NAME",
        help="read discoverySelectors live from istiod's mesh ConfigMap, e.g. "
        "configmap:istio-system/istio (config meshConfigFrom; docs/istio.md)",
    )  # fmt: skip
    p.add_argument(
        "--no-safety-list", action="store_false", dest="safety_list", default=None,
        help="do not enroll the namespaces of ztunnel, gateways and istiod by default "
        "(config safetyList; docs/istio.md)",
    )  # fmt: skip
    p.add_argument(
        "--exempt-resource", action="append", default=None, metavar="RESOURCE[.GROUP]",
        help="never filter this resource (repeatable)",
    )  # fmt: skip
    p.add_argument("--tls-cert-file", help="serve TLS with this PEM certificate")
    p.add_argument("--tls-key-file", help="private key of --tls-cert-file")
    p.add_argument(
        "--self-signed-tls", action="store_true", default=None,
        help="serve TLS with a certificate generated at start",
    )  # fmt: skip
    p.add_argument("--self-signed-ca-out", help="write the generated certificate here (PEM)")
    p.add_argument(
        "--sidecar", action="store_true", default=None,
        help="loopback only: requests without credentials use the proxy's identity",
    )  # fmt: skip
    p.add_argument("--workers", type=int, help="worker processes sharing the port (SO_REUSEPORT)")
    p.add_argument(
        "--prune-managed-fields", action="store_true", default=None,
        help="strip metadata.managedFields from forwarded JSON watch events",
    )  # fmt: skip
    p.add_argument(
        "--admin-listen", metavar="HOST:PORT",
        help="admin HTTP (/metrics, /healthz, /readyz, /debug/enrollment); default "
        "127.0.0.1:9090 (config admin.listen), '' or off disables; worker 0 only",
    )  # fmt: skip
    p.add_argument(
        "--admin-grpc-listen", metavar="HOST:PORT",
        help="admin gRPC (status, decisions, selector dry-run, grpc.health.v1); default off "
        "(config admin.grpcListen); worker 0 only",
    )  # fmt: skip
    p.set_defaults(func=run)


def effective_config(args: argparse.Namespace) -> Config:
    config = load_config_file(args.config) if args.config else Config()
    return with_overrides(
        config,
        server={
            "listen": args.listen,
            "tls_cert_file": args.tls_cert_file,
            "tls_key_file": args.tls_key_file,
            "self_signed_tls": args.self_signed_tls,
            "self_signed_ca_out": args.self_signed_ca_out,
            "sidecar": args.sidecar,
            "workers": args.workers,
        },
        upstream={
            "url": args.upstream,
            "kubeconfig": args.kubeconfig,
            "context": args.context,
            "ca_file": args.ca_file,
            "token_file": args.token_file,
            "insecure_skip_tls_verify": args.insecure_skip_tls_verify,
        },
        enrollment={
            "selectors": tuple(args.selector) if args.selector else None,
            "always_enrolled": tuple(args.always_enrolled) if args.always_enrolled else None,
            "exempt_resources": tuple(args.exempt_resource) if args.exempt_resource else None,
            "mesh_config_from": getattr(args, "mesh_config_from", None),
            "safety_list": getattr(args, "safety_list", None),
        },
        streams={"prune_managed_fields": args.prune_managed_fields},
        admin={"listen": args.admin_listen, "grpc_listen": args.admin_grpc_listen},
    )


def resolve_target(config: Config) -> UpstreamTarget:
    u = config.upstream
    if u.url:
        target = UpstreamTarget(
            server=u.url.rstrip("/"),
            own=OwnCredentials(token_file=TokenFile(u.token_file) if u.token_file else None),
        )
    elif u.kubeconfig:
        target = load_kubeconfig(u.kubeconfig, u.context)
    elif in_cluster_available():
        target = load_in_cluster()
    elif os.path.exists(default_kubeconfig_path()):
        target = load_kubeconfig(None, u.context)
    else:
        raise ConfigError("no upstream: give --upstream URL or --kubeconfig, or run in a cluster")
    tls = target.tls
    if u.ca_file or u.insecure_skip_tls_verify:
        tls = dataclasses.replace(
            tls,
            ca_file=u.ca_file or tls.ca_file,
            insecure=u.insecure_skip_tls_verify or tls.insecure,
        )
    own = target.own
    if u.token_file and target.own.token_file is None:
        own = dataclasses.replace(own, token_file=TokenFile(u.token_file), token=None)
    return dataclasses.replace(target, tls=tls, own=own)


async def serve(
    config: Config,
    *,
    reuse_port: bool = False,
    admin_listen: str | None = None,
    admin_grpc_listen: str | None = None,
    reload_args: argparse.Namespace | None = None,
    startup: Config | None = None,
    poll_config: bool = True,
) -> None:
    """Run one worker until SIGTERM/SIGINT (with the admin listeners when given).

    With ``reload_args`` (the command line), SIGHUP and a change of the ``--config`` file
    (polled unless ``poll_config`` is false: the parent of several workers polls) reload the
    config live (``discofilter.server.reload``); ``startup`` is the effective config before
    start-up substitutions, what restart-only settings are compared to."""
    from discofilter.admin.grpc_server import start_admin_grpc
    from discofilter.admin.http import make_admin_app
    from discofilter.metrics import Metrics
    from discofilter.server.admin_state import ProxyAdminState
    from discofilter.server.app import ProxyServer  # aiohttp app import only when serving
    from discofilter.server.tls import server_ssl_context

    target = resolve_target(config)
    upstream = Upstream(target, config.upstream.connect_timeout_seconds)
    metrics = Metrics()
    from discofilter.clock import SystemClock
    from discofilter.sources.startup import open_sources

    # meshConfigFrom and the safety list, each read once before serving (sources/startup.py).
    sources = await open_sources(config, target, SystemClock(), metrics)
    if sources is not None:
        config = sources.overlay(config)
    proxy = ProxyServer(config, upstream, metrics=metrics)
    state = ProxyAdminState(proxy, sources)
    await proxy.start_background()
    admin_runner: web.AppRunner | None = None
    grpc_server = None
    if admin_listen:
        ahost, aport = split_host_port(admin_listen)
        admin_runner = web.AppRunner(make_admin_app(state, metrics), access_log=None)
        await admin_runner.setup()
        try:
            await web.TCPSite(admin_runner, ahost, aport).start()
        except OSError as e:
            await admin_runner.cleanup()
            admin_runner = None
            if admin_listen != DEFAULT_ADMIN_LISTEN:
                await proxy.stop()
                raise ConfigError(f"admin.listen: cannot listen on {admin_listen}: {e}") from e
            # The built-in default is best effort (config.AdminConfig.listen): a second proxy
            # on this host (the benchmark starts several) must not fail for want of /metrics.
            log.warning(
                "admin listener not started: default address in use; set --admin-listen",
                extra={"listen": admin_listen, "error": str(e)},
            )
    if admin_grpc_listen:
        ghost, gport = split_host_port(admin_grpc_listen)
        grpc_server, _ = await start_admin_grpc(state, ghost, gport)
    runner = web.AppRunner(proxy.make_app(), access_log=None, handle_signals=False)
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
    from discofilter.server.gc_tuning import tune_gc

    tune_gc()  # start-up done: freeze its objects, rarer young collections (gc_tuning.py)
    addrs = runner.addresses
    log.warning(
        "discofilter serving",
        extra={
            "listen": addrs, "upstream": target.server, "upstream_from": target.source,
            "tls": ssl_ctx is not None, "pid": os.getpid(),
        },
    )  # fmt: skip
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    reloader = None
    if reload_args is not None or sources is not None:
        from functools import partial

        from discofilter.server.reload import ConfigReloader

        poll = reload_args.config_poll_seconds if poll_config and reload_args else 0.0
        running = config
        load = partial(effective_config, reload_args) if reload_args else lambda: running
        reloader = ConfigReloader(
            proxy, sources.wrap(load) if sources else load, startup or config, SystemClock(),
            reload_args.config if reload_args else None, poll,
        )  # fmt: skip
        reloader.start()
        loop.add_signal_handler(signal.SIGHUP, reloader.request)
        if sources is not None:
            sources.start(reloader.reload)
    try:
        await stop.wait()
    finally:
        if sources is not None:
            await sources.stop()
        if reloader is not None:
            await reloader.stop()
        await proxy.stop()
        await runner.cleanup()
        if admin_runner is not None:
            await admin_runner.cleanup()
        if grpc_server is not None:
            await grpc_server.stop(1.0)


def _run_worker(
    config: Config,
    reuse_port: bool,
    admin: str | None = None,
    admin_grpc: str | None = None,
    reload_args: argparse.Namespace | None = None,
    startup: Config | None = None,
    poll_config: bool = True,
) -> None:
    from discofilter.server.malloc import tune_malloc

    # SIGHUP's default action ends the process: ignore it until serve() handles it (reload).
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    tune_malloc()
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        pass
    asyncio.run(
        serve(
            config,
            reuse_port=reuse_port,
            admin_listen=admin,
            admin_grpc_listen=admin_grpc,
            reload_args=reload_args,
            startup=startup,
            poll_config=poll_config,
        )
    )


def run(args: argparse.Namespace) -> int:
    # SIGHUP reloads the config (serve); until its handler is installed it must not end the
    # process. Spawned workers inherit the ignored disposition across exec.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        config = effective_config(args)
        if args.print_config:
            sys.stdout.write(dump_config(config))
            return 0
        check_security(config)
        startup = config
        s = config.server
        if s.self_signed_tls:
            from discofilter.server.tls import write_self_signed

            host, _ = split_host_port(s.listen)
            cert, key = write_self_signed([host], s.self_signed_ca_out)
            config = with_overrides(config, server={"tls_cert_file": cert, "tls_key_file": key})
        resolve_target(config)  # fail fast on a bad kubeconfig, before forking workers
    except ConfigError as e:
        print(f"discofilter serve: {e}", file=sys.stderr)
        return 2
    admin, admin_grpc = admin_address(config.admin.listen), admin_address(config.admin.grpc_listen)
    if config.server.workers == 1:
        try:
            _run_worker(config, False, admin, admin_grpc, args, startup)
        except (UpstreamError, ConfigError) as e:  # ConfigError: an admin address in use
            print(f"discofilter serve: {e}", file=sys.stderr)
            return 1
        return 0
    if split_host_port(config.server.listen)[1] == 0:
        print("discofilter serve: --workers needs a fixed port, not 0", file=sys.stderr)
        return 2
    ctx = multiprocessing.get_context("spawn")
    # Admin listeners run in worker 0 only: its /metrics and /readyz describe that worker.
    # The parent polls the config file and forwards SIGHUP, so workers reload together.
    procs = [
        ctx.Process(
            target=_run_worker,
            args=(
                config, True, *((admin, admin_grpc) if i == 0
                                else (None, None)),
                args, startup, False,
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
    _supervise(procs, args.config, args.config_poll_seconds)
    return max((p.exitcode or 0) for p in procs)


def _supervise(procs: list[Any], config_path: str | None, poll_seconds: float) -> None:
    """Wait for the workers; meanwhile poll the config file and SIGHUP them when it changes."""
    import time
    from multiprocessing.connection import wait

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


def main(argv: list[str] | None = None) -> int:
    """``discofilter serve`` alone (``python -m discofilter.server``), for tests and containers
    that should not import the other subcommands."""
    from discofilter.logs import add_logging_flags, setup_logging

    parser = argparse.ArgumentParser(prog="discofilter")
    add_logging_flags(parser)
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["serve", *(argv if argv is not None else sys.argv[1:])])
    setup_logging(args.log_format, args.verbose)
    return int(args.func(args))
