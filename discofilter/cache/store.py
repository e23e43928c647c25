"""The store: the current state of the enrolled objects of one key (pure).

Invariants (kept by every mutation):

* ``_objects`` maps (namespace, name) to the newest ``CachedObject`` applied for it, and only
  for namespaces the owning ``SharedCache`` holds as enrolled (it filters before calling);
* ``_names[ns]`` is exactly the set of names in ``_objects`` under ``ns`` (no empty sets);
* ``bytes`` is the sum of ``len(obj.object)`` over ``_objects``;
* ``_sorted`` is None or the objects sorted by key (etcd's key order, so cache LISTs come out
  in the order a direct LIST gives); any mutation resets it.
"""

from __future__ import annotations

from collections.abc import Iterable

from discofilter.cache.types import CachedObject
from discofilter.model import DELETED


class Store:
    """Enrolled objects by key, with a per-namespace index and a byte count."""

    __slots__ = ("_names", "_objects", "_sorted", "bytes")

    def __init__(self) -> None:
        self._objects: dict[tuple[str, str], CachedObject] = {}
        self._names: dict[str, set[str]] = {}
        self._sorted: tuple[CachedObject, ...] | None = None
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._objects)

    def get(self, namespace: str, name: str) -> CachedObject | None:
        return self._objects.get((namespace, name))

    def count_in(self, namespace: str) -> int:
        return len(self._names.get(namespace, ()))

    def apply(self, type_: str, obj: CachedObject) -> None:
        """ADDED/MODIFIED put the object; DELETED removes it (a missing key is a no-op)."""
        if type_ == DELETED:
            self._remove(obj.key)
        else:
            self._put(obj)

    def _put(self, obj: CachedObject) -> None:
        old = self._objects.get(obj.key)
        if old is not None:
            self.bytes -= len(old.object)
        else:
            self._names.setdefault(obj.namespace, set()).add(obj.name)
        self._objects[obj.key] = obj
        self.bytes += len(obj.object)
        self._sorted = None

    def _remove(self, key: tuple[str, str]) -> None:
        old = self._objects.pop(key, None)
        if old is None:
            return
        self.bytes -= len(old.object)
        names = self._names[key[0]]
        names.discard(key[1])
        if not names:
            del self._names[key[0]]
        self._sorted = None

    def drop_namespace(self, namespace: str) -> int:
        """Remove every object of ``namespace``; return how many there were."""
        names = self._names.pop(namespace, set())
        for name in names:
            old = self._objects.pop((namespace, name))
            self.bytes -= len(old.object)
        if names:
            self._sorted = None
        return len(names)

    def replace_namespace(self, namespace: str, objects: Iterable[CachedObject]) -> None:
        """Make ``namespace``'s objects exactly ``objects`` (a namespace-scoped LIST)."""
        self.drop_namespace(namespace)
        for obj in objects:
            if obj.namespace != namespace:
                raise ValueError(f"object {obj.key} is not in namespace {namespace!r}")
            self._put(obj)

    def replace(self, objects: Iterable[CachedObject]) -> None:
        """Make the store exactly ``objects`` (a relist)."""
        self._objects.clear()
        self._names.clear()
        self.bytes = 0
        self._sorted = None
        for obj in objects:
            self._put(obj)

    def snapshot(self) -> tuple[CachedObject, ...]:
        """The objects in key order; the same tuple until the next mutation (cheap to pin)."""
        if self._sorted is None:
            self._sorted = tuple(self._objects[k] for k in sorted(self._objects))
        return self._sorted
