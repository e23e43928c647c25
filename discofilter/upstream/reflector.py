"""The retry loop of an informer (client-go's ``Reflector.ListAndWatch``), shared by the proxy's
namespace informer and the benchmark's watch client.

LIST once, then WATCH again and again from where the last watch ended; a 410 Expired (on a LIST
page or on the watch) means the resourceVersion is gone and only a fresh LIST helps; any other
failure waits ``delay(failures)`` and retries the pass that failed. The caller decides which
exceptions are which and how long to wait, so each keeps its own accounting.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import NoReturn


def backoff(failures: int) -> float:
    """The informers' retry delay after ``failures`` failures in a row: 0.2 s doubling to 10 s
    (the namespace informer, the shared-watch reflectors)."""
    return min(0.2 * 2**failures, 10.0)


async def list_and_watch(
    list_once: Callable[[], Awaitable[object]],
    watch_once: Callable[[], Awaitable[object]],
    *,
    expired: type[Exception],
    retryable: tuple[type[Exception], ...],
    on_error: Callable[[Exception], None],
    sleep: Callable[[float], Awaitable[None]],
    delay: Callable[[int], float],
    on_expired: Callable[[], None] = lambda: None,
) -> NoReturn:
    """Run forever (cancel to stop). ``delay`` gets the number of failures since the last watch
    that ended cleanly (0 for the first), so a caller can back off exponentially."""
    need_list = True
    failures = 0
    while True:
        try:
            if need_list:
                await list_once()
                need_list = False
            await watch_once()
            failures = 0
        except expired:
            on_expired()
            need_list = True
        except retryable as e:
            on_error(e)
            await sleep(delay(failures))
            failures += 1
