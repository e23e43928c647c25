"""Scenario loading and the churn driver, stepped with a FakeClock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from discofilter.clock import FakeClock
from discofilter.errors import ConfigError
from discofilter.sim import ChurnDriver, Store, load_scenario, parse_scenario, populate
from discofilter.sim.objects import GROUP_LABEL

SCENARIOS = Path(__file__).resolve().parents[3] / "bench" / "scenarios"


def _doc(**churn: Any) -> dict[str, Any]:
    return {
        "name": "t",
        "seed": 5,
        "nodes": 2,
        "namespaceGroups": [
            {
                "name": "mesh",
                "count": 2,
                "namePattern": "m-{i}",
                "labels": {"istio-injection": "enabled"},
                "objects": {"pods": 3, "services": 1, "endpointslices": 1},
            },
            {
                "name": "batch",
                "count": 3,
                "namePattern": "b-{i}",
                "objects": {"pods": 4, "configmaps": 1},
            },
        ],
        "churn": churn,
    }


def _setup(doc: dict[str, Any], seed: int | None = None) -> tuple[Store, ChurnDriver, FakeClock]:
    clock = FakeClock()
    sc = parse_scenario(doc)
    store = Store(clock=clock, seed=1)
    populate(store, sc)
    return store, ChurnDriver(store, sc, seed, clock), clock


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_scenarios_load(path: Path) -> None:
    sc = load_scenario(path)
    assert sc.groups and sc.cycle_seconds > 0


def test_populate_builds_realistic_objects() -> None:
    store, driver, _ = _setup(_doc())
    assert (
        store.count("namespaces") == 5
        and store.count("pods") == 2 * 3 + 3 * 4
        and store.count("nodes") == 2
    )
    ns = store.get("namespaces", "m-0")
    assert ns["metadata"]["labels"][GROUP_LABEL] == "mesh"
    pod = next(iter(store.iter_objects("pods", "m-0")))
    names = [c["name"] for c in pod["spec"]["containers"]]
    assert "istio-proxy" in names and pod["metadata"]["managedFields"]
    assert pod["status"]["podIPs"] and {c["type"] for c in pod["status"]["conditions"]} >= {
        "Ready",
        "PodScheduled",
    }
    assert 6000 < len(orjson.dumps(pod)) < 9000
    plain = next(iter(store.iter_objects("pods", "b-0")))
    assert "istio-proxy" not in [c["name"] for c in plain["spec"]["containers"]]
    es = next(iter(store.iter_objects("endpointslices", "m-0")))
    assert es["endpoints"][0]["targetRef"]["kind"] == "Pod" and es["addressType"] == "IPv4"
    assert sorted(driver.namespaces) == ["batch", "mesh"]


def test_rates_are_exact_per_simulated_second() -> None:
    doc = _doc(
        phases=[
            {
                "name": "p",
                "duration": 10,
                "rates": [
                    {"group": "batch", "kind": "pods", "creates": 50, "deletes": 3, "updates": 2.5}
                ],
            }
        ]
    )
    store, driver, clock = _setup(doc)
    assert driver.step(clock.monotonic()) == 0
    assert driver.events_due(clock.monotonic() + 1.0) == 55
    for _ in range(10):
        clock.advance(0.1)
        driver.step()
    assert driver.by_op[("pods", "creates")] == 50
    assert driver.by_op[("pods", "deletes")] == 3
    assert driver.by_op[("pods", "updates")] == 2
    assert sum(driver.by_namespace.values()) == driver.events == 55
    assert set(driver.by_namespace) <= {"b-0", "b-1", "b-2"} and driver.by_group == {"batch": 55}
    assert store.count("pods", None) == 18 + 50 - 3


def test_same_seed_same_events() -> None:
    doc = _doc(
        phases=[
            {
                "name": "p",
                "duration": 3,
                "rates": [
                    {"group": "mesh", "kind": "pods", "creates": 7, "updates": 7, "deletes": 5}
                ],
            }
        ]
    )

    def trace(seed: int) -> list[tuple[str, str, str]]:
        store, driver, clock = _setup(doc, seed)
        start = store.resource_version
        t0 = clock.monotonic()
        driver.step(t0)
        for _ in range(30):
            clock.advance(0.1)
            driver.step()
        driver.step(t0 + 3.0)  # 30 float steps of 0.1 fall just short of 3.0
        return [(e.type, e.namespace, e.name) for e in store.history("pods").since(start) or []]

    a, b = trace(1), trace(1)
    assert a == b and len(a) == 57
    assert trace(2) != a


def test_phases_repeat_and_finish() -> None:
    doc = _doc(
        repeat=2,
        phases=[
            {
                "name": "spawn",
                "duration": 1,
                "rates": [{"group": "batch", "kind": "pods", "creates": 10}],
            },
            {
                "name": "reap",
                "duration": 1,
                "rates": [{"group": "batch", "kind": "pods", "deletes": 10}],
            },
        ],
    )
    store, driver, clock = _setup(doc)
    driver.step(clock.monotonic())
    driver.step(clock.monotonic() + 100)
    assert driver.finished
    assert driver.by_op == {("pods", "creates"): 20, ("pods", "deletes"): 20}
    assert store.count("pods") == 18


def test_relabels_and_bursts() -> None:
    doc = _doc(
        phases=[
            {
                "name": "p",
                "duration": 2,
                "relabels": [
                    {
                        "at": 1,
                        "group": "batch",
                        "count": 2,
                        "labels": {"istio-injection": "enabled"},
                    }
                ],
                "bursts": [
                    {"at": 0.5, "group": "mesh", "kind": "pods", "creates": 100, "over": 0.5}
                ],
            }
        ]
    )
    store, driver, clock = _setup(doc)
    driver.step(clock.monotonic())
    assert driver.events_due(clock.monotonic() + 0.75) == 50
    driver.step(clock.monotonic() + 0.75)
    assert driver.by_op[("pods", "creates")] == 50 and driver.by_op[("namespaces", "relabels")] == 0
    driver.step(clock.monotonic() + 2)
    assert (
        driver.by_op[("pods", "creates")] == 100 and driver.by_op[("namespaces", "relabels")] == 2
    )
    enrolled = [
        n
        for n in ("b-0", "b-1", "b-2")
        if store.get("namespaces", n)["metadata"]["labels"].get("istio-injection")
    ]
    assert len(enrolled) == 2


def test_updates_never_mutate_stored_objects() -> None:
    doc = _doc(
        phases=[
            {
                "name": "p",
                "duration": 1,
                "rates": [
                    {"group": "mesh", "kind": "pods", "updates": 20},
                    {"group": "batch", "kind": "configmaps", "updates": 5},
                ],
            }
        ]
    )
    store, driver, clock = _setup(doc)
    start = store.resource_version
    driver.step(clock.monotonic())
    driver.step(clock.monotonic() + 1)
    evs = store.history("pods").since(start) or []
    assert len(evs) == 20
    for ev in evs:
        assert ev.prev is not None and ev.prev != ev.obj
        assert int(ev.prev["metadata"]["resourceVersion"]) < ev.rv


async def test_run_on_fake_clock() -> None:
    import asyncio

    doc = _doc(
        repeat=1,
        phases=[
            {
                "name": "p",
                "duration": 1,
                "rates": [{"group": "batch", "kind": "pods", "creates": 20}],
            }
        ],
    )
    _, driver, clock = _setup(doc)
    task = asyncio.ensure_future(driver.run(tick=0.1))
    for _ in range(12):
        # FakeClock has no "someone is sleeping" event; yield until the driver parks on it.
        while clock.pending_sleepers == 0 and not task.done():  # noqa: ASYNC110
            await asyncio.sleep(0)
        clock.advance(0.1)
    await asyncio.wait_for(task, 5)
    assert driver.finished and driver.by_op[("pods", "creates")] == 20


@pytest.mark.parametrize(
    ("mutate", "key"),
    [
        (lambda d: d["namespaceGroups"][0].update(count="two"), "namespaceGroups[0].count"),
        (lambda d: d["namespaceGroups"][1]["objects"].update(pod=3), "namespaceGroups[1].objects"),
        (
            lambda d: d.update(
                churn={"phases": [{"duration": 1, "rates": [{"group": "nope", "kind": "pods"}]}]}
            ),
            "churn.phases[0].rates[0].group",
        ),
        (
            lambda d: d.update(
                churn={"phases": [{"duration": 1, "rates": [{"group": "mesh", "kind": "pod"}]}]}
            ),
            "churn.phases[0].rates[0].kind",
        ),
        (lambda d: d.update(churn={"phases": [{"rates": []}]}), "churn.phases[0].duration"),
        (
            lambda d: d.update(
                churn={"phases": [{"duration": 1, "relabels": [{"at": 0, "labels": {}}]}]}
            ),
            "churn.phases[0].relabels[0]",
        ),
        (lambda d: d.update(extra=1), "unknown key(s) extra"),
        (lambda d: d["namespaceGroups"][0].update(labels=["a"]), "namespaceGroups[0].labels"),
        (
            lambda d: d["namespaceGroups"][0].update(namePattern="x-{j}"),
            "namespaceGroups[0].namePattern",
        ),
    ],
)
def test_validation_names_the_key(mutate: Any, key: str) -> None:
    doc = _doc()
    mutate(doc)
    with pytest.raises(ConfigError) as e:
        parse_scenario(doc)
    assert key in str(e.value)
