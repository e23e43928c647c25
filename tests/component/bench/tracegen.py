"""A synthetic recorder-format trace: labelled mesh namespaces, unlabelled batch ones, pod churn."""

from __future__ import annotations

import random
from pathlib import Path

import yaml

from discofilter.harness.trace import TraceWriter

MESH_LABEL = {"istio-discovery": "enabled"}


def _pod(ns: str, name: str, uid: str, gen: int) -> dict[str, object]:
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "namespace": ns,
            "name": name,
            "uid": uid,
            "labels": {"app": name[:3]},
            "annotations": {"gen": str(gen)},
        },
        "spec": {"containers": [{"name": "c", "image": "registry.example/app:1"}]},
        "status": {"phase": "Running"},
    }


def write_trace_scenario(
    dir_: Path, *, events: int = 400, seconds: float = 2.0, non_mesh: float = 0.8, seed: int = 7
) -> Path:
    """Write trace.jsonl.gz + scenario.yaml into ``dir_``; return the scenario path."""
    rng = random.Random(seed)
    mesh = ["mesh-a", "mesh-b"]
    batch = ["batch-a", "batch-b", "batch-c"]
    t0 = 1_700_000_000.0
    live: dict[tuple[str, str], str] = {}
    with TraceWriter(dir_ / "trace.jsonl.gz") as w:
        for ns in mesh:
            w.write(
                t0,
                "namespaces",
                "ADDED",
                {"kind": "Namespace", "metadata": {"name": ns, "labels": dict(MESH_LABEL)}},
            )
        for ns in batch:
            w.write(t0, "namespaces", "ADDED", {"kind": "Namespace", "metadata": {"name": ns}})
        for i in range(events):
            ts = t0 + 0.5 + seconds * i / events
            ns = rng.choice(batch) if rng.random() < non_mesh else rng.choice(mesh)
            keys = [k for k in live if k[0] == ns]
            op = rng.random()
            if not keys or op < 0.4:
                name = f"pod-{i}"
                uid = f"uid-{i}"
                live[(ns, name)] = uid
                w.write(ts, "pods", "ADDED", _pod(ns, name, uid, 0))
            elif op < 0.8:
                k = rng.choice(keys)
                w.write(ts, "pods", "MODIFIED", _pod(k[0], k[1], live[k], i))
            else:
                k = rng.choice(keys)
                w.write(ts, "pods", "DELETED", _pod(k[0], k[1], live.pop(k), i))
    scen = {
        "name": "synthetic-trace",
        "trace": "trace.jsonl.gz",
        "speed": 1.0,
        "preloadSeconds": 0.1,
        "discoverySelectors": [{"matchLabels": dict(MESH_LABEL)}],
        "kinds": ["pods"],
        "duration": seconds + 1.0,
    }
    path = dir_ / "scenario.yaml"
    path.write_text(yaml.safe_dump(scen))
    return path
