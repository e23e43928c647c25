"""The aiohttp + uvloop proxy: request → classify → upstream → decode → filter → [coalesce] → write.

::

    app.py              ProxyServer: upstream client, enrollment, catalog, streams; the handler
    passthrough.py      everything that is not filtered, streamed byte for byte
    filtered_list.py    cluster-wide LISTs (JSON, Table, PartialObjectMetadata, protobuf)
    filtered_watch.py   cluster-wide WATCHes: resume check, upstream watch, pump, log lines
    watch_stream.py     WatchPump: the bounded per-stream decode → filter → [coalesce] → write
    streams.py          open watch streams; enrollment changes end the affected ones with 410
    namespace_watch.py  the proxy's own namespace LIST+WATCH feeding the enrollment view
    coalescing.py       the churnControl section → one Coalescer per watch stream
    negotiation.py      Accept lists for filtered requests
    headers.py          hop-by-hop header handling (RFC 7230 section 6.1)
    responses.py        the proxy's own Status responses
    admin_state.py      AdminState: what admin HTTP/gRPC read from a running proxy
    tls.py              serving TLS, including a self-signed certificate generated at start
    malloc.py           glibc allocator thresholds at start-up
    command.py          ``discofilter serve`` (also ``python -m discofilter.server``)
"""
