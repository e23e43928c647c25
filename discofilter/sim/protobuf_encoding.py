"""The emulator's protobuf ``Encoding``: built-in kinds as kube-apiserver serves them.

Objects and lists are ``k8s\\0`` + ``runtime.Unknown`` bodies; watch frames are a 4-byte
big-endian length + ``meta.v1.WatchEvent`` whose object is the enveloped object. Conversion is
``discofilter.sim.k8sproto`` over our wire subset: JSON fields outside the subset are dropped
(docs/codec.md). Kinds without a protobuf form (custom resources, Table) raise ``CodecError``;
the emulator negotiates JSON for those, as kube-apiserver does for CRDs.
"""

from __future__ import annotations

from typing import Any

from discofilter.codec.mediatype import PROTOBUF
from discofilter.sim import k8sproto


class ProtobufEncoding:
    content_type = PROTOBUF
    watch_content_type = PROTOBUF + ";stream=watch"

    def supports(self, api_version: str, kind: str) -> bool:
        """True when this kind (or its ``*List``) can be served as protobuf."""
        return k8sproto.supports(api_version, kind)

    def object(self, obj: dict[str, Any]) -> bytes:
        return k8sproto.encode_object(obj)

    def list(self, obj: dict[str, Any]) -> bytes:
        return k8sproto.encode_list(obj)

    def watch_event(self, type_: str, obj: dict[str, Any]) -> bytes:
        return k8sproto.encode_watch_frame(type_, obj)


PROTOBUF_ENCODING = ProtobufEncoding()
"""Fits ``encoding.Encoding`` (structurally; importing it here would be a cycle)."""
