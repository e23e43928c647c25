"""The committed generated code matches protos/discofilter/v1/admin.proto."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
GENERATED = ROOT / "discofilter" / "_generated" / "discofilter" / "v1"


def _generator() -> object:
    script = ROOT / "protos" / "generate_admin.py"
    spec = importlib.util.spec_from_file_location("generate_admin", script)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("name", ["admin_pb2.py", "admin_pb2.pyi", "admin_pb2_grpc.py"])
def test_generated_code_is_current(tmp_path: Path, name: str) -> None:
    assert _generator().generate(tmp_path) == 0  # type: ignore[attr-defined]
    fresh = (tmp_path / "discofilter" / "v1" / name).read_text()
    assert fresh == (GENERATED / name).read_text(), (
        f"{name} is stale: run python protos/generate_admin.py"
    )


def test_generated_grpc_module_imports_from_package() -> None:
    from discofilter._generated.discofilter.v1 import admin_pb2, admin_pb2_grpc

    assert admin_pb2_grpc.AdminStub
    assert admin_pb2.DESCRIPTOR.package == "discofilter.v1"
    assert set(admin_pb2.DESCRIPTOR.services_by_name["Admin"].methods_by_name) == {
        "Status", "WatchDecisions", "ExplainSelectors"
    }  # fmt: skip
