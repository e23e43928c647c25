"""Churn control (pure, injected time): coalescing windows and rate limits without loss.

    policy.py     CoalescePolicy, PolicyRule, resolve_policy: what to hold, per resource/namespace
    coalescer.py  Coalescer: one watch stream's hold queue; THE place contract 2 is enforced
    held.py       Held: one entry of the hold queue (an undelivered ADDED and its tail)
    deadlines.py  Deadlines: when held entries fall due (window, max hold, release marks)
    bucket.py     TokenBucket: the per-stream rate limit, driven by explicit ``now``
    retype.py     retype: deliver a MODIFIED's bytes as an ADDED (JSON line / protobuf frame)
    noop.py       semantic_digest, DeliveredDigests: optional no-op suppression
    stats.py      CoalesceStats: counters per kind for the server to export

No I/O library is imported here (tests/unit/test_layering.py).
"""

from discofilter.coalesce.coalescer import Coalescer
from discofilter.coalesce.policy import (
    DEFAULT_POLICIES,
    OFF,
    CoalescePolicy,
    PolicyRule,
    has_namespace_rules,
    policy_from_config,
    resolve_policy,
    rules_from_config,
)
from discofilter.coalesce.stats import CoalesceStats, CoalesceStatsTable

__all__ = [
    "DEFAULT_POLICIES",
    "OFF",
    "CoalescePolicy",
    "CoalesceStats",
    "CoalesceStatsTable",
    "Coalescer",
    "PolicyRule",
    "has_namespace_rules",
    "policy_from_config",
    "resolve_policy",
    "rules_from_config",
]
