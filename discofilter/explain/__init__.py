"""``discofilter selectors explain``: which namespaces a selector set enrolls, and why."""
