"""The chart's Grafana dashboard and alert rules name only metrics a running discofilter
exposes: ``discofilter serve`` (meshConfigFrom and the safety list on, one watch open, so every
family has its samples) is scraped, and a second one with ``--shared-watches`` for the
``discofilter_shared_*`` families, and every ``discofilter_*`` name in the dashboard's and the
rules' expressions must be among the exposed series names. The rule file's shape is checked as
``promtool check rules`` would (docs/istio.md says how promtool itself was run on it)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from discofilter.sim.server import Simulator
from tests.component.reload.test_reload_cli import _fill, _serve, _stop, _until

pytestmark = pytest.mark.timeout(60)

CHART = Path(__file__).resolve().parents[3] / "charts" / "discofilter"
NAME = re.compile(r"\bdiscofilter_[a-z0-9_]+")
DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


def dashboard_exprs() -> list[str]:
    doc = json.loads((CHART / "dashboards" / "discofilter.json").read_text())
    out = [t["expr"] for p in doc["panels"] for t in p.get("targets", [])]
    for var in doc["templating"]["list"]:
        q = var.get("query")
        if isinstance(q, dict):
            out.append(q["query"])
    return out


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load((CHART / "rules" / "discofilter.rules.yaml").read_text())
    return [r for g in doc["groups"] for r in g["rules"]]


def test_rule_file_shape() -> None:
    doc = yaml.safe_load((CHART / "rules" / "discofilter.rules.yaml").read_text())
    assert set(doc) == {"groups"}
    names = set()
    for group in doc["groups"]:
        assert set(group) <= {"name", "interval", "rules"} and group["name"]
        for r in group["rules"]:
            assert set(r) <= {"alert", "expr", "for", "labels", "annotations"}, r
            assert r["alert"] not in names
            names.add(r["alert"])
            assert r["expr"].count("(") == r["expr"].count(")"), r["alert"]
            assert DURATION.match(r["for"]), r
            assert r["labels"]["severity"] in ("warning", "critical")
            assert r["annotations"]["summary"] and r["annotations"]["description"]
    assert {
        "DiscofilterSlowClientsCut", "DiscofilterUpstreamReconnectLoop",
        "DiscofilterEnrollmentSourceBroken", "DiscofilterFilterRatioCollapse",
    } <= names  # fmt: skip


async def test_every_queried_metric_is_exposed(tmp_path: Path) -> None:
    config = tmp_path / "discofilter.yaml"
    config.write_text("")
    async with Simulator() as sim:
        _fill(sim)
        meta = {"name": "istio", "namespace": "istio-system"}
        mesh = "discoverySelectors:\n- matchLabels: {istio-injection: enabled}\n"
        sim.store.create("configmaps", {"metadata": meta, "data": {"mesh": mesh}}, "istio-system")
        proc, url, admin = await _serve(
            sim, config, "--mesh-config-from", "configmap:istio-system/istio"
        )
        try:
            await _until(f"{admin}/debug/enrollment", lambda d: d["synced"])
            wider = mesh + "- matchLabels: {tier: batch}\n"  # one live reload: its counter
            sim.store.update("configmaps", {"metadata": meta, "data": {"mesh": wider}})
            await _until(f"{admin}/debug/enrollment", lambda d: len(d["selectors"]) == 2)
            async with aiohttp.ClientSession() as s:
                async with s.get(f"{url}/api/v1/pods") as r:  # a LIST: upstream duration etc.
                    assert r.status == 200
                # A write after the reload: a watch resuming from before its stamp would get
                # 410 at once (server/reload.py), and this one must stream.
                sim.store.create("pods", {"metadata": {"name": "m", "namespace": "mesh-a"},
                                          "spec": {}}, "mesh-a")  # fmt: skip
                rv = sim.store.resource_version
                async with s.get(f"{url}/api/v1/pods?watch=1&resourceVersion={rv}") as r:
                    assert r.status == 200
                    sim.store.create("pods", {"metadata": {"name": "n", "namespace": "mesh-a"},
                                              "spec": {}}, "mesh-a")  # fmt: skip
                    await asyncio.wait_for(r.content.readline(), 10)
                    text = await _until(f"{admin}/metrics", lambda t: 'kind="pods"' in t)
        finally:
            assert await _stop(proc) == 0
        # The shared-watch families exist when shared watches are on (one key open).
        proc, url, admin = await _serve(sim, config, "--shared-watches")
        try:
            await _until(f"{admin}/debug/enrollment", lambda d: d["synced"])
            async with aiohttp.ClientSession() as s, s.get(f"{url}/api/v1/pods?watch=1") as r:
                assert r.status == 200
                shared = await _until(
                    f"{admin}/metrics", lambda t: "discofilter_shared_clients{" in t
                )
        finally:
            assert await _stop(proc) == 0
    exposed: set[str] = set()
    for fam in [*text_string_to_metric_families(text), *text_string_to_metric_families(shared)]:
        exposed.add(fam.name)
        exposed.update(s.name for s in fam.samples)
    queried = {n for e in dashboard_exprs() + [r["expr"] for r in rules()] for n in NAME.findall(e)}
    assert len(queried) >= 15
    assert not queried - exposed, f"not exposed by /metrics: {sorted(queried - exposed)}"
