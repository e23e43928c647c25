"""The demo's live side-by-side view and its final summary (pure rendering: text in, text out).

Plain ANSI: on a terminal the frame is redrawn in place (cursor home + clear), otherwise each
refresh prints one progress line, so a CI log shows a readable history, not escape codes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

CLEAR = "\x1b[H\x1b[2J"


@dataclass(slots=True)
class Sample:
    """What the view shows after one second."""

    elapsed_s: float
    direct_events: int
    direct_bytes: int
    proxied_events: int
    proxied_bytes: int
    direct_rate: int
    proxied_rate: int
    noisy: list[tuple[str, int, bool]] = field(default_factory=list)
    """(namespace, events in the last second, enrolled) — the noisiest first."""


def human_bytes(n: int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def saving(direct: int, proxied: int) -> str:
    if direct <= 0:
        return "n/a"
    return f"{(1 - proxied / direct) * 100:.1f}%"


def noisiest(recent: Counter[str], enrolled: set[str], top: int = 5) -> list[tuple[str, int, bool]]:
    return [(ns, n, ns in enrolled) for ns, n in recent.most_common(top)]


def render_frame(s: Sample, duration_s: float | None) -> str:
    until = f" / {duration_s:.0f}s" if duration_s else " (Ctrl-C to stop)"
    lines = [
        f"discofilter demo — {s.elapsed_s:4.0f}s{until}",
        "",
        f"{'':24}{'direct':>14}{'via discofilter':>18}",
        f"{'watch events / s':24}{s.direct_rate:>14,}{s.proxied_rate:>18,}",
        f"{'watch events total':24}{s.direct_events:>14,}{s.proxied_events:>18,}",
        f"{'bytes total':24}{human_bytes(s.direct_bytes):>14}{human_bytes(s.proxied_bytes):>18}",
        f"{'saved so far':24}{'':>14}{saving(s.direct_events, s.proxied_events):>18}",
        "",
        "noisiest namespaces in the last second (direct stream):",
    ]
    if not s.noisy:
        lines.append("  (quiet)")
    for ns, n, enr in s.noisy:
        mark = "enrolled  -> forwarded" if enr else "not in mesh -> filtered"
        lines.append(f"  {ns:<32}{n:>8,} ev/s   {mark}")
    return "\n".join(lines) + "\n"


def render_line(s: Sample) -> str:
    return (
        f"[{s.elapsed_s:4.0f}s] direct {s.direct_rate:,} ev/s ({s.direct_events:,} total) | "
        f"via discofilter {s.proxied_rate:,} ev/s ({s.proxied_events:,} total)"
    )


def render_summary(
    direct_events: int,
    direct_bytes: int,
    proxied_events: int,
    proxied_bytes: int,
    correct: bool,
    details: Mapping[str, object] | None = None,
) -> str:
    """The closing lines; the last ones state the saving and the correctness verdict."""
    out = ["", "=== summary ==="]
    for k, v in (details or {}).items():
        out.append(f"{k}: {v}")
    out += [
        f"events: direct {direct_events:,}, through discofilter {proxied_events:,} "
        f"(saved {saving(direct_events, proxied_events)})",
        f"bytes:  direct {human_bytes(direct_bytes)}, through discofilter "
        f"{human_bytes(proxied_bytes)} (saved {saving(direct_bytes, proxied_bytes)})",
        (
            "correct: the client behind discofilter ends with exactly the filtered truth "
            "(every object of the enrolled namespaces, same uid and resourceVersion)"
            if correct
            else "WRONG: the client behind discofilter does NOT match the filtered truth"
        ),
    ]
    return "\n".join(out) + "\n"
