"""Suite-wide hygiene.

``discofilter.cli.main`` configures logging for a real process (root handlers, the discofilter
logger's level). Tests that call it in-process must not leak that into later tests: a leaked INFO
level made pytest's log capture keep every "watch closed" line, which a memory-growth test then
counted as the proxy's (tests/reliability/test_slow_clients.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    ours = logging.getLogger("discofilter")
    handlers, root_level, our_level = list(root.handlers), root.level, ours.level
    yield
    root.handlers[:] = handlers
    root.setLevel(root_level)  # setLevel, not .level =: it clears the loggers' level caches
    ours.setLevel(our_level)
