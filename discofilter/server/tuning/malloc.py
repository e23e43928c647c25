"""glibc allocator thresholds for ``serve`` (DESIGN anchor figures).

With glibc's defaults a Python proxy faults its 64-128 KiB read/write buffers in again and
again: the dynamic mmap threshold hands them out as fresh mmaps, and the trim threshold returns
freed heap top to the kernel (50-110k page faults per 325 MB streamed). Fixing both thresholds
at start-up removed ~2-3 us per event. The environment variables ``MALLOC_MMAP_THRESHOLD_`` /
``MALLOC_TRIM_THRESHOLD_`` win when set (an operator's choice). No-op off glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024  # buffers under 4 MiB come from the heap and are reused
TRIM_THRESHOLD_BYTES = 64 * 1024 * 1024  # keep up to 64 MiB of free heap instead of returning it


def tune_malloc() -> bool:
    """Apply the thresholds; True when glibc accepted them."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    return mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1 and ok
