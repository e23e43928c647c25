"""Fixtures: an in-process emulator on an ephemeral port, seeded with a tiny cluster."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from discofilter.clock import FakeClock
from discofilter.sim import Simulator, Store

KUBECTL_DIR = (
    Path(shutil.which("kubectl") or "/nonexistent").resolve().parent
    if shutil.which("kubectl")
    else None
)


def kubectl_binary(version: str) -> str:
    """Path of ``kubectl.<version>`` beside the machine's kubectl, or skip the test."""
    if KUBECTL_DIR is None:
        pytest.skip("kubectl is not installed on this machine")
    path = KUBECTL_DIR / f"kubectl.{version}"
    if not path.exists():
        pytest.skip(f"{path} is absent: the kubectl {version} binary is needed for this test")
    return str(path)


def seed_cluster(store: Store) -> None:
    for ns, labels in (("mesh-a", {"istio-injection": "enabled"}), ("batch-b", {"team": "batch"})):
        store.create("namespaces", {"metadata": {"name": ns, "labels": labels}})
        for i in range(3):
            store.create(
                "pods",
                {
                    "metadata": {"name": f"pod-{i}", "labels": {"app": "web" if i else "db"}},
                    "spec": {"containers": [{"name": "c", "image": "img"}], "nodeName": "node-1"},
                    "status": {"phase": "Running", "podIP": f"10.0.0.{i + 1}"},
                },
                ns,
            )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def sim(clock: FakeClock) -> AsyncIterator[Simulator]:
    store = Store(clock=clock, seed=11)
    seed_cluster(store)
    async with Simulator(store, clock=clock, bookmark_interval=5.0, history_size=50) as s:
        yield s


@pytest.fixture
def kubeconfig(tmp_path: Path, sim: Simulator) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: sim\n  cluster:\n"
        f"    server: {sim.url}\ncontexts:\n- name: sim\n  context:\n    cluster: sim\n"
        "    user: anon\ncurrent-context: sim\nusers:\n- name: anon\n  user: {}\n"
    )
    return path
