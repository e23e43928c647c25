"""Istio's own configuration, read the way istiod reads it (pure: no I/O library).

* ``meshconfig`` — ``meshConfigFrom`` references and the ``discoverySelectors`` of a ``mesh``
  ConfigMap value, parsed with istiod's rules (YAML → JSON → proto JSON, then LabelSelector
  validation);
* ``safety`` — the namespaces the mesh needs whatever the selectors say.
"""
