"""A protobuf list body's ``metadata.resourceVersion`` without decoding its items (pure).

The proxy remembers under which enrollment it filtered each list it served, keyed by this
version (server/namespaces/served.py). JSON lists get theirs from the filter's own parse
(``jsonlist.filter_json_list_versioned``).
"""

from __future__ import annotations

from discofilter.codec.protowatch import unwrap_unknown
from discofilter.codec.wire import LEN, iter_fields, text

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
