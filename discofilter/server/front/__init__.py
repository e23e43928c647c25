"""The HTTP front: what a client's request turns into, and the responses the proxy writes.

::

    passthrough.py  everything that is not filtered, relayed byte for byte
    lists.py        cluster-wide LISTs (JSON, Table, PartialObjectMetadata, protobuf)
    watches.py      cluster-wide WATCHes: the resume check, the upstream watch, the stream's pump
    accept.py       Accept lists for filtered requests (what the codec can filter)
    headers.py      hop-by-hop header handling (RFC 7230 section 6.1)
    responses.py    the proxy's own Kubernetes ``Status`` responses
"""
