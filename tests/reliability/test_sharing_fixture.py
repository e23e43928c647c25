"""The ``sharing`` parametrization's config overlay keeps each test's own settings."""

from __future__ import annotations

from discofilter.config import Config, with_overrides
from tests.reliability.conftest import _overlay


def test_overlay_takes_changed_fields_and_keeps_the_tests_own() -> None:
    changed = with_overrides(Config(), streams={"slow_client_seconds": 1.5})
    target = with_overrides(
        Config(), streams={"client_buffer_bytes": 1234}, upstream={"url": "http://x"}
    )
    got = _overlay(Config(), changed, target)
    assert got.streams.slow_client_seconds == 1.5
    assert got.streams.client_buffer_bytes == 1234
    assert got.upstream.url == "http://x"
    assert _overlay(Config(), Config(), target) is target


def test_each_run_builds_the_proxies_it_names(sharing: str) -> None:
    import tests.component.proxy.conftest as proxy_conftest
    import tests.reliability.fakes as fakes
    from discofilter.server.proxy import ProxyServer

    # pytest imports this conftest under its own module name: compare the class by name.
    if sharing == "shared":
        assert fakes.ProxyServer.__name__ == "SharedProxyServer"
        assert proxy_conftest.ProxyServer is fakes.ProxyServer
        assert issubclass(fakes.ProxyServer, ProxyServer)
    else:
        assert fakes.ProxyServer is ProxyServer
        assert proxy_conftest.ProxyServer is ProxyServer
