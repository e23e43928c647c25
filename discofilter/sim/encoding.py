"""The emulator's wire encodings: the seam between the store (dicts) and the bytes it serves.

The store keeps objects as JSON-shaped dicts. An ``Encoding`` turns them into one content type's
bytes; the server picks one per request from the Accept header (``negotiate``). JSON is here;
protobuf is ``discofilter.sim.protobuf_encoding`` (built on the emulator's JSON⇄protobuf
conversion, ``k8sproto.py``), only for the built-in kinds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from discofilter.sim.k8sproto import decode_object
from discofilter.sim.protobuf_encoding import PROTOBUF_ENCODING

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


# --- negotiation (emulator extension; the protocol above is unchanged) ---------------------


def protobuf_encoding() -> Encoding:
    """The protobuf Encoding (built-in kinds; ``protobuf_encoding.py``)."""
    return PROTOBUF_ENCODING


def protobuf_decoder() -> Callable[[bytes], dict[str, Any]]:
    """``k8s\\0``-enveloped protobuf object → JSON-shaped dict (kubectl 1.32+ sends create
    bodies as protobuf)."""
    return decode_object


TABLE = "Table"
PARTIAL = "PartialObjectMetadata"
PARTIAL_LIST = "PartialObjectMetadataList"
_META_GROUP = "meta.k8s.io"


@dataclass(frozen=True, slots=True)
class Negotiated:
    """What one response is served as."""

    encoding: Encoding
    """Bytes of the body: JSON or protobuf."""
    target: str = ""
    """"" for the object itself, else TABLE / PARTIAL / PARTIAL_LIST (JSON only)."""
    target_version: str = "v1"
    """meta.k8s.io version of a Table/PartialObjectMetadata target (v1 or v1beta1)."""

    @property
    def cache_key(self) -> str | None:
        """Key under which encoded watch frames may be shared between watchers."""
        return None if self.target else self.encoding.content_type


def parse_accept(header: str | None) -> list[tuple[str, dict[str, str]]]:
    """Accept header → [(media type, params)] in the client's order (q values ignored, as
    kube-apiserver's negotiation effectively does for the types it serves)."""
    out: list[tuple[str, dict[str, str]]] = []
    for part in (header or "").split(","):
        bits = [b.strip() for b in part.split(";")]
        if not bits[0]:
            continue
        params: dict[str, str] = {}
        for b in bits[1:]:
            k, _, v = b.partition("=")
            params[k.strip().lower()] = v.strip()
        out.append((bits[0].lower(), params))
    return out


def negotiate(header: str | None, *, allow_protobuf: bool = True) -> Negotiated | None:
    """Pick the first Accept entry the emulator can serve; None means 406 Not Acceptable.

    An absent or empty Accept is JSON. ``as=Table`` / ``as=PartialObjectMetadata[List]`` need
    ``g=meta.k8s.io`` and v1 or v1beta1; they are served as JSON only, so a protobuf entry that
    asks for them is skipped in favour of the client's next choice.
    """
    ranges = parse_accept(header)
    if not ranges:
        return Negotiated(JSON_ENCODING)
    for media, params in ranges:
        target = params.get("as", "")
        if target:
            if target not in (TABLE, PARTIAL, PARTIAL_LIST):
                continue
            if params.get("g") != _META_GROUP or params.get("v") not in ("v1", "v1beta1"):
                continue
            if media in (JSON, "application/*", "*/*"):
                return Negotiated(JSON_ENCODING, target, params["v"])
            continue
        if media in (JSON, "application/*", "*/*"):
            return Negotiated(JSON_ENCODING)
        if media == PROTOBUF and allow_protobuf:
            return Negotiated(PROTOBUF_ENCODING)
    return None
