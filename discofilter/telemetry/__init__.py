"""Telemetry collectors the hot path feeds and the admin surfaces read.

::

    decisions.py    DecisionSampler: the sampled feed of filter decisions (gRPC WatchDecisions)
    churn.py        ChurnMeter: recent events/s per namespace, upstream side
    counters.py     KindCounters: cumulative per-kind counters, the admin snapshot value

Both ``server`` (which feeds them once per upstream chunk) and ``admin`` (which reads them per
request) import this room; it imports neither, so the arrows run server → telemetry ← admin.
"""
