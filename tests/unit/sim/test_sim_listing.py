"""LIST semantics over a Store: resourceVersion rules, selectors, limit/continue and expiry."""

from __future__ import annotations

import pytest

from discofilter.clock import FakeClock
from discofilter.sim.apierrors import ApiError
from discofilter.sim.listing import decode_continue, list_objects
from discofilter.sim.options import ListOptions, ObjectFilter, parse_list_options
from discofilter.sim.store import Store


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(clock: FakeClock) -> Store:
    s = Store(clock=clock, seed=3)
    for ns in ("a", "b"):
        s.create("namespaces", {"metadata": {"name": ns}})
        for i in range(5):
            s.create(
                "pods",
                {
                    "metadata": {
                        "name": f"p{i}",
                        "labels": {"app": "web" if i % 2 else "db", "i": str(i)},
                    },
                    "spec": {"nodeName": f"n{i % 2}"},
                    "status": {"phase": "Running" if i < 3 else "Pending"},
                },
                ns,
            )
    return s


def _list(
    store: Store, clock: FakeClock, query: dict[str, str], ns: str | None = None, ttl: float = 300
) -> tuple[list[str], dict[str, object]]:
    opts = parse_list_options(query, "pods")
    items, meta = list_objects(store, "pods", ns, opts, clock, ttl)
    return [f"{o['metadata']['namespace']}/{o['metadata']['name']}" for o in items], meta


def test_unset_and_zero_serve_current(store: Store, clock: FakeClock) -> None:
    names, meta = _list(store, clock, {})
    assert len(names) == 10 and meta["resourceVersion"] == str(store.resource_version)
    names0, _ = _list(store, clock, {"resourceVersion": "0", "limit": "2"})
    assert len(names0) == 10  # limit is ignored for rv=0, like the watch cache


def test_label_and_field_selectors(store: Store, clock: FakeClock) -> None:
    assert _list(store, clock, {"labelSelector": "app=web,i in (1,2,3)"})[0] == [
        "a/p1",
        "a/p3",
        "b/p1",
        "b/p3",
    ]
    assert _list(store, clock, {"labelSelector": "app!=web,!nothere"}, "b")[0] == [
        "b/p0",
        "b/p2",
        "b/p4",
    ]
    assert _list(store, clock, {"fieldSelector": "status.phase==Pending,spec.nodeName!=n0"})[0] == [
        "a/p3",
        "b/p3",
    ]
    assert _list(store, clock, {"fieldSelector": "metadata.name=p2,metadata.namespace=a"})[0] == [
        "a/p2"
    ]


def test_unsupported_field_label_is_400(store: Store, clock: FakeClock) -> None:
    with pytest.raises(ApiError) as e:
        _list(store, clock, {"fieldSelector": "spec.bogus=x"})
    assert e.value.code == 400 and "field label not supported: spec.bogus" in e.value.message
    with pytest.raises(ApiError) as e:
        parse_list_options({"fieldSelector": "status.phase=x"}, "configmaps")
    assert e.value.code == 400


def test_pagination_is_one_consistent_snapshot(store: Store, clock: FakeClock) -> None:
    page1, meta1 = _list(store, clock, {"limit": "4"})
    assert page1 == ["a/p0", "a/p1", "a/p2", "a/p3"] and meta1["remainingItemCount"] == 6
    store.delete("pods", "p4", "a")  # changes after the first page must not show
    store.create("pods", {"metadata": {"name": "p9"}}, "a")
    page2, meta2 = _list(store, clock, {"limit": "4", "continue": str(meta1["continue"])})
    assert page2 == ["a/p4", "b/p0", "b/p1", "b/p2"]
    assert meta2["resourceVersion"] == meta1["resourceVersion"]
    page3, meta3 = _list(store, clock, {"limit": "4", "continue": str(meta2["continue"])})
    assert page3 == ["b/p3", "b/p4"] and "continue" not in meta3


def test_continue_token_expires(store: Store, clock: FakeClock) -> None:
    _, meta = _list(store, clock, {"limit": "3"}, ttl=60)
    clock.advance(61)
    with pytest.raises(ApiError) as e:
        _list(store, clock, {"limit": "3", "continue": str(meta["continue"])}, ttl=60)
    assert e.value.code == 410 and e.value.reason == "Expired"


def test_continue_token_dies_with_history(clock: FakeClock) -> None:
    s = Store(clock=clock, history_size=2)
    s.create("namespaces", {"metadata": {"name": "a"}})
    for i in range(4):
        s.create("pods", {"metadata": {"name": f"p{i}"}}, "a")
    opts = parse_list_options({"limit": "1"}, "pods")
    _, meta = list_objects(s, "pods", None, opts, clock, 300)
    for i in range(10):
        s.create("pods", {"metadata": {"name": f"q{i}"}}, "a")
    with pytest.raises(ApiError) as e:
        list_objects(
            s,
            "pods",
            None,
            parse_list_options({"limit": "1", "continue": meta["continue"]}, "pods"),
            clock,
            300,
        )
    assert e.value.code == 410


def test_exact_and_not_older_than(store: Store, clock: FakeClock) -> None:
    rv = store.resource_version
    store.delete("pods", "p0", "a")
    names, meta = _list(store, clock, {"resourceVersion": str(rv), "resourceVersionMatch": "Exact"})
    assert "a/p0" in names and meta["resourceVersion"] == str(rv)
    names, meta = _list(
        store, clock, {"resourceVersion": str(rv), "resourceVersionMatch": "NotOlderThan"}
    )
    assert "a/p0" not in names and meta["resourceVersion"] == str(store.resource_version)
    with pytest.raises(ApiError) as e:
        _list(store, clock, {"resourceVersion": str(store.resource_version + 5)})
    assert e.value.code == 504


def test_exact_on_trimmed_history_is_410(clock: FakeClock) -> None:
    s = Store(clock=clock, history_size=2)
    s.create("namespaces", {"metadata": {"name": "a"}})
    old = s.resource_version
    for i in range(6):
        s.create("pods", {"metadata": {"name": f"p{i}"}}, "a")
    with pytest.raises(ApiError) as e:
        list_objects(
            s,
            "pods",
            None,
            parse_list_options(
                {"resourceVersion": str(old), "resourceVersionMatch": "Exact"}, "pods"
            ),
            clock,
            300,
        )
    assert e.value.code == 410 and "too old" in e.value.message


@pytest.mark.parametrize(
    "query",
    [
        {"resourceVersionMatch": "Exact"},
        {"resourceVersion": "0", "resourceVersionMatch": "Exact"},
        {"watch": "true", "sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan"},
        {
            "sendInitialEvents": "true",
            "resourceVersionMatch": "NotOlderThan",
            "allowWatchBookmarks": "true",
        },
        {"resourceVersionMatch": "Bogus", "resourceVersion": "1"},
        {"resourceVersion": "abc"},
        {"labelSelector": "a in (b"},
    ],
)
def test_invalid_option_combinations(query: dict[str, str]) -> None:
    with pytest.raises(ApiError) as e:
        parse_list_options(query, "pods")
    assert e.value.code in (400, 422)


def test_continue_token_roundtrip() -> None:
    from discofilter.sim.listing import encode_continue

    tok = encode_continue(42, "ns", "name-1", 5.0)
    assert decode_continue(tok) == (42, "ns", "name-1", 5.0)
    with pytest.raises(ApiError):
        decode_continue("!!!notbase64")


def test_selector_transitions(store: Store) -> None:
    f = ObjectFilter(
        "pods", None, parse_list_options({"labelSelector": "app=web"}, "pods").label, None
    )
    store.patch("pods", "p1", "a", {"metadata": {"labels": {"app": "db"}}}, "merge")  # leaves
    store.patch("pods", "p0", "a", {"metadata": {"labels": {"app": "web"}}}, "merge")  # joins
    store.patch("pods", "p0", "a", {"metadata": {"labels": {"x": "y"}}}, "merge")  # stays
    store.patch("pods", "p2", "a", {"metadata": {"labels": {"x": "y"}}}, "merge")  # never matched
    evs = (store.history("pods").since(store.resource_version - 4)) or []
    out = [f.transition(ev) for ev in evs]
    assert [(t[0], t[1]["metadata"]["name"]) if t else None for t in out] == [
        ("DELETED", "p1"),
        ("ADDED", "p0"),
        ("MODIFIED", "p0"),
        None,
    ]
    gone = out[0]
    assert gone is not None
    # DELETED carries the last matching state, stamped with the event's revision.
    assert gone[1]["metadata"]["labels"]["app"] == "web"
    assert gone[1]["metadata"]["resourceVersion"] == str(evs[0].rv)
    assert ListOptions().resource_version == ""
