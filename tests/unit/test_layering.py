"""The pure layers (codec, filter, coalesce, cache, classify, model) import no I/O library.

Walks each module's AST, so an import hidden in a function body is caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "discofilter"
PURE = ["codec", "filter", "coalesce", "cache", "classify.py", "model.py", "status.py", "clock.py"]
FORBIDDEN = (
    "aiohttp",
    "grpc",
    "uvloop",
    "kubernetes",
    "kubernetes_asyncio",
    "prometheus_client",
    "discofilter.server",
    "discofilter.upstream",
    "discofilter.sim",
    "discofilter.admin",
    "discofilter.bench",
    "discofilter.demo",
)


def _pure_files() -> list[Path]:
    files: list[Path] = []
    for name in PURE:
        p = PKG / name
        if p.is_dir():
            files.extend(sorted(p.rglob("*.py")))
        elif p.exists():
            files.append(p)
    return files


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_pure_layers_exist() -> None:
    assert (PKG / "filter").is_dir()
    assert len(_pure_files()) >= 3


@pytest.mark.parametrize("path", _pure_files(), ids=lambda p: str(p.relative_to(PKG)))
def test_pure_module_imports_no_io(path: Path) -> None:
    bad = [m for m in _imports(path) if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert not bad, f"{path.relative_to(PKG)} imports {bad}: keep codec/filter/coalesce pure"
