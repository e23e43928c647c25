"""Where the upstream is and how the proxy itself talks to it (pure data, no I/O).

Two kinds of traffic share one upstream (contract 5):

* **callers' requests** carry the caller's own ``Authorization`` (and impersonation headers)
  unchanged; the API server authorizes the real caller. They never carry the proxy's client
  certificate: kube-apiserver authenticates an x509 client certificate *before* bearer tokens,
  so a proxy certificate on a shared connection would silently turn every caller into the proxy.
  Callers' own client certificates end at the proxy's TLS listener and cannot be forwarded.
* **the proxy's own requests** (its namespace LIST+WATCH, discovery, and caller requests without
  credentials in sidecar mode) use ``own``: a bearer token (fixed or from a rotating file) and/or
  a client certificate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from discofilter.upstream.token import TokenFile


@dataclass(frozen=True)
class TlsSettings:
    """How to verify the upstream. Verification is on unless ``insecure`` says otherwise."""

    ca_file: str | None = None
    ca_data: bytes | None = None
    """PEM bytes of the CA bundle (kubeconfig ``certificate-authority-data``, base64-decoded)."""
    insecure: bool = False
    server_name: str | None = None
    """SNI/verification name when it differs from the URL's host (kubeconfig tls-server-name)."""


@dataclass(frozen=True)
class OwnCredentials:
    """The proxy's own identity. Never attached to a caller's request (except sidecar mode)."""

    token: str | None = None
    token_file: TokenFile | None = field(default=None, compare=False)
    client_cert_file: str | None = None
    client_key_file: str | None = None
    client_cert_data: bytes | None = None
    client_key_data: bytes | None = None
    basic_auth: tuple[str, str] | None = None

    def bearer(self) -> str | None:
        """The current bearer token (re-read from the file when it rotated), or None."""
        if self.token_file is not None:
            return self.token_file.token() or None
        return self.token or None

    @property
    def has_client_cert(self) -> bool:
        return bool(self.client_cert_file or self.client_cert_data)


@dataclass(frozen=True)
class UpstreamTarget:
    server: str
    """Base URL without a trailing slash, e.g. https://10.0.0.1:443 or http://127.0.0.1:18080."""
    tls: TlsSettings = field(default_factory=TlsSettings)
    own: OwnCredentials = field(default_factory=OwnCredentials)
    source: str = "--upstream"
    """Where this came from (for logs): --upstream, kubeconfig PATH context NAME, in-cluster."""
