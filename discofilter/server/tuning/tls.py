"""Serving TLS: a certificate from files, or a self-signed one generated at start.

TLS on the listener is what lets callers' credentials flow: client-go sends a bearer token only
over https. The self-signed certificate (ECDSA P-256, 1 year, SANs: localhost, 127.0.0.1, ::1 and
the listener host) is written to ``selfSignedCaOut`` so the client's kubeconfig can name it as
``certificate-authority``; its private key never leaves the process's private temp directory.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def generate_self_signed(hosts: list[str]) -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM) for ``hosts`` plus the loopback names."""
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for h in dict.fromkeys([*hosts, "localhost", "127.0.0.1", "::1"]):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            names.append(x509.DNSName(h))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "discofilter")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def write_self_signed(hosts: list[str], ca_out: str | None) -> tuple[str, str]:
    """Generate a certificate; return (cert path, key path) in a private temp dir."""
    cert, key = generate_self_signed(hosts)
    d = tempfile.mkdtemp(prefix="discofilter-tls-")
    cert_path, key_path = os.path.join(d, "tls.crt"), os.path.join(d, "tls.key")
    for path, data in ((cert_path, cert), (key_path, key)):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    if ca_out:
        with open(ca_out, "wb") as f:
            f.write(cert)
    return cert_path, key_path


def server_ssl_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_file, key_file)
    return ctx
