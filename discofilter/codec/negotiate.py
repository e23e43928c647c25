"""Choosing the watch decoder for a response's Content-Type (pure)."""

from __future__ import annotations

from discofilter.codec.base import DEFAULT_MAX_FRAME_BYTES, FrameDecoder
from discofilter.codec.jsonwatch import JsonWatchDecoder
from discofilter.codec.mediatype import is_protobuf, require_known
from discofilter.codec.protowatch import ProtoWatchDecoder


def decoder_for(content_type: str, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> FrameDecoder:
    """A fresh decoder for a watch response of ``content_type`` (what the upstream returned).

    ``application/json[;stream=watch]`` → ``JsonWatchDecoder``;
    ``application/vnd.kubernetes.protobuf[;stream=watch]`` → ``ProtoWatchDecoder``;
    anything else raises ``CodecError`` (the caller passes such a stream through unfiltered or
    fails it, by its own policy).
    """
    require_known(content_type)
    if is_protobuf(content_type):
        return ProtoWatchDecoder(max_frame_bytes)
    return JsonWatchDecoder(max_frame_bytes)
