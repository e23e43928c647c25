"""A list body's ``metadata.resourceVersion`` without decoding its items (pure).

The proxy remembers under which enrollment it filtered each list it served, keyed by this
version, so that a watch resuming from it can be checked (server/served_versions.py).
"""

from __future__ import annotations

import msgspec

from discofilter.codec.mediatype import is_protobuf, require_known
from discofilter.codec.protowatch import unwrap_unknown
from discofilter.codec.wire import LEN, iter_fields, text
from discofilter.errors import CodecError

_LIST_META = 1  # every XxxList: metadata=1 (ListMeta)
_RESOURCE_VERSION = 2  # ListMeta: resourceVersion=2


class _Meta(msgspec.Struct):
    resourceVersion: str = ""


class _ListHead(msgspec.Struct):
    metadata: _Meta = msgspec.field(default_factory=_Meta)


_decode_json_head = msgspec.json.Decoder(_ListHead).decode


def list_resource_version(body: bytes, content_type: str) -> str:
    """``metadata.resourceVersion`` of a list (or Table) body; "" when it has none.

    Raises CodecError on a body that is not valid JSON / protobuf of the given content type.
    """
    require_known(content_type)
    if is_protobuf(content_type):
        start, stop, _ = unwrap_unknown(body, 0, len(body))
        for fnum, wt, s, e in iter_fields(body, start, stop):
            if fnum == _LIST_META and wt == LEN:
                for mf, mwt, ms, me in iter_fields(body, s, e):
                    if mf == _RESOURCE_VERSION and mwt == LEN:
                        return text(body, ms, me)
                return ""
        return ""
    try:
        return _decode_json_head(body).metadata.resourceVersion
    except (msgspec.DecodeError, UnicodeDecodeError) as e:
        raise CodecError(f"list body is not a JSON list: {e}") from e
