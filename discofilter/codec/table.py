"""Filtering ``as=Table`` watch streams (``kubectl get -A -w`` through the proxy) (pure).

A Table watch event's object is a ``meta.k8s.io`` Table with one row per changed object;
``JsonWatchDecoder`` already reports the row object's namespace. Two things need more than
a keep/drop decision, hence this module:

- Column headers travel only once. kube-apiserver puts ``columnDefinitions`` on the first
  Table of a watch and omits them on every later event (its watch transform sets
  ``NoHeaders`` after the first object). kubectl prints a row's cells by walking the column
  definitions, so if the proxy drops that first event every later row prints empty.
  ``TableWatchFilter`` remembers the definitions of a dropped event and injects them into the
  first event it forwards.
- A Table could hold several rows from different namespaces; such an event is rewritten to keep
  only the accepted rows. Rows without an embedded object (``includeObject=None``) are dropped:
  fail closed, as in list filtering.

Rewritten events are re-encoded with orjson (Tables are a display format; key order is kept,
byte identity of the row cells is not guaranteed). Only JSON: Table has no protobuf form.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from discofilter.codec.jsonwatch import decode_json_event
from discofilter.errors import CodecError
from discofilter.model import BOOKMARK, ERROR, WatchEvent

_TABLE_MARK = b'"Table"'


def _parse_table(event: WatchEvent) -> dict[str, Any] | None:
    """The Table object of a JSON watch event, or None when the event is not a Table."""
    if _TABLE_MARK not in event.raw:
        return None  # cheap pre-check: every Table event contains the "Table" kind string
    try:
        doc = orjson.loads(event.raw)
    except orjson.JSONDecodeError as e:
        raise CodecError(f"invalid JSON watch event: {e}") from e
    obj = doc.get("object") if isinstance(doc, dict) else None
    if (
        isinstance(obj, dict)
        and obj.get("kind") == "Table"
        and str(obj.get("apiVersion", "")).startswith("meta.k8s.io/")
    ):
        return doc
    return None


def _row_namespace(row: Any) -> str | None:
    obj = row.get("object") if isinstance(row, dict) else None
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    if not isinstance(meta, dict):
        return None
    ns = meta.get("namespace")
    return ns if isinstance(ns, str) else ""


def _encode(doc: dict[str, Any]) -> WatchEvent:
    return decode_json_event(orjson.dumps(doc) + b"\n")


def filter_watch_object(event: WatchEvent, keep: Callable[[str], bool]) -> WatchEvent | None:
    """Stateless: the event to forward (maybe with fewer Table rows), or None to drop it.

    BOOKMARK and ERROR events always pass. A non-Table event passes when ``keep(namespace)``.
    """
    if event.type in (BOOKMARK, ERROR):
        return event
    doc = _parse_table(event)
    if doc is None:
        return event if keep(event.namespace) else None
    rows = doc["object"].get("rows") or []
    kept = [r for r in rows if (ns := _row_namespace(r)) is not None and keep(ns)]
    if not kept:
        return None
    if len(kept) == len(rows):
        return event
    doc["object"]["rows"] = kept
    return _encode(doc)


class TableWatchFilter:
    """Stateful per-stream filter for Table watches: carries column headers past drops."""

    __slots__ = ("_keep", "_pending_columns")

    def __init__(self, keep: Callable[[str], bool]) -> None:
        self._keep = keep
        # Invariant: not None iff a dropped event carried columnDefinitions and no Table event
        # has been forwarded since; the next forwarded Table without columns gets these.
        self._pending_columns: list[Any] | None = None

    def filter(self, event: WatchEvent) -> WatchEvent | None:
        """The event to forward (maybe rewritten), or None to drop it."""
        if event.type in (BOOKMARK, ERROR):
            return event
        doc = _parse_table(event)
        if doc is None:
            return event if self._keep(event.namespace) else None
        table = doc["object"]
        passed = filter_watch_object(event, self._keep)
        if passed is None:
            cols = table.get("columnDefinitions")
            if cols:
                self._pending_columns = cols
            return None
        pending, self._pending_columns = self._pending_columns, None
        if pending is None or table.get("columnDefinitions"):
            return passed
        out = orjson.loads(passed.raw) if passed is not event else doc
        out["object"]["columnDefinitions"] = pending
        return _encode(out)
