"""Wiring the churn-control stage into watch streams, from the ``churnControl:`` config section.

Shape (camelCase, validated at config load)::

    churnControl:
      enabled: true            # default true: pods/endpoints/endpointslices coalesce (250 ms)
      rules:                   # first match wins; see discofilter.coalesce.policy
        - resource: pods
          namespaceSelector: {matchLabels: {tier: batch}}
          windowSeconds: 0.5
          maxEventsPerSecond: 200

One ``Coalescer`` per filtered watch stream when a policy applies (None otherwise: the stream
writes filtered events straight through). Namespace-dependent rules read the namespace labels
from the live enrollment view, so they follow relabels without restarting streams.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from discofilter.classify import ResourceRef
from discofilter.coalesce import (
    OFF,
    Coalescer,
    CoalesceStatsTable,
    has_namespace_rules,
    resolve_policy,
)
from discofilter.config import parse_churn_control
from discofilter.filter.enrollment import Enrollment


def stage_factory(
    section: Mapping[str, Any] | None, enrollment: Enrollment, stats: CoalesceStatsTable
) -> Callable[[ResourceRef, bool], Coalescer | None]:
    enabled, rules = parse_churn_control(section)

    def make(ref: ResourceRef, initial_events: bool) -> Coalescer | None:
        if not enabled:
            return None
        resource = ref.group_resource
        policy = resolve_policy(rules, resource, None)
        ns_policy: Callable[[str], Any] | None = None
        if has_namespace_rules(rules, resource):
            labels = enrollment.namespaces()

            def ns_policy(ns: str) -> Any:
                return resolve_policy(rules, resource, labels.get(ns, {}))

        if policy is None and ns_policy is None:
            return None
        return Coalescer(
            policy or OFF,
            kind=resource,
            stats=stats.get(resource),
            namespace_policy=ns_policy,
            initial_events=initial_events,
        )

    return make
