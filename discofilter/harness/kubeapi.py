"""Talking to a real cluster from the harness: kubeconfig → ``kubernetes_asyncio`` ApiClient.

The recorder and the real-cluster churn driver use ``kubernetes_asyncio`` for everything a
kubeconfig can demand (client certificates, bearer tokens, exec plugins, TLS settings) and ask it
for raw responses (``_preload_content=False``) so they see the bytes the cluster sent, not the
client's model objects.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from kubernetes_asyncio import client, config

from discofilter.harness.list_calls import bind_list_calls


async def api_client(kubeconfig: str | None, context: str | None = None) -> Any:
    """An ApiClient for ``kubeconfig`` (``context`` or its current one)."""
    cfg = client.Configuration()
    await config.load_kube_config(
        config_file=kubeconfig, context=context, client_configuration=cfg, persist_config=False
    )
    return client.ApiClient(configuration=cfg)


def list_funcs(api: Any) -> dict[str, Callable[..., Awaitable[Any]]]:
    """Plural kind → the cluster-wide list/watch call of ``kubernetes_asyncio``."""
    return bind_list_calls(client, api)


def server_url(api: Any) -> str:
    return str(api.configuration.host)
