"""Codecs: Kubernetes JSON and protobuf watch streams and list bodies (pure, incremental).

Data flow position: upstream bytes → **codec** → filter → coalesce → encode → client. Decoders
return ``WatchEvent``s whose ``raw`` is the exact upstream frame (contract 1); list filtering
copies kept items byte for byte. No I/O library is imported here (tests/unit/test_layering.py).

Public API::

    FrameDecoder                      protocol: feed(bytes) -> list[WatchEvent]; flush()
    JsonWatchDecoder(max_frame_bytes) application/json watch lines
    ProtoWatchDecoder(max_frame_bytes) application/vnd.kubernetes.protobuf watch frames
    decoder_for(content_type, max_frame_bytes) -> FrameDecoder
    filter_list(body, content_type, keep) -> bytes
    filter_list_versioned(...) -> (bytes, resourceVersion)
    encode_error_event(status, content_type) -> bytes
    filter_watch_object(event, keep) -> WatchEvent | None; TableWatchFilter(keep).filter(event)
    prune_managed_fields_json(raw_line) / prune_managed_fields_proto(raw_frame) -> bytes
    split_list(body, content_type, api_version, kind) -> ListContents (items in watch form)
    build_list(objects, resource_version, continue_token, content_type, api_version, list_kind)
"""

from __future__ import annotations

from discofilter.codec.base import DEFAULT_MAX_FRAME_BYTES, FrameDecoder
from discofilter.codec.errorevent import encode_error_event
from discofilter.codec.jsonwatch import JsonWatchDecoder, decode_json_event
from discofilter.codec.listfilter import filter_list, filter_list_versioned
from discofilter.codec.listitems import ItemMeta, ListContents, build_list, split_list
from discofilter.codec.mediatype import JSON, PROTOBUF, is_json, is_protobuf, media_type
from discofilter.codec.negotiate import decoder_for
from discofilter.codec.protowatch import ProtoWatchDecoder, decode_proto_event
from discofilter.codec.prune import prune_managed_fields_json, prune_managed_fields_proto
from discofilter.codec.table import TableWatchFilter, filter_watch_object

__all__ = [
    "DEFAULT_MAX_FRAME_BYTES",
    "JSON",
    "PROTOBUF",
    "FrameDecoder",
    "ItemMeta",
    "JsonWatchDecoder",
    "ListContents",
    "ProtoWatchDecoder",
    "TableWatchFilter",
    "build_list",
    "decode_json_event",
    "decode_proto_event",
    "decoder_for",
    "encode_error_event",
    "filter_list",
    "filter_list_versioned",
    "filter_watch_object",
    "is_json",
    "is_protobuf",
    "media_type",
    "prune_managed_fields_json",
    "prune_managed_fields_proto",
    "split_list",
]
