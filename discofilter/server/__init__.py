"""The aiohttp + uvloop proxy: request → classify → upstream → decode → filter → [coalesce] → write.

app.py             ProxyServer: owns the upstream client, enrollment, catalog, streams
handlers.py        one aiohttp handler: classify and dispatch
passthrough.py     everything that is not filtered, streamed byte for byte
filtered_list.py   cluster-wide LISTs (JSON, Table, PartialObjectMetadata, protobuf)
watch_stream.py    cluster-wide WATCHes: the bounded per-stream pump
streams.py         the registry of open watch streams; enrollment changes end them with 410
namespace_watch.py the proxy's own namespace LIST+WATCH feeding the enrollment view
headers.py         hop-by-hop header handling (RFC 7230 section 6.1)
tls.py             serving TLS, including a self-signed certificate generated at start
command.py         ``discofilter serve``
"""
