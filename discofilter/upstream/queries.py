"""The query strings of an informer's WATCH, shared by the proxy's namespace informer and the
benchmark's watch client (both behave like client-go's Reflector)."""

from __future__ import annotations

from urllib.parse import urlencode


def watch_query(resource_version: str, timeout_seconds: int) -> str:
    """A WATCH from ``resource_version`` with bookmarks, ended by the server after
    ``timeoutSeconds`` (client-go picks 5-10 min at random; callers fix it)."""
    return urlencode(
        {
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": resource_version,
            "timeoutSeconds": str(timeout_seconds),
        }
    )
