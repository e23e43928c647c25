"""Filtering JSON list responses: any ``*List``, ``PartialObjectMetadataList`` and Tables (pure).

Contract 1 (same object bytes): each kept item is copied byte for byte. The body is split with
msgspec into its top-level members as ``msgspec.Raw`` spans (exact bytes, validated), only the
items' metadata is decoded, and the body is re-joined from the original spans. When nothing is
dropped and ``remainingItemCount`` is absent the input is returned unchanged (same object).

Contract 4 (pagination): ``metadata.resourceVersion`` and ``metadata.continue`` are kept, so a
client pages on through the filter; pages may come back shorter or empty. ``remainingItemCount``
is removed because it counts unfiltered objects and would be wrong (client-go only displays it,
kubectl uses it for nothing else).

Tables (``kubectl get -A`` asks for ``as=Table``): rows are filtered by
``rows[].object.metadata.namespace``. A row without an embedded object (the caller asked for
``includeObject=None``) cannot be attributed to a namespace and is dropped: failing closed keeps
non-enrolled objects out (the default, includeObject=PartialObjectMetadata, always has one).

``keep(namespace)`` decides every item; cluster-scoped items have namespace ``""`` and the
caller's ``keep`` decides what that means.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import orjson

from discofilter.codec.jsonmeta import JSON_ERRORS, OBJECT_DECODER, ROWS_DECODER, TABLE_KIND
from discofilter.codec.prune import prune_managed_fields_object
from discofilter.errors import CodecError

_TOP_DECODER = msgspec.json.Decoder(dict[str, msgspec.Raw])
_RAW_LIST_DECODER = msgspec.json.Decoder(list[msgspec.Raw] | None)
_DICT_DECODER = msgspec.json.Decoder(dict[str, object])
_STR_DECODER = msgspec.json.Decoder(str | None)
_ENCODER = msgspec.json.Encoder()


class _ListMeta(msgspec.Struct):
    resourceVersion: str = ""


_LIST_META_DECODER = msgspec.json.Decoder(_ListMeta)
REMAINING_ITEM_COUNT = "remainingItemCount"
_MANAGED_FIELDS = b'"managedFields"'


def filter_json_list(
    body: bytes, keep: Callable[[str], bool], prune_managed_fields: bool = False
) -> bytes:
    """Drop the items (or Table rows) whose namespace ``keep`` rejects; see module docstring."""
    return filter_json_list_versioned(body, keep, prune_managed_fields)[0]


def filter_json_list_versioned(
    body: bytes, keep: Callable[[str], bool], prune_managed_fields: bool = False
) -> tuple[bytes, str]:
    """``filter_json_list`` and the list's ``metadata.resourceVersion`` ("" when it has none),
    read from the same parse (the proxy records it per served list; a second pass over a
    100 MB list would cost as much again).

    A body that is not a JSON object raises ``CodecError``; an object with neither ``items``
    nor Table ``rows`` (a Status, a single object) is returned unchanged. With
    ``prune_managed_fields`` kept ``*List`` items that carry ``metadata.managedFields`` are
    re-encoded without them (the optional transform; other items keep their bytes).
    """
    try:
        top = _TOP_DECODER.decode(body)
    except JSON_ERRORS as e:
        raise CodecError(f"invalid JSON list body: {e}") from e
    kind_raw = top.get("kind")
    try:
        kind = _STR_DECODER.decode(kind_raw) if kind_raw is not None else None
        if kind == TABLE_KIND and "rows" in top:
            key = "rows"
            new_members, dropped = _filter_rows(top["rows"], keep)
        elif "items" in top:
            key = "items"
            new_members, dropped = _filter_items(top["items"], keep, prune_managed_fields)
        else:
            return body, _resource_version(top.get("metadata"))
    except JSON_ERRORS as e:
        raise CodecError(f"invalid JSON list body: {e}") from e
    meta_raw = top.get("metadata")
    version = _resource_version(meta_raw)
    new_meta = _drop_remaining(meta_raw) if meta_raw is not None else None
    if not dropped and new_meta is None:
        return body, version
    top[key] = msgspec.Raw(b"[" + b",".join(new_members) + b"]")
    if new_meta is not None:
        top["metadata"] = new_meta
    trailing = body[len(body.rstrip()) :]
    parts = [_ENCODER.encode(k) + b":" + bytes(v) for k, v in top.items()]
    return b"{" + b",".join(parts) + b"}" + trailing, version


def _resource_version(meta_raw: msgspec.Raw | None) -> str:
    if meta_raw is None:
        return ""
    try:
        return _LIST_META_DECODER.decode(meta_raw).resourceVersion
    except JSON_ERRORS as e:
        raise CodecError(f"invalid list metadata: {e}") from e


def _filter_items(
    raw: msgspec.Raw, keep: Callable[[str], bool], prune: bool
) -> tuple[list[bytes], bool]:
    """(kept item bytes, whether anything changed)."""
    items = _RAW_LIST_DECODER.decode(raw) or []
    kept: list[bytes] = []
    pruned = False
    for item in items:
        meta = OBJECT_DECODER.decode(item).metadata
        ns = (meta.namespace if meta is not None else None) or ""
        if keep(ns):
            data = bytes(item)
            if prune and _MANAGED_FIELDS in data:
                new = _prune_item(data)
                pruned = pruned or new is not data
                data = new
            kept.append(data)
    return kept, pruned or len(kept) != len(items)


def _prune_item(item: bytes) -> bytes:
    """The item without metadata.managedFields (same object if it had none)."""
    try:
        obj = orjson.loads(item)
    except orjson.JSONDecodeError as e:
        raise CodecError(f"invalid list item: {e}") from e
    if isinstance(obj, dict) and prune_managed_fields_object(obj):
        return orjson.dumps(obj)
    return item


def _filter_rows(raw: msgspec.Raw, keep: Callable[[str], bool]) -> tuple[list[bytes], bool]:
    rows_raw = _RAW_LIST_DECODER.decode(raw) or []
    rows = ROWS_DECODER.decode(raw) or []
    kept: list[bytes] = []
    for row_raw, row in zip(rows_raw, rows, strict=True):
        obj = row.object
        if obj is None or obj.metadata is None:
            continue  # no embedded object: cannot attribute a namespace, fail closed
        if keep(obj.metadata.namespace or ""):
            kept.append(bytes(row_raw))
    return kept, len(kept) != len(rows_raw)


def _drop_remaining(meta_raw: msgspec.Raw) -> msgspec.Raw | None:
    """The ListMeta without ``remainingItemCount``, or None when it had none (keep bytes)."""
    if REMAINING_ITEM_COUNT.encode() not in bytes(meta_raw):
        return None
    try:
        meta = _DICT_DECODER.decode(meta_raw)
    except JSON_ERRORS as e:
        raise CodecError(f"invalid list metadata: {e}") from e
    if REMAINING_ITEM_COUNT not in meta:
        return None  # the bytes appeared inside a value, not as a key
    del meta[REMAINING_ITEM_COUNT]
    return msgspec.Raw(_ENCODER.encode(meta))
