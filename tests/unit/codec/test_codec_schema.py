"""Our wire subset agrees with the real Kubernetes generated.proto files, field by field.

The upstream .proto sources come from a Go module cache (``$GOMODCACHE`` or ~/go/pkg/mod,
k8s.io/api and k8s.io/apimachinery), compiled here with grpcio-tools; the test skips with a
reason where they are absent. Checked for every message of protos/k8s: the upstream message of
the same full name exists, and each of our fields has upstream's number, type, cardinality and
message type.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from discofilter._generated.k8s.api import core_v1_pb2, discovery_v1_pb2
from discofilter._generated.k8s.apimachinery import (
    intstr_pb2,
    meta_v1_pb2,
    resource_pb2,
    runtime_pb2,
)


def _modcache() -> Path:
    env = os.environ.get("GOMODCACHE")
    return Path(env) if env else Path.home() / "go" / "pkg" / "mod"


def _module(name: str) -> Path | None:
    found = sorted((_modcache() / "k8s.io").glob(f"{name}@v*"))
    return found[-1] if found else None


API, MACHINERY = _module("api"), _module("apimachinery")
pytestmark = pytest.mark.skipif(
    API is None or MACHINERY is None,
    reason=f"k8s.io/api and k8s.io/apimachinery sources not in the Go module cache {_modcache()}",
)


def _upstream_messages() -> dict[str, descriptor_pb2.DescriptorProto]:
    from grpc_tools import protoc

    assert API is not None and MACHINERY is not None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "k8s.io").mkdir()
        (root / "k8s.io" / "api").symlink_to(API)
        (root / "k8s.io" / "apimachinery").symlink_to(MACHINERY)
        out = root / "set.pb"
        rc = protoc.main(
            [
                "protoc",
                f"-I{root}",
                "--include_imports",
                f"--descriptor_set_out={out}",
                "k8s.io/api/core/v1/generated.proto",
                "k8s.io/api/discovery/v1/generated.proto",
            ]
        )
        assert rc == 0
        fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    msgs: dict[str, descriptor_pb2.DescriptorProto] = {}

    def walk(prefix: str, items: list[descriptor_pb2.DescriptorProto]) -> None:
        for m in items:
            msgs[prefix + m.name] = m
            walk(prefix + m.name + ".", list(m.nested_type))

    for f in fds.file:
        walk(f.package + ".", list(f.message_type))
    return msgs


def _ours() -> dict[str, descriptor_pb2.DescriptorProto]:
    msgs: dict[str, descriptor_pb2.DescriptorProto] = {}
    for mod in (runtime_pb2, intstr_pb2, resource_pb2, meta_v1_pb2, core_v1_pb2, discovery_v1_pb2):
        fdp = descriptor_pb2.FileDescriptorProto()
        mod.DESCRIPTOR.CopyToProto(fdp)
        for m in fdp.message_type:
            msgs[f"{fdp.package}.{m.name}"] = m
            for n in m.nested_type:
                msgs[f"{fdp.package}.{m.name}.{n.name}"] = n
    return msgs


def test_every_field_matches_upstream() -> None:
    upstream = _upstream_messages()
    ours = _ours()
    assert len(ours) > 60
    problems: list[str] = []
    for name, msg in ours.items():
        up = upstream.get(name)
        if up is None:
            problems.append(f"{name}: not upstream")
            continue
        up_fields = {f.name: f for f in up.field}
        for f in msg.field:
            u = up_fields.get(f.name)
            if u is None:
                problems.append(f"{name}.{f.name}: not upstream")
            elif (f.number, f.type, f.label, f.type_name) != (
                u.number,
                u.type,
                u.label,
                u.type_name,
            ):
                problems.append(
                    f"{name}.{f.name}: ours {f.number}/{f.type}/{f.type_name}, "
                    f"upstream {u.number}/{u.type}/{u.type_name}"
                )
    assert not problems, "\n".join(problems)
