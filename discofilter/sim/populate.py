"""Fill a Store with a scenario's cluster: nodes, namespaces, and each group's objects (pure).

Deterministic by seed: names, IPs and node assignment derive from counters, and the store's own
uids come from its seeded RNG. Pods of namespace k are spread round-robin over the namespace's
services (``svc-0``, ``svc-1``...), whose Endpoints and EndpointSlices list exactly those pods,
so the cluster is self-consistent (a client can join slices to pods by targetRef).
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from discofilter.sim import objects
from discofilter.sim.scenario import NamespaceGroup, Scenario
from discofilter.sim.store import Store

_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def suffix(rng: random.Random, n: int = 5) -> str:
    """A pod-name style random suffix (apimachinery's alphabet)."""
    return "".join(rng.choice(_ALPHABET) for _ in range(n))


def build_namespace_objects(
    group: NamespaceGroup,
    ns: str,
    scenario: Scenario,
    rng: random.Random,
    next_index: list[int],
) -> list[tuple[str, dict[str, Any]]]:
    """(resource, object) for everything one namespace of ``group`` holds at start."""
    out: list[tuple[str, dict[str, Any]]] = []
    n_svc = max(
        group.objects.get("services", 0),
        group.objects.get("endpoints", 0),
        group.objects.get("endpointslices", 0),
        1,
    )
    pods_by_app: dict[str, list[tuple[str, int]]] = {f"svc-{k}": [] for k in range(n_svc)}
    for p in range(group.objects.get("pods", 0)):
        app = f"svc-{p % n_svc}"
        idx = next_index[0]
        next_index[0] += 1
        name = f"{app}-7d9c6b5f48-{suffix(rng)}"
        pod = objects.pod(
            name,
            ns,
            idx,
            mesh=group.mesh,
            app=app,
            nodes=scenario.nodes,
            target_bytes=scenario.sizes.pod_bytes,
        )
        pods_by_app[app].append((name, idx))
        out.append(("pods", pod))
    for k in range(group.objects.get("services", 0)):
        out.append(("services", objects.service(f"svc-{k}", ns, next_index[0] + k, app=f"svc-{k}")))
    for k in range(group.objects.get("endpoints", 0)):
        out.append(
            (
                "endpoints",
                objects.endpoints(f"svc-{k}", ns, pods_by_app[f"svc-{k}"], scenario.nodes),
            )
        )
    for k in range(group.objects.get("endpointslices", 0)):
        svc = f"svc-{k % n_svc}"
        out.append(
            (
                "endpointslices",
                objects.endpointslice(svc, ns, suffix(rng), pods_by_app[svc], scenario.nodes),
            )
        )
    for k in range(group.objects.get("configmaps", 0)):
        out.append(
            ("configmaps", objects.configmap(f"config-{k}", ns, scenario.sizes.config_map_bytes))
        )
    for k in range(group.objects.get("secrets", 0)):
        out.append(("secrets", objects.secret(f"secret-{k}", ns, scenario.sizes.secret_bytes)))
    return out


def populate(store: Store, scenario: Scenario, seed: int | None = None) -> Counter[str]:
    """Create the scenario's nodes, namespaces and objects; returns objects created per kind."""
    rng = random.Random(scenario.seed if seed is None else seed)
    counts: Counter[str] = Counter()
    for i in range(scenario.nodes):
        if store.peek("nodes", objects.node_name(i)) is None:
            store.put_new("nodes", objects.node(i))
            counts["nodes"] += 1
    next_index = [1]
    for group in scenario.groups:
        for i in range(group.count):
            ns = group.namespace_name(i)
            labels = dict(group.labels)
            labels[objects.GROUP_LABEL] = group.name
            store.put_new("namespaces", objects.namespace(ns, labels))
            counts["namespaces"] += 1
            for resource, obj in build_namespace_objects(group, ns, scenario, rng, next_index):
                store.put_new(resource, obj, ns)
                counts[resource] += 1
    return counts
