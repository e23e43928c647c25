"""The namespaces one scope's filtered watches ask the API server to leave out.

The choice itself is pure (``filter.exclusion``); this keeps what it needs between watches: the
scope's live enrollment view, the churn meter that ranks namespaces when there are more than
the limit, the last set (so the ranking is sticky), and the resources whose upstream refused
the field selector (an aggregated API may; the watch is then retried without it and that
resource is not asked again by this worker).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from discofilter.filter.enrollment import Enrollment
from discofilter.filter.exclusion import excluded_namespaces
from discofilter.telemetry.churn import ChurnMeter

log = logging.getLogger(__name__)


class UpstreamExclusions:
    def __init__(
        self,
        limit: Callable[[], int],
        enrollment: Enrollment,
        churn: ChurnMeter | None,
        refused: set[str] | None = None,
    ) -> None:
        self._limit = limit
        self._enrollment = enrollment
        self._churn = churn
        self.refused: set[str] = refused if refused is not None else set()
        """Resources (``group_resource``) whose upstream refused the exclusions (400, 414 or
        431) and then accepted the client's own watch."""
        self._last: frozenset[str] = frozenset()

    def for_watch(self, resource: str) -> frozenset[str]:
        """The namespaces a new filtered watch of ``resource`` leaves out upstream (empty: the
        limit is 0, every namespace is enrolled, or the upstream refused it before)."""
        enrollment = self._enrollment
        if resource in self.refused or enrollment.selectors is None:
            return frozenset()
        churn = self._churn
        self._last = excluded_namespaces(
            enrollment.namespaces(), enrollment.is_enrolled, self._limit(),
            churn.rates if churn is not None else None, self._last,
        )  # fmt: skip
        return self._last

    @property
    def last(self) -> frozenset[str]:
        """The set the newest watch left out (``discofilter_upstream_excluded_namespaces``)."""
        return self._last

    def refuse(self, resource: str, status: int) -> None:
        """The upstream answered ``status`` to a watch of ``resource`` with exclusions."""
        if resource not in self.refused:
            log.warning(
                "upstream refused the namespace exclusions; watching without them",
                extra={"resource": resource, "status": status},
            )
        self.refused.add(resource)
