"""Which generated-client call lists (and watches) each kind cluster-wide.

The official ``kubernetes`` client and ``kubernetes_asyncio`` generate the same API classes and
method names, so one table serves both (``kubeapi.list_funcs``, ``official_client``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

LIST_CALLS: dict[str, tuple[str, str]] = {
    "pods": ("CoreV1Api", "list_pod_for_all_namespaces"),
    "services": ("CoreV1Api", "list_service_for_all_namespaces"),
    "endpoints": ("CoreV1Api", "list_endpoints_for_all_namespaces"),
    "endpointslices": ("DiscoveryV1Api", "list_endpoint_slice_for_all_namespaces"),
    "configmaps": ("CoreV1Api", "list_config_map_for_all_namespaces"),
    "secrets": ("CoreV1Api", "list_secret_for_all_namespaces"),
    "namespaces": ("CoreV1Api", "list_namespace"),
    "nodes": ("CoreV1Api", "list_node"),
}
"""Plural kind → (API class, method) of the cluster-wide list/watch call."""


def bind_list_calls(client_module: Any, api_client: Any) -> dict[str, Callable[..., Any]]:
    """``LIST_CALLS`` bound to ``api_client`` of ``client_module`` (either library's
    ``client`` package)."""
    apis: dict[str, Any] = {}
    out: dict[str, Callable[..., Any]] = {}
    for kind, (cls, method) in LIST_CALLS.items():
        if cls not in apis:
            apis[cls] = getattr(client_module, cls)(api_client)
        out[kind] = getattr(apis[cls], method)
    return out
