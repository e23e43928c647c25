"""The two ends a pump moves bytes between, as plain types (no aiohttp here).

The HTTP front adapts aiohttp's client response and stream response to these
(``front/watches.py``); tests use in-memory fakes (``tests/component/proxy/fakes.py``).
"""

from __future__ import annotations

from typing import Protocol


class UpstreamBody(Protocol):
    """The upstream side of one watch."""

    async def read_chunk(self) -> bytes:
        """The next chunk of bytes, ``b""`` at EOF (never before). Raises ``UpstreamBroken``
        when the connection breaks."""

    def waited(self) -> float:
        """How long the bytes the last ``read_chunk`` returned may have waited unread because
        the body paused reading to gather them (0 when it does not gather)."""

    def close(self) -> None:
        """Abort the body: a pending ``read_chunk`` returns or raises soon after."""


class ClientWriter(Protocol):
    """The client side of one watch."""

    async def write(self, data: bytes) -> None:
        """Send ``data``; waits while the transport's buffer is over its high-water mark.
        Raises ``ConnectionResetError`` when the client went away."""
