"""The proxy component tests' ``rig`` fixture (emulator + in-process proxy), reused here, and the
``sharing`` parametrization: every test in tests/reliability runs per-client (today's proxy) and
with shared watches (issue 15: "every test in tests/reliability also runs in shared mode").

Shared mode is switched on where the in-process proxies are built (``start_rig`` and
``fakes.start_proxy`` both construct ``ProxyServer``): in the shared run that name is a subclass
that turns on shared watches in the config it is given, whatever else the test configured. How
the config spells it is read from the config loader itself (``sharedWatches: true`` or
``sharedWatches: {enabled: true}``), so this file does not depend on the field's name; without
such a key in this build the shared runs are skipped with that reason. Tests that start
``discofilter serve`` as a child process instead (CLI refusals) run the same in both.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

import tests.component.proxy.conftest as proxy_conftest
import tests.reliability.fakes as fakes
from discofilter.authz import Attributes, Verdict
from discofilter.config import Config, load_config_text
from discofilter.errors import ConfigError
from discofilter.server.proxy import ProxyServer
from tests.component.proxy.conftest import rig

__all__ = ["rig", "sharing"]

PER_CLIENT = "per-client"
SHARED = "shared"
_SHARED_DOCS = ("sharedWatches: true\n", "sharedWatches:\n  enabled: true\n")


def shared_config() -> Config | None:
    """A default Config with shared watches on, or None when this build has no such key."""
    for doc in _SHARED_DOCS:
        try:
            cfg = load_config_text(doc, "<shared-watches probe>")
        except (ConfigError, ValueError, TypeError):
            continue
        if cfg != Config():
            return cfg
    return None


def _overlay(default: Any, changed: Any, target: Any) -> Any:
    """``target`` with every field where ``changed`` differs from ``default`` taken from
    ``changed``, recursing into nested config sections so the test's own settings stay."""
    if not dataclasses.is_dataclass(default) or isinstance(default, type):
        return changed
    updates = {}
    for f in dataclasses.fields(default):
        d, c = getattr(default, f.name), getattr(changed, f.name)
        if d != c:
            updates[f.name] = _overlay(d, c, getattr(target, f.name))
    return dataclasses.replace(target, **updates) if updates else target


def with_sharing(config: Config) -> Config:
    shared = shared_config()
    assert shared is not None
    return _overlay(Config(), shared, config)  # type: ignore[no-any-return]


class AllowAll:
    """An ``Authorizer`` that allows every caller: these tests are about faults and hostile
    input, not authorization (tested with real reviews in tests/unit/authz and tests/e2e)."""

    async def authorize(self, headers: Mapping[str, str], attrs: Attributes) -> Verdict:
        return Verdict(True)


class SharedProxyServer(ProxyServer):
    """``ProxyServer`` whose config has shared watches on (the shared run's proxies); given an
    allow-all authorizer when the server takes one as ``authorizer`` (shared mode refuses to
    start without one)."""

    def __init__(self, config: Config, *args: Any, **kwargs: Any) -> None:
        if "authorizer" in inspect.signature(ProxyServer.__init__).parameters:
            kwargs.setdefault("authorizer", AllowAll())
        super().__init__(with_sharing(config), *args, **kwargs)


@pytest.fixture(params=[PER_CLIENT, SHARED], autouse=True)
def sharing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == SHARED:
        if shared_config() is None:
            pytest.skip(
                "shared watches not built: the config loader knows no `sharedWatches` key "
                "(issue 15 phase B)"
            )
        monkeypatch.setattr(proxy_conftest, "ProxyServer", SharedProxyServer)
        monkeypatch.setattr(fakes, "ProxyServer", SharedProxyServer)
    yield request.param
