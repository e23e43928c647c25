"""managedFields pruning: an optional transform, off by default (pure).

``metadata.managedFields`` (server-side-apply bookkeeping) is often a third or more of a pod's
bytes and no informer-based controller like istiod reads it; Istio maintainers proposed
stripping it in a pre-filtering proxy (istio/istio#50084). It is a documented exception to
contract 1 (same object bytes): only when the transform is enabled, and only for objects that
actually carry managedFields, the object is re-encoded without them; every other event keeps
its original bytes.

JSON events are re-encoded with orjson (key order kept; Go's ``\\u003c``-style escapes of
``<>&`` become literal characters, which every JSON reader treats as the same string).
Protobuf frames are rewritten by the wire walk: ObjectMeta field 17 is removed and the lengths
of the enclosing messages recomputed; every other byte is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from discofilter.codec.wire import K8S_MAGIC, LEN, field_bytes, frame, iter_fields
from discofilter.errors import CodecError

_MANAGED_FIELDS_JSON = b'"managedFields"'
_MANAGED_FIELDS = 17  # ObjectMeta.managedFields


def prune_managed_fields_json(raw_line: bytes) -> bytes:
    """A JSON watch line without ``object.metadata.managedFields`` (same bytes if absent)."""
    if _MANAGED_FIELDS_JSON not in raw_line:
        return raw_line
    try:
        doc: Any = orjson.loads(raw_line)
    except orjson.JSONDecodeError as e:
        raise CodecError(f"invalid JSON watch event: {e}") from e
    obj = doc.get("object") if isinstance(doc, dict) else None
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    if not isinstance(meta, dict) or meta.pop("managedFields", None) is None:
        return raw_line
    nl = b"\n" if raw_line.endswith(b"\n") else b""
    return orjson.dumps(doc) + nl


def prune_managed_fields_object(obj: dict[str, Any]) -> bool:
    """Remove ``metadata.managedFields`` from a decoded object in place; True if removed."""
    meta = obj.get("metadata")
    return isinstance(meta, dict) and meta.pop("managedFields", None) is not None


def _rewrite(buf: bytes, start: int, stop: int, fnum_path: tuple[int, ...]) -> bytes | None:
    """The message at buf[start:stop] with the field at the end of ``fnum_path`` removed.

    Each element but the last names the embedded message to descend into; None = unchanged.
    """
    target = fnum_path[0]
    out = bytearray()
    changed = False
    field_start = start
    for fnum, wt, s, e in iter_fields(buf, start, stop):
        if fnum == target and len(fnum_path) == 1:
            changed = True
        elif fnum == target and wt == LEN:
            inner = _rewrite(buf, s, e, fnum_path[1:])
            if inner is None:
                out += buf[field_start:e]
            else:
                out += field_bytes(fnum, inner)
                changed = True
        else:
            out += buf[field_start:e]
        field_start = e
    return bytes(out) if changed else None


def prune_object_span(buf: bytes, start: int, stop: int) -> bytes | None:
    """The object at buf[start:stop] (no envelope) without metadata.managedFields, or None
    when it has none."""
    return _rewrite(buf, start, stop, (1, _MANAGED_FIELDS))


def _replace_field(
    buf: bytes, start: int, stop: int, fnum: int, rewrite: Callable[[int, int], bytes | None]
) -> bytes | None:
    """The message at buf[start:stop] with each embedded field ``fnum`` replaced by
    ``rewrite(its start, its stop)`` (None keeps that field's bytes); None when none changed."""
    out = bytearray()
    changed = False
    field_start = start
    for f, wt, s, e in iter_fields(buf, start, stop):
        new = rewrite(s, e) if f == fnum and wt == LEN else None
        if new is None:
            out += buf[field_start:e]
        else:
            out += field_bytes(fnum, new)
            changed = True
        field_start = e
    return bytes(out) if changed else None


def _rewrite_enveloped(buf: bytes, start: int, stop: int) -> bytes | None:
    """``k8s\\0`` + Unknown at buf[start:stop], with the object's managedFields removed."""
    if buf[start : start + 4] != K8S_MAGIC:
        raise CodecError("embedded object lacks the k8s\\0 protobuf magic")
    # Unknown.raw (2) -> object.metadata (1) -> ObjectMeta.managedFields (17)
    unknown = _replace_field(
        buf, start + 4, stop, 2, lambda s, e: _rewrite(buf, s, e, (1, _MANAGED_FIELDS))
    )
    return None if unknown is None else K8S_MAGIC + unknown


def prune_managed_fields_proto(raw_frame: bytes) -> bytes:
    """A protobuf watch frame without the object's managedFields (same bytes if absent)."""

    def raw_extension(s: int, e: int) -> bytes | None:  # WatchEvent.object -> RawExtension.raw
        return _replace_field(
            raw_frame, s, e, 1, lambda s2, e2: _rewrite_enveloped(raw_frame, s2, e2)
        )

    event = _replace_field(raw_frame, 4, len(raw_frame), 2, raw_extension)
    return raw_frame if event is None else frame(event)
