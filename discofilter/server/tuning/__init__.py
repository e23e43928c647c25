"""Runtime tuning of a worker process: allocator, garbage collector, serving TLS.

::

    malloc.py       glibc allocator thresholds at start-up
    gc.py           freeze start-up objects, rarer young collections
    tls.py          serving TLS, including a self-signed certificate generated at start
"""
