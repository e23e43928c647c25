"""``results.json``: the schema, the terminal table and the markdown summary.

The schema is documented in docs/bench.md; ``SCHEMA_VERSION`` changes when a field changes
meaning. Results are plain dicts (JSON-shaped) so a report reader needs no discofilter import.

Top level::

    schema_version, command, started_at, scenario{name,path,non_mesh_share,selectors},
    machine{cores,cpu_model,python,platform}, upstream{kind,url,events_by_kind,bytes_by_kind,
    final_resource_version}, churn_s, modes{<mode>: ModeResult}, final_state_matches

``ModeResult``: ``status`` (ok | skipped | failed), ``reason``, ``proxy`` (cpu_s,
cpu_s_per_1k_upstream_events, peak_rss_mb, slow_client_closures; null for direct),
``clients{<client>: ClientResult}``, ``final_state_matches`` (all clients and kinds).

``ClientResult``: ``events``, ``bytes``, ``event_share``/``byte_share`` (delivered ÷ upstream),
``latency`` (count, p50_ms, p90_ms, p99_ms, max_ms: added latency vs the direct client),
``kinds{<kind>: {events, bytes, bookmarks, list_bytes, relists, stream_ends, error_events,
caught_up, final_state_matches, state_diff}}``, ``final_state_matches``.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import orjson

SCHEMA_VERSION = 1


def machine_info() -> dict[str, Any]:
    """Cores, CPU model, Python version and platform: what a reader needs to compare runs."""
    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu_model": model or "unknown",
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def write_results(results: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "results.json"
    path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    return path


def _fmt_num(x: float | int | None, digits: int = 1) -> str:
    if x is None:
        return "-"
    if isinstance(x, int):
        return f"{x:,}"
    return f"{x:,.{digits}f}"


def _fmt_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.1f}%"


TABLE_HEADER = (
    "mode",
    "client",
    "events",
    "of upstream",
    "bytes",
    "of upstream",
    "p50 ms",
    "p99 ms",
    "max ms",
    "CPU s/1k ev",
    "peak RSS MB",
    "correct",
)


def table_rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for mode, m in results["modes"].items():
        if m["status"] != "ok":
            rows.append((mode, "-", f"{m['status']}: {m.get('reason') or ''}"[:60]))
            continue
        proxy = m.get("proxy") or {}
        for client, c in m["clients"].items():
            lat = c.get("latency") or {}
            rows.append(
                (
                    mode,
                    client,
                    _fmt_num(c["events"]),
                    _pct(c.get("event_share")),
                    _fmt_bytes(c["bytes"]),
                    _pct(c.get("byte_share")),
                    _fmt_num(lat.get("p50_ms")),
                    _fmt_num(lat.get("p99_ms")),
                    _fmt_num(lat.get("max_ms")),
                    _fmt_num(proxy.get("cpu_s_per_1k_upstream_events"), 3),
                    _fmt_num(proxy.get("peak_rss_mb")),
                    "yes" if c["final_state_matches"] else "NO",
                )
            )
    return rows


def render_table(results: dict[str, Any]) -> str:
    """A fixed-width terminal table, one row per mode and client."""
    rows = [TABLE_HEADER, *table_rows(results)]
    full = [r for r in rows if len(r) == len(TABLE_HEADER)]
    widths = [max(len(r[i]) for r in full) for i in range(len(TABLE_HEADER))]
    lines = []
    for r in rows:
        if len(r) != len(TABLE_HEADER):
            lines.append("  ".join(r))
            continue
        cells = [c.ljust(widths[i]) if i < 2 else c.rjust(widths[i]) for i, c in enumerate(r)]
        lines.append("  ".join(cells).rstrip())
        if r is TABLE_HEADER:
            lines.append("  ".join("-" * w for w in widths))
    up = results["upstream"]
    head = (
        f"scenario {results['scenario']['name']}: {_fmt_num(up['events'])} upstream events "
        f"({_fmt_bytes(up['bytes'])}) in {results['churn_s']:.1f} s of churn; "
        f"final state {'correct in every mode' if results['final_state_matches'] else 'WRONG'}"
    )
    return head + "\n" + "\n".join(lines) + "\n"


def render_markdown(results: dict[str, Any]) -> str:
    """A RESULTS.md section: the command, the machine, and the table."""
    mach = results["machine"]
    out = [
        f"### `{results['scenario']['name']}` — {results['started_at']}",
        "",
        f"Command: `{results['command']}`  ",
        f"Machine: {mach['cores']} cores, {mach['cpu_model']}, Python {mach['python']}, "
        f"{mach['platform']}  ",
        f"Upstream: {results['upstream']['kind']}, {results['upstream']['events']:,} events "
        f"({_fmt_bytes(results['upstream']['bytes'])}) in {results['churn_s']:.1f} s of churn; "
        f"non-mesh share of churn: {results['scenario'].get('non_mesh_share')}",
        "",
        "| " + " | ".join(TABLE_HEADER) + " |",
        "|" + "|".join("---" for _ in TABLE_HEADER) + "|",
    ]
    for r in table_rows(results):
        cells = list(r) + [""] * (len(TABLE_HEADER) - len(r))
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    return "\n".join(out) + "\n"


def append_results_md(results: dict[str, Any], path: Path) -> None:
    """Add the summary at the end of the harness's section; other sections are left alone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    if RESULTS_HEADING not in text:
        text = text.rstrip("\n") + "\n\n" + RESULTS_HEADING + "\n"
    start = text.index(RESULTS_HEADING) + len(RESULTS_HEADING)
    nxt = text.find("\n## ", start)
    end = len(text) if nxt < 0 else nxt + 1
    section = text[:end].rstrip("\n") + "\n\n" + render_markdown(results)
    rest = text[end:]
    path.write_text(section + ("\n" + rest if rest else ""))


RESULTS_HEADING = "## Churn benchmark runs (`discofilter bench --append-results`)"


def iso_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
