"""PNG plots of a run (matplotlib, Agg backend: no display needed, safe in CI).

* ``rate.png`` — watch events per second over time: upstream (the direct client) vs delivered by
  each mode. The gap between the lines is what discofilter spares the controller.
* ``latency_cdf.png`` — CDF of added latency per mode (log-scaled x axis: coalescing windows are
  hundreds of ms, pass-through is sub-ms; a linear axis would hide one or the other).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

# One colour per mode in every plot, so the rate and latency figures read together.
MODE_COLORS = {
    "discofilter": "tab:orange",
    "discofilter-nocc": "tab:green",
    "kubectl-proxy": "tab:red",
    "direct": "black",
}


def _style(label: str) -> dict[str, object]:
    if label.startswith("upstream") or label == "direct":
        # Drawn on top, dashed: a pass-through mode's line coincides with it exactly.
        return {"color": "black", "linestyle": "--", "linewidth": 2.0, "zorder": 3}
    return {"color": MODE_COLORS.get(label), "linewidth": 1.4}


def plot_rates(
    series: Mapping[str, Sequence[int]], out: Path, bucket_s: float = 1.0, title: str = ""
) -> Path:
    """One line per series (label -> events per bucket)."""
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for label, counts in series.items():
        xs = [i * bucket_s for i in range(len(counts))]
        ax.plot(xs, [c / bucket_s for c in counts], label=label, **_style(label))  # type: ignore[arg-type]
    ax.set_xlabel("seconds since churn start")
    ax.set_ylabel("watch events / s")
    ax.set_title(title or "Event rate: upstream vs delivered")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def plot_latency_cdf(samples: Mapping[str, Sequence[float]], out: Path, title: str = "") -> Path:
    """One CDF per mode of added latency in seconds (plotted in ms)."""
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    drew = False
    for label, vals in samples.items():
        if not vals:
            continue
        xs = sorted(max(v * 1000, 1e-3) for v in vals)  # floor at 1 µs so log scale can draw 0
        n = len(xs)
        ax.step(
            xs,
            [(i + 1) / n for i in range(n)],
            where="post",
            label=f"{label} (n={n:,})",
            color=MODE_COLORS.get(label),
        )
        drew = True
    if drew:
        ax.set_xscale("log")
        ax.legend(loc="lower right", fontsize="small")
    else:
        ax.text(0.5, 0.5, "no joined events", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("added latency (ms, log scale)")
    ax.set_ylabel("fraction of events")
    ax.set_title(title or "Added latency vs the direct client (CDF)")
    ax.grid(True, alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


FANOUT_COLORS = {"shared": "tab:blue", "per-client": "tab:orange", "kubectl-proxy": "tab:red"}


def plot_fanout(results: Mapping[str, Any], out: Path) -> Path:
    """``bench --clients``: proxy CPU per upstream event and API-server bytes against N."""
    fig, (ax_cpu, ax_bytes) = plt.subplots(1, 2, figsize=(10, 4.2), dpi=100)
    for mode, m in results["modes"].items():
        runs = [(int(n), r) for n, r in m["runs"].items() if r["status"] == "ok"]
        if not runs:
            continue
        ns = [n for n, _ in runs]
        style = {"color": FANOUT_COLORS.get(mode), "marker": "o", "label": mode}
        ax_cpu.plot(ns, [r["proxy_cpu_us_per_upstream_event"] or 0 for _, r in runs], **style)
        total = [(r["upstream_watch_bytes"] + r["upstream_list_bytes"]) / 1e6 for _, r in runs]
        ax_bytes.plot(ns, total, **style)
    ax_cpu.set_title("proxy CPU per upstream event")
    ax_cpu.set_ylabel("µs")
    ax_bytes.set_title("bytes sent by the API server (LIST + watch)")
    ax_bytes.set_ylabel("MB")
    for ax in (ax_cpu, ax_bytes):
        ax.set_xlabel("identical clients per kind (N)")
        ax.set_xticks(list(results["counts"]))
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    fig.suptitle(f"{results['scenario']['name']}: cost against the number of clients")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
