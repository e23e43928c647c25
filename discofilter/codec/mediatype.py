"""Content types of Kubernetes responses, as the codec sees them (pure).

kube-apiserver answers ``application/json`` or ``application/vnd.kubernetes.protobuf``, with
``;stream=watch`` on watch responses. Custom resources and aggregated APIs answer JSON even
when protobuf was asked for, so every stream is decoded by what the upstream actually
returned, never by what the client asked for.
"""

from __future__ import annotations

from discofilter.errors import CodecError

JSON = "application/json"
PROTOBUF = "application/vnd.kubernetes.protobuf"
WATCH_PARAM = "stream=watch"


def media_type(content_type: str) -> str:
    """The bare media type, lowercased, without parameters."""
    return content_type.split(";", 1)[0].strip().lower()


def is_protobuf(content_type: str) -> bool:
    return media_type(content_type) == PROTOBUF


def is_json(content_type: str) -> bool:
    """``application/json`` and structured-syntax ``+json`` types (charset parameters allowed)."""
    mt = media_type(content_type)
    return mt == JSON or (mt.startswith("application/") and mt.endswith("+json"))


def require_known(content_type: str) -> None:
    """Raise ``CodecError`` unless the codec can read ``content_type``."""
    if not (is_json(content_type) or is_protobuf(content_type)):
        raise CodecError(f"unsupported content type {content_type[:100]!r}")
