"""Kubernetes ``Status`` objects for errors sent to clients (pure).

Every error discofilter returns to a Kubernetes client is a ``meta/v1 Status``, shaped as
kube-apiserver shapes it, so client-go and kubectl print and classify it correctly
(``apierrors.IsResourceExpired``, ``IsNotFound``...).
"""

from __future__ import annotations

from typing import Any

import orjson

# HTTP code -> the StatusReason kube-apiserver uses for it.
REASONS: dict[int, str] = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    501: "NotImplemented",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def status_dict(
    code: int,
    message: str,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Failure Status as kube-apiserver writes it."""
    out: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason if reason is not None else REASONS.get(code, ""),
        "code": code,
    }
    if details:
        out["details"] = details
    return out


def status_json(
    code: int,
    message: str,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> bytes:
    return orjson.dumps(status_dict(code, message, reason, details))


def expired_message(detail: str = "") -> str:
    # kube-apiserver's wording for a compacted resourceVersion; client-go matches on reason/code.
    return detail or "The resourceVersion for the provided watch is too old."


def error_event_line(code: int, message: str, reason: str | None = None) -> bytes:
    """A JSON watch ERROR event line (newline-terminated) carrying a Status."""
    return orjson.dumps({"type": "ERROR", "object": status_dict(code, message, reason)}) + b"\n"
