"""Pure wire helpers: Accept negotiation, URL parsing, Table printing, patches."""

from __future__ import annotations

import pytest

from discofilter.sim.encoding import JSON, PARTIAL_LIST, TABLE, negotiate, parse_accept
from discofilter.sim.patch import json_patch, merge_patch, strategic_merge_patch
from discofilter.sim.paths import ResourcePath, parse_path
from discofilter.sim.tables import human_duration, table

KUBECTL_TABLE = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,"
    "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
)


def test_negotiate() -> None:
    n = negotiate(KUBECTL_TABLE)
    assert n is not None and n.target == TABLE and n.target_version == "v1"
    assert n.cache_key is None
    plain = negotiate(None)
    assert plain is not None and plain.target == "" and plain.encoding.content_type == JSON
    assert plain.cache_key == JSON
    n = negotiate("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io")
    assert n is not None and n.target == PARTIAL_LIST
    # a Table in protobuf is not served: the client's next choice wins
    n = negotiate(
        "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/json"
    )
    assert n is not None and n.target == "" and n.encoding.content_type == JSON
    assert negotiate("application/yaml") is None
    assert negotiate("application/json;as=Table;v=v2;g=meta.k8s.io") is None
    assert negotiate("*/*") is not None
    assert parse_accept("a/b;x=1, c/d") == [("a/b", {"x": "1"}), ("c/d", {})]


@pytest.mark.parametrize(
    ("path", "want"),
    [
        ("/api/v1/pods", ResourcePath("pods")),
        ("/api/v1/namespaces", ResourcePath("namespaces")),
        ("/api/v1/namespaces/a", ResourcePath("namespaces", None, "a")),
        ("/api/v1/namespaces/a/status", ResourcePath("namespaces", None, "a", "status")),
        ("/api/v1/namespaces/a/pods", ResourcePath("pods", "a")),
        ("/api/v1/namespaces/a/pods/p/status", ResourcePath("pods", "a", "p", "status")),
        ("/api/v1/watch/namespaces/a/pods", ResourcePath("pods", "a", None, None, True)),
        ("/apis/discovery.k8s.io/v1/endpointslices", ResourcePath("endpointslices")),
        (
            "/apis/discovery.k8s.io/v1/namespaces/a/endpointslices/e",
            ResourcePath("endpointslices", "a", "e"),
        ),
        ("/apis/discovery.k8s.io/v1beta1/endpointslices", None),
        ("/apis/discovery.k8s.io/v1/pods", None),
        ("/api/v1/endpointslices", None),
        ("/api/v1/namespaces/a/nodes", None),  # nodes are cluster-scoped: 404
        ("/api/v2/pods", None),
        ("/healthz", None),
    ],
)
def test_parse_path(path: str, want: ResourcePath | None) -> None:
    assert parse_path(path) == want


@pytest.mark.parametrize(
    ("seconds", "want"),
    [
        (5, "5s"),
        (119, "119s"),
        (150, "2m30s"),
        (600, "10m"),
        (3 * 3600 + 60, "3h1m"),
        (30 * 3600, "30h"),
        (3 * 86400, "3d"),
    ],
)
def test_human_duration(seconds: int, want: str) -> None:
    assert human_duration(seconds) == want


def test_pod_table_cells() -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "n", "creationTimestamp": "2024-01-01T00:00:00Z"},
        "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "node-1"},
        "status": {
            "phase": "Running",
            "podIP": "10.0.0.1",
            "containerStatuses": [
                {"ready": True, "restartCount": 2},
                {
                    "ready": False,
                    "restartCount": 1,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                },
            ],
        },
    }
    t = table("pods", [pod], {"resourceVersion": "5"}, 1704067200 + 90)
    assert t["rows"][0]["cells"] == [
        "p",
        "1/2",
        "CrashLoopBackOff",
        "3",
        "90s",
        "10.0.0.1",
        "node-1",
        "<none>",
        "<none>",
    ]
    assert t["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    none = table("pods", [pod], {}, 0, include_object="None", headers=False)
    assert none["rows"][0]["object"] is None and "columnDefinitions" not in none


def test_patches_do_not_mutate_inputs() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "l": [{"name": "x", "v": 1}]}
    snapshot = repr(base)
    assert merge_patch(base, {"a": {"b": None, "d": 2}}) == {
        "a": {"c": [1, 2], "d": 2},
        "l": base["l"],
    }
    out = strategic_merge_patch(
        {"spec": {"containers": base["l"]}},
        {
            "spec": {
                "containers": [{"name": "x", "v": 2}],
                "$setElementOrder/containers": [{"name": "x"}],
            }
        },
    )
    assert out == {"spec": {"containers": [{"name": "x", "v": 2}]}}
    assert json_patch(
        base, [{"op": "remove", "path": "/a/c/0"}, {"op": "move", "from": "/a/b", "path": "/z"}]
    ) == {"a": {"c": [2]}, "l": base["l"], "z": 1}
    assert repr(base) == snapshot
