"""One entry point for filtering list bodies by content type (pure)."""

from __future__ import annotations

from collections.abc import Callable

from discofilter.codec.jsonlist import filter_json_list
from discofilter.codec.mediatype import is_protobuf, require_known
from discofilter.codec.protolist import filter_proto_list


def filter_list(
    body: bytes,
    content_type: str,
    keep: Callable[[str], bool],
    prune_managed_fields: bool = False,
) -> bytes:
    """``body`` without the items (or Table rows) whose namespace ``keep`` rejects.

    JSON: any ``*List``, ``PartialObjectMetadataList`` or ``meta.k8s.io`` Table; protobuf: any
    ``*List``. ``remainingItemCount`` is dropped; resourceVersion and continue are kept. A body
    that is not a list is returned unchanged. Raises ``CodecError`` on malformed input or an
    unsupported content type. The body must already be decompressed. ``prune_managed_fields``
    applies the optional managedFields transform to the kept items (not to Table rows).
    """
    require_known(content_type)
    if is_protobuf(content_type):
        return filter_proto_list(body, keep, prune_managed_fields)
    return filter_json_list(body, keep, prune_managed_fields)
