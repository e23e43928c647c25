"""Churn in a real cluster through the API, the way kube-burner does it.

``ClusterChurn`` creates its own namespaces (``df-bench-mesh-N`` labelled so the scenario's first
discovery selector enrolls them, ``df-bench-batch-N`` unlabelled), then, every 100 ms tick,
creates and deletes pause pods at the scenario's rates with the scenario's share of churn in
non-mesh namespaces; ``cleanup`` deletes the namespaces (and so every pod it made). It touches
nothing it did not create.

Pods use ``registry.k8s.io/pause`` with ``terminationGracePeriodSeconds: 0`` so deletes are
immediate and a cluster pays almost nothing to run them. Rates are capped by the API's answer
time: writes are issued concurrently per tick, at most ``max_in_flight`` (64) at once —
kube-apiserver's default ``--max-mutating-requests-inflight`` is 200, so a benchmark never
starves the control plane of mutating slots.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, deque
from typing import Any

from kubernetes_asyncio import client

from discofilter.harness.scenario_meta import ScenarioMeta

TICK_S = 0.1


def _mesh_labels(selectors: list[dict[str, Any]]) -> dict[str, str]:
    """Labels that satisfy the first selector's matchLabels (matchExpressions In: first value)."""
    if not selectors:
        return {}
    sel = selectors[0]
    labels = dict(sel.get("matchLabels") or {})
    for expr in sel.get("matchExpressions") or ():
        if expr.get("operator") == "In" and expr.get("values"):
            labels[expr["key"]] = expr["values"][0]
        elif expr.get("operator") == "Exists":
            labels[expr["key"]] = "true"
    return labels


class ClusterChurn:
    def __init__(
        self,
        api: Any,
        meta: ScenarioMeta,
        *,
        seed: int = 1,
        namespaces: int = 4,
        max_in_flight: int = 64,
    ) -> None:
        self.core = client.CoreV1Api(api)
        self.meta = meta
        self.rng = random.Random(seed)
        prof = meta.cluster_profile
        self.creates_per_s = float(prof.get("createsPerSecond", 50))
        self.deletes_per_s = float(prof.get("deletesPerSecond", 30))
        share = meta.non_mesh_share if meta.non_mesh_share is not None else 0.8
        self.non_mesh_share = float(prof.get("nonMeshShare", share))
        self.mesh_ns = [f"df-bench-mesh-{i}" for i in range(namespaces)]
        self.batch_ns = [f"df-bench-batch-{i}" for i in range(namespaces)]
        self.sem = asyncio.Semaphore(max_in_flight)
        self.live: deque[tuple[str, str]] = deque()
        self.counts: Counter[str] = Counter()
        self._n = 0

    async def setup(self) -> None:
        labels = _mesh_labels(self.meta.selectors)
        for ns in self.mesh_ns + self.batch_ns:
            body: Any = {"metadata": {"name": ns, "labels": labels if ns in self.mesh_ns else {}}}
            try:
                await self.core.create_namespace(body)
            except client.ApiException as e:
                if e.status != 409:
                    raise

    async def _create(self, ns: str) -> None:
        self._n += 1
        name = f"churn-{self._n}"
        body: Any = {
            "metadata": {"name": name, "labels": {"app": "df-bench-churn"}},
            "spec": {
                "terminationGracePeriodSeconds": 0,
                "containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.9"}],
            },
        }
        async with self.sem:
            try:
                await self.core.create_namespaced_pod(ns, body)
                self.live.append((ns, name))
                self.counts["create"] += 1
            except client.ApiException:
                self.counts["create_errors"] += 1

    async def _delete(self) -> None:
        if not self.live:
            return
        ns, name = self.live.popleft()
        async with self.sem:
            try:
                await self.core.delete_namespaced_pod(name, ns, grace_period_seconds=0)
                self.counts["delete"] += 1
            except client.ApiException:
                self.counts["delete_errors"] += 1

    def _pick_ns(self) -> str:
        pool = self.batch_ns if self.rng.random() < self.non_mesh_share else self.mesh_ns
        return self.rng.choice(pool)

    async def run(self, duration_s: float) -> Counter[str]:
        start = time.monotonic()
        owed_c = owed_d = 0.0
        while (now := time.monotonic()) - start < duration_s:
            owed_c += self.creates_per_s * TICK_S
            owed_d += self.deletes_per_s * TICK_S
            ops: list[Any] = []
            while owed_c >= 1:
                ops.append(self._create(self._pick_ns()))
                owed_c -= 1
            while owed_d >= 1:
                ops.append(self._delete())
                owed_d -= 1
            await asyncio.gather(*ops)
            await asyncio.sleep(max(0.0, TICK_S - (time.monotonic() - now)))
        return self.counts

    async def current_resource_version(self) -> int:
        resp: Any = await self.core.list_namespace(limit=1, _preload_content=False)
        doc = await resp.json()
        return int(doc["metadata"]["resourceVersion"])

    async def cleanup(self) -> None:
        for ns in self.mesh_ns + self.batch_ns:
            try:
                await self.core.delete_namespace(ns)
            except client.ApiException:
                pass
