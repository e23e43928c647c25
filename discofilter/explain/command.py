"""``discofilter selectors explain``: which namespaces are enrolled, why, and what they cost.

Two selector sets are compared over the live namespace view:

* **before** — what is in effect now: with ``--proxy-admin URL`` the selectors a running
  discofilter filters by and their source (``discofilter.explain.live``); else
  ``--baseline-selector``/``--baseline-file`` when given, else Istio's own
  ``meshConfig.discoverySelectors`` read from the cluster's ``istio`` ConfigMap (parsed as istiod
  parses it: ``discofilter.istio.meshconfig``), else "every namespace" (Istio's default);
* **after** — the candidate: ``--selector`` terms, ``--config`` (a discofilter config file, read
  exactly as ``discofilter serve --config`` reads it) and ``--discovery-selectors`` (any file with
  Istio's shape). Without a candidate the command shows the *before* view alone.

Exit codes: 0 on success, 1 when the cluster cannot be read, 2 for bad flags or selectors.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from discofilter.config import load_config_file
from discofilter.errors import ConfigError, UpstreamError
from discofilter.explain.cluster import (
    COUNTED,
    ClusterReader,
    gather,
    istio_configmap_name,
    make_api_client,
    read_istio_mesh,
)
from discofilter.explain.live import read_live
from discofilter.explain.render import Explanation, SelectorSource, render
from discofilter.explain.safety_notes import safety_notes
from discofilter.filter import candidates
from discofilter.filter.dryrun import NamespaceFacts, compare, term_names
from discofilter.filter.enrollment import DEFAULT_ALWAYS_ENROLLED
from discofilter.filter.selectors import SelectorSet
from discofilter.istio.meshconfig import parse_mesh

DEFAULT_SAMPLE_SECONDS = 5.0


def register(sub: Any) -> None:
    selectors = sub.add_parser(
        "selectors", help="inspect namespace selectors", description="Namespace selector tools."
    )
    selectors_sub = selectors.add_subparsers(dest="selectors_command", metavar="SUBCOMMAND")
    selectors.set_defaults(func=lambda args: _usage(selectors))
    p = selectors_sub.add_parser(
        "explain",
        help="which namespaces are enrolled and why; dry-run candidate selectors",
        description=(
            "Show every namespace: enrolled or not, the selector term that matched, object "
            "counts and recent churn; with --selector/--config/--discovery-selectors, compare "
            "the selectors in effect with a candidate (added/removed namespaces, churn share)."
        ),
    )
    target = p.add_argument_group("cluster")
    target.add_argument("--upstream", metavar="URL", help="API server URL (e.g. the emulator)")
    target.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig (default: as kubectl)")
    target.add_argument("--context", metavar="NAME", help="kubeconfig context")
    target.add_argument(
        "--insecure-skip-tls-verify",
        action="store_true",
        help="do not verify the API server's certificate (never in production)",
    )
    cand = p.add_argument_group("candidate (after)")
    _add_or_terms(cand, "-l", "--selector", help="candidate OR-term in kubectl syntax (repeatable)")
    cand.add_argument("--config", metavar="FILE", help="candidate discofilter config file")
    cand.add_argument(
        "--discovery-selectors",
        metavar="FILE",
        help="candidate discoverySelectors file: Istio meshConfig/values, istio ConfigMap, a list",
    )
    base = p.add_argument_group("baseline (before)")
    _add_or_terms(
        base,
        "--baseline-selector",
        help="baseline OR-term (default: the cluster's Istio meshConfig.discoverySelectors)",
    )
    base.add_argument("--baseline-file", metavar="FILE", help="baseline selectors file (any shape)")
    base.add_argument(
        "--proxy-admin",
        metavar="URL",
        help="baseline: the selectors a running discofilter has in effect, and their source "
        "(its admin HTTP, e.g. http://127.0.0.1:9090)",
    )
    base.add_argument(
        "--istio-namespace",
        default="istio-system",
        help="where Istio's istio ConfigMap lives (default: %(default)s)",
    )
    base.add_argument(
        "--istio-revision",
        default="",
        metavar="REV",
        help="read the revisioned control plane's istio-REV ConfigMap instead of istio",
    )
    p.add_argument(
        "--always-enrolled",
        action="append",
        metavar="NAMESPACE",
        help="namespaces enrolled whatever their labels (default: istio-system, or --config's)",
    )
    p.add_argument(
        "--sample",
        type=float,
        default=DEFAULT_SAMPLE_SECONDS,
        metavar="SECONDS",
        help="watch this long to measure churn per namespace; 0 skips it (default: %(default)s)",
    )
    p.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    p.set_defaults(func=run)


def _add_or_terms(group: Any, *flags: str, help: str) -> None:
    """A repeatable flag whose values are the OR-terms of one selector set, in kubectl syntax."""
    group.add_argument(*flags, action="append", default=[], metavar="SELECTOR", help=help)


def selectors_from_file(path: str | Path) -> SelectorSet | None:
    """A candidate selector set from a file in any shape ``filter.candidates`` accepts."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ConfigError(f"{p}: {e.strerror}") from e
    return candidates.from_yaml_text(text, str(p))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _candidate(
    args: argparse.Namespace,
) -> tuple[SelectorSet | None, SelectorSource | None, frozenset[str] | None]:
    """The candidate set, its description, and --config's alwaysEnrolled (if any)."""
    parts: list[str] = []
    file_sets: list[SelectorSet | None] = []
    always: frozenset[str] | None = None
    if args.config:
        cfg = load_config_file(args.config)
        sel, _ = cfg.enrollment.selector_set()
        file_sets.append(sel)
        always = frozenset(cfg.enrollment.always_enrolled)
        parts.append(args.config)
    if args.discovery_selectors:
        file_sets.append(selectors_from_file(args.discovery_selectors))
        parts.append(args.discovery_selectors)
    if args.selector:
        parts.append("--selector")
    if not parts:
        return None, None, None
    sel = candidates.combine(args.selector, file_sets)
    return sel, SelectorSource(", ".join(parts), term_names(sel), sel is None), always


async def _baseline(
    args: argparse.Namespace, reader: ClusterReader, notes: list[str]
) -> tuple[SelectorSet | None, SelectorSource]:
    if args.proxy_admin:
        live = await read_live(args.proxy_admin)
        if live.warning:
            notes.append(f"warning: {live.warning}")
        return live.selectors, live.source
    if args.baseline_selector or args.baseline_file:
        file_sets = [selectors_from_file(args.baseline_file)] if args.baseline_file else []
        sel = candidates.combine(args.baseline_selector, file_sets)
        what = ", ".join(
            p
            for p in (args.baseline_file, "--baseline-selector" if args.baseline_selector else "")
            if p
        )
        return sel, SelectorSource(what, term_names(sel), sel is None)
    mesh = await read_istio_mesh(reader, args.istio_namespace, args.istio_revision)
    cm = f"{args.istio_namespace}/{istio_configmap_name(args.istio_revision)}"
    where = f"Istio meshConfig ({cm} ConfigMap)"
    if mesh is None:
        default = f"Istio's default: no {cm} ConfigMap"
        return None, SelectorSource(default, (), True)
    sel = parse_mesh(mesh, where).selector_set()  # exactly as istiod reads it
    return sel, SelectorSource(where, term_names(sel), sel is None)


async def explain(args: argparse.Namespace) -> Explanation:
    after, after_src, cfg_always = _candidate(args)
    if args.always_enrolled:
        always = frozenset(args.always_enrolled)
    else:
        always = cfg_always if cfg_always is not None else DEFAULT_ALWAYS_ENROLLED
    api = await make_api_client(
        args.upstream, args.kubeconfig, args.context, args.insecure_skip_tls_verify
    )
    async with api:
        reader = ClusterReader(api)
        notes: list[str] = []
        before, before_src = await _baseline(args, reader, notes)
        facts = await gather(reader, max(0.0, args.sample))
        judged = after if after_src is not None else before
        notes += await safety_notes(reader, facts.namespaces, judged, always)
    churn = facts.churn()
    ns_facts = [
        NamespaceFacts(
            name=name,
            labels=labels,
            churn=churn.get(name, 0.0),
            counts={kind: facts.counts[kind].get(name, 0) for kind in facts.counts},
        )
        for name, labels in facts.namespaces.items()
    ]
    cmp = compare(ns_facts, before, after if after_src is not None else before, always)
    return Explanation(
        comparison=cmp,
        before=before_src,
        after=after_src,
        kinds=tuple(kind for kind, _ in COUNTED),
        sample_seconds=facts.sampled_seconds,
        notes=(*notes, *facts.notes),
    )


def run(args: argparse.Namespace) -> int:
    try:
        ex = asyncio.run(explain(args))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except UpstreamError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    sys.stdout.write(render(ex, args.output))
    return 0
