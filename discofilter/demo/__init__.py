"""``discofilter demo``: the benchmark runner with two modes and a live side-by-side view."""
