"""The import arrows of the package, enforced.

* The pure layers (codec, filter, coalesce, cache, istio, classify, model) import no I/O library.
* Arrows that must not run the wrong way (``WRONG_WAY``): metrics and telemetry know nothing of
  admin; admin reads through its ``AdminState`` protocol and never imports the CLI package
  ``explain`` or the server; the server never imports the emulator, the benchmark harness, the
  demo or a CLI command package.
* The pump and the registry (``server/streams``) import no aiohttp and no ``ProxyServer``; the
  HTTP front (``server/front``) reads the worker through its ``ProxyContext`` protocol.
* No import cycle among discofilter's modules (imports under ``TYPE_CHECKING`` count: a cycle
  of types is still two rooms that cannot be read apart).

Walks each module's AST, so an import hidden in a function body is caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "discofilter"
PURE = [
    "codec",
    "filter",
    "coalesce",
    "cache",
    "istio",
    "classify.py",
    "model.py",
    "status.py",
    "clock.py",
]
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
    "discofilter.harness",
    "discofilter.demo",
    "discofilter.explain",
    "discofilter.telemetry",
    "discofilter.metrics",
)
WRONG_WAY: dict[str, tuple[str, ...]] = {
    # importer (module or package) -> what it must never import
    "metrics": ("discofilter.admin", "discofilter.server"),
    "telemetry": ("discofilter.admin", "discofilter.server", "discofilter.metrics"),
    "admin": ("discofilter.explain", "discofilter.server", "discofilter.cli"),
    "server": (
        "discofilter.sim",
        "discofilter.harness",
        "discofilter.demo",
        "discofilter.explain",
        "discofilter.cli",
    ),
    "upstream": ("discofilter.server", "discofilter.admin", "discofilter.sim"),
    # The authorizer is handed to the server, and asks through upstream only.
    "authz": ("discofilter.server", "discofilter.admin", "discofilter.sim"),
    # The stream machinery gets its collaborators passed in: no HTTP library, no hub.
    "server/streams": ("aiohttp", "discofilter.server.proxy", "discofilter.server.front"),
    # The HTTP front reads the worker through front/context.py's protocol, not the class.
    "server/front": ("discofilter.server.proxy",),
}


def _files(names: list[str]) -> list[Path]:
    files: list[Path] = []
    for name in names:
        p = PKG / name
        if p.is_dir():
            files.extend(sorted(p.rglob("*.py")))
        elif (p := p.with_suffix(".py") if not p.suffix else p).exists():
            files.append(p)
    return files


def _pure_files() -> list[Path]:
    return _files(PURE)


def _module(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: list[str] = []
    pkg = _module(path) if path.name == "__init__.py" else _module(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            # ``from discofilter.x import y`` may import the module discofilter.x.y
            names.extend(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            base = pkg.rsplit(".", node.level - 1)[0] if node.level > 1 else pkg
            names.append(f"{base}.{node.module}" if node.module else base)
    return names


def _hits(imports: list[str], banned: tuple[str, ...]) -> list[str]:
    return sorted({m for m in imports if any(m == f or m.startswith(f + ".") for f in banned)})


def test_pure_layers_exist() -> None:
    assert (PKG / "filter").is_dir()
    assert len(_pure_files()) >= 3


@pytest.mark.parametrize("path", _pure_files(), ids=lambda p: str(p.relative_to(PKG)))
def test_pure_module_imports_no_io(path: Path) -> None:
    bad = _hits(_imports(path), FORBIDDEN)
    assert not bad, f"{path.relative_to(PKG)} imports {bad}: keep codec/filter/coalesce pure"


@pytest.mark.parametrize(
    ("importer", "path"),
    [(room, p) for room in WRONG_WAY for p in _files([room])],
    ids=lambda v: str(v.relative_to(PKG)) if isinstance(v, Path) else v,
)
def test_no_wrong_way_arrow(importer: str, path: Path) -> None:
    if path.name == "__main__.py":
        return  # ``python -m discofilter.server`` is an entry point: it calls the CLI layer
    bad = _hits(_imports(path), WRONG_WAY[importer])
    assert not bad, f"{path.relative_to(PKG)} imports {bad}: that arrow runs the wrong way"


def _graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in sorted(PKG.rglob("*.py")) if "_generated" not in p.parts}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {m for m in _imports(path) if m in modules and m != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (as a path that returns to its start), or None."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_cycle_finder_finds_a_cycle() -> None:
    # The checker itself must be able to fail (a test that cannot fail proves nothing).
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles() -> None:
    # A package's __init__ importing its own submodules is not a cycle between rooms.
    graph = {
        name: {m for m in deps if not name.startswith(m + ".")} for name, deps in _graph().items()
    }
    found = _cycle(graph)
    assert found is None, "import cycle: " + " -> ".join(found or [])
