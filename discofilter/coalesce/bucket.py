"""A token bucket driven by explicit ``now`` values (pure; the caller owns the clock).

One bucket per watch stream: ``rate`` tokens per second, at most ``burst`` banked, full at start
so a quiet stream's first ``burst`` events are never delayed.
"""

from __future__ import annotations

# Float slack when comparing token counts: at the instant ``time_for_token`` returns, the refill
# may compute 0.9999999999 tokens; without slack the caller would wake up and find nothing to do.
_EPSILON = 1e-9


class TokenBucket:
    """Invariant: ``0 <= tokens <= burst`` and ``tokens`` is exact as of time ``_last``."""

    __slots__ = ("_last", "burst", "rate", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self._last: float | None = None

    def refill(self, now: float) -> None:
        if self._last is None or now < self._last:
            self._last = now if self._last is None else self._last
            return
        self.tokens = min(self.burst, self.tokens + (now - self._last) * self.rate)
        self._last = now

    def try_take(self) -> bool:
        """Take one token if one is banked (call ``refill`` first)."""
        if self.tokens >= 1.0 - _EPSILON:
            self.tokens = max(0.0, self.tokens - 1.0)
            return True
        return False

    def take_if_any(self) -> None:
        """A forced delivery spends a token if there is one, and never goes into debt: a max-hold
        flush is the staleness bound winning over the rate, not a loan against the future."""
        self.tokens = max(0.0, self.tokens - 1.0)

    def time_for_token(self) -> float:
        """The earliest time at which ``try_take`` will succeed (the past if it would now)."""
        last = self._last if self._last is not None else float("-inf")
        if self.tokens >= 1.0 - _EPSILON:
            return last
        return last + (1.0 - self.tokens) / self.rate
