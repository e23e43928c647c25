"""Generated scenarios (the emulator's format, ``discofilter.sim.scenario``) for the harness.

The emulator's format describes a cluster and its churn, not the mesh's discovery selectors, so:

* **Enrollment** defaults to Istio's usual convention, the same one the emulator uses to decide
  which groups get sidecars: ``istio-injection=enabled`` OR an ``istio.io/rev`` label
  (``DEFAULT_SELECTORS``). A bench-only scenario may set ``discoverySelectors:`` explicitly; the
  harness strips that key (and ``kinds:``, ``cluster:``) before the emulator validates the rest.
  Shipped scenarios do not use them, so ``discofilter sim --scenario`` accepts every one.
* **Non-mesh share** (``--non-mesh-share S``) rescales churn so that a share S of all operations
  (rates and bursts, weighted by phase duration) happens in groups the selectors do not enroll,
  keeping the *total* operation count the same — so the 50/80/95% variants of a scenario put the
  same load on the upstream and differ only in what a filter can drop.
* **Watched kinds** are the kinds the scenario churns (pods when it churns nothing).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from discofilter.clock import Clock
from discofilter.errors import ConfigError
from discofilter.filter.selectors import selector_from_label_selector, selector_set
from discofilter.harness.scenario_meta import Churner, ScenarioMeta
from discofilter.sim.churn import ChurnDriver
from discofilter.sim.populate import populate
from discofilter.sim.scenario import CHURN_KINDS, Burst, Phase, Rate, Scenario, parse_scenario

DEFAULT_SELECTORS: list[dict[str, Any]] = [
    {"matchLabels": {"istio-injection": "enabled"}},
    {"matchExpressions": [{"key": "istio.io/rev", "operator": "Exists"}]},
]
HARNESS_KEYS = ("discoverySelectors", "kinds", "cluster")


def _enrolled_groups(sc: Scenario, selectors: list[dict[str, Any]]) -> set[str]:
    sel = selector_set(selector_from_label_selector(s) for s in selectors)
    return {g.name for g in sc.groups if sel.matches(g.labels)}


def _ops(r: Rate | Burst) -> float:
    return float(r.creates + r.updates + r.deletes)


def churn_share(sc: Scenario, enrolled: set[str]) -> tuple[float, float]:
    """(operations in non-enrolled groups, operations in enrolled groups) over one cycle."""
    non = mesh = 0.0
    for p in sc.phases:
        for r in p.rates:
            n = _ops(r) * p.duration
            if r.group in enrolled:
                mesh += n
            else:
                non += n
        for b in p.bursts:
            if b.group in enrolled:
                mesh += _ops(b)
            else:
                non += _ops(b)
    return non, mesh


def with_non_mesh_share(sc: Scenario, enrolled: set[str], share: float) -> Scenario:
    """``sc`` with churn rescaled so ``share`` of operations are in non-enrolled groups."""
    if not 0.0 <= share < 1.0:
        raise ConfigError(f"--non-mesh-share: must be in [0, 1), got {share}")
    non, mesh = churn_share(sc, enrolled)
    total = non + mesh
    if total == 0:
        return sc
    if mesh == 0 or (non == 0 and share > 0):
        raise ConfigError(
            f"scenario {sc.name}: --non-mesh-share needs churn in both enrolled and "
            "non-enrolled groups to rescale"
        )
    a = share * total / non if non else 0.0
    b = (1 - share) * total / mesh

    def scale_rate(r: Rate) -> Rate:
        f = b if r.group in enrolled else a
        return dataclasses.replace(
            r, creates=r.creates * f, updates=r.updates * f, deletes=r.deletes * f
        )

    def scale_burst(x: Burst) -> Burst:
        f = b if x.group in enrolled else a
        return dataclasses.replace(
            x,
            creates=round(x.creates * f),
            updates=round(x.updates * f),
            deletes=round(x.deletes * f),
        )

    phases = tuple(
        dataclasses.replace(
            p,
            rates=tuple(scale_rate(r) for r in p.rates),
            bursts=tuple(scale_burst(x) for x in p.bursts),
        )
        for p in sc.phases
    )
    return dataclasses.replace(sc, phases=phases)


def churned_kinds(sc: Scenario) -> list[str]:
    seen = {r.kind for p in sc.phases for r in p.rates} | {
        b.kind for p in sc.phases for b in p.bursts
    }
    kinds = [k for k in CHURN_KINDS if k in seen]
    return kinds or ["pods"]


def _steady_profile(sc: Scenario, enrolled: set[str]) -> dict[str, Any]:
    """Pod create/delete rates of the first phase: a real cluster's churn driver runs these."""
    p: Phase | None = sc.phases[0] if sc.phases else None
    creates = sum(r.creates for r in p.rates if r.kind == "pods") if p else 50.0
    deletes = sum(r.deletes for r in p.rates if r.kind == "pods") if p else 30.0
    non, mesh = churn_share(sc, enrolled)
    return {
        "createsPerSecond": creates or 50.0,
        "deletesPerSecond": deletes or 30.0,
        "nonMeshShare": non / (non + mesh) if non + mesh else 0.8,
    }


class DriverChurn:
    """Adapts the emulator's ``ChurnDriver`` to the harness's ``Churner``."""

    def __init__(self, driver: ChurnDriver) -> None:
        self.driver = driver

    async def run(self, duration_s: float) -> None:
        await self.driver.run(duration_s)

    def counts_json(self) -> dict[str, Any]:
        d = self.driver
        return {
            "by_kind": dict(d.by_kind),
            "by_group": dict(d.by_group),
            "by_op": {f"{k}/{op}": n for (k, op), n in d.by_op.items()},
            "skipped": {f"{k}/{op}": n for (k, op), n in d.skipped.items()},
        }


def generated_meta(path: Path, doc: dict[str, Any], non_mesh_share: float | None) -> ScenarioMeta:
    doc = dict(doc)
    extra = {k: doc.pop(k) for k in HARNESS_KEYS if k in doc}
    try:
        sc = parse_scenario(doc, str(path))
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from e
    selectors = list(extra.get("discoverySelectors") or DEFAULT_SELECTORS)
    enrolled = _enrolled_groups(sc, selectors)
    if non_mesh_share is not None:
        sc = with_non_mesh_share(sc, enrolled, non_mesh_share)
    non, mesh = churn_share(sc, enrolled)
    share = round(non / (non + mesh), 4) if non + mesh else None
    final_sc = sc

    def build(store: Any, *, seed: int = 1, clock: Clock | None = None) -> Churner:
        populate(store, final_sc, seed)
        return DriverChurn(ChurnDriver(store, final_sc, seed, clock))

    cycle = sc.cycle_seconds
    duration = cycle * sc.repeat if sc.repeat else cycle
    return ScenarioMeta(
        name=sc.name if non_mesh_share is None else f"{sc.name}@{non_mesh_share:g}",
        selectors=selectors,
        kinds=list(extra.get("kinds") or churned_kinds(sc)),
        duration_s=duration or 10.0,
        non_mesh_share=share,
        build=build,
        cluster_profile=dict(extra.get("cluster") or _steady_profile(sc, enrolled)),
    )
