"""LIST bodies <-> objects in watch form, for the shared-watch cache (pure).

The cache (``discofilter/cache``) keeps every object in its **watch form**: the object part of a
watch event, byte for byte. A LIST body's items are not in that form, so the reflector converts
each upstream LIST on the way in (``split_list``) and the server converts back when it answers a
LIST from the cache (``build_list``). Both run once per LIST (10k pods: ~60 MB of JSON), so
neither decodes an item fully:

* **JSON.** Watch events carry ``{"kind":K,"apiVersion":V,"metadata":...}``; a LIST of a
  built-in kind carries its items *without* ``kind``/``apiVersion`` (Go leaves the item's
  TypeMeta empty and ``omitempty`` drops it). TypeMeta is the first field of every built-in
  struct, so inserting ``"kind":K,"apiVersion":V,`` right after the item's ``{`` gives exactly the
  bytes a watch event carries. Custom resources (unstructured) keep both keys in their items
  (sorted: ``apiVersion`` first), and those items already are in watch form: an item is left
  alone when either key is present at its top level (read exactly by msgspec, not guessed from
  its first bytes), and only a missing key is added, so no item ever gets a duplicate key.
* **Protobuf.** A watch event's object is ``k8s\\0`` + ``runtime.Unknown{typeMeta{apiVersion,
  kind}, raw, contentEncoding "", contentType ""}``, as ``protostatus.wrap_unknown`` writes it;
  a list item is the bare message (``raw``): wrapping it gives kube-apiserver's bytes exactly.

Item metadata (namespace, name, uid, resourceVersion) comes from msgspec's metadata-only schema
(JSON) or upb's lite ``ObjectLite`` (protobuf), which skip everything else; the item bytes are
slices of the body, never re-encoded (contract 1). Errors are ``CodecError``: a body that is
not a list, an item that is not an object or has no ``metadata.name``, malformed JSON or
truncated protobuf. The body must already be decompressed.

``build_list`` writes Go's field order (``kind``, ``apiVersion``, ``metadata``, ``items``;
ListMeta ``resourceVersion`` then ``continue``), so clients read it as they read
kube-apiserver's own lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import msgspec
import orjson
from google.protobuf.message import DecodeError

from discofilter._generated.k8s.lite import metadata_lite_pb2 as lite
from discofilter.codec.jsonmeta import JSON_ERRORS
from discofilter.codec.mediatype import is_protobuf, require_known
from discofilter.codec.protostatus import encode_list_meta, wrap_unknown
from discofilter.codec.protowatch import unwrap_unknown
from discofilter.codec.wire import K8S_MAGIC, LEN, encode_varint, field_str, iter_fields, text
from discofilter.errors import CodecError


class ItemMeta(NamedTuple):
    """One list item in watch form plus its identity.

    Same fields, same order as ``cache.types.CachedObject`` (which this layer may not import),
    so the cache makes one with ``CachedObject(*item)``.
    """

    namespace: str
    name: str
    uid: str
    resource_version: str
    object: bytes
    """The object as a watch event carries it, in the list's content type."""


@dataclass(frozen=True, slots=True)
class ListContents:
    """What a LIST response says: its ListMeta versions and its items in watch form."""

    resource_version: str
    """``metadata.resourceVersion`` of the list ("" when absent)."""
    continue_token: str
    """``metadata.continue`` ("" on the last page)."""
    items: list[ItemMeta]


def split_list(body: bytes, content_type: str, api_version: str, kind: str) -> ListContents:
    """The versions and the items (converted to watch form) of a decompressed LIST body.

    ``api_version`` ("v1", "discovery.k8s.io/v1") and ``kind`` ("Pod") are the *item's*, as a
    watch event of this resource names them. Raises ``CodecError`` on anything that is not a
    well-formed list of objects with names, or on an unsupported content type.
    """
    require_known(content_type)
    if is_protobuf(content_type):
        return _split_proto(body, api_version, kind)
    return _split_json(body, api_version, kind)


def build_list(
    objects: Sequence[bytes],
    resource_version: str,
    continue_token: str | None,
    content_type: str,
    api_version: str,
    list_kind: str,
) -> bytes:
    """A LIST response body holding ``objects`` (watch form, in ``content_type``).

    JSON: ``{"kind":list_kind,"apiVersion":..,"metadata":{"resourceVersion":..[,"continue":..]},
    "items":[..]}`` with the objects copied as they are: items keep the ``kind``/``apiVersion``
    of their watch form, which every client accepts (client-go and the Python client decode
    them into the item's TypeMeta; ``kubectl get -o json`` itself shows items that way).
    Protobuf: ``k8s\\0`` + Unknown{typeMeta{api_version, list_kind}, raw = the list message
    {1: ListMeta, 2: each object's bare message}}, the Unknown and ListMeta written field by
    field as Go's marshaller does (empty strings included). An empty or ``None``
    ``continue_token`` means the last page. Raises ``CodecError`` when a protobuf object is
    not ``k8s\\0``-enveloped.
    """
    require_known(content_type)
    if is_protobuf(content_type):
        return _build_proto(objects, resource_version, continue_token or "", api_version, list_kind)
    return _build_json(objects, resource_version, continue_token or "", api_version, list_kind)


# --- JSON -----------------------------------------------------------------------------------


class _ListMetaLite(msgspec.Struct):
    resourceVersion: str | None = None
    continue_: str | None = msgspec.field(default=None, name="continue")


_ABSENT = msgspec.Raw(b"")  # the default of a raw member: an empty span means "no such key"


class _ListTop(msgspec.Struct):
    """A list body with its items kept as one validated raw span (empty: no items key)."""

    metadata: _ListMetaLite | None = None
    items: msgspec.Raw = _ABSENT


class _ItemMetaLite(msgspec.Struct):
    namespace: str | None = None
    name: str | None = None
    uid: str | None = None
    resourceVersion: str | None = None


class _ItemLite(msgspec.Struct):
    """An item's TypeMeta presence (raw, so ``null`` counts as present) and its metadata."""

    kind: msgspec.Raw = _ABSENT
    apiVersion: msgspec.Raw = _ABSENT
    metadata: _ItemMetaLite | None = None


_TOP = msgspec.json.Decoder(_ListTop)
_RAW_ITEMS = msgspec.json.Decoder(list[msgspec.Raw] | None)
_ITEMS = msgspec.json.Decoder(list[_ItemLite] | None)


def _split_json(body: bytes, api_version: str, kind: str) -> ListContents:
    try:
        top = _TOP.decode(body)
        if not top.items:
            raise CodecError("JSON body is not a list: it has no items")
        # Two passes over the items' bytes, both in msgspec's C: the raw spans (exact bytes,
        # what the cache stores) and the metadata-only structs (zip(strict) pairs them).
        spans = _RAW_ITEMS.decode(top.items) or []
        metas = _ITEMS.decode(top.items) or []
    except msgspec.ValidationError as e:
        raise CodecError(f"JSON body is not a list of objects: {e}") from e
    except JSON_ERRORS as e:
        raise CodecError(f"invalid JSON list body: {e}") from e
    type_meta = orjson.dumps({"kind": kind, "apiVersion": api_version})[1:-1]
    kind_only = orjson.dumps({"kind": kind})[1:-1]
    version_only = orjson.dumps({"apiVersion": api_version})[1:-1]
    items: list[ItemMeta] = []
    for n, (span, item) in enumerate(zip(spans, metas, strict=True)):
        m = item.metadata
        if m is None or not m.name:
            raise CodecError(f"JSON list item {n} has no metadata.name")
        raw = bytes(span)
        has_kind, has_version = bool(item.kind), bool(item.apiVersion)
        if not (has_kind and has_version):
            # Built-in list items: Go omitted the empty TypeMeta, which comes first in the
            # struct; insert it where Go writes it in a watch event. ``raw`` is a validated
            # object with a metadata member, so ``{`` + TypeMeta + ``,`` + rest stays valid.
            if not (has_kind or has_version):
                head = type_meta
            else:
                head = version_only if has_kind else kind_only
            raw = b"".join((b"{", head, b",", raw[1:]))
        items.append(ItemMeta(m.namespace or "", m.name, m.uid or "", m.resourceVersion or "", raw))
    meta = top.metadata
    if meta is None:
        return ListContents("", "", items)
    return ListContents(meta.resourceVersion or "", meta.continue_ or "", items)


def _build_json(
    objects: Sequence[bytes], rv: str, token: str, api_version: str, list_kind: str
) -> bytes:
    # ListMeta in Go's field order: (selfLink), resourceVersion, continue (omitempty).
    meta = b'{"resourceVersion":' + orjson.dumps(rv)
    if token:
        meta += b',"continue":' + orjson.dumps(token)
    head = orjson.dumps({"kind": list_kind, "apiVersion": api_version})[:-1]
    head += b',"metadata":' + meta + b'},"items":['
    return b"".join((head, b",".join(objects), b"]}"))


# --- protobuf -------------------------------------------------------------------------------

_LIST_META = 1  # every XxxList: metadata=1 (ListMeta), items=2 (repeated)
_ITEMS_FIELD = 2
_LM_RESOURCE_VERSION = 2  # ListMeta: selfLink=1, resourceVersion=2, continue=3
_LM_CONTINUE = 3
_TM_KIND = 2  # runtime.TypeMeta: apiVersion=1, kind=2
_UNKNOWN_TYPE_META = 1
_OBJECT = lite.ObjectLite.FromString
_PB_ERRORS = (DecodeError, UnicodeDecodeError, TypeError, ValueError)
_ITEM_TAG = encode_varint((_ITEMS_FIELD << 3) | LEN)
_RAW_TAG = encode_varint((2 << 3) | LEN)  # runtime.Unknown: raw=2
_UNKNOWN_TAIL = field_str(3, "") + field_str(4, "")  # contentEncoding, contentType: empty


def _split_proto(body: bytes, api_version: str, kind: str) -> ListContents:
    start, stop, content_type = unwrap_unknown(body, 0, len(body))
    if content_type and not is_protobuf(content_type):
        raise CodecError(f"protobuf list envelope says its raw bytes are {content_type[:64]!r}")
    list_kind = _envelope_kind(body)
    # A single object's fields 1/2 would walk like a list's; only the envelope tells them
    # apart. Every built-in list kind ends in "List" (custom resources are never protobuf).
    if not list_kind.endswith("List"):
        raise CodecError(f"protobuf body is a {list_kind[:64]!r}, not a list")
    rv = token = ""
    items: list[ItemMeta] = []
    for fnum, wt, s, e in iter_fields(body, start, stop):
        if wt != LEN:
            continue
        if fnum == _ITEMS_FIELD:
            item = body[s:e]
            items.append(_proto_item(item, len(items), api_version, kind))
        elif fnum == _LIST_META:
            # proto2 merge: a repeated ListMeta's later fields win, as they do here.
            for mf, mwt, ms, me in iter_fields(body, s, e):
                if mwt == LEN and mf == _LM_RESOURCE_VERSION:
                    rv = text(body, ms, me)
                elif mwt == LEN and mf == _LM_CONTINUE:
                    token = text(body, ms, me)
    return ListContents(rv, token, items)


def _envelope_kind(body: bytes) -> str:
    """runtime.Unknown typeMeta.kind of an enveloped body ("" when absent)."""
    kind = ""
    for fnum, wt, s, e in iter_fields(body, 4, len(body)):
        if fnum == _UNKNOWN_TYPE_META and wt == LEN:
            for tf, twt, ts, te in iter_fields(body, s, e):
                if tf == _TM_KIND and twt == LEN:
                    kind = text(body, ts, te)
    return kind


def _proto_item(item: bytes, n: int, api_version: str, kind: str) -> ItemMeta:
    try:
        m = _OBJECT(item).metadata
        ns, name, uid, rv = m.namespace, m.name, m.uid, m.resourceVersion
    except _PB_ERRORS as e:
        raise CodecError(f"invalid protobuf list item {n}: {e}") from e
    # proto2 strings are not UTF-8 checked: upb hands back bytes for invalid ones.
    if not (type(ns) is str and type(name) is str and type(uid) is str and type(rv) is str):
        raise CodecError(f"protobuf list item {n} has an ObjectMeta string that is not UTF-8")
    if not name:
        raise CodecError(f"protobuf list item {n} has no metadata.name")
    return ItemMeta(ns, name, uid, rv, wrap_unknown(api_version, kind, item))


def _build_proto(
    objects: Sequence[bytes], rv: str, token: str, api_version: str, list_kind: str
) -> bytes:
    # One b"".join over headers and memoryview slices of the objects: every object byte is
    # copied once, straight into the body (a 10k-pod list is tens of MB).
    list_meta = encode_list_meta({"resourceVersion": rv, "continue": token})
    parts: list[bytes | memoryview] = [encode_varint((_LIST_META << 3) | LEN)]
    parts += (encode_varint(len(list_meta)), list_meta)
    size = len(parts[0]) + len(parts[1]) + len(list_meta)
    for n, obj in enumerate(objects):
        if obj[:4] != K8S_MAGIC:
            raise CodecError(f"object {n} is not a k8s\\0-enveloped protobuf object")
        s, e, _ = unwrap_unknown(obj, 0, len(obj))
        length = encode_varint(e - s)
        parts += (_ITEM_TAG, length, memoryview(obj)[s:e])
        size += len(_ITEM_TAG) + len(length) + e - s
    type_meta = field_str(1, api_version) + field_str(2, list_kind)
    head = b"".join(
        (K8S_MAGIC, encode_varint((_UNKNOWN_TYPE_META << 3) | LEN), encode_varint(len(type_meta)))
    )
    return b"".join([head, type_meta, _RAW_TAG, encode_varint(size), *parts, _UNKNOWN_TAIL])
