"""Prove that the lock is in force: every pin of a lock file that applies to this interpreter is
installed at exactly its pinned version.

    python3 requirements/check.py requirements/dev.txt

Prints one line naming the lock, its sha256 and the number of pins checked; lists every package
that differs and exits 1. `.ci/run` calls it after installing, so the CI log shows which lock was
in force (and a newer release on PyPI cannot change what CI ran without this line changing).
Standard library only (environment markers via ``packaging``, or pip's vendored copy of it): it
must run without the project's own dependencies.
"""

from __future__ import annotations

import hashlib
import re
import sys
from importlib import metadata
from pathlib import Path

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def pins(lock: Path) -> list[tuple[str, str, str | None]]:
    """(name, version, marker) for every requirement line of a uv/pip-compile lock file."""
    out = []
    for line in lock.read_text().splitlines():
        m = _PIN.match(line)
        if m:
            out.append((m.group(1), m.group(2), m.group(3)))
    return out


def applies(marker: str | None) -> bool:
    if marker is None:
        return True
    try:
        from packaging.markers import Marker
    except ImportError:  # a runtime install need not have it; pip always carries a copy
        from pip._vendor.packaging.markers import Marker

    return bool(Marker(marker).evaluate())


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main(argv: list[str]) -> int:
    lock = Path(argv[1] if len(argv) > 1 else "requirements/dev.txt")
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()[:16]
    installed = {_norm(d.metadata["Name"]): d.version for d in metadata.distributions()}
    checked, wrong = 0, []
    for name, version, marker in pins(lock):
        if not applies(marker):
            continue
        checked += 1
        have = installed.get(_norm(name))
        if have != version:
            wrong.append(f"  {name}: locked {version}, installed {have or 'nothing'}")
    print(f"lock in force: {lock} sha256:{digest}, {checked} pins checked, {len(wrong)} differ")
    for w in wrong:
        print(w)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
