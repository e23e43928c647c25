"""Errors the emulator answers with, each carrying the Kubernetes ``Status`` it becomes.

``ApiError`` sits under ``DiscofilterError`` (the one exception tree); the store raises it, the
HTTP layer turns it into a ``Status`` body with the same code, reason and wording kube-apiserver
uses, because clients branch on them (client-go ``IsNotFound``/``IsConflict``/``IsResourceExpired``,
kubectl's messages, the Python client's ``ApiException.status``).
"""

from __future__ import annotations

from typing import Any

from discofilter.errors import DiscofilterError
from discofilter.status import status_dict


class ApiError(DiscofilterError):
    """A request the API refuses; ``status()`` is the Status body to send."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.details = details

    def status(self) -> dict[str, Any]:
        return status_dict(self.code, self.message, self.reason, self.details)


def _details(name: str, group: str, kind: str) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "kind": kind}
    if group:
        out["group"] = group
    return out


def not_found(resource: str, group: str, name: str) -> ApiError:
    q = f"{resource}.{group}" if group else resource
    return ApiError(404, f'{q} "{name}" not found', "NotFound", _details(name, group, resource))


def already_exists(resource: str, group: str, name: str) -> ApiError:
    q = f"{resource}.{group}" if group else resource
    return ApiError(
        409, f'{q} "{name}" already exists', "AlreadyExists", _details(name, group, resource)
    )


def conflict(resource: str, group: str, name: str) -> ApiError:
    q = f"{resource}.{group}" if group else resource
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {q} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        "Conflict",
        _details(name, group, resource),
    )


def expired(message: str) -> ApiError:
    return ApiError(410, message, "Expired")


def bad_request(message: str) -> ApiError:
    return ApiError(400, message, "BadRequest")


def invalid(resource: str, group: str, name: str, message: str) -> ApiError:
    q = f"{resource}.{group}" if group else resource
    return ApiError(422, f'{q} "{name}" is invalid: {message}', "Invalid")


def too_large_resource_version(requested: int, current: int) -> ApiError:
    # kube-apiserver waits ~3 s for its cache, then answers 504 with this cause.
    return ApiError(
        504,
        f"Too large resource version: {requested}, current: {current}",
        "Timeout",
        {
            "causes": [
                {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
            ],
            "retryAfterSeconds": 1,
        },
    )
