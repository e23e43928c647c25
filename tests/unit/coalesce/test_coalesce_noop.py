"""Semantic no-op suppression: what counts as a no-op, and what is always forwarded."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from _coalesce_helpers import brief, json_event, pb_frame, pod

from discofilter.coalesce import CoalescePolicy, Coalescer, CoalesceStats
from discofilter.coalesce.noop import DeliveredDigests, semantic_digest
from discofilter.model import WatchEvent

SUPPRESS = CoalescePolicy(window_seconds=0.0, suppress_noop=True)


def base(rv: int = 1) -> dict[str, Any]:
    obj = pod("p", rv, v=1)
    obj["metadata"]["labels"] = {"app": "web"}
    obj["metadata"]["managedFields"] = [{"manager": "kubelet", "time": "2024-01-01T00:00:00Z"}]
    obj["status"] = {
        "phase": "Running",
        "podIP": "10.0.0.1",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": "2024-01-01T00:00:00Z",
            }
        ],
    }
    return obj


def changed(path: str, value: Any) -> dict[str, Any]:
    obj = copy.deepcopy(base(2))
    *parents, leaf = path.split(".")
    node: Any = obj
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    node[leaf] = value
    return obj


NOOPS = {
    "resourceVersion only": changed("metadata.resourceVersion", "2"),
    "managedFields": changed("metadata.managedFields", [{"manager": "kubectl"}]),
    "lastProbeTime": changed("status.conditions.0.lastProbeTime", "2024-02-02T00:00:00Z"),
    "lastHeartbeatTime": changed("status.conditions.0.lastHeartbeatTime", "2024-02-02T00:00:00Z"),
}
REAL_CHANGES = {
    "label": changed("metadata.labels", {"app": "db"}),
    "annotation": changed("metadata.annotations", {"a": "b"}),
    "deletionTimestamp": changed("metadata.deletionTimestamp", "2024-02-02T00:00:00Z"),
    "pod IP": changed("status.podIP", "10.0.0.2"),
    "phase": changed("status.phase", "Failed"),
    "readiness": changed("status.conditions.0.status", "False"),
    "lastTransitionTime": changed("status.conditions.0.lastTransitionTime", "2024-02-02T00:00:00Z"),
    "generation": changed("metadata.generation", 2),
    "spec": changed("spec", {"v": 2}),
}


def _run(second: dict[str, Any]) -> tuple[list[str], CoalesceStats]:
    stats = CoalesceStats()
    c = Coalescer(SUPPRESS, stats=stats)
    c.push(json_event("ADDED", base(1)), 0)
    out = c.ready(0)  # delivered before the MODIFIED arrives (else the two merge)
    c.push(json_event("MODIFIED", second), 0)
    return brief(out + c.ready(0)), stats


@pytest.mark.parametrize("name", list(NOOPS))
def test_noop_modified_is_suppressed(name: str) -> None:
    out, stats = _run(NOOPS[name])
    assert out == ["ADDED p 1"]
    assert stats.suppressed == 1


@pytest.mark.parametrize("name", list(REAL_CHANGES))
def test_real_change_is_forwarded(name: str) -> None:
    out, stats = _run(REAL_CHANGES[name])
    assert out == ["ADDED p 1", "MODIFIED p 2"]
    assert stats.suppressed == 0


def test_off_by_default() -> None:
    c = Coalescer(CoalescePolicy(window_seconds=0.0, max_events_per_second=1000.0))
    c.push(json_event("ADDED", base(1)), 0)
    assert len(c.ready(0)) == 1
    c.push(json_event("MODIFIED", NOOPS["resourceVersion only"]), 0)
    assert len(c.ready(0)) == 1


def test_compared_with_the_last_delivered_state_not_the_last_seen() -> None:
    c = Coalescer(CoalescePolicy(window_seconds=0.25, suppress_noop=True))
    c.push(json_event("ADDED", base(1)), 0)
    assert len(c.ready(0.25)) == 1
    c.push(json_event("MODIFIED", REAL_CHANGES["pod IP"]), 0.3)  # held, not delivered
    back = copy.deepcopy(base(3))  # and back to the delivered state before the window ends
    c.push(json_event("MODIFIED", back), 0.4)
    assert c.held == 0  # the client already has this state: nothing to send at all
    assert c.ready(1) == []


def test_a_noop_after_a_held_added_is_still_delivered_as_added() -> None:
    c = Coalescer(CoalescePolicy(window_seconds=0.25, suppress_noop=True))
    c.push(json_event("ADDED", base(1)), 0)
    c.push(json_event("MODIFIED", NOOPS["managedFields"]), 0.1)
    assert brief(c.ready(0.25)) == ["ADDED p 2"]


def test_deleted_resets_and_a_recreation_is_not_suppressed() -> None:
    c = Coalescer(SUPPRESS)
    c.push(json_event("ADDED", base(1)), 0)
    assert len(c.ready(0)) == 1
    c.push(json_event("DELETED", base(2)), 0)
    assert len(c.ready(0)) == 1
    c.push(json_event("MODIFIED", base(3)), 0)  # same uid, same content: no digest any more
    assert len(c.ready(0)) == 1


def test_protobuf_is_never_suppressed() -> None:
    c = Coalescer(SUPPRESS)
    frame = pb_frame("MODIFIED", b"k8s\x00same")
    c.push(WatchEvent("ADDED", "a", "p", "u", "1", pb_frame("ADDED", b"k8s\x00same")), 0)
    assert len(c.ready(0)) == 1
    c.push(WatchEvent("MODIFIED", "a", "p", "u", "2", frame), 0)
    assert len(c.ready(0)) == 1
    assert semantic_digest(frame) is None


def test_digest_ignores_key_order_and_rejects_non_events() -> None:
    a = b'{"type":"MODIFIED","object":{"metadata":{"name":"p","resourceVersion":"1"},"x":1}}\n'
    b = b'{"object":{"x":1,"metadata":{"resourceVersion":"9","name":"p"}},"type":"MODIFIED"}\n'
    assert semantic_digest(a) == semantic_digest(b) is not None
    assert semantic_digest(b"{oops") is None
    assert semantic_digest(b'{"type":"MODIFIED","object":[]}') is None


def test_namespace_policy_can_turn_suppression_on() -> None:
    c = Coalescer(CoalescePolicy(window_seconds=0.0), namespace_policy=lambda ns: SUPPRESS)
    c.push(json_event("ADDED", base(1)), 0)
    assert len(c.ready(0)) == 1
    c.push(json_event("MODIFIED", NOOPS["lastProbeTime"]), 0)
    assert c.ready(0) == [] and c.stats.suppressed == 1


def test_delivered_digests_are_lru_bounded() -> None:
    d = DeliveredDigests(max_keys=2)
    for i in range(3):
        d.delivered(("a", f"p{i}", "u"), b"x")
    assert len(d) == 2 and d.get(("a", "p0", "u")) is None
    d.delivered(("a", "p1", "u"), None)
    assert d.get(("a", "p1", "u")) is None
    off = DeliveredDigests(max_keys=0)
    off.delivered(("a", "p", "u"), b"x")
    assert len(off) == 0
