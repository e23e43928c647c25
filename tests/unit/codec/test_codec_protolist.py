"""Protobuf list filtering: items (field 2) dropped, ListMeta remainingItemCount removed."""

from __future__ import annotations

from typing import Any

import pytest
from codec_samples import make_pod

from discofilter.codec import filter_list
from discofilter.errors import CodecError
from discofilter.sim.k8sproto import decode_object, encode_list

PB = "application/vnd.kubernetes.protobuf"


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
        "items": [make_pod(ns, f"p{i}") for i, ns in enumerate(["mesh-a", "batch", "mesh-b"])],
    }


def test_pod_list_filtered_and_list_meta_fixed() -> None:
    body = encode_list(_pod_list(remaining=99))
    out = filter_list(body, PB, _mesh)
    doc = decode_object(out)
    assert [i["metadata"]["name"] for i in doc["items"]] == ["p0", "p2"]
    assert doc["metadata"] == {"resourceVersion": "500", "continue": "tok"}
    assert (doc["kind"], doc["apiVersion"]) == ("PodList", "v1")


def test_kept_items_are_byte_identical() -> None:
    body = encode_list(_pod_list())
    kept_only = encode_list({**_pod_list(), "items": [_pod_list()["items"][i] for i in (0, 2)]})
    assert filter_list(body, PB, _mesh) == kept_only


def test_unchanged_list_is_returned_as_is() -> None:
    body = encode_list(_pod_list())
    assert filter_list(body, PB, lambda ns: True) is body


def test_remaining_item_count_removed_when_nothing_filtered() -> None:
    body = encode_list(_pod_list(remaining=3))
    doc = decode_object(filter_list(body, PB, lambda ns: True))
    assert "remainingItemCount" not in doc["metadata"]
    assert len(doc["items"]) == 3


def test_everything_filtered() -> None:
    doc = decode_object(filter_list(encode_list(_pod_list(remaining=1)), PB, lambda ns: False))
    assert "items" not in doc
    assert doc["metadata"]["continue"] == "tok"


def test_partial_object_metadata_list() -> None:
    body = encode_list(
        {
            "kind": "PartialObjectMetadataList",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": "1"},
            "items": [{"metadata": {"name": "x", "namespace": ns}} for ns in ("batch", "mesh-q")],
        }
    )
    doc = decode_object(filter_list(body, PB, _mesh))
    assert [i["metadata"]["namespace"] for i in doc["items"]] == ["mesh-q"]


@pytest.mark.parametrize(
    "body", [b"", b"k8s", b"json", b"k8s\x00\x12\x05\x12\x01", b"k8s\x00\x12\x03\x12\x01\xff"]
)
def test_malformed_protobuf_list(body: bytes) -> None:
    with pytest.raises(CodecError):
        filter_list(body, PB, _mesh)
