"""Output of ``discofilter selectors explain``: a kubectl-like table, or JSON/YAML documents.

The table follows kubectl's habits: upper-case headers, columns separated by three spaces,
``<none>`` for an empty value, no colours (it is piped into grep as often as read). JSON and
YAML carry the same facts with camelCase keys, as a ``SelectorExplanation`` document, so scripts
never parse the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import yaml

from discofilter.filter.dryrun import Comparison, NamespaceRow

API_VERSION = "discofilter.io/v1alpha1"
KIND = "SelectorExplanation"
NONE = "<none>"


@dataclass(frozen=True, slots=True)
class SelectorSource:
    """Where a selector set came from, for the reader: a file, flags, the cluster's Istio."""

    description: str
    terms: tuple[str, ...]
    select_all: bool


@dataclass(frozen=True, slots=True)
class Explanation:
    comparison: Comparison
    before: SelectorSource
    after: SelectorSource | None
    """None when no candidate was given: the view of ``before`` alone."""
    kinds: tuple[str, ...]
    """Counted kinds, in column order."""
    sample_seconds: float
    notes: tuple[str, ...] = ()


def _fmt_rate(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _fmt_share(v: float) -> str:
    return f"{v * 100:.1f}%"


def _count(row: NamespaceRow, kind: str) -> str:
    n = row.facts.counts.get(kind)
    return "-" if n is None else str(n)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(h) for h in headers]
    for r in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, r, strict=True)]
    lines = [
        "   ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in [list(headers), *rows]
    ]
    return "\n".join(lines)


def render_table(ex: Explanation) -> str:
    cmp = ex.comparison
    sampled = ex.sample_seconds > 0
    kind_headers = [k.upper() for k in ex.kinds]
    rows: list[list[str]] = []
    for r in cmp.rows:
        churn = _fmt_rate(r.facts.churn if sampled else None)
        share = _fmt_share(cmp.churn_share(r)) if sampled else "-"
        counts = [_count(r, k) for k in ex.kinds]
        if ex.after is None:
            rows.append(
                [
                    r.name,
                    "yes" if r.before else "no",
                    r.term_before or NONE,
                    *counts,
                    churn,
                    share,
                ]
            )
        else:
            rows.append(
                [
                    r.name,
                    "yes" if r.before else "no",
                    "yes" if r.after else "no",
                    {"added": "+added", "removed": "-removed"}.get(r.change, ""),
                    r.term_after or NONE,
                    *counts,
                    churn,
                    share,
                ]
            )
    if ex.after is None:
        headers = ["NAMESPACE", "ENROLLED", "TERM", *kind_headers, "CHURN/S", "SHARE"]
    else:
        headers = ["NAMESPACE", "BEFORE", "AFTER", "CHANGE", "TERM", *kind_headers]
        headers += ["CHURN/S", "SHARE"]
    out = [_table(headers, rows), ""]
    out.append(f"selectors: {_describe(ex.before)}")
    if ex.after is not None:
        out.append(f"candidate: {_describe(ex.after)}")
    total = len(cmp.rows)
    if ex.after is None:
        out.append(f"enrolled: {cmp.enrolled_before} of {total} namespaces")
    else:
        out.append(
            f"enrolled: {cmp.enrolled_before} -> {cmp.enrolled_after} of {total} namespaces "
            f"(+{len(cmp.added)} added, -{len(cmp.removed)} removed)"
        )
    if sampled:
        line = (
            f"churn: {cmp.total_churn:.1f} events/s over {ex.sample_seconds:.1f} s; "
            f"enrolled share {_fmt_share(cmp.churn_share_before)}"
        )
        if ex.after is not None:
            line += f" -> {_fmt_share(cmp.churn_share_after)}"
        out.append(line)
    else:
        out.append("churn: not sampled (--sample 0)")
    out.extend(f"note: {n}" for n in ex.notes)
    return "\n".join(out) + "\n"


def _describe(src: SelectorSource) -> str:
    if src.select_all:
        what = "every namespace (no discoverySelectors)"
    elif not src.terms:
        what = "no namespace (empty selector list)"
    else:
        what = " OR ".join(f"[{t}]" for t in src.terms)
    return f"{what} (from {src.description})"


def _source_doc(src: SelectorSource) -> dict[str, Any]:
    return {"source": src.description, "selectAll": src.select_all, "terms": list(src.terms)}


def document(ex: Explanation) -> dict[str, Any]:
    cmp = ex.comparison
    sampled = ex.sample_seconds > 0
    namespaces = []
    for r in cmp.rows:
        entry: dict[str, Any] = {
            "name": r.name,
            "labels": dict(r.facts.labels),
            "enrolled": r.after if ex.after is not None else r.before,
            "term": r.term_after if ex.after is not None else r.term_before,
            "counts": {k: r.facts.counts[k] for k in ex.kinds if k in r.facts.counts},
            "churnPerSecond": round(r.facts.churn, 3) if sampled else None,
            "churnShare": round(cmp.churn_share(r), 4) if sampled else None,
        }
        if ex.after is not None:
            entry.update(
                enrolledBefore=r.before,
                termBefore=r.term_before,
                change=r.change or None,
            )
        namespaces.append(entry)
    summary: dict[str, Any] = {
        "namespaces": len(cmp.rows),
        "enrolledBefore": cmp.enrolled_before,
        "sampleSeconds": ex.sample_seconds,
        "totalChurnPerSecond": round(cmp.total_churn, 3) if sampled else None,
        "churnShareBefore": round(cmp.churn_share_before, 4) if sampled else None,
    }
    if ex.after is not None:
        summary.update(
            enrolledAfter=cmp.enrolled_after,
            added=cmp.added,
            removed=cmp.removed,
            churnShareAfter=round(cmp.churn_share_after, 4) if sampled else None,
            addedChurnShare=round(cmp.added_churn_share, 4) if sampled else None,
            removedChurnShare=round(cmp.removed_churn_share, 4) if sampled else None,
        )
    doc: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "selectors": _source_doc(ex.before),
        "candidate": _source_doc(ex.after) if ex.after is not None else None,
        "summary": summary,
        "namespaces": namespaces,
        "notes": list(ex.notes),
    }
    return doc


def render(ex: Explanation, output: str) -> str:
    if output == "json":
        return orjson.dumps(document(ex), option=orjson.OPT_INDENT_2).decode() + "\n"
    if output == "yaml":
        return yaml.safe_dump(document(ex), sort_keys=False)
    return render_table(ex)
