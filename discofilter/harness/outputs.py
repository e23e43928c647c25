"""Write a run's artefacts: results.json, table.txt, rate.png, latency_cdf.png (+ RESULTS.md).

The PNGs need matplotlib, which only the ``bench`` extra installs (the proxy's runtime install
leaves the plotting stack out, ~150 MB); ``plots=False`` writes the rest without importing it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from discofilter.harness.results import append_results_md, render_table, write_results


def write_outputs(
    results: dict[str, Any],
    series: dict[str, Any],
    out_dir: Path,
    *,
    results_md: Path | None = None,
    plots: bool = True,
) -> dict[str, Path]:
    """Write every artefact into ``out_dir``; append to ``results_md`` when given."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"results": write_results(results, out_dir)}
    table = render_table(results)
    paths["table"] = out_dir / "table.txt"
    paths["table"].write_text(table)
    if plots:
        paths.update(_write_plots(results, series, out_dir))
    if results_md is not None:
        append_results_md(results, results_md)
        paths["results_md"] = results_md
    return paths


def _write_plots(results: dict[str, Any], series: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    from discofilter.harness.plots import plot_latency_cdf, plot_rates

    paths: dict[str, Path] = {}
    name = results["scenario"]["name"]
    rates = {("upstream (direct)" if k == "direct" else k): v for k, v in series["rates"].items()}
    paths["rate_plot"] = plot_rates(
        rates, out_dir / "rate.png", title=f"{name}: events/s in vs out"
    )
    paths["latency_plot"] = plot_latency_cdf(
        series["latencies"], out_dir / "latency_cdf.png", title=f"{name}: added latency CDF"
    )
    return paths
