"""A bearer token read from a file and re-read when the file changes.

Projected service-account tokens are rotated by the kubelet (by default when 80% of their
one-hour lifetime has passed), by atomically swapping a symlink. The proxy must pick the new token
up without a restart (issue 9), so ``TokenFile.token()`` stats the file at most every
``check_interval`` seconds (1 s: cheap, and far inside the rotation margin of ~12 minutes) and
re-reads it when its inode, size or mtime changed.
"""

from __future__ import annotations

import os

from discofilter.clock import Clock, SystemClock
from discofilter.errors import UpstreamError


class TokenFile:
    def __init__(self, path: str, clock: Clock | None = None, check_interval: float = 1.0) -> None:
        self.path = path
        self._clock = clock or SystemClock()
        self._check_interval = check_interval
        self._next_check = float("-inf")
        self._stamp: tuple[int, int, int] | None = None
        self._token = ""
        self.reloads = 0
        """How many times the token was (re)read; the first read counts."""

    def token(self) -> str:
        now = self._clock.monotonic()
        if now >= self._next_check:
            self._next_check = now + self._check_interval
            try:
                st = os.stat(self.path)
            except OSError as e:
                if self._token:
                    return self._token  # keep the last good token through a rotation hiccup
                raise UpstreamError(f"cannot read token file {self.path}: {e.strerror}") from e
            stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
            if stamp != self._stamp:
                with open(self.path, encoding="utf-8") as f:
                    self._token = f.read().strip()
                self._stamp = stamp
                self.reloads += 1
        return self._token
