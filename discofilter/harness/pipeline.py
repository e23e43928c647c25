"""``discofilter bench`` end to end: scenario → upstream → every mode → artefacts."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from discofilter.harness.apiserver import EmulatorUpstream
from discofilter.harness.outputs import write_outputs
from discofilter.harness.results import render_table
from discofilter.harness.runner import RunSpec, Upstream, run
from discofilter.harness.scenario_file import scenario_meta
from discofilter.harness.scenario_meta import ScenarioMeta


@dataclass(slots=True)
class BenchArgs:
    scenario: Path
    out: Path
    duration_s: float | None = None
    modes: list[str] | None = None
    clients: list[str] | None = None
    kubeconfig: str | None = None
    context: str | None = None
    non_mesh_share: float | None = None
    kinds: list[str] | None = None
    seed: int = 1
    catch_up_timeout_s: float = 30.0
    sync_timeout_s: float = 300.0
    results_md: Path | None = None
    command: str = ""
    show_progress: bool = True
    plots: bool = True


async def start_upstream(a: BenchArgs, meta: ScenarioMeta) -> Upstream:
    if a.kubeconfig is None:
        return await EmulatorUpstream.start(
            a.scenario, seed=a.seed, non_mesh_share=a.non_mesh_share
        )
    from discofilter.harness.apiserver import ClusterUpstream
    from discofilter.harness.cluster_churn import ClusterChurn
    from discofilter.harness.kubeapi import api_client

    api = await api_client(a.kubeconfig, a.context)
    churner = ClusterChurn(api, meta, seed=a.seed)
    await churner.setup()
    return ClusterUpstream(api, churner)


async def bench(a: BenchArgs) -> dict[str, Any]:
    """Run the benchmark, write results.json, table.txt and the plots; print the table."""
    from discofilter.harness.targets import MODES

    meta = scenario_meta(a.scenario, non_mesh_share=a.non_mesh_share)
    spec = RunSpec(
        scenario_name=meta.name,
        scenario_path=str(a.scenario),
        selectors=meta.selectors,
        kinds=a.kinds or meta.kinds,
        churn_s=a.duration_s if a.duration_s is not None else meta.duration_s,
        modes=a.modes or list(MODES),
        clients=a.clients or ["python"],
        non_mesh_share=meta.non_mesh_share,
        kubeconfig=a.kubeconfig,
        catch_up_timeout_s=a.catch_up_timeout_s,
        sync_timeout_s=a.sync_timeout_s,
        command=a.command,
    )
    up = await start_upstream(a, meta)
    try:
        results, series = await run(spec, up, show_progress=a.show_progress)
    finally:
        await up.stop()
    results["upstream"]["churn_counts"] = getattr(up, "churn_counts", {})
    paths = write_outputs(results, series, a.out, results_md=a.results_md, plots=a.plots)
    sys.stdout.write(render_table(results))
    sys.stdout.write(f"wrote {', '.join(str(p) for p in paths.values())}\n")
    return results
