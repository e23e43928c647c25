"""One client's view of a shared cache: initial frames, then a bounded live buffer (pure).

Like kube-apiserver's ``cacheWatcher``:

* the replay from the window (or the initial state) is a lazy iterator the client drains at its
  own pace; it is not counted against the buffer, and the fan-out never waits for it;
* live frames go into a buffer bounded in frames **and** bytes. ``offer`` never blocks: a frame
  that does not fit **cuts the watcher off** (``end_reason == "slow"``). What it already holds
  is still delivered, in order, then its stream ends; the client resumes from the last RV it
  got, so a cut never makes a gap;
* a bookmark that does not fit is skipped, never a reason to cut (bookmarks are only progress);
* ``expire`` ends the stream with a ``410 Expired`` ERROR frame after what it holds (contract 3);
  that last frame is allowed past the bounds so the client always learns it must relist.

Ordering (contract 2): frames leave in the order they were queued, and a bookmark is queued only
after every event at or below its RV, so no client sees an RV newer than a frame still queued.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

SLOW = "slow"
EXPIRED = "expired"
CLOSED = "closed"


class Watcher:
    """A client's stream. The server drains it with ``take``; the cache feeds it with ``offer``."""

    __slots__ = (
        "_buf",
        "_buf_bytes",
        "_final",
        "after_rv",
        "allow_bookmarks",
        "end_reason",
        "initial",
        "last_rv",
        "max_bytes",
        "max_frames",
        "on_ready",
    )

    def __init__(
        self,
        initial: Iterator[bytes],
        after_rv: int,
        max_frames: int,
        max_bytes: int,
        allow_bookmarks: bool = False,
    ) -> None:
        self.initial: Iterator[bytes] | None = initial
        self._buf: deque[bytes] = deque()
        self._buf_bytes = 0
        self._final: bytes | None = None
        self.after_rv = after_rv
        """Live events at or below this RV are not for this client (it already has them)."""
        self.last_rv = after_rv
        """The newest RV queued to this client (bookmarks are sent only past it)."""
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self.allow_bookmarks = allow_bookmarks
        self.end_reason: str | None = None
        """None while open; SLOW, EXPIRED or CLOSED once no more frames will be queued."""
        self.on_ready: Callable[[], None] | None = None
        """Called when frames or the end arrive (phase B sets an asyncio.Event here)."""

    # --- the cache's side ---------------------------------------------------------------------

    @property
    def open(self) -> bool:
        return self.end_reason is None

    def offer(self, rv: int, frame: bytes) -> bool:
        """Queue a live event frame; False when the watcher is (now) ended and should be dropped."""
        if self.end_reason is not None:
            return False
        if rv <= self.after_rv:
            return True
        if len(self._buf) >= self.max_frames or self._buf_bytes + len(frame) > self.max_bytes:
            self.end_reason = SLOW
            self._notify()
            return False
        self._buf.append(frame)
        self._buf_bytes += len(frame)
        self.last_rv = rv
        self._notify()
        return True

    def offer_bookmark(self, rv: int, frame: bytes) -> None:
        """Queue a bookmark at ``rv`` if it says something new and fits; never cuts."""
        if self.end_reason is not None or not self.allow_bookmarks or rv <= self.last_rv:
            return
        if len(self._buf) >= self.max_frames or self._buf_bytes + len(frame) > self.max_bytes:
            return
        self._buf.append(frame)
        self._buf_bytes += len(frame)
        self.last_rv = rv
        self._notify()

    def expire(self, error_frame: bytes) -> None:
        """End with a 410 ERROR frame after what is queued (flip, relist, too old)."""
        if self.end_reason is not None:
            return
        self.end_reason = EXPIRED
        self._final = error_frame
        self._notify()

    def close(self) -> None:
        """The client hung up (or the cache shut down): drop everything queued."""
        if self.end_reason is None:
            self.end_reason = CLOSED
        self.initial = None
        self._buf.clear()
        self._buf_bytes = 0
        self._final = None
        self._notify()  # a reader waiting for frames learns the stream is over

    def _notify(self) -> None:
        if self.on_ready is not None:
            self.on_ready()

    # --- the client's side --------------------------------------------------------------------

    @property
    def buffered_bytes(self) -> int:
        return self._buf_bytes

    @property
    def done(self) -> bool:
        """Ended and fully drained: the server ends the HTTP stream."""
        return (
            self.end_reason is not None
            and self.initial is None
            and not self._buf
            and self._final is None
        )

    def take(self, max_frames: int = 256) -> list[bytes]:
        """Up to ``max_frames`` frames to write now, oldest first (initial frames first)."""
        out: list[bytes] = []
        if self.initial is not None:
            for frame in self.initial:
                out.append(frame)
                if len(out) >= max_frames:
                    return out
            self.initial = None
        buf = self._buf
        while buf and len(out) < max_frames:
            frame = buf.popleft()
            self._buf_bytes -= len(frame)
            out.append(frame)
        if not buf and self._final is not None and len(out) < max_frames:
            out.append(self._final)
            self._final = None
        return out
