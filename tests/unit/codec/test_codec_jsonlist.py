"""JSON list filtering: *List, PartialObjectMetadataList and Table; byte-exact kept items."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from codec_samples import make_pod

from discofilter.codec import filter_list
from discofilter.errors import CodecError

JSON = "application/json"


def _mesh(ns: str) -> bool:
    return ns.startswith("mesh-")


def _pod_list(remaining: int | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"resourceVersion": "500", "continue": "tok"}
    if remaining is not None:
        meta["remainingItemCount"] = remaining
    return {
        "kind": "PodList",
        "apiVersion": "v1",
        "metadata": meta,
        "items": [
            make_pod("mesh-a", "a-1"),
            make_pod("batch", "b-1"),
            make_pod("mesh-b", "c-1"),
            make_pod("batch", "b-2"),
        ],
    }


def test_pod_list_keeps_enrolled_items_and_pagination() -> None:
    body = orjson.dumps(_pod_list(remaining=1234)) + b"\n"
    out = filter_list(body, JSON, _mesh)
    doc = orjson.loads(out)
    assert [i["metadata"]["name"] for i in doc["items"]] == ["a-1", "c-1"]
    assert doc["metadata"] == {"resourceVersion": "500", "continue": "tok"}
    assert list(doc) == ["kind", "apiVersion", "metadata", "items"]
    assert out.endswith(b"}\n")


def test_kept_items_are_byte_identical() -> None:
    # Go escapes <>& as \u003c...; re-encoding would change these bytes, copying must not.
    item = b'{"metadata":{"namespace":"mesh-a","name":"x","annotations":{"a":"\\u003c\\u0026"}}}'
    other = b'{"metadata":{"namespace":"batch","name":"y"}}'
    body = b'{"kind":"List","apiVersion":"v1","metadata":{"resourceVersion":"9"},"items":[%s, %s]}'
    out = filter_list(body % (item, other), JSON, _mesh)
    assert item in out
    assert b"batch" not in out


def test_unchanged_list_is_returned_as_is() -> None:
    body = orjson.dumps({"kind": "PodList", "metadata": {"resourceVersion": "1"}, "items": []})
    assert filter_list(body, JSON, _mesh) is body
    body2 = orjson.dumps(_pod_list())
    assert filter_list(body2, JSON, lambda ns: True) is body2


def test_remaining_item_count_dropped_even_when_nothing_filtered() -> None:
    body = orjson.dumps(_pod_list(remaining=3))
    out = orjson.loads(filter_list(body, JSON, lambda ns: True))
    assert "remainingItemCount" not in out["metadata"]
    assert len(out["items"]) == 4


def test_remaining_item_count_text_inside_a_value_is_not_a_key() -> None:
    body = orjson.dumps(
        {"kind": "PodList", "metadata": {"continue": "remainingItemCount"}, "items": []}
    )
    assert filter_list(body, JSON, _mesh) is body


def test_everything_filtered_gives_empty_items_not_null() -> None:
    out = orjson.loads(filter_list(orjson.dumps(_pod_list()), JSON, lambda ns: False))
    assert out["items"] == []
    assert out["metadata"]["continue"] == "tok"


def test_partial_object_metadata_list() -> None:
    body = orjson.dumps(
        {
            "kind": "PartialObjectMetadataList",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": "7", "remainingItemCount": 10},
            "items": [
                {"kind": "PartialObjectMetadata", "metadata": {"name": "p", "namespace": ns}}
                for ns in ("mesh-a", "batch", "mesh-c")
            ],
        }
    )
    doc = orjson.loads(filter_list(body, JSON + ";as=PartialObjectMetadataList", _mesh))
    assert [i["metadata"]["namespace"] for i in doc["items"]] == ["mesh-a", "mesh-c"]
    assert doc["metadata"] == {"resourceVersion": "7"}


def _table(rows: list[dict[str, Any]]) -> bytes:
    return orjson.dumps(
        {
            "kind": "Table",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": "42", "remainingItemCount": 5, "continue": "c"},
            "columnDefinitions": [{"name": "Name", "type": "string"}],
            "rows": rows,
        }
    )


def test_table_rows_filtered_by_embedded_object_namespace() -> None:
    rows = [
        {"cells": [f"p{i}"], "object": {"metadata": {"name": f"p{i}", "namespace": ns}}}
        for i, ns in enumerate(["mesh-a", "batch", "mesh-b"])
    ]
    rows.append({"cells": ["no-object"]})  # includeObject=None: dropped (fail closed)
    doc = orjson.loads(filter_list(_table(rows), JSON, _mesh))
    assert [r["cells"][0] for r in doc["rows"]] == ["p0", "p2"]
    assert doc["metadata"] == {"resourceVersion": "42", "continue": "c"}
    assert doc["columnDefinitions"] == [{"name": "Name", "type": "string"}]


def test_non_list_bodies_pass_unchanged() -> None:
    status = orjson.dumps({"kind": "Status", "apiVersion": "v1", "code": 404})
    assert filter_list(status, JSON, _mesh) is status
    pod = orjson.dumps(make_pod("batch", "x"))
    assert filter_list(pod, JSON, _mesh) is pod


@pytest.mark.parametrize(
    "body",
    [b"", b"[]", b"{", b'{"kind":"PodList","items":{}}', b'{"kind":"PodList","items":[1]}'],
)
def test_malformed_list_raises_codec_error(body: bytes) -> None:
    with pytest.raises(CodecError):
        filter_list(body, JSON, _mesh)


def test_unsupported_content_type() -> None:
    with pytest.raises(CodecError):
        filter_list(b"{}", "application/yaml", _mesh)
