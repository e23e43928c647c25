"""ERROR frames carrying a Status, in JSON and protobuf, read back by our own decoders."""

from __future__ import annotations

import orjson
import pytest

from discofilter.codec import decoder_for, encode_error_event
from discofilter.errors import CodecError
from discofilter.status import status_dict


@pytest.mark.parametrize(
    "content_type",
    ["application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch"],
)
def test_error_event_decodes_as_error(content_type: str) -> None:
    status = status_dict(410, "too old resource version: 5 (10)")
    frame = encode_error_event(status, content_type)
    events = decoder_for(content_type).feed(frame)
    assert len(events) == 1
    assert events[0].type == "ERROR"
    assert events[0].raw == frame


def test_json_error_event_is_a_status_line() -> None:
    status = status_dict(410, "gone", details={"causes": [{"reason": "x", "message": "m"}]})
    line = encode_error_event(status, "application/json")
    assert line.endswith(b"\n")
    assert orjson.loads(line) == {"type": "ERROR", "object": status}


def test_unknown_content_type_is_refused() -> None:
    with pytest.raises(CodecError):
        encode_error_event(status_dict(410, "gone"), "text/plain")
