"""Fixtures: an in-process proxy started from a config *file*, with a ``ConfigReloader`` on it.

The proxy and the emulator come from the proxy tests' rig (``tests/component/proxy``); the
command line is parsed by the real ``discofilter serve`` parser, so "flags keep overriding the
file after a reload" is tested through ``effective_config`` exactly as the CLI runs it.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from discofilter.cli.serve import effective_config, register
from discofilter.clock import FakeClock
from discofilter.config import Config, with_overrides
from discofilter.metrics import Metrics
from discofilter.server.reload import ConfigReloader
from tests.component.proxy.conftest import MESH, Rig, start_rig, stop_rig

BATCH = {"tier": "batch"}
MESH_ONLY = "discoverySelectors:\n  - matchLabels: {istio-injection: enabled}\n"


def serve_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["serve", *argv])


@dataclass
class ReloadRig:
    rig: Rig
    reloader: ConfigReloader
    clock: FakeClock
    path: Path
    metrics: Metrics

    def write(self, text: str) -> None:
        self.path.write_text(text)


async def start_reload_rig(tmp_path: Path, *flags: str, text: str = MESH_ONLY) -> ReloadRig:
    path = tmp_path / "discofilter.yaml"
    path.write_text(text)
    args = serve_args("--config", str(path), *flags)
    rig = await start_rig(effective_config(args))
    metrics = Metrics()
    rig.proxy.metrics = metrics

    def load() -> Config:
        # start_rig points the proxy at its emulator the way --upstream would.
        return with_overrides(effective_config(args), upstream={"url": rig.sim.url})

    clock = FakeClock()
    reloader = ConfigReloader(rig.proxy, load, rig.proxy.config, clock, str(path))
    namespaces = {"istio-system": {}, "mesh-a": MESH, "mesh-b": MESH, "batch": BATCH}
    for name, labels in namespaces.items():
        rig.ns(name, labels)
    await rig.proxy.namespaces.ready.wait()
    await rig.until(lambda: set(rig.proxy.enrollment.namespaces()) >= {"batch", "mesh-b"})
    return ReloadRig(rig, reloader, clock, path, metrics)


@pytest.fixture
async def rr(tmp_path: Path) -> AsyncIterator[ReloadRig]:
    r = await start_reload_rig(tmp_path)
    yield r
    await r.reloader.stop()
    await stop_rig(r.rig)
