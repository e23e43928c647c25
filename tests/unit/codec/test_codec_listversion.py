"""filter_list_versioned: the filtered body and the list's resourceVersion from one parse."""

from __future__ import annotations

import orjson
import pytest

from discofilter.codec import filter_list, filter_list_versioned
from discofilter.errors import CodecError
from discofilter.sim.k8sproto import encode_list

JSON = "application/json"
PROTOBUF = "application/vnd.kubernetes.protobuf"


def _pod(name: str, ns: str) -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": ns, "uid": name, "resourceVersion": "5"}}


LIST = {
    "kind": "PodList",
    "apiVersion": "v1",
    "metadata": {"resourceVersion": "42", "continue": "c", "remainingItemCount": 9},
    "items": [_pod("a", "mesh"), _pod("b", "batch")],
}


def keep(ns: str) -> bool:
    return ns == "mesh"


@pytest.mark.parametrize("ctype", [JSON, PROTOBUF])
def test_version_and_body_match_filter_list(ctype: str) -> None:
    body = orjson.dumps(LIST) if ctype == JSON else encode_list(LIST)
    out, version = filter_list_versioned(body, ctype, keep)
    assert version == "42"
    assert out == filter_list(body, ctype, keep)


def test_version_of_an_unchanged_json_list_and_of_a_table() -> None:
    unchanged = {**LIST, "metadata": {"resourceVersion": "7"}, "items": [_pod("a", "mesh")]}
    body = orjson.dumps(unchanged)
    assert filter_list_versioned(body, JSON, keep) == (body, "7")
    table = {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": "8"},
        "rows": [{"cells": ["a"], "object": _pod("a", "batch")}],
    }
    out, version = filter_list_versioned(orjson.dumps(table), JSON, keep)
    assert version == "8" and orjson.loads(out)["rows"] == []


def test_a_body_that_is_not_a_list_has_no_version() -> None:
    status = orjson.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "code": 410})
    assert filter_list_versioned(status, JSON, keep) == (status, "")


def test_bad_metadata_is_a_codec_error() -> None:
    with pytest.raises(CodecError):
        filter_list_versioned(
            b'{"kind":"PodList","metadata":{"resourceVersion":5},"items":[]}', JSON, keep
        )
