"""Filtering protobuf list responses (pure).

Layout: ``k8s\\0`` + runtime.Unknown{1 typeMeta, 2 raw, 3 contentEncoding, 4 contentType} where
``raw`` is the ``XxxList``: 1 ListMeta, 2 items (repeated; each item's field 1 is its ObjectMeta,
whose field 3 is the namespace). This holds for every built-in ``*List`` and for
``PartialObjectMetadataList``; Table has no protobuf form.

The rewrite copies every field byte for byte except the dropped items and ListMeta field 4
``remainingItemCount`` (it counts unfiltered objects; contract 4). ListMeta's resourceVersion
(2) and continue (3) are kept so pagination continues through the filter. The Unknown envelope's
other fields are copied verbatim. Unchanged input is returned as the same object.
"""

from __future__ import annotations

from collections.abc import Callable

from discofilter.codec.protowatch import object_namespace, unwrap_unknown
from discofilter.codec.prune import prune_object_span
from discofilter.codec.wire import K8S_MAGIC, LEN, field_bytes, iter_fields

_REMAINING_ITEM_COUNT = 4


def _fix_list_meta(buf: bytes, start: int, stop: int) -> bytes | None:
    """ListMeta without remainingItemCount, or None when it had none."""
    out = bytearray()
    field_start = start
    found = False
    for fnum, _wt, _s, e in iter_fields(buf, start, stop):
        if fnum == _REMAINING_ITEM_COUNT:
            found = True
        else:
            out += buf[field_start:e]
        field_start = e
    return bytes(out) if found else None


def filter_proto_list(
    body: bytes, keep: Callable[[str], bool], prune_managed_fields: bool = False
) -> bytes:
    """Drop the items whose namespace ``keep`` rejects; see the module docstring.

    With ``prune_managed_fields`` kept items lose ObjectMeta field 17 (the optional transform).
    """
    obj_start, obj_stop, _ = unwrap_unknown(body, 0, len(body))
    out = bytearray()
    changed = False
    field_start = obj_start
    for fnum, wt, s, e in iter_fields(body, obj_start, obj_stop):
        if wt == LEN and fnum == 2:
            if not keep(object_namespace(body[s:e])):
                changed = True
            elif prune_managed_fields and (pruned := prune_object_span(body, s, e)) is not None:
                out += field_bytes(2, pruned)
                changed = True
            else:
                out += body[field_start:e]
        elif wt == LEN and fnum == 1:
            meta = _fix_list_meta(body, s, e)
            if meta is None:
                out += body[field_start:e]
            else:
                out += field_bytes(1, meta)
                changed = True
        else:
            out += body[field_start:e]
        field_start = e
    if not changed:
        return body
    env = bytearray(K8S_MAGIC)
    field_start = 4
    for fnum, wt, _s, e in iter_fields(body, 4, len(body)):
        if fnum == 2 and wt == LEN:
            env += field_bytes(2, bytes(out))
        else:
            env += body[field_start:e]
        field_start = e
    return bytes(env)
