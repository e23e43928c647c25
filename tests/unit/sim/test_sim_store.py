"""Store semantics: revisions, conflicts, patches, namespaces, snapshots, history trimming."""

from __future__ import annotations

import pytest

from discofilter.clock import FakeClock
from discofilter.model import ADDED, DELETED, MODIFIED
from discofilter.sim.apierrors import ApiError
from discofilter.sim.history import StoredEvent
from discofilter.sim.store import NAMESPACE_NAME_LABEL, Store


def _store(**kw: object) -> Store:
    s = Store(clock=FakeClock(), seed=1, **kw)  # type: ignore[arg-type]
    s.create("namespaces", {"metadata": {"name": "a"}})
    return s


def _pod(name: str, **labels: str) -> dict[str, object]:
    return {"metadata": {"name": name, "labels": labels}, "spec": {"containers": []}}


def test_revisions_strictly_increase_across_resources() -> None:
    s = _store()
    rv0 = s.resource_version
    p = s.create("pods", _pod("p1"), "a")
    cm = s.create("configmaps", {"metadata": {"name": "c"}, "data": {}}, "a")
    assert int(p["metadata"]["resourceVersion"]) == rv0 + 1
    assert int(cm["metadata"]["resourceVersion"]) == rv0 + 2 == s.resource_version
    assert p["kind"] == "Pod" and p["apiVersion"] == "v1" and list(p)[:2] == ["kind", "apiVersion"]
    assert p["metadata"]["uid"] and p["metadata"]["creationTimestamp"].endswith("Z")
    assert p["metadata"]["generation"] == 1


def test_namespace_gets_name_label_and_defaults() -> None:
    s = _store()
    ns = s.get("namespaces", "a")
    assert ns["metadata"]["labels"] == {NAMESPACE_NAME_LABEL: "a"}
    assert ns["status"] == {"phase": "Active"}
    s.set_namespace_labels("a", {"x": "y"})
    assert s.get("namespaces", "a")["metadata"]["labels"] == {"x": "y", NAMESPACE_NAME_LABEL: "a"}


def test_create_errors() -> None:
    s = _store()
    s.create("pods", _pod("p1"), "a")
    with pytest.raises(ApiError) as e:
        s.create("pods", _pod("p1"), "a")
    assert e.value.code == 409 and e.value.reason == "AlreadyExists"
    with pytest.raises(ApiError) as e:
        s.create("pods", _pod("p2"), "missing")
    assert e.value.code == 404 and 'namespaces "missing" not found' in e.value.message
    with pytest.raises(ApiError) as e:
        s.get("endpointslices", "nope", "a")
    assert e.value.message == 'endpointslices.discovery.k8s.io "nope" not found'


def test_generate_name() -> None:
    s = _store()
    p = s.create("pods", {"metadata": {"generateName": "web-"}, "spec": {}}, "a")
    assert p["metadata"]["name"].startswith("web-") and len(p["metadata"]["name"]) == 9


def test_update_conflict_on_stale_resource_version() -> None:
    s = _store()
    p = s.create("pods", _pod("p1"), "a")
    p["metadata"]["labels"] = {"v": "1"}
    p2 = s.update("pods", p)
    assert int(p2["metadata"]["resourceVersion"]) > int(p["metadata"]["resourceVersion"])
    with pytest.raises(ApiError) as e:
        s.update("pods", p)  # p still carries the old resourceVersion
    assert e.value.code == 409 and e.value.reason == "Conflict"
    assert "the object has been modified" in e.value.message


def test_unconditional_update_and_noop_update() -> None:
    s = _store()
    p = s.create("pods", _pod("p1"), "a")
    rv = s.resource_version
    same = s.update("pods", p)
    assert s.resource_version == rv and same["metadata"]["resourceVersion"] == str(rv)
    p["metadata"].pop("resourceVersion")
    p["spec"] = {"containers": [{"name": "c"}]}
    out = s.update("pods", p)
    assert out["metadata"]["generation"] == 2 and s.resource_version == rv + 1


def test_get_returns_a_copy() -> None:
    s = _store()
    s.create("pods", _pod("p1", app="x"), "a")
    got = s.get("pods", "p1", "a")
    got["metadata"]["labels"]["app"] = "mutated"
    assert s.get("pods", "p1", "a")["metadata"]["labels"]["app"] == "x"


@pytest.mark.parametrize(
    ("kind", "patch", "want"),
    [
        ("merge", {"metadata": {"labels": {"b": "2", "a": None}}}, {"b": "2"}),
        ("strategic", {"metadata": {"labels": {"b": "2"}}}, {"a": "1", "b": "2"}),
        ("json", [{"op": "add", "path": "/metadata/labels/c", "value": "3"}], {"a": "1", "c": "3"}),
    ],
)
def test_patch_kinds(kind: str, patch: object, want: dict[str, str]) -> None:
    s = _store()
    s.create("pods", _pod("p1", a="1"), "a")
    out = s.patch("pods", "p1", "a", patch, kind)
    assert out["metadata"]["labels"] == want


def test_strategic_patch_merges_containers_by_name() -> None:
    s = _store()
    pod = {
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}]},
    }
    s.create("pods", pod, "a")
    out = s.patch(
        "pods", "p", "a", {"spec": {"containers": [{"name": "b", "image": "2"}]}}, "strategic"
    )
    assert out["spec"]["containers"] == [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]
    out = s.patch(
        "pods", "p", "a", {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}, "strategic"
    )
    assert out["spec"]["containers"] == [{"name": "b", "image": "2"}]
    merged = s.patch("pods", "p", "a", {"spec": {"containers": [{"name": "z"}]}}, "merge")
    assert merged["spec"]["containers"] == [{"name": "z"}]  # merge patch replaces lists


def test_patch_with_stale_resource_version_conflicts() -> None:
    s = _store()
    p = s.create("pods", _pod("p1"), "a")
    s.patch("pods", "p1", "a", {"metadata": {"labels": {"x": "1"}}}, "merge")
    with pytest.raises(ApiError) as e:
        s.patch(
            "pods",
            "p1",
            "a",
            {
                "metadata": {
                    "resourceVersion": p["metadata"]["resourceVersion"],
                    "labels": {"x": "2"},
                }
            },
            "merge",
        )
    assert e.value.code == 409


def test_failed_json_patch_test_is_422() -> None:
    s = _store()
    s.create("pods", _pod("p1"), "a")
    with pytest.raises(ApiError) as e:
        s.patch("pods", "p1", "a", [{"op": "test", "path": "/metadata/name", "value": "x"}], "json")
    assert e.value.code == 422


def test_delete_stamps_deletion_revision_and_cascades_namespace() -> None:
    s = _store()
    events: list[tuple[str, StoredEvent]] = []
    s.subscribe(lambda r, ev: events.append((r, ev)))
    s.create("pods", _pod("p1"), "a")
    s.create("configmaps", {"metadata": {"name": "c"}}, "a")
    gone = s.delete("namespaces", "a")
    assert gone["metadata"]["resourceVersion"] == str(s.resource_version)
    kinds = [(r, ev.type) for r, ev in events]
    assert kinds == [
        ("pods", ADDED),
        ("configmaps", ADDED),
        ("pods", DELETED),
        ("configmaps", DELETED),
        ("namespaces", DELETED),
    ]
    pod_del = events[2][1]
    assert pod_del.obj["metadata"]["resourceVersion"] == str(pod_del.rv)
    assert pod_del.prev is not None and pod_del.prev["metadata"]["resourceVersion"] != str(
        pod_del.rv
    )
    assert s.count("pods") == 0 and s.list("pods")[0] == []


def test_list_is_sorted_by_namespace_then_name() -> None:
    s = _store()
    s.create("namespaces", {"metadata": {"name": "0first"}})
    for ns, name in [("a", "z"), ("0first", "b"), ("a", "b")]:
        s.create("pods", _pod(name), ns)
    items, rv = s.list("pods")
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in items] == [
        ("0first", "b"),
        ("a", "b"),
        ("a", "z"),
    ]
    assert rv == s.resource_version
    assert [o["metadata"]["name"] for o in s.list("pods", "a")[0]] == ["b", "z"]


def test_snapshot_rolls_back_to_an_old_revision() -> None:
    s = _store()
    s.create("pods", _pod("p1", v="1"), "a")
    rv1 = s.resource_version
    s.patch("pods", "p1", "a", {"metadata": {"labels": {"v": "2"}}}, "merge")
    s.create("pods", _pod("p2"), "a")
    s.delete("pods", "p1", "a")
    snap = s.snapshot("pods", None, rv1)
    assert snap is not None
    assert sorted(snap["a"]) == ["p1"] and snap["a"]["p1"]["metadata"]["labels"] == {"v": "1"}
    assert sorted(s.view("pods")["a"]) == ["p2"]  # live state untouched


def test_history_trimming_makes_old_revisions_unavailable() -> None:
    s = _store(history_size=4)
    start = s.resource_version
    for i in range(20):
        s.create("pods", _pod(f"p{i}"), "a")
    h = s.history("pods")
    assert 4 <= len(h) <= 5
    assert h.index_after(start) is None
    assert s.snapshot("pods", None, start) is None
    assert h.index_after(s.resource_version - 2) is not None
    assert [ev.type for ev in h.since(s.resource_version - 2) or []] == [ADDED, ADDED]


def test_modified_event_carries_previous_state() -> None:
    s = _store()
    s.create("pods", _pod("p1", v="1"), "a")
    s.patch("pods", "p1", "a", {"metadata": {"labels": {"v": "2"}}}, "strategic")
    ev = s.history("pods").since(1)
    assert ev is not None
    last = ev[-1]
    assert last.type == MODIFIED and last.prev is not None
    assert last.prev["metadata"]["labels"] == {"v": "1"} and last.obj["metadata"]["labels"] == {
        "v": "2"
    }
