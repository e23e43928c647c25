"""A list body's ``metadata.resourceVersion`` and its type, without decoding its items (pure).

The proxy remembers under which enrollment it filtered each list it served, keyed by this
version (server/namespaces/served.py). JSON lists get theirs from the filter's own parse
(``jsonlist.filter_json_list_versioned``).
"""

from __future__ import annotations

import msgspec

from discofilter.codec.mediatype import is_protobuf
from discofilter.codec.protowatch import unwrap_unknown
from discofilter.codec.wire import K8S_MAGIC, LEN, iter_fields, text
from discofilter.errors import CodecError

_LIST_META = 1  # every XxxList: metadata=1 (ListMeta)
_RESOURCE_VERSION = 2  # ListMeta: resourceVersion=2


def proto_list_resource_version(body: bytes) -> str:
    """``metadata.resourceVersion`` of a ``k8s\\0``-enveloped protobuf list; "" when absent.

    Raises CodecError on bytes that are not an enveloped protobuf message.
    """
    start, stop, _ = unwrap_unknown(body, 0, len(body))
    for fnum, wt, s, e in iter_fields(body, start, stop):
        if fnum == _LIST_META and wt == LEN:
            for mf, mwt, ms, me in iter_fields(body, s, e):
                if mf == _RESOURCE_VERSION and mwt == LEN:
                    return text(body, ms, me)
            return ""
    return ""


def proto_type_meta(body: bytes) -> tuple[str, str]:
    """(apiVersion, kind) of a ``k8s\\0``-enveloped protobuf body's ``runtime.Unknown``
    typeMeta (field 1: apiVersion 1, kind 2), "" for what is absent; the caller checked the
    magic."""
    api_version = kind = ""
    for fnum, wt, s, e in iter_fields(body, 4, len(body)):
        if fnum == 1 and wt == LEN:  # Unknown.typeMeta
            for tf, twt, ts, te in iter_fields(body, s, e):
                if tf == 1 and twt == LEN:
                    api_version = text(body, ts, te)
                elif tf == 2 and twt == LEN:
                    kind = text(body, ts, te)
            break
    return api_version, kind


class _TypeMeta(msgspec.Struct):
    kind: str = ""
    apiVersion: str = ""


_TYPE_META = msgspec.json.Decoder(_TypeMeta)


def list_type_meta(body: bytes, content_type: str) -> tuple[str, str]:
    """(apiVersion, kind) of a list body ("v1", "PodList"); CodecError when it has none.

    The shared-watch cache learns its kind's name here, from the first upstream LIST, rather
    than from discovery: the list says exactly what the API server serves at that path.
    """
    if is_protobuf(content_type):
        if body[:4] != K8S_MAGIC:
            raise CodecError("protobuf list lacks the k8s\\0 magic")
        api_version, kind = proto_type_meta(body)
    else:
        try:
            meta = _TYPE_META.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as e:
            # RecursionError: msgspec walks skipped values too, and hostile nesting is deep.
            raise CodecError(f"list body is not a JSON object with kind/apiVersion: {e}") from e
        api_version, kind = meta.apiVersion, meta.kind
    if not kind or not api_version:
        raise CodecError("list body has no kind/apiVersion")
    return api_version, kind
