"""One entry point for filtering list bodies by content type (pure)."""

from __future__ import annotations

from collections.abc import Callable

from discofilter.codec.jsonlist import filter_json_list_versioned
from discofilter.codec.listmeta import proto_list_resource_version
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
    return filter_list_versioned(body, content_type, keep, prune_managed_fields)[0]


def filter_list_versioned(
    body: bytes,
    content_type: str,
    keep: Callable[[str], bool],
    prune_managed_fields: bool = False,
) -> tuple[bytes, str]:
    """``filter_list`` and the list's ``metadata.resourceVersion`` ("" when it has none)."""
    require_known(content_type)
    if is_protobuf(content_type):
        out = filter_proto_list(body, keep, prune_managed_fields)
        return out, proto_list_resource_version(out)  # a walk of tags, no item is decoded
    return filter_json_list_versioned(body, keep, prune_managed_fields)
