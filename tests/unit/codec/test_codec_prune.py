"""managedFields pruning (optional transform): removed when present, bytes untouched otherwise."""

from __future__ import annotations

import orjson
from codec_samples import bookmark, json_event, make_pod

from discofilter.codec import (
    ProtoWatchDecoder,
    decode_json_event,
    prune_managed_fields_json,
    prune_managed_fields_proto,
)
from discofilter.codec.wire import LEN, iter_fields
from discofilter.sim.k8sproto import decode_object, encode_watch_frame


def test_json_prune_removes_managed_fields_and_keeps_the_rest() -> None:
    line = json_event("MODIFIED", make_pod("mesh-a", "p", "5"))
    out = prune_managed_fields_json(line)
    doc = orjson.loads(out)
    assert "managedFields" not in doc["object"]["metadata"]
    want = orjson.loads(line)
    del want["object"]["metadata"]["managedFields"]
    assert doc == want
    assert out.endswith(b"\n") and len(out) < 0.8 * len(line)
    ev = decode_json_event(out)
    assert (ev.namespace, ev.name, ev.resource_version) == ("mesh-a", "p", "5")


def test_json_prune_without_managed_fields_returns_same_bytes() -> None:
    line = json_event("BOOKMARK", bookmark("3"))
    assert prune_managed_fields_json(line) is line
    # the word elsewhere (a label value) is not a managedFields key: bytes unchanged
    pod = make_pod("a", "b")
    del pod["metadata"]["managedFields"]
    pod["metadata"]["labels"]["x"] = "managedFields"
    line2 = json_event("ADDED", pod)
    assert prune_managed_fields_json(line2) is line2


def _object_of(frame: bytes) -> dict[str, object]:
    for fnum, wt, s, e in iter_fields(frame, 4, len(frame)):
        if fnum == 2 and wt == LEN:
            for _f, _w, s2, e2 in iter_fields(frame, s, e):
                return decode_object(frame[s2:e2])
    raise AssertionError("no object")


def test_proto_prune_removes_field_17_and_fixes_lengths() -> None:
    pod = make_pod("mesh-a", "p", "5")
    f = encode_watch_frame("MODIFIED", pod)
    out = prune_managed_fields_proto(f)
    assert len(out) < len(f)
    ev = ProtoWatchDecoder().feed(out)[0]
    assert (ev.type, ev.namespace, ev.name, ev.resource_version) == ("MODIFIED", "mesh-a", "p", "5")
    obj = _object_of(out)
    assert "managedFields" not in obj["metadata"]  # type: ignore[operator]
    del pod["metadata"]["managedFields"]
    assert out == encode_watch_frame("MODIFIED", pod)


def test_proto_prune_without_managed_fields_returns_same_bytes() -> None:
    f = encode_watch_frame("BOOKMARK", bookmark("3"))
    assert prune_managed_fields_proto(f) is f


def test_savings_on_sample_pod() -> None:
    pod = make_pod("mesh-a", "p")
    j = json_event("ADDED", pod)
    p = encode_watch_frame("ADDED", pod)
    # The sample pod's managedFields are ~26% of its JSON and ~25% of its protobuf.
    assert len(prune_managed_fields_json(j)) < 0.8 * len(j)
    assert len(prune_managed_fields_proto(p)) < 0.8 * len(p)


def test_list_pruning_json_and_protobuf() -> None:
    from discofilter.codec import filter_list
    from discofilter.sim.k8sproto import encode_list

    items = [make_pod("mesh-a", "a"), make_pod("batch", "b"), make_pod("mesh-b", "c")]
    bare = make_pod("mesh-c", "d")
    del bare["metadata"]["managedFields"]
    items.append(bare)
    lst = {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "5"}}
    lst["items"] = items

    def keep(ns: str) -> bool:
        return ns.startswith("mesh-")

    body = orjson.dumps(lst)
    out = orjson.loads(filter_list(body, "application/json", keep, prune_managed_fields=True))
    assert [i["metadata"]["name"] for i in out["items"]] == ["a", "c", "d"]
    assert all("managedFields" not in i["metadata"] for i in out["items"])
    assert out["items"][2] == bare
    # off by default: managedFields stay
    plain = orjson.loads(filter_list(body, "application/json", keep))
    assert "managedFields" in plain["items"][0]["metadata"]

    pb = encode_list(lst)
    pruned = decode_object(
        filter_list(pb, "application/vnd.kubernetes.protobuf", keep, prune_managed_fields=True)
    )
    assert [i["metadata"]["name"] for i in pruned["items"]] == ["a", "c", "d"]
    assert all("managedFields" not in i["metadata"] for i in pruned["items"])
    # byte-exact: the same as encoding the kept items without managedFields in the first place
    expected = [
        {**i, "metadata": {k: v for k, v in i["metadata"].items() if k != "managedFields"}}
        for i in items
        if keep(i["metadata"]["namespace"])
    ]
    pb_ct = "application/vnd.kubernetes.protobuf"
    assert filter_list(pb, pb_ct, keep, prune_managed_fields=True) == encode_list(
        {**lst, "items": expected}
    )
