"""The one exception tree of discofilter.

    DiscofilterError                 base of everything raised on purpose
    ├── ConfigError                  a bad config file, flag or selector (names the key and line)
    │   └── SelectorError            a label or field selector that does not parse
    ├── CodecError                   bytes that are not a valid frame, line or object
    │   └── FrameTooLarge            a frame or line over the configured limit
    ├── UpstreamError                the API server could not be reached or answered badly
    │   ├── UpstreamStatusError      the API server answered with a non-2xx Status
    │   └── UpstreamBroken           a watch body broke mid-stream
    └── ClientTooSlow                a watch client did not drain its buffer in time

Library errors (aiohttp, grpc, yaml) are mapped to these at the boundary with ``raise ... from e``.
Errors sent to a Kubernetes client are always Kubernetes ``Status`` objects (see ``status.py``).
"""

from __future__ import annotations


class DiscofilterError(Exception):
    """Base class of every error discofilter raises on purpose."""


class ConfigError(DiscofilterError):
    """A configuration value is invalid; the message names the key (and line when known)."""


class SelectorError(ConfigError):
    """A label or field selector does not parse or is not valid Kubernetes syntax."""


class CodecError(DiscofilterError):
    """Bytes that cannot be decoded as the expected JSON line, protobuf frame or object."""


class FrameTooLarge(CodecError):
    """A single line or frame exceeds the configured maximum size."""


class UpstreamError(DiscofilterError):
    """The upstream API server could not be reached, or broke the protocol."""


class UpstreamStatusError(UpstreamError):
    """The upstream answered a non-2xx HTTP status; ``status`` holds the decoded Status body."""

    def __init__(self, code: int, status: dict[str, object] | None, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class ClientTooSlow(DiscofilterError):
    """A watch client did not drain its bounded buffer in time and was cut off."""


class UpstreamBroken(UpstreamError):
    """The upstream body of a watch broke mid-stream (the message names the library error)."""
