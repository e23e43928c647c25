"""kubectl 1.27 and 1.33 against the emulator: get, get -A -w, label, apply."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from discofilter.sim import Simulator

from .conftest import kubectl_binary

pytestmark = pytest.mark.kubectl
VERSIONS = ["1.27", "1.33"]


async def _kubectl(version: str, kubeconfig: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        kubectl_binary(version),
        "--kubeconfig",
        str(kubeconfig),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.mark.parametrize("version", VERSIONS)
async def test_get_pods_all_namespaces(version: str, sim: Simulator, kubeconfig: Path) -> None:
    rc, out, err = await _kubectl(version, kubeconfig, "get", "pods", "-A")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert len(lines) == 7 and lines[1].split()[:4] == ["batch-b", "pod-0", "0/1", "Running"]
    rc, out, err = await _kubectl(version, kubeconfig, "get", "ns", "mesh-a", "-o", "json")
    assert rc == 0, err
    assert orjson.loads(out)["metadata"]["labels"]["istio-injection"] == "enabled"
    rc, out, err = await _kubectl(version, kubeconfig, "get", "pods", "-n", "mesh-a", "missing")
    assert rc != 0 and 'pods "missing" not found' in err


@pytest.mark.parametrize("version", VERSIONS)
async def test_watch_all_namespaces_json(version: str, sim: Simulator, kubeconfig: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        kubectl_binary(version),
        "--kubeconfig",
        str(kubeconfig),
        "get",
        "pods",
        "-A",
        "-w",
        "--output-watch-events",
        "-o",
        "json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        decoder_buf = b""
        events: list[dict[str, object]] = []

        async def read_events(n: int) -> None:
            nonlocal decoder_buf
            while len(events) < n:
                chunk = await asyncio.wait_for(proc.stdout.read(65536), 10)  # type: ignore[union-attr]
                assert chunk, "kubectl exited"
                decoder_buf += chunk
                # kubectl pretty-prints one JSON document per event; split at top-level braces
                while True:
                    depth, end, in_str, esc = 0, -1, False, False
                    for i, c in enumerate(decoder_buf):
                        ch = chr(c)
                        if in_str:
                            esc = (not esc) if ch == "\\" else False
                            if ch == '"' and not esc:
                                in_str = False
                            continue
                        if ch == '"':
                            in_str = True
                        elif ch == "{":
                            depth += 1
                        elif ch == "}":
                            depth -= 1
                            if depth == 0:
                                end = i + 1
                                break
                    if end < 0:
                        break
                    events.append(orjson.loads(decoder_buf[:end]))
                    decoder_buf = decoder_buf[end:].lstrip()

        await read_events(6)
        assert {e["type"] for e in events} == {"ADDED"}
        sim.store.create("pods", {"metadata": {"name": "live"}, "spec": {}}, "mesh-a")
        await read_events(7)
        assert events[6]["type"] == "ADDED" and events[6]["object"]["metadata"]["name"] == "live"  # type: ignore[index]
    finally:
        proc.kill()
        await proc.wait()


@pytest.mark.parametrize("version", VERSIONS)
async def test_label_namespace_shows_in_store_and_watch(
    version: str, sim: Simulator, kubeconfig: Path
) -> None:
    rv = sim.store.resource_version
    rc, _, err = await _kubectl(
        version, kubeconfig, "label", "ns", "batch-b", "istio-injection=enabled"
    )
    assert rc == 0, err
    assert (
        sim.store.get("namespaces", "batch-b")["metadata"]["labels"]["istio-injection"] == "enabled"
    )
    rc, _, err = await _kubectl(
        version, kubeconfig, "annotate", "pod", "-n", "mesh-a", "pod-0", "note=hi"
    )
    assert rc == 0, err
    assert sim.store.get("pods", "pod-0", "mesh-a")["metadata"]["annotations"] == {"note": "hi"}
    events = sim.store.history("namespaces").since(rv) or []
    assert [(e.type, e.name) for e in events] == [("MODIFIED", "batch-b")]


@pytest.mark.parametrize("version", VERSIONS)
async def test_apply_creates_then_configures(
    version: str, sim: Simulator, kubeconfig: Path, tmp_path: Path
) -> None:
    manifest = tmp_path / "cm.yaml"
    for value, verb in (("one", "created"), ("two", "configured"), ("two", "unchanged")):
        manifest.write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\n  namespace: mesh-a\n"
            f"  labels: {{v: {value}}}\ndata:\n  key: {value}\n"
        )
        rc, out, err = await _kubectl(version, kubeconfig, "apply", "-f", str(manifest))
        assert rc == 0, err
        assert f"configmap/applied {verb}" in out
    cm = sim.store.get("configmaps", "applied", "mesh-a")
    assert cm["data"] == {"key": "two"} and cm["metadata"]["labels"] == {"v": "two"}
    assert "kubectl.kubernetes.io/last-applied-configuration" in cm["metadata"]["annotations"]


@pytest.mark.parametrize("version", VERSIONS)
async def test_create_run_delete(version: str, sim: Simulator, kubeconfig: Path) -> None:
    # kubectl 1.32+ sends create bodies as protobuf; older ones as JSON.
    ns = "t" + version.replace(".", "")
    for args in (("create", "ns", ns), ("run", "web", "-n", ns, "--image=nginx")):
        rc, _, err = await _kubectl(version, kubeconfig, *args)
        assert rc == 0, err
    pod = sim.store.get("pods", "web", ns)
    assert pod["spec"]["containers"][0]["image"] == "nginx"
    assert pod["status"]["phase"] == "Pending"
    rc, _, err = await _kubectl(version, kubeconfig, "delete", "ns", ns)
    assert rc == 0, err
    assert sim.store.count("pods", ns) == 0
