"""The edge's certificate and how a device pins it.

The edge makes a self-signed certificate once, when it is set up
(:func:`create_certificate`), and prints its SHA-256 fingerprint
(:func:`fingerprint`). A device that pairs records that fingerprint and from
then on accepts exactly that certificate (:func:`pinned_session`), the way
Syncthing pins device IDs: no certificate authority is involved, and a changed
certificate is refused rather than trusted.

Only :func:`create_certificate` needs ``cryptography``; serving and pinning use
the standard ``ssl`` module, so a vendored edge runs without it.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import re
import ssl
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from edgesync.errors import ConfigError

__all__ = ["create_certificate", "fingerprint", "normalize_fingerprint", "pinned_session"]


def fingerprint(cert_pem: str | bytes) -> str:
    """The SHA-256 fingerprint of a PEM certificate, as ``AB:CD:...`` (64 hex digits).

    :param cert_pem: the certificate in PEM form.
    :raises ConfigError: not a PEM certificate.
    """
    text = cert_pem.decode("ascii", "replace") if isinstance(cert_pem, bytes) else cert_pem
    try:
        der = ssl.PEM_cert_to_DER_cert(text)
    except ValueError as exc:
        raise ConfigError(f"not a PEM certificate: {exc}") from exc
    # The base64 decoder skips characters it does not know: check that what it
    # found is at least a DER SEQUENCE, not the digest of nothing.
    if len(der) < 64 or der[0] != 0x30:
        raise ConfigError("not a PEM certificate: its body does not decode to a certificate")
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, 64, 2))


def normalize_fingerprint(value: str) -> str:
    """Accept ``AB:CD:..``, ``abcd...`` or ``sha256:ABCD..`` and return ``AB:CD:...``.

    :raises ConfigError: not 64 hex digits.
    """
    digits = re.sub(r"[\s:]", "", value.removeprefix("sha256:").removeprefix("SHA256:")).upper()
    if not re.fullmatch(r"[0-9A-F]{64}", digits):
        raise ConfigError(f"{value!r} is not a SHA-256 fingerprint (64 hexadecimal digits)")
    return ":".join(digits[i:i + 2] for i in range(0, 64, 2))


def create_certificate(cert_path: Path, key_path: Path, *, names: Iterable[str] = (),
                       days: int = 3650) -> str:
    """Make a self-signed certificate and key for the edge; return its fingerprint.

    :param cert_path: where to write the certificate (PEM).
    :param key_path: where to write the private key (PEM, mode 0600).
    :param names: host names and IP addresses the edge is reached by (also
        ``localhost``, ``127.0.0.1`` and ``::1``). Pinning does not depend on
        them; they make the certificate honest for other tools.
    :param days: validity.
    :raises ConfigError: ``cryptography`` is not installed.
    """
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError as exc:
        raise ConfigError("making the edge's certificate needs the 'cryptography' package "
                          "(pip install cryptography); make it on another machine and copy "
                          "the tls/ folder if it cannot be installed here") from exc
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edgesync edge")])
    alt: list[Any] = []
    for name in dict.fromkeys([*names, "localhost", "127.0.0.1", "::1"]):
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    key_path.parent.mkdir(parents=True, exist_ok=True)
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # the mode above applies only to a new file
    with open(fd, "wb") as out:
        out.write(key_pem)
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_path.write_bytes(cert_pem)
    return fingerprint(cert_pem)


def pinned_session(fingerprint_: str | None) -> Any:
    """A :class:`requests.Session` that accepts only the certificate with this fingerprint.

    :param fingerprint_: the pinned SHA-256 fingerprint, or ``None`` for plain
        HTTP edges (and normal certificate checks for HTTPS ones).
    :returns: the session. A different certificate fails the request with
        :class:`requests.exceptions.SSLError` ("Fingerprints did not match").
    """
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    if fingerprint_ is None:
        return session
    pin = normalize_fingerprint(fingerprint_).replace(":", "").lower()

    class _PinnedAdapter(HTTPAdapter):
        # urllib3 compares the peer certificate's digest itself; the CA chain and
        # host name do not matter for a self-signed, pinned certificate.
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            kwargs.update(assert_fingerprint=pin, cert_reqs="CERT_NONE", assert_hostname=False)
            super().init_poolmanager(*args, **kwargs)

        def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
            super().cert_verify(conn, url, False, cert)
            conn.assert_fingerprint = pin

    session.mount("https://", _PinnedAdapter())
    return session
