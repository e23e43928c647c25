"""Where the Go-built real peers are, and why one is missing.

Policy: tests never build peers themselves (a cold build takes minutes; see docs/real-peers.md).
`tests/peers/build.sh` builds them into a cache directory keyed by versions; this module asks the
script for that directory (`--print-dir`, which needs only `go version`) and reports a precise,
loud reason when something is absent, so a skipped e2e test says exactly what to run.

An environment variable overrides each binary: DISCOFILTER_TESTCLUSTER, DISCOFILTER_INFORMER,
DISCOFILTER_HELM (for the chart tests), DISCOFILTER_KWOK (its stages file is looked up beside it).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

PEERS = ("testcluster", "informer", "helm", "kwok")
"""Binaries that tests/peers/build.sh produces (istiod: tests/peers/istiod/build.sh)."""

KWOK_STAGES = "kwok-stages.yaml"
"""kwok's node and pod Stage documents, copied from its module into the same cache directory."""

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "tests" / "peers" / "build.sh"


def _env_name(name: str) -> str:
    return "DISCOFILTER_" + name.upper().replace("-", "_")


@functools.cache
def _cache_dir() -> tuple[Path | None, str]:
    """The versioned cache directory, or None and the reason."""
    if shutil.which("go") is None:
        return None, "the `go` command is not on PATH: real peers cannot be built on this machine"
    try:
        out = subprocess.run(
            [str(BUILD_SCRIPT), "--print-dir"],
            capture_output=True,
            text=True,
            timeout=30,  # hashes a few hundred KB and runs `go version`: well under a second
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as e:
        return None, f"{BUILD_SCRIPT} --print-dir failed: {e}"
    return Path(out.stdout.strip()), ""


def peer_binary(name: str) -> Path | None:
    """The executable for peer `name`, or None (see `missing_reason`)."""
    return _find(name)[0]


def missing_reason(name: str) -> str:
    """Why `peer_binary(name)` is None; empty when it is present."""
    return _find(name)[1]


def _find(name: str) -> tuple[Path | None, str]:
    if name not in PEERS:
        raise ValueError(f"unknown peer {name!r}; known: {', '.join(PEERS)}")
    override = os.environ.get(_env_name(name))
    if override:
        path = Path(override)
        if os.access(path, os.X_OK):
            return path, ""
        return None, f"${_env_name(name)}={override} is not an executable file"
    directory, reason = _cache_dir()
    if directory is None:
        return None, reason
    path = directory / name
    if not (directory / ".complete").exists() or not os.access(path, os.X_OK):
        return None, (
            f"peer {name!r} is not built for the current tests/peers sources: "
            f"run `{BUILD_SCRIPT.relative_to(REPO)}` (expected {path})"
        )
    return path, ""


def kwok_stages() -> Path | None:
    """The Stage documents beside the kwok binary, or None when kwok is missing."""
    binary = peer_binary("kwok")
    if binary is None:
        return None
    path = binary.parent / KWOK_STAGES
    return path if path.exists() else None
