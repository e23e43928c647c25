"""The live progress display on stderr: one line per second, plain text (no curses, no rich).

On a terminal the line is rewritten in place (``\\r`` + erase-to-end); when stderr is a file or a
pipe (CI logs) a line is printed every ``pipe_every_s`` seconds (5 s) so logs stay readable.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import TextIO


class ProgressLine:
    def __init__(self, stream: TextIO | None = None, pipe_every_s: int = 5) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.pipe_every_s = pipe_every_s
        self._last: dict[str, int] = {}
        self._ticks = 0
        self._dirty = False

    def tick(self, elapsed_s: float, phase: str, totals: Mapping[str, int]) -> str:
        """Show totals and per-second deltas (label -> events so far); returns the line."""
        parts = []
        for label, total in totals.items():
            rate = total - self._last.get(label, 0)
            parts.append(f"{label} {total:,} (+{rate:,}/s)")
        self._last = dict(totals)
        self._ticks += 1
        line = f"[{elapsed_s:5.0f}s] {phase:<8} " + " | ".join(parts)
        if self.tty:
            self.stream.write("\r\x1b[K" + line)
            self._dirty = True
        elif self._ticks % self.pipe_every_s == 1 or self.pipe_every_s <= 1:
            self.stream.write(line + "\n")
        self.stream.flush()
        return line

    def done(self) -> None:
        if self.tty and self._dirty:
            self.stream.write("\n")
            self.stream.flush()
        self._dirty = False


def event_totals(counters: Mapping[str, Callable[[], int]]) -> dict[str, int]:
    return {k: f() for k, f in counters.items()}
