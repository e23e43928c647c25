"""Multi-cluster meshes through discofilter: the remote secret istiod reads (``remote_secret``)."""
