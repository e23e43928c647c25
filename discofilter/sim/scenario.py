"""Scenario files: a cluster and a churn profile over time, in YAML with camelCase keys.

Loading validates every key and names the offending one (``churn.phases[1].rates[0].kind:
unknown kind 'pod'; one of ...``), because scenarios are written by hand. The format is
documented with examples in docs/sim.md; in short::

    name: smoke
    seed: 7                      # default seed (the CLI's --seed overrides)
    nodes: 10
    objectSizes: {podBytes: 6000, configMapBytes: 512, secretBytes: 256}
    namespaceGroups:
      - name: mesh               # group name (churn refers to it)
        count: 5
        namePattern: "mesh-{i:03d}"   # str.format with i = 0..count-1
        labels: {istio-injection: enabled}
        mesh: true               # pods get the istio-proxy sidecar (default: labels say so)
        objects: {pods: 10, services: 2, endpointslices: 2, endpoints: 2, configmaps: 2, secrets: 1}
    churn:
      repeat: 1                  # times to play the phases (0 = forever)
      phases:
        - name: steady
          duration: 30           # seconds
          rates:                 # events/s summed over the group's namespaces
            - {group: batch, kind: pods, creates: 50, deletes: 30, updates: 20}
          relabels:              # namespace label changes at a time offset into the phase
            - {at: 10, group: batch, count: 1, labels: {istio-injection: enabled}}
          bursts:                # extra operations spread over [at, at + over)
            - {at: 5, group: batch, kind: pods, creates: 1000, over: 1}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from discofilter.errors import ConfigError
from discofilter.sim.resources import RESOURCES

CHURN_KINDS = ("pods", "services", "endpoints", "endpointslices", "configmaps", "secrets")
"""Namespaced kinds a scenario can populate and churn (namespaces and nodes are implicit)."""


@dataclass(frozen=True, slots=True)
class NamespaceGroup:
    name: str
    count: int
    name_pattern: str
    labels: dict[str, str]
    mesh: bool
    """Pods carry the Istio sidecar (default: the labels enable injection)."""
    objects: dict[str, int]
    """Objects of each kind per namespace at population time."""

    def namespace_name(self, i: int) -> str:
        return self.name_pattern.format(i=i, group=self.name)


OPERATIONS = ("creates", "updates", "deletes")


@dataclass(frozen=True, slots=True)
class KindOperations:
    """Creates, updates and deletes of one kind in one namespace group: what a ``Rate`` and a
    ``Burst`` have in common."""

    group: str
    kind: str
    creates: float = 0.0
    updates: float = 0.0
    deletes: float = 0.0


@dataclass(frozen=True, slots=True)
class Rate(KindOperations):
    """Operations per second, summed over the group's namespaces."""


@dataclass(frozen=True, slots=True)
class Relabel:
    at: float
    """Seconds into the phase."""
    labels: dict[str, str | None]
    """Labels to set; a null value removes the label."""
    group: str | None = None
    count: int = 1
    namespace: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Burst(KindOperations):
    """Operations in total (whole numbers), spread evenly over ``over`` seconds from ``at``."""

    at: float
    over: float = 1.0


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    duration: float
    rates: tuple[Rate, ...] = ()
    relabels: tuple[Relabel, ...] = ()
    bursts: tuple[Burst, ...] = ()


@dataclass(frozen=True, slots=True)
class ObjectSizes:
    pod_bytes: int = 0
    """Pad pods to about this many JSON bytes (0: natural size, ~4 KB plain, ~7 KB with sidecar)."""
    config_map_bytes: int = 512
    secret_bytes: int = 256


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    groups: tuple[NamespaceGroup, ...]
    phases: tuple[Phase, ...] = ()
    repeat: int = 1
    """How many times the phases play; 0 = forever."""
    seed: int = 1
    nodes: int = 10
    sizes: ObjectSizes = field(default_factory=ObjectSizes)

    def group(self, name: str) -> NamespaceGroup:
        for g in self.groups:
            if g.name == name:
                return g
        raise KeyError(name)

    @property
    def cycle_seconds(self) -> float:
        return sum(p.duration for p in self.phases)


# --- validation helpers ----------------------------------------------------------------------


def _map(v: Any, where: str, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(v, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(v).__name__}")
    unknown = set(v) - allowed
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )
    return v


def _num(v: Any, where: str, *, integer: bool = False, minimum: float = 0) -> float:
    if (
        isinstance(v, bool)
        or not isinstance(v, int | float)
        or (integer and not isinstance(v, int))
    ):
        raise ConfigError(f"{where}: expected {'an integer' if integer else 'a number'}, got {v!r}")
    if v < minimum:
        raise ConfigError(f"{where}: must be >= {minimum}, got {v!r}")
    return v


def _str(v: Any, where: str) -> str:
    if not isinstance(v, str) or not v:
        raise ConfigError(f"{where}: expected a non-empty string, got {v!r}")
    return v


def _labels(v: Any, where: str, *, allow_null: bool = False) -> dict[str, Any]:
    if v is not None and not isinstance(v, Mapping):
        raise ConfigError(f"{where}: expected a mapping of label to value, got {type(v).__name__}")
    m = v or {}
    out: dict[str, Any] = {}
    for k, val in m.items():
        if not isinstance(k, str) or not (isinstance(val, str) or (allow_null and val is None)):
            raise ConfigError(
                f"{where}.{k}: label values must be strings"
                f"{' or null' if allow_null else ''}, got {val!r}"
            )
        out[k] = val
    return out


def _kind(v: Any, where: str) -> str:
    if v not in CHURN_KINDS:
        raise ConfigError(f"{where}: unknown kind {v!r}; one of {', '.join(CHURN_KINDS)}")
    return str(v)


def _operations(m: Mapping[str, Any], where: str, *, integer: bool) -> dict[str, float]:
    """A rate's or a burst's creates/updates/deletes (0 when absent)."""
    return {
        op: (int if integer else float)(_num(m.get(op, 0), f"{where}.{op}", integer=integer))
        for op in OPERATIONS
    }


def parse_scenario(doc: Any, source: str = "scenario") -> Scenario:
    """Validate a decoded YAML document into a Scenario (ConfigError names the key)."""
    top = _map(
        doc,
        source,
        {"name", "seed", "nodes", "objectSizes", "namespaceGroups", "churn", "description"},
    )
    groups: list[NamespaceGroup] = []
    raw_groups = top.get("namespaceGroups")
    if not isinstance(raw_groups, list) or not raw_groups:
        raise ConfigError("namespaceGroups: expected a non-empty list")
    for i, g in enumerate(raw_groups):
        w = f"namespaceGroups[{i}]"
        gm = _map(g, w, {"name", "count", "namePattern", "labels", "mesh", "objects"})
        name = _str(gm.get("name"), f"{w}.name")
        pattern = _str(gm.get("namePattern", name + "-{i}"), f"{w}.namePattern")
        try:
            pattern.format(i=0, group=name)
        except (KeyError, IndexError, ValueError) as e:
            raise ConfigError(f"{w}.namePattern: {pattern!r} is not a valid pattern ({e})") from e
        labels = _labels(gm.get("labels"), f"{w}.labels")
        objects: dict[str, int] = {}
        for k, n in _map(gm.get("objects") or {}, f"{w}.objects", set(CHURN_KINDS)).items():
            objects[k] = int(_num(n, f"{w}.objects.{k}", integer=True))
        mesh = gm.get(
            "mesh", labels.get("istio-injection") == "enabled" or "istio.io/rev" in labels
        )
        if not isinstance(mesh, bool):
            raise ConfigError(f"{w}.mesh: expected true or false, got {mesh!r}")
        groups.append(
            NamespaceGroup(
                name,
                int(_num(gm.get("count", 1), f"{w}.count", integer=True, minimum=1)),
                pattern,
                labels,
                mesh,
                objects,
            )
        )
    names = [g.name for g in groups]
    if len(set(names)) != len(names):
        raise ConfigError(f"namespaceGroups: group names must be unique, got {names}")

    def group_ref(v: Any, where: str) -> str:
        s = _str(v, where)
        if s not in names:
            raise ConfigError(f"{where}: unknown group {s!r}; defined groups: {', '.join(names)}")
        return s

    sizes_m = _map(
        top.get("objectSizes") or {}, "objectSizes", {"podBytes", "configMapBytes", "secretBytes"}
    )
    sizes = ObjectSizes(
        int(_num(sizes_m.get("podBytes", 0), "objectSizes.podBytes", integer=True)),
        int(_num(sizes_m.get("configMapBytes", 512), "objectSizes.configMapBytes", integer=True)),
        int(_num(sizes_m.get("secretBytes", 256), "objectSizes.secretBytes", integer=True)),
    )
    churn = _map(top.get("churn") or {}, "churn", {"repeat", "phases"})
    phases: list[Phase] = []
    for i, p in enumerate(churn.get("phases") or []):
        w = f"churn.phases[{i}]"
        pm = _map(p, w, {"name", "duration", "rates", "relabels", "bursts"})
        rates = []
        for j, r in enumerate(pm.get("rates") or []):
            rw = f"{w}.rates[{j}]"
            rm = _map(r, rw, {"group", "kind", *OPERATIONS})
            rates.append(
                Rate(
                    group_ref(rm.get("group"), f"{rw}.group"),
                    _kind(rm.get("kind"), f"{rw}.kind"),
                    **_operations(rm, rw, integer=False),
                )
            )
        relabels = []
        for j, r in enumerate(pm.get("relabels") or []):
            rw = f"{w}.relabels[{j}]"
            rm = _map(r, rw, {"at", "group", "count", "namespace", "labels"})
            if ("group" in rm) == ("namespace" in rm):
                raise ConfigError(f"{rw}: give exactly one of group or namespace")
            relabels.append(
                Relabel(
                    float(_num(rm.get("at", 0), f"{rw}.at")),
                    _labels(rm.get("labels"), f"{rw}.labels", allow_null=True),
                    group_ref(rm["group"], f"{rw}.group") if "group" in rm else None,
                    int(_num(rm.get("count", 1), f"{rw}.count", integer=True, minimum=1)),
                    _str(rm["namespace"], f"{rw}.namespace") if "namespace" in rm else None,
                )
            )
        bursts = []
        for j, b in enumerate(pm.get("bursts") or []):
            bw = f"{w}.bursts[{j}]"
            bm = _map(b, bw, {"at", "group", "kind", "over", *OPERATIONS})
            bursts.append(
                Burst(
                    at=float(_num(bm.get("at", 0), f"{bw}.at")),
                    group=group_ref(bm.get("group"), f"{bw}.group"),
                    kind=_kind(bm.get("kind"), f"{bw}.kind"),
                    **_operations(bm, bw, integer=True),
                    over=float(_num(bm.get("over", 1.0), f"{bw}.over", minimum=0.001)),
                )
            )
        phases.append(
            Phase(
                _str(pm.get("name", f"phase-{i}"), f"{w}.name"),
                float(_num(pm.get("duration"), f"{w}.duration", minimum=0.001)),
                tuple(rates),
                tuple(relabels),
                tuple(bursts),
            )
        )
    return Scenario(
        name=_str(top.get("name", Path(source).stem), "name"),
        groups=tuple(groups),
        phases=tuple(phases),
        repeat=int(_num(churn.get("repeat", 1), "churn.repeat", integer=True)),
        seed=int(_num(top.get("seed", 1), "seed", integer=True)),
        nodes=int(_num(top.get("nodes", 10), "nodes", integer=True, minimum=1)),
        sizes=sizes,
    )


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file."""
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text())
    except OSError as e:
        raise ConfigError(f"{p}: cannot read scenario: {e}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: invalid YAML: {e}") from e
    try:
        return parse_scenario(doc, str(p))
    except ConfigError as e:
        raise ConfigError(f"{p}: {e}") from e


assert set(CHURN_KINDS) <= set(RESOURCES)
