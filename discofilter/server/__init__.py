"""The aiohttp + uvloop proxy: request → classify → upstream → decode → filter → [coalesce] → write.

Rooms, each one job::

    proxy.py          ProxyServer: one worker's parts (upstream, enrollment, catalog, streams)
                      and their lifecycle; enrollment flips and reloads go through its methods
    front/            the HTTP front: handlers, pass-through, filtered LIST/WATCH, responses
    streams/          stream machinery: the pump, the registry of open streams, coalescing stages
    namespaces/       the namespace view: the namespace informer, the versions served
    reload.py         live config reload (SIGHUP, file poll)
    supervise.py      process supervision: one worker's listeners and signals, or N workers
    tuning/           runtime tuning: allocator, GC, serving TLS
    admin_state.py    ProxyAdminState: what admin HTTP/gRPC read from a running proxy

Arrows (tests/unit/test_layering.py): the server imports the pure layers, ``upstream``,
``telemetry``, ``metrics`` and ``admin`` (to serve it); never ``sim``, ``bench``, ``demo``,
``explain`` or the CLI layer, which parses the arguments (``discofilter.cli.serve``).
"""
