"""Upstream frames in both wire formats, and the reflector's path from a frame to cache input.

Frames are built by encoders independent of ``discofilter.cache.frames``: orjson in Go's compact
``{"type","object"}`` form for JSON, and the protobuf runtime (``sim.k8sproto``, upb) for
protobuf, so "the cache sends the upstream's bytes" is checked against bytes it did not make.
"""

from __future__ import annotations

from typing import Any

import orjson

from discofilter.cache import CachedObject, framer_for
from discofilter.cache.frames import Framer
from discofilter.codec import JSON, PROTOBUF, decode_json_event, decode_proto_event
from discofilter.sim.k8sproto import encode_watch_frame

FORMATS = (JSON, PROTOBUF)


def pod(namespace: str, name: str, uid: str, rv: int, gen: int = 0) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid,
            "resourceVersion": str(rv),
            "labels": {"app": name, "gen": str(gen)},
        },
        "spec": {"nodeName": f"node-{gen % 3}", "containers": [{"name": "c", "image": "img"}]},
    }


def upstream_frame(content_type: str, type_: str, obj: dict[str, Any]) -> bytes:
    if content_type == PROTOBUF:
        return encode_watch_frame(type_, obj)
    return orjson.dumps({"type": type_, "object": obj}) + b"\n"


def framer(content_type: str) -> Framer:
    return framer_for(content_type, "v1", "Pod")


def to_input(fr: Framer, raw_frame: bytes) -> tuple[str, CachedObject]:
    """What the reflector hands the cache: the type, the object bytes, the decoded metadata."""
    decode = decode_proto_event if fr.content_type == PROTOBUF else decode_json_event
    ev = decode(raw_frame)
    type_, obj = fr.split(raw_frame)
    assert type_ == ev.type
    return type_, CachedObject(ev.namespace, ev.name, ev.uid, ev.resource_version, obj)


def decode_frame(content_type: str, raw_frame: bytes) -> Any:
    """The decoded event of a frame the cache sent (type, rv, initial-events-end flag)."""
    decode = decode_proto_event if content_type == PROTOBUF else decode_json_event
    return decode(raw_frame)
