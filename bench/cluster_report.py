"""Output of the cluster-scale istiod benchmark (bench/cluster_bench.py): the RESULTS.md table
of one tier, the PNG plots (CPU and RSS per mode across tiers; events in and out over time) and
the splice of a tier's subsection into bench/RESULTS.md without touching other sections."""

from __future__ import annotations

from pathlib import Path
from typing import Any

RESULTS_TITLE = "## istiod at cluster scale: real controllers, five modes, total cost"


def markdown(r: dict[str, Any], command: str) -> str:
    t, s, mach = r["tier"], r["scenario"], r["machine"]
    outside = 100 * s["ops_outside_mesh"] / max(1, s["ops_in_mesh"] + s["ops_outside_mesh"])
    ops = ", ".join(f"{k} {v}" for k, v in sorted(s["ops"].items()))
    api = r["apiserver"]
    cpc = ", ".join(f"{k} {v}" for k, v in r["control_plane_cpu_s_churn"].items())
    head = (
        f"### Tier {t['name']} ({r['pods']} pods)\n\n"
        f"Command: `{command}` ({r['date']}; {mach['cores']}-core {mach['cpu_model']}, shared, "
        f"load {r['load_avg_1m_end']:.1f} at the end; {r['istio_version']}). "
        f"{t['namespaces']} namespaces ({t['enrolled']} enrolled), {t['deployments']} Deployments "
        f"x {t['replicas']} replicas + a Service each, {t['batch_tenants']} CronJobs every minute, "
        f"{t['big_rollout_replicas']}-pod rollout at half time, {t['nodes']} kwok nodes; "
        f"{t['sidecars']} ADS clients per istiod. Churn by real controllers from {ops} "
        f"({s['churn_seconds']} s, {outside:.0f}% of ops outside the mesh). The API server sent "
        f"{api['watch_events']} watch events, {api['watch_bytes'] / 2**20:.1f} MiB in the churn "
        f"phase; control-plane CPU s: {cpc}. Setup {s['setup_seconds']} s, start-up "
        f"{s['startup_seconds']} s. View = endpointShardz of the enrolled namespaces vs the "
        f"API server's EndpointSlices ({s['mesh_endpoints_truth']} endpoints)."
        + (
            f" results.json and plots (CPU/RSS per mode across tiers, events over time): "
            f"`{r['artifacts']}/`."
            if r.get("artifacts")
            else ""
        )
        + "\n\n"
    )
    table = [
        "| mode | istiod CPU s | xdirect | xselectors | istiod peak RSS MB | xdirect "
        "| discofilter CPU s / RSS MB | **total CPU s** | xdirect | total RSS MB | reg events "
        "| pushes | conv. p50/p99 s | xDS MB | view |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in r["rows"]:

        def f(x: Any) -> str:
            return "-" if x is None else f"{x}"

        cells = [
            row["mode"] + (f" ({row['istiods']} istiods)" if row["istiods"] > 1 else ""),
            row["istiod_cpu_s_churn"],
            f(row.get("istiod_cpu_s_churn_vs_direct")),
            f(row.get("istiod_cpu_s_churn_vs_selectors")),
            row["istiod_peak_rss_mb"],
            f(row.get("istiod_peak_rss_mb_vs_direct")),
            f"{row['discofilter_cpu_s_churn']} / {row['discofilter_peak_rss_mb']}",
            f"**{row['total_cpu_s_churn']}**",
            f(row.get("total_cpu_s_churn_vs_direct")),
            row["total_peak_rss_mb"],
            row["reg_events"],
            row["xds_pushes"],
            f"{f(row['convergence_p50_s'])} / {f(row['convergence_p99_s'])}",
            f"{row['xds_bytes'] / 2**20:.1f}",
            "yes" if row["view_equal_truth"] else "NO",
        ]
        table.append("| " + " | ".join(str(c) for c in cells) + " |")
    return head + "\n".join(table) + "\n\n"


def plot(results: list[dict[str, Any]], out: Path) -> list[Path]:
    """CPU and RSS per mode across tiers; events in/out over time for the last run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    modes = [row["mode"] for row in results[-1]["rows"]]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / max(1, len(results))
    for k, r in enumerate(results):
        by = {row["mode"]: row for row in r["rows"]}
        xs = [i + k * width for i in range(len(modes))]
        label = f"tier {r['tier']['name']} ({r['pods']} pods)"
        axes[0].bar(
            xs, [by[m]["total_cpu_s_churn"] if m in by else 0 for m in modes], width, label=label
        )
        axes[1].bar(
            xs, [by[m]["total_peak_rss_mb"] if m in by else 0 for m in modes], width, label=label
        )
    for ax, title in zip(
        axes,
        ("CPU s, churn phase (istiod + discofilter)", "peak RSS MB (istiod + discofilter)"),
        strict=True,
    ):
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(modes))], modes, rotation=20)
        ax.set_title(title)
        ax.legend()
    fig.tight_layout()
    p = out / "cpu_rss_per_mode.png"
    fig.savefig(p, dpi=90)
    plt.close(fig)
    paths.append(p)

    r = results[-1]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for mode, series in r["series"].items():
        if not series:
            continue
        t = [pt["t"] for pt in series]
        base = series[0]["istiod_reg_events"]
        events = [pt["istiod_reg_events"] - base for pt in series]
        ax.plot(t, events, label=f"{mode}: istiod events")
        if "proxy_events_in" in series[0] and mode == "discofilter":
            b_in, b_out = series[0]["proxy_events_in"], series[0]["proxy_events_out"]
            ax.plot(
                t,
                [pt["proxy_events_in"] - b_in for pt in series],
                "--",
                label="discofilter: events in (upstream)",
            )
            ax.plot(
                t,
                [pt["proxy_events_out"] - b_out for pt in series],
                ":",
                label="discofilter: events out (to istiod)",
            )
    ax.set_xlabel("s since churn start")
    ax.set_ylabel("events (cumulative)")
    ax.set_yscale("symlog")
    ax.set_title(f"tier {r['tier']['name']}: events in and out over time")
    ax.legend(fontsize=8)
    fig.tight_layout()
    p = out / f"events_over_time_{r['tier']['name']}.png"
    fig.savefig(p, dpi=90)
    plt.close(fig)
    paths.append(p)
    return paths


def insert_section(md: str, path: Path, tier: str) -> None:
    """Our section (title + one subsection per tier) at the top; other sections untouched."""
    old = path.read_text() if path.exists() else ""
    start = old.find(RESULTS_TITLE)
    if start < 0:
        intro = (
            f"{RESULTS_TITLE} (issue 18)\n\n"
            "Method, modes and caveats: docs/istiod-bench.md (cluster scale). Ratios are within "
            "one run; the box is shared, so compare columns, not runs.\n\n"
        )
        path.write_text(intro + md + old.lstrip("\n"))
        return
    nxt = old.find("\n## ", start + len(RESULTS_TITLE))
    section = old[start : nxt + 1 if nxt >= 0 else len(old)]
    rest_before, rest_after = old[:start], old[nxt + 1 :] if nxt >= 0 else ""
    sub = f"### Tier {tier} "
    i = section.find(sub)
    if i >= 0:
        j = section.find("\n### ", i + len(sub))
        section = section[:i] + md + (section[j + 1 :] if j >= 0 else "")
    else:  # newest tier first (the headline, M, is written last)
        first = section.find("\n### ")
        at = first + 1 if first >= 0 else len(section)
        section = section[:at].rstrip("\n") + "\n\n" + md + section[at:]
    path.write_text(rest_before + section + rest_after)
