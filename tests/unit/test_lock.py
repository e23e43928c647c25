"""The lock files (requirements/*.txt, docs/dependencies.md) against pyproject.toml's ranges.

The locks are what CI, the README's commands and the image install; pyproject keeps compatible
ranges for people who install discofilter as a library. These tests fail when the two drift
(a dependency added to pyproject but not locked, a pin outside its range), when the plotting
stack leaks into the runtime lock, or when the runtime and dev locks disagree on a version
(the image would then run other versions than CI tested).
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "requirements"))
from check import pins  # noqa: E402  (requirements/check.py: the lock parser CI uses)

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _locked(name: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for pkg, version, _marker in pins(ROOT / "requirements" / name):
        out.setdefault(canonicalize_name(pkg), []).append(version)
    return out


def _requirements(group: str | None) -> list[Requirement]:
    extras = PYPROJECT["optional-dependencies"]
    texts = PYPROJECT["dependencies"] if group is None else extras[group]
    return [Requirement(t) for t in texts]


@pytest.mark.parametrize(
    ("lock", "groups"),
    [("runtime.txt", [None]), ("dev.txt", [None, "bench", "test"])],
)
def test_every_declared_dependency_is_locked_within_its_range(
    lock: str, groups: list[str | None]
) -> None:
    locked = _locked(lock)
    for group in groups:
        for req in _requirements(group):
            if canonicalize_name(req.name) == "discofilter":
                continue  # the self-reference test -> discofilter[bench]
            versions = locked.get(canonicalize_name(req.name))
            assert versions, f"{req.name} ({group or 'runtime'}) is not in requirements/{lock}"
            for v in versions:
                assert req.specifier.contains(v, prereleases=True), f"{req.name}=={v} vs {req}"


def test_runtime_lock_has_no_plotting_stack() -> None:
    locked = _locked("runtime.txt")
    for heavy in ("matplotlib", "numpy", "pillow", "fonttools", "contourpy", "kiwisolver"):
        assert heavy not in locked, f"{heavy} is in the runtime lock (it is the bench extra's)"
    assert "matplotlib" in _locked("dev.txt")


def test_runtime_and_dev_locks_agree() -> None:
    dev = _locked("dev.txt")
    for name, versions in _locked("runtime.txt").items():
        assert dev.get(name) == versions, f"{name}: runtime {versions}, dev {dev.get(name)}"


def test_build_backend_is_locked_for_the_no_isolation_installs() -> None:
    build = _locked("build.txt")
    assert "setuptools" in build and "wheel" in build
    backend = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    for text in backend:
        req = Requirement(text)
        assert all(req.specifier.contains(v) for v in build[canonicalize_name(req.name)])
        assert _locked("dev.txt")[canonicalize_name(req.name)] == build[canonicalize_name(req.name)]


def test_lock_parser_reads_markers_and_hashes() -> None:
    parsed = {name: marker for name, _v, marker in pins(ROOT / "requirements" / "runtime.txt")}
    assert parsed["uvloop"] == "sys_platform != 'win32'"
    assert parsed["aiohttp"] is None
