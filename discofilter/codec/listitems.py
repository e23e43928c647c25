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
  kind}, raw, contentEncoding "", contentType ""}``, the bytes ``protostatus.wrap_unknown``
  writes; a list item is the bare message (``raw``): wrapping it gives kube-apiserver's bytes.

Item metadata (namespace, name, uid, resourceVersion) comes from msgspec's metadata-only schema
(JSON) or upb's lite ``ObjectLite`` (protobuf), which skip everything else; the item bytes are
slices of the body, never re-encoded (contract 1). Errors are ``CodecError``: a body that is
not a list, an item that is not an object or has no ``metadata.name``, malformed JSON or
truncated protobuf. Like the list filter, it checks the JSON structure of every byte but the
UTF-8 of the strings it reads only (msgspec skips the others; proto2 checks none): bytes the
upstream sent are passed on as they came. The body must already be decompressed.

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
from discofilter.codec.listmeta import proto_type_meta
from discofilter.codec.mediatype import is_protobuf, require_known
from discofilter.codec.protostatus import encode_list_meta
from discofilter.codec.protowatch import unwrap_unknown
from discofilter.codec.wire import (
    K8S_MAGIC,
    LEN,
    encode_varint,
    field_bytes,
    field_str,
    iter_fields,
    read_varint,
    text,
)
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
    """A list body with each item kept as its validated raw span (UNSET: no items key)."""

    metadata: _ListMetaLite | None = None
    items: list[msgspec.Raw] | msgspec.UnsetType | None = msgspec.UNSET


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
_ITEM = msgspec.json.Decoder(_ItemLite)


def _split_json(body: bytes, api_version: str, kind: str) -> ListContents:
    # Two passes over the items' bytes, both in msgspec's C and neither materialising an item:
    # the body into raw item spans (exact, validated bytes: what the cache stores), then each
    # span into its metadata-only struct. A third pass (items as one raw span first) cost
    # another ~20 ms on a 5,000-pod (31 MB) list.
    try:
        top = _TOP.decode(body)
    except msgspec.ValidationError as e:
        raise CodecError(f"JSON body is not a list: {e}") from e
    except JSON_ERRORS as e:
        raise CodecError(f"invalid JSON list body: {e}") from e
    if top.items is msgspec.UNSET:
        raise CodecError("JSON body is not a list: it has no items")
    type_meta = orjson.dumps({"kind": kind, "apiVersion": api_version})[1:-1]
    kind_only = orjson.dumps({"kind": kind})[1:-1]
    version_only = orjson.dumps({"apiVersion": api_version})[1:-1]
    items: list[ItemMeta] = []
    for n, span in enumerate(top.items or ()):
        try:
            item = _ITEM.decode(span)
        except msgspec.ValidationError as e:
            raise CodecError(f"JSON list item {n} is not an object with metadata: {e}") from e
        except JSON_ERRORS as e:  # invalid UTF-8 in a field read here (skipping checks none)
            raise CodecError(f"invalid JSON in list item {n}: {e}") from e
        m = item.metadata
        if m is None or not m.name:
            raise CodecError(f"JSON list item {n} has no metadata.name")
        has_kind, has_version = bool(item.kind), bool(item.apiVersion)
        if has_kind and has_version:
            raw = bytes(span)
        else:
            # Built-in list items: Go omitted the empty TypeMeta, which comes first in the
            # struct; insert it where Go writes it in a watch event. ``span`` is a validated
            # object with a metadata member, so ``{`` + TypeMeta + ``,`` + rest stays valid.
            if not (has_kind or has_version):
                head = type_meta
            else:
                head = version_only if has_kind else kind_only
            raw = b"".join((b"{", head, b",", memoryview(span)[1:]))
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
    if not objects:
        return head + b"]}"
    # One copy of the objects' bytes: head and tail ride on the first and last object.
    parts = list(objects)
    parts[0] = head + parts[0]
    parts[-1] = parts[-1] + b"]}"
    return b",".join(parts)


# --- protobuf -------------------------------------------------------------------------------

_LIST_META = 1  # every XxxList: metadata=1 (ListMeta), items=2 (repeated)
_ITEMS_FIELD = 2
_LM_RESOURCE_VERSION = 2  # ListMeta: selfLink=1, resourceVersion=2, continue=3
_LM_CONTINUE = 3
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
    list_kind = proto_type_meta(body)[1]
    # A single object's fields 1/2 would walk like a list's; only the envelope tells them
    # apart. Every built-in list kind ends in "List" (custom resources are never protobuf).
    if not list_kind.endswith("List"):
        raise CodecError(f"protobuf body is a {list_kind[:64]!r}, not a list")
    rv = token = ""
    items: list[ItemMeta] = []
    # wrap_unknown's bytes, with the invariant head built once per list and the item read in
    # place (a memoryview, no slice): 5,000 pods in ~14 ms instead of ~42 ms, most of which
    # went to copying each item four times in ``+`` concatenations.
    head = K8S_MAGIC + field_bytes(
        _UNKNOWN_TYPE_META, field_str(1, api_version) + field_str(2, kind)
    )
    view = memoryview(body)
    for fnum, wt, s, e in iter_fields(body, start, stop):
        if wt != LEN:
            continue
        if fnum == _ITEMS_FIELD:
            items.append(_proto_item(view[s:e], len(items), head))
        elif fnum == _LIST_META:
            # proto2 merge: a repeated ListMeta's later fields win, as they do here.
            for mf, mwt, ms, me in iter_fields(body, s, e):
                if mwt == LEN and mf == _LM_RESOURCE_VERSION:
                    rv = text(body, ms, me)
                elif mwt == LEN and mf == _LM_CONTINUE:
                    token = text(body, ms, me)
    return ListContents(rv, token, items)


def _proto_item(item: memoryview, n: int, head: bytes) -> ItemMeta:
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
    obj = b"".join((head, _RAW_TAG, encode_varint(len(item)), item, _UNKNOWN_TAIL))
    return ItemMeta(ns, name, uid, rv, obj)


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
        s, e = _raw_span(obj, n)
        length = encode_varint(e - s)
        parts += (_ITEM_TAG, length, memoryview(obj)[s:e])
        size += len(_ITEM_TAG) + len(length) + e - s
    type_meta = field_str(1, api_version) + field_str(2, list_kind)
    head = b"".join(
        (K8S_MAGIC, encode_varint((_UNKNOWN_TYPE_META << 3) | LEN), encode_varint(len(type_meta)))
    )
    return b"".join([head, type_meta, _RAW_TAG, encode_varint(size), *parts, _UNKNOWN_TAIL])


def _raw_span(obj: bytes, n: int) -> tuple[int, int]:
    """The span of Unknown.raw in a watch-form object (``n``: its index, for the error)."""
    if obj[:4] != K8S_MAGIC:
        raise CodecError(f"object {n} is not a k8s\\0-enveloped protobuf object")
    # Go's layout, read in a few byte reads: typeMeta (< 128 bytes), raw, then the two empty
    # strings ending the object. Exact: each field occurs once, so protobuf's merge rules have
    # nothing to merge. 1.3 µs of a 3 µs per-object cost otherwise goes to the general walk.
    end = len(obj)
    if end > 10 and obj[4] == 0x0A and obj[5] < 0x80:
        p = 6 + obj[5]
        if p < end and obj[p] == 0x12:
            try:
                length, s = read_varint(obj, p + 1, end)
            except CodecError:
                pass
            else:
                if s + length + 4 == end and obj[s + length :] == _UNKNOWN_TAIL:
                    return s, s + length
    s, e, content_type = unwrap_unknown(obj, 0, end)
    if content_type and not is_protobuf(content_type):
        raise CodecError(f"object {n} holds {content_type[:64]!r}, not protobuf")
    return s, e
