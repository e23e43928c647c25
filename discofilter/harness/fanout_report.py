"""The fan-out run's artefacts: results.json, table.txt, fanout.png, and a RESULTS.md section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from discofilter.harness.results import _fmt_bytes, _fmt_num, write_results

HEADER = (
    "mode",
    "N",
    "upstream watches",
    "LIST bytes",
    "watch bytes",
    "upstream events",
    "CPU µs/event",
    "peak RSS MB",
    "correct",
)
RESULTS_HEADING = "## Shared-watch fan-out runs (`discofilter bench --clients N`, issue 15)"


def rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for mode, m in results["modes"].items():
        if m["status"] == "skipped":
            out.append((mode, "-", f"skipped: {m['reason']}"))
            continue
        for n, r in m["runs"].items():
            if r["status"] != "ok":
                out.append((mode, n, f"{r['status']}: {(r.get('reason') or '')[:80]}"))
                continue
            out.append(
                (
                    mode,
                    n,
                    _fmt_num(r["upstream_watches"]),
                    _fmt_bytes(r["upstream_list_bytes"]),
                    _fmt_bytes(r["upstream_watch_bytes"]),
                    _fmt_num(r["upstream_events"]),
                    _fmt_num(r["proxy_cpu_us_per_upstream_event"]),
                    _fmt_num(r["proxy_peak_rss_mb"]),
                    "yes" if r["final_state_matches"] else "NO",
                )
            )
    return out


def ratio_lines(results: dict[str, Any]) -> list[str]:
    lo, hi = min(results["counts"]), max(results["counts"])
    lines = []
    for mode, m in results["modes"].items():
        r = m.get("ratios") or {}
        if not r:
            continue
        lines.append(
            f"{mode}: N={hi} / N={lo}: CPU per upstream event {r['cpu_per_event']}x, "
            f"upstream watch bytes per event {r['upstream_watch_bytes_per_event']}x, "
            f"upstream LIST bytes {r['upstream_list_bytes']}x, "
            f"upstream watches {r['upstream_watches']}x, RSS {r['rss']}x"
        )
    return lines


def render_table(results: dict[str, Any]) -> str:
    body = [HEADER, *rows(results)]
    full = [r for r in body if len(r) == len(HEADER)]
    widths = [max(len(r[i]) for r in full) for i in range(len(HEADER))]
    lines = []
    for r in body:
        if len(r) != len(HEADER):
            lines.append("  ".join(r))
            continue
        cells = [c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)]
        lines.append("  ".join(cells).rstrip())
        if r is HEADER:
            lines.append("  ".join("-" * w for w in widths))
    verdict = "correct in every phase" if results["final_state_matches"] else "WRONG"
    head = (
        f"scenario {results['scenario']['name']}: N = {results['counts']} clients per kind "
        f"({', '.join(results['scenario']['kinds'])}), {results['churn_s']:g} s of churn per "
        f"phase; final state {verdict}"
    )
    return "\n".join([head, *lines, *ratio_lines(results)]) + "\n"


def render_markdown(results: dict[str, Any]) -> str:
    mach = results["machine"]
    out = [
        f"### `{results['scenario']['name']}`, N = {results['counts']} — {results['started_at']}",
        "",
        f"Command: `{results['command']}`  ",
        f"Machine: {mach['cores']} cores, {mach['cpu_model']}, Python {mach['python']}  ",
        f"Kinds watched by each client: {', '.join(results['scenario']['kinds'])}; "
        f"{results['churn_s']:g} s of churn per phase, each phase on a fresh emulator (same seed).",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join("---" for _ in HEADER) + "|",
    ]
    for r in rows(results):
        cells = list(r) + [""] * (len(HEADER) - len(r))
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out += [f"* {line}" for line in ratio_lines(results)]
    return "\n".join(out) + "\n"


def append_results_md(results: dict[str, Any], path: Path) -> None:
    """Append under this harness's own heading, leaving every other section as it is."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    if RESULTS_HEADING not in text:
        text = text.rstrip("\n") + "\n\n" + RESULTS_HEADING + "\n"
    start = text.index(RESULTS_HEADING) + len(RESULTS_HEADING)
    nxt = text.find("\n## ", start)
    end = len(text) if nxt < 0 else nxt + 1
    section = text[:end].rstrip("\n") + "\n\n" + render_markdown(results)
    rest = text[end:]
    path.write_text(section + ("\n" + rest if rest else ""))


def write_outputs(
    results: dict[str, Any], out_dir: Path, *, results_md: Path | None, plots: bool
) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [write_results(results, out_dir)]
    table = out_dir / "table.txt"
    table.write_text(render_table(results))
    paths.append(table)
    if plots:
        from discofilter.harness.plots import plot_fanout

        paths.append(plot_fanout(results, out_dir / "fanout.png"))
    if results_md is not None:
        append_results_md(results, results_md)
        paths.append(results_md)
    return paths
