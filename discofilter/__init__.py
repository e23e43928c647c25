"""discofilter: a namespace-filtering, churn-coalescing proxy in front of kube-apiserver.

Data flow (each step is a subpackage; the pure ones import no I/O library):

    client request -> classify -> upstream request -> codec (decode frames)
        -> filter -> coalesce -> codec (encode) -> client
"""

__version__ = "0.1.0"
