"""Filtering (pure): what a client of the proxy gets, and why.

::

    selectors.py    label and field selectors (kubectl syntax, LabelSelector objects)
    enrollment.py   Enrollment: which namespaces are in the mesh (Istio discoverySelectors)
    events.py       the per-event filter: WatchFilter (watch, as=Table), namespace_filter (lists)
    dryrun.py       a selector set against a namespace view: who is enrolled, what changes
    candidates.py   candidate selector sets from flags and the YAML shapes SREs have
"""
