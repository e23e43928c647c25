"""``discofilter serve``: flags → effective ``Config`` → one or N worker processes.

The command line only: the parser, flags over the config file (``effective_config``), and the
checks that must fail before any worker starts. Upstream resolution is
``discofilter.upstream.resolve``; running and supervising workers is
``discofilter.server.supervise``.
"""

from __future__ import annotations

import argparse
import signal
import sys
from functools import partial
from typing import Any

from discofilter.config import (
    Config,
    admin_address,
    dump_config,
    load_config_file,
    split_host_port,
    with_overrides,
)
from discofilter.config_checks import check_security
from discofilter.errors import ConfigError, UpstreamError
from discofilter.server.reload import ConfigFileWatch
from discofilter.server.supervise import ReloadSource, WorkerSettings, run_worker, run_workers
from discofilter.upstream.resolve import resolve_target


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
    _switch(
        p,
        "--insecure-skip-tls-verify",
        help="do not verify the upstream's certificate (never in production)",
    )
    _repeatable(
        p,
        "--selector",
        "SELECTOR",
        help="namespace label selector, kubectl syntax; repeatable, each one an OR term "
        "(replaces the file's discoverySelectors)",
    )
    _repeatable(
        p,
        "--always-enrolled",
        "NAMESPACE",
        help="namespace enrolled whatever its labels (repeatable; default istio-system)",
    )
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
    _repeatable(
        p, "--exempt-resource", "RESOURCE[.GROUP]", help="never filter this resource (repeatable)"
    )
    p.add_argument("--tls-cert-file", help="serve TLS with this PEM certificate")
    p.add_argument("--tls-key-file", help="private key of --tls-cert-file")
    _switch(p, "--self-signed-tls", help="serve TLS with a certificate generated at start")
    p.add_argument("--self-signed-ca-out", help="write the generated certificate here (PEM)")
    _switch(
        p, "--sidecar", help="loopback only: requests without credentials use the proxy's identity"
    )
    p.add_argument("--workers", type=int, help="worker processes sharing the port (SO_REUSEPORT)")
    _switch(
        p,
        "--prune-managed-fields",
        help="strip metadata.managedFields from forwarded JSON watch events",
    )
    _switch(
        p,
        "--shared-watches",
        help="one upstream LIST+WATCH per kind, served to every client from a filtered cache "
        "(config sharedWatches.enabled; docs/shared-watches.md)",
    )
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


# Flags default to None, not False or []: None means "not given", so the config file's value
# stands (effective_config overrides only what the command line set).
def _switch(p: argparse.ArgumentParser, flag: str, *, help: str) -> None:
    p.add_argument(flag, action="store_true", default=None, help=help)


def _repeatable(p: argparse.ArgumentParser, flag: str, metavar: str, *, help: str) -> None:
    p.add_argument(flag, action="append", default=None, metavar=metavar, help=help)


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
        shared_watches={"enabled": args.shared_watches},
    )


def run(args: argparse.Namespace) -> int:
    # SIGHUP reloads the config (serve); until its handler is installed it must not end the
    # process. Spawned workers inherit the ignored disposition across exec.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    # Read before the load: a change in between makes the digests differ and the workers
    # reload once more, never miss it (ConfigReloader.catch_up).
    digest = ConfigFileWatch(args.config).digest if args.config else None
    try:
        config = effective_config(args)
        if args.print_config:
            sys.stdout.write(dump_config(config))
            return 0
        check_security(config)
        startup = config
        s = config.server
        if s.self_signed_tls:
            from discofilter.server.tuning.tls import write_self_signed

            host, _ = split_host_port(s.listen)
            cert, key = write_self_signed([host], s.self_signed_ca_out)
            config = with_overrides(config, server={"tls_cert_file": cert, "tls_key_file": key})
        resolve_target(config)  # fail fast on a bad kubeconfig, before forking workers
    except ConfigError as e:
        print(f"discofilter serve: {e}", file=sys.stderr)
        return 2
    admin, admin_grpc = admin_address(config.admin.listen), admin_address(config.admin.grpc_listen)
    reload = ReloadSource(
        partial(effective_config, args), args.config, args.config_poll_seconds, digest
    )
    if config.server.workers == 1:
        try:
            run_worker(WorkerSettings(config, False, admin, admin_grpc, reload, startup))
        except (UpstreamError, ConfigError) as e:  # ConfigError: an admin address in use
            print(f"discofilter serve: {e}", file=sys.stderr)
            return 1
        return 0
    if split_host_port(config.server.listen)[1] == 0:
        print("discofilter serve: --workers needs a fixed port, not 0", file=sys.stderr)
        return 2
    return run_workers(config, admin, admin_grpc, reload, startup)


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
