"""Fuzzing budget: small in CI (each test well under ~10 s), raised for long runs.

``DISCOFILTER_FUZZ_EXAMPLES=20000 python -m pytest tests/unit/fuzz`` runs each property with that
many examples (hypothesis keeps its failure database in .hypothesis/ between runs).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("DISCOFILTER_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
