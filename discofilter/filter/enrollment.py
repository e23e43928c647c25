"""Namespace enrollment: which namespaces' objects a filtered stream forwards (pure).

Semantics are Istio's ``meshConfig.discoverySelectors``:

* ``selectors is None`` (no discoverySelectors configured) enrolls **every** namespace;
* otherwise a namespace is enrolled when its labels match **any** selector (OR between entries);
  an empty ``SelectorSet`` therefore enrolls nothing but ``always_enrolled``;
* ``always_enrolled`` names (default ``istio-system``) are enrolled whatever their labels, so the
  control plane's own namespace stays visible even when nobody labelled it.

A namespace the proxy has not seen yet (its namespace watch lags the pod watch) is *not*
enrolled, except an ``always_enrolled`` name or when ``selectors is None``. Callers that drop an
event for such a namespace remember it, so that a later enrollment ends their stream (contract 3).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from discofilter.filter.selectors import SelectorSet

DEFAULT_ALWAYS_ENROLLED: frozenset[str] = frozenset({"istio-system"})


@dataclass(frozen=True, slots=True)
class EnrollmentChange:
    """A namespace whose enrollment flipped. ``enrolled`` is the new state."""

    namespace: str
    enrolled: bool
    term: str | None = None
    """The term that enrolls it now (None when it left)."""


class Enrollment:
    """The enrolled-namespace view built from namespace labels and the selectors.

    Invariant: ``_enrolled`` is exactly the set of names in ``_labels`` for which
    ``_term_for(name, labels)`` is not None, plus the ``always_enrolled`` names (seen or not).
    Every mutation keeps it, and returns the flips it caused.
    """

    def __init__(
        self,
        selectors: SelectorSet | None,
        always_enrolled: frozenset[str] = DEFAULT_ALWAYS_ENROLLED,
        term_names: tuple[str, ...] | None = None,
    ) -> None:
        self.selectors = selectors
        self.always_enrolled = frozenset(always_enrolled)
        # term_names[i] names selectors[i] in explanations: "discoverySelectors[1]", "--selector 0".
        n = len(selectors.selectors) if selectors is not None else 0
        self.term_names = term_names or tuple(f"discoverySelectors[{i}]" for i in range(n))
        self._labels: dict[str, Mapping[str, str]] = {}
        self._enrolled: set[str] = set(self.always_enrolled)

    # --- queries -------------------------------------------------------------------------------

    def is_enrolled(self, namespace: str) -> bool:
        if self.selectors is None:
            return True
        return namespace in self._enrolled

    def _term_for(self, name: str, labels: Mapping[str, str] | None) -> str | None:
        if name in self.always_enrolled:
            return "alwaysEnrolled"
        if self.selectors is None:
            return "all namespaces (no discoverySelectors)"
        i = self.selectors.matching_term(labels)
        return None if i is None else self.term_names[i]

    def matching_term(self, namespace: str) -> str | None:
        """Why ``namespace`` is enrolled ("discoverySelectors[1]", "alwaysEnrolled"), or None."""
        if namespace not in self._labels and namespace not in self.always_enrolled:
            return "all namespaces (no discoverySelectors)" if self.selectors is None else None
        return self._term_for(namespace, self._labels.get(namespace))

    def enrolled(self) -> frozenset[str]:
        """Known enrolled namespaces (with selectors None: every known namespace)."""
        if self.selectors is None:
            return frozenset(self._labels) | self.always_enrolled
        return frozenset(self._enrolled)

    def namespaces(self) -> Mapping[str, Mapping[str, str]]:
        """Every known namespace and its labels (read-only view)."""
        return MappingProxyType(self._labels)

    # --- mutations -----------------------------------------------------------------------------

    def apply_namespace(
        self, name: str, labels: Mapping[str, str] | None
    ) -> EnrollmentChange | None:
        """Record a namespace's labels (ADDED/MODIFIED); return the flip, if any.

        A namespace seen for the first time counts as a flip to enrolled when it is enrolled: a
        stream may already have dropped its objects while it was unknown.
        """
        # An unknown namespace counts as not enrolled (unless every namespace is, or it is always
        # enrolled), so its first appearance with matching labels is a flip to enrolled.
        was = name in self._enrolled or self.selectors is None
        self._labels[name] = dict(labels or {})
        term = self._term_for(name, self._labels[name])
        if term is not None:
            self._enrolled.add(name)
        else:
            self._enrolled.discard(name)
        now = term is not None
        return EnrollmentChange(name, now, term) if now != was else None

    def remove_namespace(self, name: str) -> EnrollmentChange | None:
        """Forget a deleted namespace; a flip to not-enrolled if it was enrolled."""
        if name not in self._labels:
            return None
        was = self.is_enrolled(name)
        del self._labels[name]
        if name not in self.always_enrolled:
            self._enrolled.discard(name)
        if was and name not in self.always_enrolled:
            return EnrollmentChange(name, False, None)
        return None

    def sync(self, namespaces: Mapping[str, Mapping[str, str] | None]) -> list[EnrollmentChange]:
        """Replace the whole view with a fresh LIST; return every flip."""
        changes: list[EnrollmentChange] = []
        for gone in sorted(set(self._labels) - set(namespaces)):
            ch = self.remove_namespace(gone)
            if ch is not None:
                changes.append(ch)
        for name, labels in namespaces.items():
            ch = self.apply_namespace(name, labels)
            if ch is not None:
                changes.append(ch)
        return changes

    def reconfigure(
        self,
        selectors: SelectorSet | None,
        always_enrolled: frozenset[str],
        term_names: tuple[str, ...] | None = None,
    ) -> list[EnrollmentChange]:
        """Switch this view to other selectors and always-enrolled names (config reload).

        In place, not a copy: open streams' filters, the namespace watcher and the coalescing
        rules hold this object. Returns every flip among the known and the (old or new)
        always-enrolled namespaces, like ``with_selectors`` does for a dry run.
        """
        names = set(self._labels) | self.always_enrolled | frozenset(always_enrolled)
        was = {name: self.is_enrolled(name) for name in names}
        self.selectors = selectors
        self.always_enrolled = frozenset(always_enrolled)
        n = len(selectors.selectors) if selectors is not None else 0
        self.term_names = term_names or tuple(f"discoverySelectors[{i}]" for i in range(n))
        # Rebuilt in place (same set object) to keep the invariant on ``_enrolled``.
        self._enrolled.clear()
        self._enrolled.update(self.always_enrolled)
        for name, labels in self._labels.items():
            if self._term_for(name, labels) is not None:
                self._enrolled.add(name)
        return [
            EnrollmentChange(name, self.is_enrolled(name), self.matching_term(name))
            for name in sorted(names)
            if self.is_enrolled(name) != was[name]
        ]

    def with_selectors(
        self, selectors: SelectorSet | None, term_names: tuple[str, ...] | None = None
    ) -> tuple[Enrollment, list[EnrollmentChange]]:
        """A new view with other selectors over the same namespaces, and what would flip.

        Used for config reload and for dry-run ("what would change if...").
        """
        new = Enrollment(selectors, self.always_enrolled, term_names)
        for name, labels in self._labels.items():
            new._labels[name] = labels
            if new._term_for(name, labels) is not None:
                new._enrolled.add(name)
        changes: list[EnrollmentChange] = []
        for name in sorted(set(self._labels) | self.always_enrolled):
            a, b = self.is_enrolled(name), new.is_enrolled(name)
            if a != b:
                changes.append(EnrollmentChange(name, b, new.matching_term(name)))
        return new, changes
