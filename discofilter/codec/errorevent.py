"""ERROR watch events carrying a ``Status`` (410 Expired and friends), in either wire format.

client-go's reflector reads an ERROR event's Status, and on ``410``/``Expired`` relists; this is
how the proxy ends watches whose enrollment changed (contract 3). The frame is encoded in the
stream's own content type so the client's decoder reads it like any other event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from discofilter.codec.mediatype import is_protobuf, require_known
from discofilter.codec.protostatus import encode_status, watch_event_message, wrap_unknown
from discofilter.codec.wire import frame
from discofilter.model import ERROR


def encode_error_event(status: Mapping[str, Any], content_type: str) -> bytes:
    """One complete ERROR watch frame: a JSON line with its newline, or a length-prefixed frame.

    ``status`` is a Status dict (``discofilter.status.status_dict``).
    """
    require_known(content_type)
    if is_protobuf(content_type):
        api_version = status.get("apiVersion") or "v1"
        obj = wrap_unknown(str(api_version), "Status", encode_status(status))
        return frame(watch_event_message(ERROR, obj))
    return orjson.dumps({"type": ERROR, "object": dict(status)}) + b"\n"
