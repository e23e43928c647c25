"""LIST/WATCH query parameters, validated as kube-apiserver validates them (pure).

``parse_list_options`` turns the query string into ``ListOptions`` or raises the ``ApiError``
the real server would answer (400 for unparsable values and unsupported field labels, 422 for
combinations the API forbids). ``ObjectFilter`` is the namespace + label + field predicate shared
by LIST and WATCH; ``transition`` applies it to one stored event the way the watch cache does:
an object that stops matching arrives as DELETED (its previous state, stamped with the event's
resourceVersion), one that starts matching as ADDED.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from discofilter.errors import SelectorError
from discofilter.filter.selectors import (
    FieldSelector,
    Selector,
    parse_field_selector,
    parse_label_selector,
)
from discofilter.model import ADDED, DELETED, MODIFIED
from discofilter.sim import apierrors
from discofilter.sim.history import StoredEvent
from discofilter.sim.resources import FIELD_LABELS, field_values

Obj = dict[str, Any]
NOT_OLDER_THAN = "NotOlderThan"
EXACT = "Exact"

# kube-apiserver ends a watch without timeoutSeconds after 30-60 min (--min-request-timeout
# 1800 s times a random factor in [1, 2)); the emulator takes the low end: 1800 s.
DEFAULT_WATCH_TIMEOUT = 1800.0


@dataclass(frozen=True, slots=True)
class ListOptions:
    watch: bool = False
    resource_version: str = ""
    """Raw query value: "" (unset), "0", or a decimal revision."""
    resource_version_match: str = ""
    label: Selector | None = None
    field: FieldSelector | None = None
    limit: int = 0
    continue_token: str = ""
    timeout_seconds: float | None = None
    allow_bookmarks: bool = False
    send_initial_events: bool | None = None
    include_object: str = "Metadata"
    """Table rows: None / Metadata / Object."""

    @property
    def resource_version_number(self) -> int | None:
        """``resourceVersion`` as the emulator's revision number (None when absent)."""
        return int(self.resource_version) if self.resource_version else None


def _bool(query: Mapping[str, str], key: str) -> bool | None:
    raw = query.get(key)
    if raw is None:
        return None
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0", ""):
        return False
    raise apierrors.bad_request(f'invalid value for {key}: "{raw}" is not a boolean')


def parse_list_options(query: Mapping[str, str], resource: str) -> ListOptions:
    rv = query.get("resourceVersion", "")
    if rv and not rv.isdigit():
        raise apierrors.bad_request(f'invalid resource version "{rv}"')
    match = query.get("resourceVersionMatch", "")
    watch = bool(_bool(query, "watch"))
    send_initial = _bool(query, "sendInitialEvents")
    bookmarks = bool(_bool(query, "allowWatchBookmarks"))
    cont = query.get("continue", "")
    if match and match not in (NOT_OLDER_THAN, EXACT):
        raise apierrors.ApiError(
            422,
            f'resourceVersionMatch: Unsupported value: "{match}": supported values: '
            '"Exact", "NotOlderThan"',
            "Invalid",
        )
    if send_initial is not None:
        if not watch:
            raise apierrors.ApiError(
                422,
                "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list",
                "Invalid",
            )
        if match != NOT_OLDER_THAN:
            raise apierrors.ApiError(
                422,
                "resourceVersionMatch: Forbidden: sendInitialEvents requires setting "
                "resourceVersionMatch to NotOlderThan",
                "Invalid",
            )
        if send_initial and not bookmarks:
            raise apierrors.ApiError(
                422,
                "allowWatchBookmarks: Forbidden: sendInitialEvents requires allowWatchBookmarks",
                "Invalid",
            )
    elif match:
        if watch:
            raise apierrors.ApiError(
                422,
                "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch "
                "unless sendInitialEvents is provided",
                "Invalid",
            )
        if not rv:
            raise apierrors.ApiError(
                422,
                "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless "
                "resourceVersion is provided",
                "Invalid",
            )
        if match == EXACT and rv == "0":
            raise apierrors.ApiError(
                422,
                'resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for '
                'resourceVersion "0"',
                "Invalid",
            )
    if cont and rv and rv != "0":
        raise apierrors.ApiError(
            422,
            "resourceVersion: Forbidden: specifying resource version is not allowed when "
            "using continue",
            "Invalid",
        )
    try:
        limit = int(query.get("limit", "0") or 0)
    except ValueError:
        raise apierrors.bad_request(f'invalid limit "{query["limit"]}"') from None
    timeout: float | None = None
    if query.get("timeoutSeconds"):
        try:
            timeout = float(int(query["timeoutSeconds"]))
        except ValueError:
            raise apierrors.bad_request(
                f'invalid timeoutSeconds "{query["timeoutSeconds"]}"'
            ) from None
    label = field = None
    try:
        if query.get("labelSelector"):
            label = parse_label_selector(query["labelSelector"])
        if query.get("fieldSelector"):
            field = parse_field_selector(query["fieldSelector"])
    except SelectorError as e:
        raise apierrors.bad_request(f"unable to parse requirement: {e}") from e
    if field is not None:
        allowed = {"metadata.name", "metadata.namespace", *FIELD_LABELS.get(resource, ())}
        for f in sorted(field.fields):
            if f not in allowed:
                raise apierrors.bad_request(f"field label not supported: {f}")
    include = query.get("includeObject", "Metadata") or "Metadata"
    if include not in ("None", "Metadata", "Object"):
        raise apierrors.bad_request(f'invalid includeObject "{include}"')
    return ListOptions(
        watch=watch,
        resource_version=rv,
        resource_version_match=match,
        label=label if label is not None and not label.empty else None,
        field=field if field is not None and field.requirements else None,
        limit=max(0, limit),
        continue_token=cont,
        timeout_seconds=timeout,
        allow_bookmarks=bookmarks,
        send_initial_events=send_initial,
        include_object=include,
    )


class ObjectFilter:
    """Namespace + label selector + field selector of one LIST/WATCH request."""

    __slots__ = ("field", "label", "namespace", "resource")

    def __init__(
        self,
        resource: str,
        namespace: str | None,
        label: Selector | None,
        field: FieldSelector | None,
    ) -> None:
        self.resource = resource
        self.namespace = namespace
        self.label = label
        self.field = field

    @property
    def selects_all(self) -> bool:
        """True when only the namespace scope applies (the shared-bytes fast path)."""
        return self.label is None and self.field is None

    def matches(self, obj: Obj) -> bool:
        if self.label is not None and not self.label.matches(obj["metadata"].get("labels")):
            return False
        return self.field is None or self.field.matches(field_values(self.resource, obj))

    def transition(self, ev: StoredEvent) -> tuple[str, Obj] | None:
        """What a watcher with this filter sees of ``ev``: (type, object) or None."""
        if self.namespace is not None and ev.namespace != self.namespace:
            return None
        if self.selects_all:
            return ev.type, ev.obj
        if ev.type == ADDED:
            return (ADDED, ev.obj) if self.matches(ev.obj) else None
        if ev.type == DELETED:
            return (DELETED, ev.obj) if self.matches(ev.obj) else None
        now = self.matches(ev.obj)
        before = ev.prev is not None and self.matches(ev.prev)
        if now and before:
            return MODIFIED, ev.obj
        if now:
            return ADDED, ev.obj
        if before and ev.prev is not None:
            gone = dict(ev.prev)
            gone["metadata"] = dict(ev.prev["metadata"], resourceVersion=str(ev.rv))
            return DELETED, gone
        return None
