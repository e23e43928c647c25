"""The ``discofilter`` command line: one subcommand per public entry point.

``serve`` is in this layer (``cli/serve.py``: flags → ``Config``; the server package parses no
arguments). The other subcommands live beside the code they drive. Each exposes
``register(subparsers)``, which adds its parser and sets ``func`` (``args -> exit code``). Only
the module of the command being run is imported: ``serve`` must not pay for the benchmark's
matplotlib or explain's kubernetes_asyncio (measured: importing every command module cost
~190 ms and ~30 MB RSS in each proxy worker). The other commands get a one-line placeholder
parser so ``discofilter --help`` still lists them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from discofilter import __version__
from discofilter.logs import add_logging_flags, setup_logging

# command -> (module that registers it, one-line help); order is the order of `--help`.
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("discofilter.cli.serve", "run the namespace-filtering proxy"),
    "sim": ("discofilter.sim.command", "run the Kubernetes API emulator"),
    "demo": ("discofilter.demo.command", "emulator + churn + proxy + two watchers, side by side"),
    "bench": ("discofilter.harness.command", "benchmark: direct vs discofilter vs kubectl proxy"),
    "record": ("discofilter.harness.command", "record timestamped watch streams from a cluster"),
    "selectors": ("discofilter.explain.command", "inspect namespace selectors (explain)"),
    "remote-secret": ("discofilter.multicluster.command", "istiod remote secret via discofilter"),
}
COMMAND_MODULES: tuple[str, ...] = tuple(dict.fromkeys(m for m, _ in COMMANDS.values()))


def _selected_command(argv: Sequence[str]) -> str | None:
    """The first argument naming a command (global flags may come before it)."""
    return next((a for a in argv if a in COMMANDS), None)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv``, only the chosen command's module is imported (None: all)."""
    parser = argparse.ArgumentParser(
        prog="discofilter",
        description="Namespace-filtering, churn-coalescing proxy in front of kube-apiserver.",
    )
    parser.add_argument("--version", action="version", version=f"discofilter {__version__}")
    add_logging_flags(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    if argv is None:
        modules: tuple[str, ...] = COMMAND_MODULES
    else:
        chosen = _selected_command(argv)
        modules = (COMMANDS[chosen][0],) if chosen else ()
    for mod_name in modules:
        importlib.import_module(mod_name).register(sub)
    for name, (_, help_text) in COMMANDS.items():
        if name not in sub.choices:
            sub.add_parser(name, help=help_text)
    # keep --help in COMMANDS order whichever module registered first
    sub._choices_actions.sort(key=lambda a: list(COMMANDS).index(a.dest))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(args_list)
    args = parser.parse_args(args_list)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    setup_logging(args.log_format, args.verbose)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
