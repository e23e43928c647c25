"""A merged ADDED re-typed by the coalescer decodes again with the project's own watch codecs,
for frames produced by the project's encoders (JSON lines, protobuf frames)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from _coalesce_helpers import pod

from discofilter.coalesce import CoalescePolicy, Coalescer
from discofilter.codec.jsonwatch import JsonWatchDecoder
from discofilter.codec.protowatch import ProtoWatchDecoder
from discofilter.sim.k8sproto import encode_watch_frame


def _pod(rv: int, ip: str) -> dict[str, Any]:
    obj = pod("web-0", rv, ns="mesh", uid="u-1")
    obj["spec"] = {"containers": [{"name": "app", "image": "nginx"}]}
    obj["status"] = {"phase": "Running", "podIP": ip}
    return obj


def _json_frame(type_: str, obj: dict[str, Any]) -> bytes:
    return orjson.dumps({"type": type_, "object": obj}) + b"\n"


@pytest.mark.parametrize(
    ("encode", "decoder"),
    [(_json_frame, JsonWatchDecoder), (encode_watch_frame, ProtoWatchDecoder)],
    ids=["json", "protobuf"],
)
def test_merged_added_round_trips_through_the_codec(encode: Any, decoder: Any) -> None:
    wire = encode("ADDED", _pod(1, "")) + encode("MODIFIED", _pod(2, "10.0.0.7"))
    events = decoder().feed(wire)
    assert [e.type for e in events] == ["ADDED", "MODIFIED"]
    c = Coalescer(CoalescePolicy(window_seconds=0.25))
    for e in events:
        c.push(e, 0.0)
    (merged,) = c.ready(0.25)
    (again,) = decoder().feed(merged.raw)
    assert (again.type, again.namespace, again.name, again.uid, again.resource_version) == (
        "ADDED",
        "mesh",
        "web-0",
        "u-1",
        "2",
    )
    # only the type changed: the object bytes are the MODIFIED's, unchanged
    assert len(merged.raw) == len(events[1].raw) - len("MODIFIED") + len("ADDED")
    assert events[1].raw[-40:] == merged.raw[-40:]
