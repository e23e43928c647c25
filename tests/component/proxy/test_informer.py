"""An informer-style client through the proxy converges under churn and enrollment changes.

Includes the hypothesis property test of issue 3: random event sequences, random selectors,
random relabels and random disconnect/resume points → the client's final cache equals the
emulator's state restricted to enrolled namespaces, and resourceVersions never go backwards
within a watch.
"""

from __future__ import annotations

import asyncio
import copy
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from discofilter.config import Config, with_overrides
from tests.component.proxy.conftest import CONTENT_TYPES, MESH, Rig, start_rig, stop_rig
from tests.component.proxy.informer import Informer, running

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("ctype", CONTENT_TYPES)
async def test_informer_converges_under_churn_and_relabels(rig: Rig, ctype: str) -> None:
    rng = random.Random(7)
    inf = Informer(rig.url, ctype)
    async with running(inf):
        names = [f"p{i}" for i in range(12)]
        for step in range(300):
            ns = rng.choice(["mesh-a", "mesh-b", "batch"])
            name = rng.choice(names)
            obj = copy.deepcopy(rig.sim.store.peek("pods", name, ns))  # peek: live copy
            if obj is None:
                rig.pod(name, ns)
            elif rng.random() < 0.3:
                rig.sim.store.delete("pods", name, ns)
            else:
                obj["metadata"].setdefault("labels", {})["step"] = str(step)
                rig.sim.store.update("pods", obj)
            if step == 100:
                rig.sim.store.set_namespace_labels("batch", MESH)  # joins
            if step == 200:
                rig.sim.store.set_namespace_labels("mesh-b", {})  # leaves
            if step % 25 == 0:
                await asyncio.sleep(0.01)
        await rig.until(lambda: inf.keys() == rig.expected(), within=10)
    assert inf.relists >= 2  # the two enrollment changes ended the watch with 410
    assert inf.rv_regressions == 0


_ops = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.sampled_from(["n1", "n2", "n3"]), st.integers(0, 4)),
        st.tuples(st.just("del"), st.sampled_from(["n1", "n2", "n3"]), st.integers(0, 4)),
        st.tuples(st.just("label"), st.sampled_from(["n1", "n2", "n3"]), st.sampled_from(
            [{}, {"mesh": "on"}, {"team": "x"}, {"mesh": "on", "team": "x"}])),
        st.tuples(st.just("disconnect"), st.just(""), st.just(0)),
    ),
    min_size=1,
    max_size=25,
)  # fmt: skip


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(
    selectors=st.lists(st.sampled_from(["mesh=on", "team=x", "mesh,team notin (y)"]),
                       min_size=1, max_size=2),
    ops=_ops,
    ctype=st.sampled_from([p.values[0] for p in CONTENT_TYPES if not p.marks]),
)  # fmt: skip
def test_property_final_cache_equals_filtered_state(
    selectors: list[str], ops: list[tuple[str, str, object]], ctype: str
) -> None:
    asyncio.run(_property_case(selectors, ops, ctype))


async def _property_case(
    selectors: list[str], ops: list[tuple[str, str, object]], ctype: str
) -> None:
    cfg = with_overrides(Config(), enrollment={"selectors": tuple(selectors)})
    rig = await start_rig(cfg)
    try:
        # Start with events flowing from two namespaces (per the selectors) and one outside.
        for n, labels in (("n1", {"mesh": "on"}), ("n2", {"team": "x"}), ("n3", {})):
            rig.ns(n, labels)
        await rig.proxy.namespaces.ready.wait()
        inf = Informer(rig.url, ctype)
        async with running(inf):
            for op, ns, arg in ops:
                if op == "put":
                    name = f"p{arg}"
                    obj = copy.deepcopy(rig.sim.store.peek("pods", name, ns))  # peek: live copy
                    if obj is None:
                        rig.pod(name, ns)
                    else:
                        obj["metadata"]["labels"] = {"v": str(random.random())[2:8]}
                        rig.sim.store.update("pods", obj)
                elif op == "del":
                    if rig.sim.store.peek("pods", f"p{arg}", ns) is not None:
                        rig.sim.store.delete("pods", f"p{arg}", ns)
                elif op == "label":
                    assert isinstance(arg, dict)
                    rig.sim.store.set_namespace_labels(ns, arg)
                else:
                    inf.disconnect()
                await asyncio.sleep(0.002)
            await rig.until(lambda: inf.keys() == rig.expected(), within=10)
            assert inf.rv_regressions == 0
    finally:
        await stop_rig(rig)
