"""What the harness needs to know about a scenario, and how to build its churn.

Two kinds of scenario file:

* a *generated* scenario in the emulator's format (``discofilter.sim.scenario``, docs/sim.md):
  the harness reads its name, discovery selectors, watched kinds and duration, and optionally
  overrides its non-mesh share of churn (``--non-mesh-share``);
* a *trace* scenario (this package's extension): ``trace: PATH`` (relative to the scenario file)
  replayed by ``TraceReplayer`` at ``speed:`` (default 1x). Keys::

      name: my-trace
      trace: traces/prod.jsonl.gz      # recorder output or kubectl -w -o json output
      speed: 4                          # 4x faster than recorded
      rate: 200                         # events/s for kubectl output (it has no timestamps)
      preloadSeconds: 2                 # events in the first 2 s form the initial state
      discoverySelectors: [{matchLabels: {istio-discovery: enabled}}]
      kinds: [pods, endpointslices]
      duration: 60                      # default churn seconds (the trace may end sooner)

Enrollment truth for a trace comes from its Namespace events (labels included); namespaces it
never mentions are created unlabelled, i.e. not enrolled by a label selector.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from discofilter.clock import Clock
from discofilter.errors import ConfigError


class Churner(Protocol):
    async def run(self, duration_s: float) -> Any: ...

    def counts_json(self) -> dict[str, Any]: ...


@dataclass(slots=True)
class ScenarioMeta:
    name: str
    selectors: list[dict[str, Any]]
    """Istio discoverySelectors (metav1.LabelSelector dicts)."""
    kinds: list[str]
    duration_s: float
    non_mesh_share: float | None = None
    build: Callable[..., Churner] = field(default=lambda *a, **k: _no_churn())
    """``build(store, *, seed, clock)``: populate ``store`` and return the churn to run."""
    cluster_profile: dict[str, Any] = field(default_factory=dict)
    """Rates for a real cluster (``cluster_churn``): createsPerSecond, deletesPerSecond,
    nonMeshShare — the scenario's optional ``cluster:`` key, else its steady churn rates."""


class _NoChurn:
    async def run(self, duration_s: float) -> None:
        return None

    def counts_json(self) -> dict[str, Any]:
        return {}


def _no_churn() -> Churner:
    return _NoChurn()


class TraceChurn:
    """A trace scenario's churn: the replayer over the events after the preload."""

    def __init__(self, replayer: Any) -> None:
        self.replayer = replayer

    async def run(self, duration_s: float) -> Counter[str]:
        result: Counter[str] = await self.replayer.run(duration_s)
        return result

    def counts_json(self) -> dict[str, Any]:
        return dict(self.replayer.counts)


def trace_meta(path: Path, doc: dict[str, Any]) -> ScenarioMeta:
    from discofilter.harness.trace import read_trace

    trace_path = (path.parent / str(doc["trace"])).resolve()
    if not trace_path.exists():
        raise ConfigError(f"{path}: trace: {trace_path} does not exist")
    speed = float(doc.get("speed", 1.0))
    rate = float(doc.get("rate", 100.0))
    preload_s = float(doc.get("preloadSeconds", 0.0))

    def build(store: Any, *, seed: int = 1, clock: Clock | None = None) -> Churner:
        from discofilter.harness.replay import TraceReplayer

        events = sorted(read_trace(trace_path, rate=rate), key=lambda e: e.ts)
        t0 = events[0].ts if events else 0.0
        pre = [e for e in events if e.ts - t0 <= preload_s] if preload_s > 0 else []
        rest = events[len(pre) :]
        TraceReplayer(store, pre, clock=clock).apply_all()
        return TraceChurn(TraceReplayer(store, rest, speed=speed, clock=clock))

    return ScenarioMeta(
        name=str(doc.get("name") or path.stem),
        selectors=_selectors(path, doc),
        kinds=list(doc.get("kinds") or ["pods"]),
        duration_s=float(doc.get("duration", 30.0)),
        build=build,
        cluster_profile=dict(doc.get("cluster") or {}),
    )


def _selectors(path: Path, doc: dict[str, Any]) -> list[dict[str, Any]]:
    sels = doc.get("discoverySelectors")
    if sels is None:
        sels = (doc.get("mesh") or {}).get("discoverySelectors")
    if not isinstance(sels, list) or not sels:
        raise ConfigError(f"{path}: discoverySelectors: expected a non-empty list of selectors")
    return [dict(s) for s in sels]
