"""The selectors' source as the admin surfaces show it (``/debug/enrollment``, gRPC Status).

A source (``discofilter.sources.mesh_source.MeshConfigSource``) only has to answer
``status()`` with an object carrying the ``SelectorSourceInfo`` fields; the admin code never
imports the source itself.
"""

from __future__ import annotations

from typing import Any, Protocol

from discofilter.admin.state import SelectorSourceInfo


class SelectorSourceView(Protocol):
    def status(self) -> Any:
        """An object with source, healthy, error, resource_version, seen_resource_version."""


def source_info(status: Any | None) -> SelectorSourceInfo:
    """The plain admin value of a source's status (None: selectors from the config file)."""
    if status is None:
        return SelectorSourceInfo()
    return SelectorSourceInfo(
        source=str(status.source),
        healthy=bool(status.healthy),
        error=str(status.error),
        resource_version=str(status.resource_version),
        seen_resource_version=str(status.seen_resource_version),
    )


def source_json(info: SelectorSourceInfo) -> dict[str, Any]:
    """The ``selectorsSource`` object of ``/debug/enrollment``."""
    return {
        "source": info.source,
        "healthy": info.healthy,
        "error": info.error,
        "resourceVersion": info.resource_version,
        "seenResourceVersion": info.seen_resource_version,
    }
