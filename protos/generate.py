"""Regenerate the Python code of our Kubernetes wire subset: ``python protos/generate.py``.

Run from anywhere; uses grpcio-tools' bundled protoc (no system protoc needed). Writes
``discofilter/_generated/k8s/**/<name>_pb2.py`` (+ ``.pyi`` stubs) from ``protos/k8s/**/*.proto``.
protoc emits absolute imports named after the proto paths (``from k8s.apimachinery import ...``);
they are rewritten to ``discofilter._generated.k8s...`` so the generated modules live inside our
package. Output is deterministic for a given grpcio-tools version (recorded in docs/codec.md):
``python protos/generate.py --check`` regenerates into a temporary directory and fails when the
committed files differ. Touches only ``discofilter/_generated/k8s/``.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[1]
PROTO_ROOT = ROOT / "protos"
SOURCES = sorted(p.relative_to(PROTO_ROOT) for p in (PROTO_ROOT / "k8s").rglob("*.proto"))
OUT = ROOT / "discofilter" / "_generated"
OLD_IMPORT = "from k8s."
NEW_IMPORT = "from discofilter._generated.k8s."
INIT_TEXT = '"""Generated from protos/k8s by protos/generate.py; do not edit."""\n'


def generate(out: Path) -> int:
    rc = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            *(str(PROTO_ROOT / s) for s in SOURCES),
        ]
    )
    if rc != 0:
        return rc
    for path in sorted((out / "k8s").rglob("*_pb2.py*")):
        text = path.read_text()
        path.write_text(text.replace(OLD_IMPORT, NEW_IMPORT))
    for pkg in [out / "k8s", *sorted(p for p in (out / "k8s").rglob("*") if p.is_dir())]:
        (pkg / "__init__.py").write_text(INIT_TEXT)
    return 0


def check() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        rc = generate(Path(tmp))
        if rc != 0:
            return rc
        fresh = sorted(p.relative_to(tmp) for p in Path(tmp).rglob("*") if p.is_file())
        stale = [
            str(rel)
            for rel in fresh
            if not (OUT / rel).exists() or not filecmp.cmp(Path(tmp) / rel, OUT / rel, False)
        ]
    if stale:
        print("generated code is stale; run python protos/generate.py:", *stale, sep="\n  ")
        return 1
    print(f"{len(fresh)} generated files up to date")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if committed code is stale")
    args = parser.parse_args(argv)
    if args.check:
        return check()
    OUT.mkdir(parents=True, exist_ok=True)
    return generate(OUT)


if __name__ == "__main__":
    sys.exit(main())
