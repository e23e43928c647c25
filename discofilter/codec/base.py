"""The decoder protocol every watch-stream codec implements (pure, no I/O).

Policy: a decoder is fed whatever chunks the transport delivers (any split, even one byte at a
time) and returns the complete events those bytes finished. It never blocks and never reads.
``flush()`` is called once at end of stream; a half-received frame there is a protocol error
(the upstream connection broke mid-frame), so it raises ``CodecError`` rather than guessing.

After any ``CodecError`` (including ``FrameTooLarge``) the stream is broken: the caller ends it
and does not feed the decoder again.
"""

from __future__ import annotations

from typing import Protocol

from discofilter.model import WatchEvent

# 16 MiB: twice etcd's default 1.5 MiB request limit times the JSON/protobuf expansion of the
# biggest legal objects (~3 MiB ConfigMaps as JSON), with margin. A frame over this is hostile or
# broken; refusing it bounds memory per stream (contract 6).
DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024


class FrameDecoder(Protocol):
    """An incremental watch-stream decoder: bytes in, complete ``WatchEvent``s out."""

    def feed(self, data: bytes) -> list[WatchEvent]:
        """Consume ``data`` (any split of the stream) and return the events it completed."""
        ...

    def flush(self) -> list[WatchEvent]:
        """End of stream: return nothing more, or raise ``CodecError`` on a partial frame."""
        ...
