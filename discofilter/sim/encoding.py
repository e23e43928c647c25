"""The emulator's wire encodings: the seam between the store (dicts) and the bytes it serves.

The store keeps objects as JSON-shaped dicts. An ``Encoding`` turns them into one content type's
bytes; the server picks one per request from the Accept header (``negotiate``). JSON is here;
protobuf is registered by ``discofilter.sim.protobuf_encoding`` (built on the codec's Kubernetes
protobuf subset) and only for the built-in kinds.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson

JSON = "application/json"
PROTOBUF = "application/vnd.kubernetes.protobuf"


class Encoding(Protocol):
    content_type: str
    """Content-Type of a single object or list response."""

    watch_content_type: str
    """Content-Type of a watch response."""

    def object(self, obj: dict[str, Any]) -> bytes:
        """One object (or Status) body."""

    def list(self, obj: dict[str, Any]) -> bytes:
        """A whole ``XxxList`` body (kind, apiVersion, metadata, items)."""

    def watch_event(self, type_: str, obj: dict[str, Any]) -> bytes:
        """One complete watch frame: a JSON line with its newline, or a length-prefixed frame."""


class JsonEncoding:
    content_type = JSON
    watch_content_type = JSON

    def object(self, obj: dict[str, Any]) -> bytes:
        return orjson.dumps(obj)

    def list(self, obj: dict[str, Any]) -> bytes:
        return orjson.dumps(obj)

    def watch_event(self, type_: str, obj: dict[str, Any]) -> bytes:
        return orjson.dumps({"type": type_, "object": obj}) + b"\n"


JSON_ENCODING = JsonEncoding()
