"""``discofilter selectors explain`` against the emulator, through kubernetes_asyncio."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from discofilter.explain import command
from discofilter.explain.render import render
from discofilter.sim.server import Simulator
from discofilter.sim.store import Store

NAMESPACES = {
    "istio-system": {},
    "shop": {"istio-injection": "enabled", "team": "shop"},
    "payments": {"istio-injection": "enabled", "team": "pay"},
    "batch": {"team": "data"},
    "ci": {"team": "ci", "mesh": "candidate"},
}
PODS = {"shop": 3, "payments": 2, "batch": 7, "ci": 1}
MESH = "discoverySelectors:\n- matchLabels:\n    istio-injection: enabled\n"


def _meta(name: str, ns: str | None = None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, **extra}
    if ns:
        meta["namespace"] = ns
    return meta


def populate(store: Store, istio_mesh: str | None = MESH) -> None:
    for name, labels in NAMESPACES.items():
        store.create("namespaces", {"metadata": _meta(name, labels=labels)})
    for ns, n in PODS.items():
        for i in range(n):
            store.create("pods", {"metadata": _meta(f"p{i}", ns), "spec": {"nodeName": "n1"}}, ns)
    for ns in ("shop", "payments", "batch"):
        store.create("services", {"metadata": _meta("web", ns), "spec": {}}, ns)
        store.create(
            "endpointslices",
            {"metadata": _meta("web-abc", ns), "addressType": "IPv4", "endpoints": []},
            ns,
        )
    if istio_mesh is not None:
        cm = {"metadata": _meta("istio", "istio-system"), "data": {"mesh": istio_mesh}}
        store.create("configmaps", cm, "istio-system")


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    store = Store()
    populate(store)
    async with Simulator(store) as s:
        yield s


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    command.register(parser.add_subparsers())
    return parser.parse_args(["selectors", "explain", *argv])


async def test_view_matches_emulator_namespaces(sim: Simulator) -> None:
    ex = await command.explain(parse("--upstream", sim.url, "--sample", "0"))
    rows = {r.name: r for r in ex.comparison.rows}
    assert set(rows) == set(NAMESPACES)
    # Baseline read from the emulator's istio ConfigMap: matchLabels istio-injection=enabled.
    assert ex.before.terms == ("istio-injection=enabled",)
    assert ex.after is None
    assert {n for n, r in rows.items() if r.before} == {"istio-system", "shop", "payments"}
    assert rows["istio-system"].term_before == "alwaysEnrolled"
    assert rows["shop"].term_before == "istio-injection=enabled"
    assert rows["batch"].term_before is None
    for ns, n in PODS.items():
        assert rows[ns].facts.counts["pods"] == n
    assert rows["ci"].facts.counts["services"] == 0
    assert rows["batch"].facts.counts["endpointslices"] == 1

    table = render(ex, "table")
    lines = table.splitlines()
    assert lines[0].split() == [
        "NAMESPACE", "ENROLLED", "TERM", "PODS", "SERVICES", "ENDPOINTSLICES", "CHURN/S", "SHARE"
    ]  # fmt: skip
    batch = next(line for line in lines if line.startswith("batch "))
    assert batch.split() == ["batch", "no", "<none>", "7", "1", "1", "-", "-"]
    assert "enrolled: 3 of 5 namespaces" in table
    assert "churn: not sampled" in table


async def test_candidate_selectors_added_removed(sim: Simulator, tmp_path: Path) -> None:
    cfg = tmp_path / "discofilter.yaml"
    cfg.write_text("discoverySelectors:\n- matchLabels:\n    team: shop\n")
    ex = await command.explain(
        parse("--upstream", sim.url, "--sample", "0", "--config", str(cfg), "-l", "mesh=candidate")
    )
    assert ex.comparison.added == ["ci"]
    assert ex.comparison.removed == ["payments"]
    doc = json.loads(render(ex, "json"))
    assert doc["kind"] == "SelectorExplanation"
    assert doc["summary"]["added"] == ["ci"] and doc["summary"]["removed"] == ["payments"]
    assert doc["candidate"]["terms"] == ["mesh=candidate", "team=shop"]  # flags first
    by_name = {n["name"]: n for n in doc["namespaces"]}
    assert by_name["ci"]["change"] == "added" and by_name["ci"]["term"] == "mesh=candidate"
    assert by_name["payments"]["termBefore"] == "istio-injection=enabled"
    assert by_name["payments"]["enrolled"] is False
    assert yaml.safe_load(render(ex, "yaml")) == doc
    table = render(ex, "table")
    ci = next(line for line in table.splitlines() if line.startswith("ci "))
    assert ci.split()[:5] == ["ci", "no", "yes", "+added", "mesh=candidate"]
    assert "(+1 added, -1 removed)" in table


async def test_no_istio_configmap_means_every_namespace() -> None:
    store = Store()
    populate(store, istio_mesh=None)
    async with Simulator(store) as s:
        ex = await command.explain(parse("--upstream", s.url, "--sample", "0", "-l", "team=data"))
    assert ex.before.select_all
    assert ex.comparison.enrolled_before == 5
    assert ex.comparison.added == []
    assert ex.comparison.removed == ["ci", "payments", "shop"]  # istio-system stays: always


async def _until(cond: Callable[[], bool]) -> None:
    # The emulator offers no event for "watch registered": poll, bounded by wait_for.
    while not cond():  # noqa: ASYNC110
        await asyncio.sleep(0.01)


async def test_churn_sample_counts_events_per_namespace(sim: Simulator) -> None:
    args = parse("--upstream", sim.url, "--sample", "2", "-o", "json")
    task = asyncio.create_task(command.explain(args))
    await asyncio.wait_for(_until(lambda: sim.watchers >= 3), 10)
    for i in range(12):
        pod = sim.store.get("pods", f"p{i % 7}", "batch")
        pod["metadata"]["labels"] = {"rev": str(i)}
        sim.store.update("pods", pod)
    sim.store.create("services", {"metadata": _meta("new", "ci"), "spec": {}}, "ci")
    ex = await asyncio.wait_for(task, 15)
    assert ex.sample_seconds == pytest.approx(2.0, abs=0.5)
    rows = {r.name: r for r in ex.comparison.rows}
    assert round(rows["batch"].facts.churn * ex.sample_seconds) == 12
    assert round(rows["ci"].facts.churn * ex.sample_seconds) == 1
    assert rows["shop"].facts.churn == 0
    # batch is not enrolled: the enrolled share excludes its 12 of 13 events.
    assert ex.comparison.churn_share_before == 0.0
    doc = json.loads(render(ex, "json"))
    assert doc["summary"]["totalChurnPerSecond"] == pytest.approx(13 / ex.sample_seconds, rel=1e-3)


def test_run_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert command.run(parse("--upstream", "http://127.0.0.1:9", "-l", "a in (b")) == 2
    assert "error:" in capsys.readouterr().err
    # Port 9 (discard) is closed on a dev machine: connection refused is an upstream error.
    assert command.run(parse("--upstream", "http://127.0.0.1:9", "--sample", "0")) == 1
    assert "error:" in capsys.readouterr().err


async def test_istio_revision_configmap() -> None:
    store = Store()
    populate(store, istio_mesh=None)
    mesh = "discoverySelectors:\n- matchLabels:\n    team: ci\n"
    cm = {"metadata": _meta("istio-canary", "istio-system"), "data": {"mesh": mesh}}
    store.create("configmaps", cm, "istio-system")
    async with Simulator(store) as s:
        ex = await command.explain(
            parse("--upstream", s.url, "--sample", "0", "--istio-revision", "canary")
        )
    assert ex.before.terms == ("team=ci",)
    assert "istio-system/istio-canary" in ex.before.description
    assert {r.name for r in ex.comparison.rows if r.before} == {"istio-system", "ci"}


async def test_warns_about_safety_namespaces_and_injected_namespaces_left_out() -> None:
    store = Store()
    populate(store)
    store.create("namespaces", {"metadata": _meta("ambient", labels={"team": "infra"})})
    ztunnel = {"metadata": _meta("ztunnel-1", "ambient", labels={"app": "ztunnel"}), "spec": {}}
    store.create("pods", ztunnel, "ambient")
    injected = _meta("legacy-0", "batch", annotations={"sidecar.istio.io/status": "{}"})
    store.create("pods", {"metadata": injected, "spec": {}}, "batch")
    async with Simulator(store) as sim:
        ex = await command.explain(parse("--upstream", sim.url, "--sample", "0", "-l", "team=shop"))
    warnings = [n for n in ex.notes if n.startswith("warning:")]
    assert any(w.startswith("warning: selectors leave out ambient (ztunnel; istio/istio#52057)")
               for w in warnings), warnings  # fmt: skip
    assert any("leave out istio-system" in w for w in warnings), warnings
    # payments is labelled for injection, batch has an injected pod: neither is enrolled.
    assert any(w.startswith("warning: payments has injected sidecars (label istio-injection")
               for w in warnings), warnings  # fmt: skip
    assert any(w.startswith("warning: batch has injected sidecars (pods with") for w in warnings)
    assert not any(w.startswith("warning: shop ") for w in warnings)
    assert "note: warning: selectors leave out ambient" in render(ex, "table")
