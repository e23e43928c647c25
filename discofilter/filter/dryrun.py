"""Dry-run of a selector set against a namespace view: who is enrolled, why, what changes (pure).

Shared by ``discofilter selectors explain`` (facts read from a cluster) and the gRPC
``ExplainSelectors`` call (facts from the running proxy's namespace informer), so both answer the
same question the same way.

Enrollment is decided by the proxy's own ``filter.enrollment.Enrollment`` (Istio
discoverySelectors semantics, ``always_enrolled`` namespaces, ``None`` = every namespace); the
only difference is naming: a matching term is shown as its selector in kubectl syntax
(``istio-injection=enabled``) rather than its position, because a dry-run compares two sets whose
positions mean nothing to each other.

"Churn share" is a namespace set's fraction of the cluster's observed events/s: the share of
churn the proxy would forward (before filtering by kind-specific coalescing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from discofilter.filter.enrollment import DEFAULT_ALWAYS_ENROLLED, Enrollment
from discofilter.filter.selectors import SelectorSet

ADDED = "added"
REMOVED = "removed"


def term_names(selectors: SelectorSet | None) -> tuple[str, ...]:
    """Each OR-term in kubectl syntax; the empty selector (matches everything) shows as "{}"."""
    return () if selectors is None else tuple(str(s) or "{}" for s in selectors.selectors)


def enrollment(
    selectors: SelectorSet | None,
    namespaces: Mapping[str, Mapping[str, str]],
    always_enrolled: frozenset[str] = DEFAULT_ALWAYS_ENROLLED,
) -> Enrollment:
    """An Enrollment over ``namespaces`` whose terms are named by their selector text."""
    e = Enrollment(selectors, always_enrolled, term_names(selectors) or None)
    e.sync(namespaces)
    return e


@dataclass(frozen=True, slots=True)
class NamespaceFacts:
    """What is known about one namespace; counts are None when not measured."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    churn: float = 0.0
    """Observed events/s (all watched kinds together)."""
    counts: Mapping[str, int] = field(default_factory=dict)
    """Objects per resource, e.g. {"pods": 12, "services": 3, "endpointslices": 3}."""


@dataclass(frozen=True, slots=True)
class NamespaceRow:
    facts: NamespaceFacts
    term_before: str | None
    term_after: str | None

    @property
    def name(self) -> str:
        return self.facts.name

    @property
    def before(self) -> bool:
        return self.term_before is not None

    @property
    def after(self) -> bool:
        return self.term_after is not None

    @property
    def change(self) -> str:
        """ADDED, REMOVED or ""."""
        if self.after and not self.before:
            return ADDED
        if self.before and not self.after:
            return REMOVED
        return ""


@dataclass(frozen=True, slots=True)
class Comparison:
    rows: tuple[NamespaceRow, ...]
    """Sorted by namespace name."""
    total_churn: float
    """Events/s over all namespaces."""

    @property
    def added(self) -> list[str]:
        return [r.name for r in self.rows if r.change == ADDED]

    @property
    def removed(self) -> list[str]:
        return [r.name for r in self.rows if r.change == REMOVED]

    @property
    def enrolled_before(self) -> int:
        return sum(1 for r in self.rows if r.before)

    @property
    def enrolled_after(self) -> int:
        return sum(1 for r in self.rows if r.after)

    def _share(self, rows: Sequence[NamespaceRow]) -> float:
        if self.total_churn <= 0:
            return 0.0
        return sum(r.facts.churn for r in rows) / self.total_churn

    @property
    def churn_share_before(self) -> float:
        return self._share([r for r in self.rows if r.before])

    @property
    def churn_share_after(self) -> float:
        return self._share([r for r in self.rows if r.after])

    @property
    def added_churn_share(self) -> float:
        return self._share([r for r in self.rows if r.change == ADDED])

    @property
    def removed_churn_share(self) -> float:
        return self._share([r for r in self.rows if r.change == REMOVED])

    def churn_share(self, row: NamespaceRow) -> float:
        return self._share([row])


def compare(
    facts: Sequence[NamespaceFacts],
    before: SelectorSet | None,
    after: SelectorSet | None,
    always_enrolled: frozenset[str] = DEFAULT_ALWAYS_ENROLLED,
) -> Comparison:
    """Evaluate both selector sets over ``facts``."""
    labels = {f.name: f.labels for f in facts}
    e_before = enrollment(before, labels, always_enrolled)
    e_after = enrollment(after, labels, always_enrolled)
    rows = tuple(
        NamespaceRow(
            facts=f,
            term_before=e_before.matching_term(f.name),
            term_after=e_after.matching_term(f.name),
        )
        for f in sorted(facts, key=lambda f: f.name)
    )
    return Comparison(rows=rows, total_churn=sum(f.churn for f in facts))
