"""Live sources of enrollment settings, read from the cluster with the proxy's own identity.

* ``object_watch`` — LIST+WATCH of one named object (client-go Reflector shape);
* ``events`` — Kubernetes Events about what a source refused;
* ``mesh_source`` — ``meshConfigFrom``: istiod's mesh ConfigMap → live discoverySelectors.
"""
