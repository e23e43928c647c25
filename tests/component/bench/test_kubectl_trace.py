"""Real ``kubectl get -A -w --output-watch-events -o json`` output is a readable trace."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from discofilter.harness.processes import write_kubeconfig
from discofilter.harness.replay import TraceReplayer
from discofilter.harness.trace import read_trace
from discofilter.sim.server import Simulator
from discofilter.sim.store import Store

pytestmark = [pytest.mark.kubectl, pytest.mark.timeout(60)]


def _kubectls() -> list[str]:
    """The machine's kubectl plus the oldest and newest versioned ones beside it: older
    releases pretty-print each watch document over many lines, newer ones print one per line."""
    default = shutil.which("kubectl")
    if default is None:
        return []
    here = Path(default).resolve().parent
    found = [str(here / n) for n in ("kubectl.1.27", "kubectl.1.33") if (here / n).exists()]
    return [default, *found]


@pytest.mark.skipif(not _kubectls(), reason="kubectl not on PATH")
@pytest.mark.parametrize("kubectl", _kubectls() or ["kubectl"], ids=lambda p: Path(p).name)
@pytest.mark.parametrize("watch_events", [True, False], ids=["watch-events", "bare-objects"])
async def test_kubectl_watch_output_parses_and_replays(
    tmp_path: Path, kubectl: str, watch_events: bool
) -> None:
    # kubectl 1.27-1.33 print --output-watch-events documents one per line, and bare objects
    # (no --output-watch-events) pretty-printed over many lines: both must read.
    flags = ["--output-watch-events"] if watch_events else []
    async with Simulator() as sim:
        store = sim.store
        store.create("namespaces", {"metadata": {"name": "a", "labels": {"x": "y"}}})
        store.create("pods", {"metadata": {"name": "p0", "namespace": "a"}, "spec": {}})
        kc = write_kubeconfig(tmp_path / "kubeconfig", sim.url)
        out = tmp_path / "kubectl.json"
        with out.open("wb") as f:
            proc = await asyncio.create_subprocess_exec(
                kubectl, f"--kubeconfig={kc}", "get", "pods", "-A", "-w",
                *flags, "-o", "json", stdout=f,
                stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip

            async def watching() -> None:
                # kubectl opens its watch after printing the initial list: wait for the watch.
                while sim.watchers < 1:  # noqa: ASYNC110 - the emulator counts, it has no event
                    await asyncio.sleep(0.02)

            await asyncio.wait_for(watching(), 20)
            store.create("pods", {"metadata": {"name": "p1", "namespace": "a"}, "spec": {}})
            store.delete("pods", "p0", "a")

            def documents() -> int:
                data = out.read_bytes()  # p0 listed, p1 added, p0 deleted: three documents
                return data.count(b'"name": "p') + data.count(b'"name":"p')

            async def printed() -> None:
                while documents() < 3:  # noqa: ASYNC110 - kubectl writes a file, no event
                    await asyncio.sleep(0.02)

            await asyncio.wait_for(printed(), 20)
            proc.terminate()
            await proc.wait()
    if not watch_events:
        assert out.read_text().count("\n") > 10  # pretty-printed: many lines per document
    evs = list(read_trace(out, rate=10))
    # Bare objects carry no event type: a key seen again is MODIFIED (a deletion looks the same).
    last = "DELETED" if watch_events else "MODIFIED"
    assert [(e.type, e.object["metadata"]["name"]) for e in evs] == [
        ("ADDED", "p0"),
        ("ADDED", "p1"),
        (last, "p0"),
    ]
    assert all(e.kind == "pods" for e in evs)
    replayed = Store()
    TraceReplayer(replayed, evs).apply_all()
    names = [p["metadata"]["name"] for p in replayed.list("pods")[0]]
    assert names == (["p1"] if watch_events else ["p0", "p1"])
