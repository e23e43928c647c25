"""LIST from the cache: key order, consistent pages across churn, tokens that expire (410)."""

from __future__ import annotations

import pytest

from discofilter.cache import (
    BadContinueToken,
    CachedObject,
    CacheKey,
    CacheLimits,
    ExpiredToken,
    JsonFramer,
    SharedCache,
)
from discofilter.clock import FakeClock
from discofilter.codec import JSON
from discofilter.model import ADDED, DELETED


def obj(ns: str, name: str, rv: int) -> CachedObject:
    return CachedObject(
        ns, name, f"u-{ns}-{name}", str(rv), b'{"n":"%s/%s"}' % (ns.encode(), name.encode())
    )


def cache(clock: FakeClock, **limits: int) -> SharedCache:
    c = SharedCache(
        CacheKey("/v1/pods", JSON), JsonFramer("v1", "Pod"), None, CacheLimits(**limits), clock
    )
    c.relist([obj("b", "x", 1), obj("a", "z", 2), obj("a", "y", 3), obj("c", "w", 4)], "10")
    return c


def test_pages_are_one_snapshot_in_key_order_whatever_happens_meanwhile() -> None:
    c = cache(FakeClock())
    p1 = c.list(limit=3)
    assert [o.key for o in p1.items] == [("a", "y"), ("a", "z"), ("b", "x")]
    assert p1.resource_version == "10" and p1.continue_token
    c.apply(DELETED, obj("c", "w", 11))
    c.apply(ADDED, obj("a", "zz", 12))
    p2 = c.list(limit=3, continue_token=p1.continue_token)
    assert [o.key for o in p2.items] == [("c", "w")] and p2.continue_token is None
    assert p2.resource_version == "10"
    fresh = c.list()
    assert [o.key for o in fresh.items] == [("a", "y"), ("a", "z"), ("a", "zz"), ("b", "x")]
    assert fresh.resource_version == "12" and fresh.continue_token is None
    assert c.stats.lists_served == 3


def test_tokens_expire_after_the_ttl_and_when_evicted() -> None:
    clock = FakeClock()
    c = cache(clock, max_snapshots=2)
    token = c.list(limit=1).continue_token
    assert token
    clock.advance(299)
    assert c.list(limit=1, continue_token=token).items[0].key == ("a", "z")
    clock.advance(2)
    with pytest.raises(ExpiredToken):
        c.list(limit=1, continue_token=token)
    first = c.list(limit=1).continue_token
    c.list(limit=1)
    c.list(limit=1)  # a third pinned snapshot evicts the first
    assert first
    with pytest.raises(ExpiredToken):
        c.list(limit=1, continue_token=first)


@pytest.mark.parametrize("token", ["!!", "e30", "eyJ2IjoieCJ9", "bm90IGpzb24"])
def test_a_token_this_cache_did_not_issue_is_a_bad_request(token: str) -> None:
    with pytest.raises(BadContinueToken):
        cache(FakeClock()).list(limit=1, continue_token=token)
