"""The Event about a refused mesh value: its shape, and a name that repeats for the same
refusal (so relists, workers and restarts re-post the same Event and get 409)."""

from __future__ import annotations

from datetime import UTC, datetime

from discofilter.sources.events import MAX_MESSAGE, event_body

CM = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "istio", "namespace": "istio-system", "uid": "u-1",
                 "resourceVersion": "41"},
}  # fmt: skip
NOW = datetime(2026, 12, 2, 6, 0, 0, tzinfo=UTC)


def test_event_about_the_configmap() -> None:
    ev = event_body(CM, "InvalidMeshConfig", "discoverySelectors: expected a list", NOW)
    assert ev["metadata"]["namespace"] == "istio-system"
    assert ev["metadata"]["name"].startswith("istio.")
    assert ev["involvedObject"] == {
        "apiVersion": "v1", "kind": "ConfigMap", "namespace": "istio-system", "name": "istio",
        "uid": "u-1", "resourceVersion": "41",
    }  # fmt: skip
    assert (ev["type"], ev["reason"], ev["count"]) == ("Warning", "InvalidMeshConfig", 1)
    assert ev["firstTimestamp"] == ev["lastTimestamp"] == "2026-12-02T06:00:00Z"
    assert ev["source"] == {"component": "discofilter"}


def test_same_refusal_same_name_another_one_another_name() -> None:
    a = event_body(CM, "InvalidMeshConfig", "x", NOW)["metadata"]["name"]
    later = datetime(2026, 12, 2, 7, 0, 0, tzinfo=UTC)
    assert event_body(CM, "InvalidMeshConfig", "x", later)["metadata"]["name"] == a
    assert event_body(CM, "InvalidMeshConfig", "y", NOW)["metadata"]["name"] != a
    edited = {**CM, "metadata": {**CM["metadata"], "resourceVersion": "42"}}
    assert event_body(edited, "InvalidMeshConfig", "x", NOW)["metadata"]["name"] != a


def test_long_messages_are_capped() -> None:
    ev = event_body(CM, "InvalidMeshConfig", "e" * 5000, NOW)
    assert len(ev["message"]) == MAX_MESSAGE
