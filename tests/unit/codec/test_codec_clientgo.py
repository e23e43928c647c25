"""Real client-go decodes what our protobuf codec writes (objects, lists, watch frames, 410).

Builds tests/unit/codec/clientgo/main.go in a temporary module pinned to tests/peers/go.mod
(k8s.io/client-go v0.37.x) with the local Go module cache only (GOPROXY=off), then feeds it
our encodings. Marked e2e; skips with a reason when Go or the module cache is unavailable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
from codec_samples import bookmark, make_pod

from discofilter.cache.frames import ProtoFramer
from discofilter.codec import (
    build_list,
    encode_error_event,
    filter_list,
    prune_managed_fields_proto,
    split_list,
)
from discofilter.sim.k8sproto import encode_list, encode_object, encode_watch_frame
from discofilter.status import status_dict

pytestmark = pytest.mark.e2e
HERE = Path(__file__).resolve().parent
PEERS = HERE.parents[1] / "peers"
PB = "application/vnd.kubernetes.protobuf"


@pytest.fixture(scope="module")
def decoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    if go is None or not (PEERS / "go.mod").exists():
        pytest.skip("needs the go toolchain and tests/peers/go.mod")
    work = tmp_path_factory.mktemp("clientgo")
    shutil.copy(HERE / "clientgo" / "main.go", work / "main.go")
    mod = (PEERS / "go.mod").read_text().splitlines()
    mod = ["module clientgodecode" if line.startswith("module ") else line for line in mod]
    (work / "go.mod").write_text("\n".join(mod) + "\n")
    shutil.copy(PEERS / "go.sum", work / "go.sum")
    env = dict(os.environ, GOFLAGS="-mod=mod", GOPROXY="off", GOWORK="off")
    proc = subprocess.run(
        [go, "build", "-o", "decode", "."], cwd=work, env=env, capture_output=True, timeout=600
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot build against client-go offline: {proc.stderr.decode()[-300:]}")
    return work / "decode"


def _run(decoder: Path, records: list[tuple[bytes, bytes]]) -> list[dict[str, Any]]:
    stdin = b"".join(tag + len(body).to_bytes(4, "big") + body for tag, body in records)
    out = subprocess.run([str(decoder)], input=stdin, capture_output=True, check=True, timeout=60)
    return [orjson.loads(line) for line in out.stdout.splitlines()]


def test_client_go_decodes_our_objects_lists_and_frames(decoder: Path) -> None:
    pod = make_pod("mesh-a", "web-1", "77")
    lst = {
        "kind": "PodList",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": "9", "continue": "c", "remainingItemCount": 4},
        "items": [pod, make_pod("batch", "x")],
    }
    records = [
        (b"o", encode_object(pod)),
        (b"o", filter_list(encode_list(lst), PB, lambda ns: ns == "mesh-a")),
        (b"w", encode_watch_frame("ADDED", pod)),
        (b"w", encode_watch_frame("BOOKMARK", bookmark("10", initial_end=True))),
        (b"w", encode_error_event(status_dict(410, "too old"), PB + ";stream=watch")),
        (b"w", prune_managed_fields_proto(encode_watch_frame("MODIFIED", pod))),
    ]
    got = _run(decoder, records)
    assert all("error" not in g for g in got), got
    obj, lst_out, added, bm, err, pruned = got
    assert obj["gvk"] == "v1/Pod"
    assert obj["object"]["spec"]["containers"][0]["env"] == pod["spec"]["containers"][0]["env"]
    assert obj["object"]["metadata"]["managedFields"] == pod["metadata"]["managedFields"]
    assert obj["object"]["status"]["startTime"] == "2024-05-01T10:00:00Z"
    assert [i["metadata"]["namespace"] for i in lst_out["object"]["items"]] == ["mesh-a"]
    assert lst_out["object"]["metadata"] == {"resourceVersion": "9", "continue": "c"}
    assert (added["type"], added["object"]["metadata"]["uid"]) == ("ADDED", pod["metadata"]["uid"])
    assert bm["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert (err["type"], err["gvk"]) == ("ERROR", "v1/Status")
    assert (err["object"]["code"], err["object"]["reason"]) == (410, "Expired")
    assert pruned["type"] == "MODIFIED" and "managedFields" not in pruned["object"]["metadata"]


def test_client_go_decodes_every_kind_and_list(decoder: Path) -> None:
    kinds = [("v1", k) for k in ("Pod", "Service", "Endpoints", "Namespace", "Node")]
    kinds += [("v1", "ConfigMap"), ("v1", "Secret"), ("discovery.k8s.io/v1", "EndpointSlice")]
    records: list[tuple[bytes, bytes]] = []
    for api_version, kind in kinds:
        meta = {"name": "n", "namespace": "ns", "resourceVersion": "3", "uid": "u"}
        records.append(
            (b"o", encode_object({"apiVersion": api_version, "kind": kind, "metadata": meta}))
        )
        lst = {
            "apiVersion": api_version,
            "kind": kind + "List",
            "metadata": {"resourceVersion": "3"},
        }
        records.append((b"o", encode_list({**lst, "items": [{"metadata": meta}]})))
    got = _run(decoder, records)
    assert [g.get("gvk") for g in got] == [
        f"{av}/{k}{suffix}" for av, k in kinds for suffix in ("", "List")
    ], got
    assert all(
        (g["object"].get("items") or [g["object"]])[0]["metadata"]["uid"] == "u" for g in got
    )


def test_client_go_decodes_lists_rebuilt_from_watch_form(decoder: Path) -> None:
    """codec/listitems: what the shared cache stores and serves is what client-go expects."""
    pods = [make_pod("mesh-a", "web-1", "77"), make_pod("mesh-b", "web-2", "78")]
    lst = {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "80"}}
    # As kube-apiserver sends a typed JSON list: items without kind/apiVersion.
    bare = [{k: v for k, v in p.items() if k not in ("kind", "apiVersion")} for p in pods]
    json_in = orjson.dumps({**lst, "items": bare})
    json_items = split_list(json_in, "application/json", "v1", "Pod").items
    pb_items = split_list(encode_list({**lst, "items": pods}), PB, "v1", "Pod").items
    records = [
        (
            b"o",
            build_list(
                [i.object for i in json_items], "80", "c", "application/json", "v1", "PodList"
            ),
        ),
        (b"o", build_list([i.object for i in pb_items], "80", "c", PB, "v1", "PodList")),
        (b"o", json_items[0].object),  # a JSON watch-form object decodes on its own...
        (b"o", orjson.dumps(bare[0])),  # ...a list-form item does not: no kind
        (b"w", ProtoFramer("v1", "Pod").event("ADDED", pb_items[1].object)),
    ]
    got = _run(decoder, records)
    json_list, pb_list, json_obj, bare_obj, frame = got
    for out in (json_list, pb_list):
        assert out["gvk"] == "v1/PodList", out
        assert out["object"]["metadata"] == {"resourceVersion": "80", "continue": "c"}
        assert [i["metadata"]["name"] for i in out["object"]["items"]] == ["web-1", "web-2"]
        assert out["object"]["items"][1]["spec"] == pods[1]["spec"]
    assert json_obj["gvk"] == "v1/Pod"
    assert "Kind" in bare_obj["error"], bare_obj
    assert (frame["type"], frame["gvk"]) == ("ADDED", "v1/Pod")
    assert frame["object"]["metadata"]["uid"] == pods[1]["metadata"]["uid"]
