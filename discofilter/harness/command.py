"""``discofilter bench`` and ``discofilter record``."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import shlex
import sys
from pathlib import Path
from typing import Any

from discofilter.errors import DiscofilterError
from discofilter.harness.fanout import FANOUT_MODES
from discofilter.harness.targets import DIRECT, MODES

DEFAULT_MODES = ",".join(MODES)
FANOUT_DEFAULT = ",".join(FANOUT_MODES)
RESULTS_MD = Path(__file__).resolve().parents[2] / "bench" / "RESULTS.md"
# The plotting stack (matplotlib, numpy, pillow, fonttools: ~150 MB) is the ``bench`` extra, so
# the proxy's own install stays lean; say so before a long run rather than fail at its end.
PLOTS_MISSING = (
    "discofilter bench draws its PNG plots with matplotlib, which the runtime install leaves out; "
    "install the bench extra (pip install 'discofilter[bench]') or pass --no-plots"
)


def register(sub: Any) -> None:
    b = sub.add_parser(
        "bench",
        help="churn benchmark: direct vs discofilter vs kubectl proxy, in one run",
        description=(
            "Replay a churn scenario against the emulator (or drive churn in a real cluster with "
            "--kubeconfig) and measure, in the same run, what each mode delivers to watching "
            "clients: events and bytes, added latency, proxy CPU and RSS, and whether every "
            "client's final cache equals the expected state."
        ),
    )
    b.add_argument("--scenario", required=True, type=Path, help="scenario YAML (bench/scenarios)")
    b.add_argument("--out", required=True, type=Path, help="output directory")
    b.add_argument(
        "--duration", type=float, default=None, help="seconds of churn (default: the scenario's)"
    )
    b.add_argument(
        "--modes",
        default=None,
        help=f"comma-separated subset of {DEFAULT_MODES} (direct is always run: it is the "
        f"reference); with --clients N: a subset of {FANOUT_DEFAULT}",
    )
    b.add_argument(
        "--clients",
        default="python",
        help="comma-separated client kinds: python (default), official; or client counts "
        "(e.g. 1,3,10): N identical clients per kind through each of "
        f"{FANOUT_DEFAULT}, one phase per mode and N, upstream cost read from the emulator",
    )
    b.add_argument("--kubeconfig", default=None, help="drive churn in this real cluster instead")
    b.add_argument("--context", default=None, help="kubeconfig context (with --kubeconfig)")
    b.add_argument(
        "--non-mesh-share",
        type=float,
        default=None,
        help="override the share of churn in non-mesh namespaces (0..1), e.g. 0.5, 0.8, 0.95",
    )
    b.add_argument("--kinds", default=None, help="kinds to watch (default: the scenario's)")
    b.add_argument("--seed", type=int, default=1)
    b.add_argument(
        "--catch-up-timeout",
        type=float,
        default=30.0,
        help="seconds to wait after churn for every client to reach the final state",
    )
    b.add_argument(
        "--sync-timeout",
        type=float,
        default=300.0,
        help="seconds for every client's initial LIST before churn starts",
    )
    b.add_argument(
        "--no-plots",
        action="store_true",
        help="write results.json and the table only (no matplotlib needed)",
    )
    b.add_argument(
        "--append-results",
        action="store_true",
        help=f"append a markdown summary to {RESULTS_MD.relative_to(RESULTS_MD.parents[1])}",
    )
    b.set_defaults(func=run_bench)

    r = sub.add_parser(
        "record",
        help="record timestamped watch streams from a cluster into a gzip trace",
        description=(
            "LIST+WATCH the given kinds cluster-wide and write every event with its receive time "
            "as gzip JSON lines {ts, kind, type, object}; replay with a scenario's `trace:` key."
        ),
    )
    r.add_argument("--kubeconfig", default=None, help="kubeconfig (default: $KUBECONFIG/~/.kube)")
    r.add_argument("--context", default=None)
    r.add_argument("--duration", type=float, required=True, help="seconds to record")
    r.add_argument("--out", type=Path, required=True, help="trace file (.jsonl.gz)")
    r.add_argument("--kinds", default="pods,services,endpointslices,namespaces")
    r.set_defaults(func=run_record)


def _parse_modes(text: str) -> list[str]:
    modes = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise SystemExit(f"discofilter bench: unknown modes {bad}; known: {DEFAULT_MODES}")
    if DIRECT not in modes:
        modes.insert(0, DIRECT)
    return modes


def run_bench(args: argparse.Namespace) -> int:
    if not args.no_plots and importlib.util.find_spec("matplotlib") is None:
        print(f"discofilter bench: {PLOTS_MISSING}", file=sys.stderr)
        return 2
    from discofilter.harness.pipeline import BenchArgs, bench

    clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    if clients and all(c.isdigit() for c in clients):
        return _run_fanout(args, sorted({int(c) for c in clients}))
    bad = [c for c in clients if c not in ("python", "official")]
    if bad:
        raise SystemExit(f"discofilter bench: unknown clients {bad}; known: python, official")
    if "python" not in clients:
        clients.insert(0, "python")  # the measuring reference
    ba = BenchArgs(
        scenario=args.scenario,
        out=args.out,
        duration_s=args.duration,
        modes=_parse_modes(args.modes or DEFAULT_MODES),
        clients=clients,
        kubeconfig=args.kubeconfig,
        context=args.context,
        non_mesh_share=args.non_mesh_share,
        kinds=args.kinds.split(",") if args.kinds else None,
        seed=args.seed,
        catch_up_timeout_s=args.catch_up_timeout,
        sync_timeout_s=args.sync_timeout,
        results_md=RESULTS_MD if args.append_results else None,
        command="discofilter " + shlex.join(sys.argv[1:]),
        plots=not args.no_plots,
    )
    try:
        results = _run(bench(ba))
    except (DiscofilterError, RuntimeError, OSError) as e:
        # Bad scenario, a child that would not start, an unreachable cluster: say what, no trace.
        print(f"discofilter bench: {e}", file=sys.stderr)
        return 2
    return 0 if results["final_state_matches"] else 1


def _run_fanout(args: argparse.Namespace, counts: list[int]) -> int:
    """``--clients 1,3,10``: the fan-out phases (``harness.fanout``)."""
    from discofilter.harness.fanout import FanoutSpec, run_fanout
    from discofilter.harness.fanout_report import render_table, write_outputs

    if counts[0] < 1:
        raise SystemExit("discofilter bench: --clients counts must be at least 1")
    if args.kubeconfig:
        raise SystemExit(
            "discofilter bench: --clients N measures the upstream from the emulator's own "
            "/metrics; it does not run against --kubeconfig"
        )
    modes = [m.strip() for m in (args.modes or FANOUT_DEFAULT).split(",") if m.strip()]
    bad = [m for m in modes if m not in FANOUT_MODES]
    if bad:
        raise SystemExit(
            f"discofilter bench: unknown modes {bad} with --clients N; known: {FANOUT_DEFAULT}"
        )
    spec = FanoutSpec(
        scenario=args.scenario,
        counts=counts,
        modes=modes,
        duration_s=args.duration,
        kinds=args.kinds.split(",") if args.kinds else None,
        seed=args.seed,
        non_mesh_share=args.non_mesh_share,
        catch_up_timeout_s=args.catch_up_timeout,
        sync_timeout_s=args.sync_timeout,
        command="discofilter " + shlex.join(sys.argv[1:]),
    )
    try:
        results = _run(run_fanout(spec))
    except (DiscofilterError, RuntimeError, OSError) as e:
        print(f"discofilter bench: {e}", file=sys.stderr)
        return 2
    paths = write_outputs(
        results,
        args.out,
        results_md=RESULTS_MD if args.append_results else None,
        plots=not args.no_plots,
    )
    sys.stdout.write(render_table(results))
    sys.stdout.write(f"wrote {', '.join(str(p) for p in paths)}\n")
    return 0 if results["final_state_matches"] else 1


def run_record(args: argparse.Namespace) -> int:
    from discofilter.harness.record import record

    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    try:
        counts = _run(record(args.kubeconfig, args.context, kinds, args.duration, args.out))
    except (DiscofilterError, ValueError, OSError) as e:
        print(f"discofilter record: {e}", file=sys.stderr)
        return 2
    total = sum(
        v for k, v in counts.items() if k.split("/")[-1] in ("LIST", "ADDED", "MODIFIED", "DELETED")
    )
    print(f"recorded {total:,} events to {args.out}")
    for k in sorted(counts):
        print(f"  {k}: {counts[k]:,}")
    return 0


def _run(coro: Any) -> Any:
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)
