"""The namespace view: the proxy's own namespace informer and the versions it has served.

::

    informer.py     NamespaceWatcher: LIST+WATCH of namespaces feeding the Enrollment view
    served.py       ServedVersions: resourceVersion handed out → enrollment generation
"""
