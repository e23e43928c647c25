"""Cyclic garbage-collector settings for ``serve`` (docs/performance.md).

CPython's default thresholds (700, 10, 10) start a young collection every 700 net allocations
of container objects. A coalescing watch stream keeps ~10,000 events alive (250 ms of a busy pod
watch: a ``WatchEvent``, a held entry and a few tuples each), so survivors keep flooding the
older generations and full collections keep walking every object the process owns, aiohttp's
and protobuf's included. py-spy put ``gc_collect_main`` at 3.8-8.4% of the proxy's CPU on the
coalescing path (``bench/profile_proxy.py --coalesce --native``, four runs, JSON and protobuf);
with the settings below it no longer shows up.

* ``gc.freeze()`` once start-up is done: everything alive then (modules, descriptors, the app)
  moves to the permanent generation, which collections never scan again.
* gen0 threshold 50,000: young collections ~70x rarer. Reference cycles are still collected;
  at most ~50,000 young container objects (a few MB) wait for it.
"""

from __future__ import annotations

import gc

GEN0_THRESHOLD = 50_000
"""Container allocations (net) between young collections; CPython's default is 700."""


def tune_gc() -> None:
    """Freeze what start-up allocated and make young collections rarer; call once, after
    start-up and before serving traffic."""
    gc.collect()  # do not freeze start-up garbage with the live objects
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
