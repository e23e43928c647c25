"""The proxy component tests' ``rig`` fixture (emulator + in-process proxy), reused here."""

from tests.component.proxy.conftest import rig

__all__ = ["rig"]
