"""The ``discofilter`` command line: one subcommand per public entry point.

Each subcommand lives beside the code it drives and exposes ``register(subparsers)``, which adds
its parser and sets ``func`` (``args -> exit code``). Modules are imported only when listed here,
so adding a command is one line.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from discofilter import __version__
from discofilter.logs import add_logging_flags, setup_logging

# (module, what it provides) — order is the order of `discofilter --help`.
COMMAND_MODULES: tuple[str, ...] = (
    "discofilter.server.command",  # serve
    "discofilter.sim.command",  # sim
    "discofilter.demo.command",  # demo
    "discofilter.bench.command",  # bench, record
    "discofilter.explain.command",  # selectors explain
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="discofilter",
        description="Namespace-filtering, churn-coalescing proxy between istiod and kube-apiserver.",
    )
    parser.add_argument("--version", action="version", version=f"discofilter {__version__}")
    add_logging_flags(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod_name in COMMAND_MODULES:
        importlib.import_module(mod_name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    setup_logging(args.log_format, args.verbose)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
