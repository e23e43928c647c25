"""Sizes of discofilter/: files over a line budget, and serve-path functions over a budget.

Usage: python hack/sizes.py [--file-lines 500] [--function-lines 60]

The serve path is every module a running proxy worker executes per request or per event:
``discofilter/server``, ``discofilter/filter``, ``discofilter/codec``, ``discofilter/coalesce``,
``discofilter/upstream``, ``discofilter/telemetry``, ``classify.py``, ``metrics.py``. Generated
code (``discofilter/_generated``) is left out. Function length counts from the ``def`` line to
the last line of its body (docstring and comments included).
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "discofilter"
SERVE_PATH = (
    "server", "filter", "codec", "coalesce", "upstream", "telemetry", "classify.py", "metrics.py",
)  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file-lines", type=int, default=500)
    ap.add_argument("--function-lines", type=int, default=60)
    args = ap.parse_args()
    files = [p for p in sorted(PKG.rglob("*.py")) if "_generated" not in p.parts]
    big = [(len(p.read_text().splitlines()), p) for p in files]
    over = [(n, p) for n, p in big if n > args.file_lines]
    n, p = max(big)
    print(f"{len(files)} files; largest {p.relative_to(PKG.parent)} ({n} lines)")
    for n, p in sorted(over, reverse=True):
        print(f"  file over {args.file_lines}: {p.relative_to(PKG.parent)} ({n} lines)")
    serve = [
        p for p in files
        if p.relative_to(PKG).parts[0] in SERVE_PATH
    ]  # fmt: skip
    longest: list[tuple[int, str]] = []
    for p in serve:
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                longest.append((length, f"{p.relative_to(PKG.parent)}:{node.lineno} {node.name}"))
    longest.sort(reverse=True)
    print(f"{len(serve)} serve-path files, {len(longest)} functions; longest:")
    for length, where in longest[:5]:
        flag = "  OVER" if length > args.function_lines else ""
        print(f"  {length:4d} lines  {where}{flag}")
    fn_over = [x for x in longest if x[0] > args.function_lines]
    print(f"files over {args.file_lines}: {len(over)}; "
          f"serve-path functions over {args.function_lines}: {len(fn_over)}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
