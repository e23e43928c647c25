"""LIST semantics: which revision is served, selectors, limit/continue (pure over a Store).

resourceVersion rules (https://kubernetes.io/docs/reference/using-api/api-concepts/#semantics-for-get-and-list):
* unset → the most recent state (a consistent read); "0" → any state, served as the current one,
  and ``limit`` is ignored (as kube-apiserver's watch cache does);
* "N" with NotOlderThan (or no match, no limit) → the current state, 504 "Too large resource
  version" when N is in the future;
* "N" with Exact, or with ``limit`` and no match (the legacy paginated read) → the state at N,
  rebuilt by undoing newer history events; 410 Expired when that history was trimmed.

Pagination: items come in key order (namespace, then name, like etcd). A continue token names
the revision and the last key served; later pages are served from that same revision, so a
paginated LIST is one consistent snapshot. Tokens expire after ``continue_ttl`` seconds (the
clock is injected; kube's tokens die with etcd compaction, ~5 min) or when the history they
need was trimmed: both are 410 Expired, the reason client-go's pager restarts on.
``remainingItemCount`` is set only without selectors, as the real server does.
"""

from __future__ import annotations

import base64
import binascii
import bisect
from collections.abc import Iterator
from typing import Any

import orjson

from discofilter.clock import Clock
from discofilter.sim import apierrors
from discofilter.sim.options import EXACT, ListOptions, ObjectFilter
from discofilter.sim.store import Store

Obj = dict[str, Any]
View = dict[str, dict[str, Obj]]

_TOO_OLD_LIST = "The resourceVersion for the provided list is too old."
_TOO_OLD_CONTINUE = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue value from this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted between "
    "the time the first chunk was returned and now may show up in the list."
)


def encode_continue(rv: int, ns: str, name: str, issued: float) -> str:
    key = f"{ns}/{name}\x00" if ns else f"{name}\x00"
    raw = orjson.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": key, "ts": issued})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, str, str, float]:
    try:
        pad = "=" * (-len(token) % 4)
        data = orjson.loads(base64.urlsafe_b64decode(token + pad))
        start: str = data["start"].rstrip("\x00")
        ns, _, name = start.rpartition("/")
        return int(data["rv"]), ns, name, float(data.get("ts", 0.0))
    except (
        binascii.Error,
        orjson.JSONDecodeError,
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
    ):
        raise apierrors.bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion "
            "(version meta.k8s.io/v1)"
        ) from None


def iter_view(view: View, after: tuple[str, str] | None = None) -> Iterator[Obj]:
    """Objects of ``view`` in key order, strictly after the key ``after``."""
    namespaces = sorted(view)
    start_i = 0
    if after is not None:
        start_i = bisect.bisect_left(namespaces, after[0])
    for i in range(start_i, len(namespaces)):
        ns = namespaces[i]
        bucket = view[ns]
        names = sorted(bucket)
        if after is not None and ns == after[0]:
            names = names[bisect.bisect_right(names, after[1]) :]
        for name in names:
            yield bucket[name]


def _remaining(view: View, after: tuple[str, str]) -> int:
    total = 0
    for ns, bucket in view.items():
        if ns > after[0]:
            total += len(bucket)
        elif ns == after[0]:
            total += sum(1 for n in bucket if n > after[1])
    return total


def list_objects(
    store: Store,
    resource: str,
    namespace: str | None,
    opts: ListOptions,
    clock: Clock,
    continue_ttl: float,
) -> tuple[list[Obj], Obj]:
    """(items, list metadata) for one LIST request; raises ApiError like the real server."""
    current = store.resource_version
    after: tuple[str, str] | None = None
    limit = opts.limit
    if opts.continue_token:
        read_rv, ns, name, issued = decode_continue(opts.continue_token)
        if clock.monotonic() - issued > continue_ttl:
            raise apierrors.expired(_TOO_OLD_CONTINUE)
        view = store.snapshot(resource, namespace, read_rv)
        if view is None:
            raise apierrors.expired(_TOO_OLD_CONTINUE)
        after = (ns, name)
    else:
        rv = opts.resource_version_number
        if rv is not None and rv > current:
            raise apierrors.too_large_resource_version(rv, current)
        exact = opts.resource_version_match == EXACT or (
            rv and not opts.resource_version_match and limit > 0
        )
        if opts.resource_version == "0":
            limit = 0
        if exact and rv is not None and rv != current:
            snap = store.snapshot(resource, namespace, rv)
            if snap is None:
                raise apierrors.expired(_TOO_OLD_LIST)
            view, read_rv = snap, rv
        else:
            view = store.view(resource, namespace)
            read_rv = current
    filt = ObjectFilter(resource, namespace, opts.label, opts.field)
    items: list[Obj] = []
    meta: Obj = {"resourceVersion": str(read_rv)}
    it = iter_view(view, after)
    for obj in it:
        if filt.selects_all or filt.matches(obj):
            items.append(obj)
            if limit and len(items) >= limit:
                break
    if limit and len(items) >= limit:
        # Is there any further matching item? (kube only returns a token when there is.)
        more = any(filt.selects_all or filt.matches(o) for o in it)
        if more:
            last = items[-1]["metadata"]
            last_key = (last.get("namespace", ""), last["name"])
            meta["continue"] = encode_continue(read_rv, *last_key, clock.monotonic())
            if filt.selects_all:
                meta["remainingItemCount"] = _remaining(view, last_key)
    return items, meta
