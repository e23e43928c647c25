"""Table watch streams (kubectl get -A -w): row filtering and column headers carried forward."""

from __future__ import annotations

import orjson
from codec_samples import json_event, make_pod, table_event

from discofilter.codec import TableWatchFilter, decode_json_event, filter_watch_object
from discofilter.status import error_event_line


def _mesh(ns: str) -> bool:
    return ns.startswith("mesh-")


def test_columns_of_a_dropped_first_event_reach_the_first_forwarded_one() -> None:
    f = TableWatchFilter(_mesh)
    first = decode_json_event(table_event("ADDED", "batch", "b-0", "1", columns=True))
    second = decode_json_event(table_event("ADDED", "mesh-a", "a-0", "2", columns=False))
    third = decode_json_event(table_event("ADDED", "mesh-a", "a-1", "3", columns=False))
    assert f.filter(first) is None
    out = f.filter(second)
    assert out is not None
    obj = orjson.loads(out.raw)["object"]
    assert [c["name"] for c in obj["columnDefinitions"]][:2] == ["Name", "Ready"]
    assert obj["rows"][0]["cells"][0] == "a-0"
    assert (out.namespace, out.name, out.resource_version) == ("mesh-a", "a-0", "2")
    assert out.raw.endswith(b"\n")
    # headers are sent once: the next event passes untouched
    assert f.filter(third) is third


def test_forwarded_first_event_is_untouched() -> None:
    f = TableWatchFilter(_mesh)
    ev = decode_json_event(table_event("ADDED", "mesh-a", "a-0", "1", columns=True))
    assert f.filter(ev) is ev


def test_multi_row_table_event_is_rewritten() -> None:
    doc = orjson.loads(table_event("MODIFIED", "mesh-a", "a-0", "1", columns=False))
    row = doc["object"]["rows"][0]
    doc["object"]["rows"] = [
        row,
        {"cells": ["b"], "object": {"metadata": {"namespace": "batch", "name": "b"}}},
        {"cells": ["none"]},
    ]
    ev = decode_json_event(orjson.dumps(doc) + b"\n")
    out = filter_watch_object(ev, _mesh)
    assert out is not None
    assert [r["cells"][0] for r in orjson.loads(out.raw)["object"]["rows"]] == ["a-0"]
    assert filter_watch_object(ev, lambda ns: False) is None


def test_non_table_events_and_bookmarks() -> None:
    pod = decode_json_event(json_event("ADDED", make_pod("batch", "x")))
    assert filter_watch_object(pod, _mesh) is None
    assert filter_watch_object(pod, lambda ns: True) is pod
    err = decode_json_event(error_event_line(410, "gone"))
    assert TableWatchFilter(_mesh).filter(err) is err
