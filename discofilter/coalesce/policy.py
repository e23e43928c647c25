"""Coalescing policy: what to hold, for how long, and at what rate to release (pure settings).

Policy and reasons:

* Coalescing is on by default for ``pods``, ``endpoints`` and ``endpointslices`` only: these carry
  the churn that drives istiod's push storms (rolling replacements, CronJob tenants), and istiod
  only ever needs their newest state. Every other resource passes through unchanged unless a rule
  turns it on.
* Rate limiting is off by default (``max_events_per_second = 0``): a limit trades freshness for
  fewer pushes and only the operator knows that trade. The window alone never delays an event by
  more than ``window_seconds``.
* Rules are evaluated in order and the first match wins (like RBAC-less admission lists: easy to
  read top to bottom). A rule with a namespace selector matches only events of namespaces whose
  labels it selects; a rule without one matches every namespace. When no rule matches, the
  built-in default for the resource applies. A matching rule whose policy does nothing (window 0,
  no rate limit, no suppression) switches coalescing off: ``resolve_policy`` returns None.

Config keys are camelCase and map one to one onto the dataclass attributes
(``windowSeconds`` → ``window_seconds``); ``policy_from_config``/``rules_from_config`` parse them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from discofilter.errors import ConfigError
from discofilter.filter.selectors import Selector, selector_from_label_selector


@dataclass(frozen=True, slots=True)
class CoalescePolicy:
    """How one resource's watch events are coalesced and rate-limited (one watch stream)."""

    window_seconds: float = 0.25
    """Seconds an object's first held event waits for newer states of the same object before it is
    delivered (0 = no window). 250 ms folds the burst a pod emits at creation (ADDED, bound by the
    scheduler, first kubelet status: usually within a few hundred ms) into one event, and stays
    well inside istiod's own 100 ms to 10 s push debounce. Upper bound on the delay it adds."""

    max_events_per_second: float = 0.0
    """Object events per second one watch stream may deliver (token bucket; 0 = unlimited). Over the
    limit, events wait and merge per object, so the client gets fewer, newer states."""

    burst: int = 100
    """Token bucket size: events delivered back to back before the rate applies. 100 lets a small
    burst through at once while a 1,000-pod wave (4,000 to 6,000 events) is spread out."""

    max_hold_seconds: float = 5.0
    """Seconds after which a held event is delivered whatever the rate limit (staleness bound). 5 s
    is half of istiod's 10 s maximum debounce: the mesh never acts on state older than that because
    of us. Must be >= window_seconds."""

    suppress_noop: bool = False
    """Drop a MODIFIED whose only changes since the last delivered state of that object are in
    fields the consumer ignores (see ``discofilter.coalesce.noop``). Off by default: it costs a full
    JSON decode + re-encode per event (~26 µs for a 5 KB pod) and memory per object."""

    noop_max_keys: int = 100_000
    """Objects per watch stream whose last delivered digest is remembered for ``suppress_noop``
    (LRU; ~150 bytes each plus the key's strings, so 100k is 15 to 35 MB). An evicted object is
    simply not suppressed."""

    def __post_init__(self) -> None:
        for name in ("window_seconds", "max_events_per_second", "max_hold_seconds"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ConfigError(f"coalescing {name}: expected a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"coalescing {name}: must be a finite number >= 0, got {value}")
        if not isinstance(self.burst, int) or isinstance(self.burst, bool) or self.burst < 1:
            raise ConfigError(f"coalescing burst: must be an integer >= 1, got {self.burst!r}")
        if self.max_hold_seconds < self.window_seconds:
            raise ConfigError(
                f"coalescing maxHoldSeconds ({self.max_hold_seconds}) must be >= "
                f"windowSeconds ({self.window_seconds})"
            )
        if self.max_hold_seconds == 0 and self.max_events_per_second > 0:
            raise ConfigError("coalescing maxHoldSeconds must be > 0 when a rate limit is set")
        if not isinstance(self.noop_max_keys, int) or self.noop_max_keys < 0:
            raise ConfigError(f"coalescing noopMaxKeys: must be >= 0, got {self.noop_max_keys!r}")

    @property
    def enabled(self) -> bool:
        """True when the policy does anything (a window, a rate limit or suppression)."""
        return self.window_seconds > 0 or self.max_events_per_second > 0 or self.suppress_noop

    @property
    def rate_limited(self) -> bool:
        return self.max_events_per_second > 0


OFF = CoalescePolicy(window_seconds=0.0, max_events_per_second=0.0, suppress_noop=False)
"""A policy that does nothing; a rule with it switches coalescing off for what it matches."""

DEFAULT_POLICIES: dict[str, CoalescePolicy] = {
    "pods": CoalescePolicy(),
    "endpoints": CoalescePolicy(),
    "endpointslices": CoalescePolicy(),
}
"""Built-in policies by resource plural (the churny kinds; see the module docstring)."""


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """A config-level rule: this policy for ``resource`` in namespaces the selector matches."""

    resource: str
    """Resource plural ("pods"), optionally group-qualified ("endpointslices.discovery.k8s.io"),
    or "*" for every resource."""

    namespace_selector: Selector | None
    """Labels the event's namespace must have; None = every namespace (and cluster-wide streams)."""

    policy: CoalescePolicy


def _plural(resource: str) -> str:
    return resource.partition(".")[0]


def _resource_matches(rule_resource: str, resource: str) -> bool:
    return rule_resource in ("*", resource) or _plural(rule_resource) == _plural(resource)


def resolve_policy(
    rules: Iterable[PolicyRule], resource: str, namespace_labels: Mapping[str, str] | None
) -> CoalescePolicy | None:
    """The policy for ``resource`` events of a namespace with these labels, or None (no coalescing).

    ``namespace_labels`` None means "no particular namespace" (the stream-level policy of a
    cluster-wide watch): only rules without a namespace selector match then. First match wins;
    with no match, ``DEFAULT_POLICIES`` applies.
    """
    for rule in rules:
        if not _resource_matches(rule.resource, resource):
            continue
        if rule.namespace_selector is not None and (
            namespace_labels is None or not rule.namespace_selector.matches(namespace_labels)
        ):
            continue
        return rule.policy if rule.policy.enabled else None
    return DEFAULT_POLICIES.get(_plural(resource))


def has_namespace_rules(rules: Iterable[PolicyRule], resource: str) -> bool:
    """True when some rule for ``resource`` depends on namespace labels (a per-namespace policy
    callable is then needed even if the stream-level policy is None)."""
    return any(
        r.namespace_selector is not None and _resource_matches(r.resource, resource) for r in rules
    )


# --- config (camelCase keys, one per attribute) ----------------------------------------------


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.capitalize() for p in rest)


_POLICY_KEYS: dict[str, str] = {_camel(f.name): f.name for f in fields(CoalescePolicy)}


def policy_from_config(
    obj: Mapping[str, Any], where: str = "coalescing", base: CoalescePolicy | None = None
) -> CoalescePolicy:
    """A policy from camelCase config keys; keys not given keep ``base``'s (default) values."""
    if not isinstance(obj, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(obj).__name__}")
    base = base or CoalescePolicy()
    values = {f.name: getattr(base, f.name) for f in fields(CoalescePolicy)}
    for key, value in obj.items():
        attr = _POLICY_KEYS.get(key)
        if attr is None:
            raise ConfigError(f"{where}.{key}: unknown key (known: {', '.join(_POLICY_KEYS)})")
        if attr == "suppress_noop" and not isinstance(value, bool):
            raise ConfigError(f"{where}.{key}: expected true or false, got {value!r}")
        values[attr] = value
    try:
        return CoalescePolicy(**values)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from e


def rules_from_config(
    items: Sequence[Mapping[str, Any]], where: str = "coalescing.rules"
) -> list[PolicyRule]:
    """Rules from a config list: ``{resource, namespaceSelector?, <policy keys>}`` each.

    ``namespaceSelector`` is a metav1.LabelSelector (matchLabels/matchExpressions).
    """
    if not isinstance(items, Sequence) or isinstance(items, str | bytes):
        raise ConfigError(f"{where}: expected a list")
    rules: list[PolicyRule] = []
    for i, item in enumerate(items):
        here = f"{where}[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{here}: expected a mapping")
        resource = item.get("resource")
        if not isinstance(resource, str) or not resource:
            raise ConfigError(f"{here}.resource: required, a resource plural such as 'pods'")
        sel_obj = item.get("namespaceSelector")
        selector = (
            None
            if sel_obj is None
            else selector_from_label_selector(sel_obj, f"{here}.namespaceSelector")
        )
        policy_obj = {k: v for k, v in item.items() if k not in ("resource", "namespaceSelector")}
        base = DEFAULT_POLICIES.get(_plural(resource), CoalescePolicy())
        rules.append(PolicyRule(resource, selector, policy_from_config(policy_obj, here, base)))
    return rules
