"""Content negotiation for filtered requests: ask only for types the codec can filter.

A filtered LIST/WATCH forwards the caller's ``Accept`` list minus media types the proxy cannot
filter (``application/cbor``, ``application/yaml``...), keeping order and parameters
(``;as=Table;v=v1;g=meta.k8s.io``, ``;stream=watch``), so the API server still picks among the
caller's own preferences. A caller that accepts nothing filterable gets 406 from the proxy.
A missing Accept header is left missing (the API server answers JSON).
"""

from __future__ import annotations

_FILTERABLE = ("application/json", "application/vnd.kubernetes.protobuf", "*/*", "application/*")


def filterable_accept(accept: str | None) -> str | None:
    """The Accept value to send upstream; "" when nothing filterable is acceptable."""
    if accept is None or not accept.strip():
        return None
    kept = []
    for part in accept.split(","):
        media = part.split(";", 1)[0].strip().lower()
        if media in _FILTERABLE:
            kept.append(part.strip())
    return ",".join(kept)


def wants_table(accept: str | None) -> bool:
    return accept is not None and "as=table" in accept.lower().replace(" ", "")
