"""The edge's certificate and pinning: made once, fingerprinted, loadable by ssl."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import stat

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from requests.adapters import HTTPAdapter

from edgesync.errors import ConfigError
from edgesync.tls import create_certificate, fingerprint, normalize_fingerprint, pinned_session

DIGITS = "0123456789ABCDEF" * 4  # 64 hex digits
COLONS = ":".join(DIGITS[i:i + 2] for i in range(0, 64, 2))


@pytest.fixture
def made(tmp_path):
    """A certificate and key made by create_certificate, in a folder it has to create."""
    cert, key = tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem"
    pinned = create_certificate(cert, key, names=["edge.home.arpa", "192.168.1.5"], days=30)
    return cert, key, pinned


def test_the_returned_fingerprint_is_the_certificates(made):
    cert, _, pinned = made
    assert fingerprint(cert.read_text("ascii")) == pinned
    assert fingerprint(cert.read_bytes()) == pinned
    # Computed independently: SHA-256 of the DER form, as browsers and openssl show it.
    digest = x509.load_pem_x509_certificate(cert.read_bytes()).fingerprint(hashes.SHA256())
    assert pinned == ":".join(f"{byte:02X}" for byte in digest)


def test_the_certificate_names_the_edge_and_loopback(made):
    cert = x509.load_pem_x509_certificate(made[0].read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(names.get_values_for_type(x509.DNSName)) == {"edge.home.arpa", "localhost"}
    assert set(names.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("192.168.1.5"), ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1")}
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert datetime.timedelta(days=30) <= lifetime <= datetime.timedelta(days=30, minutes=6)


def test_each_certificate_is_new(tmp_path, made):
    other = create_certificate(tmp_path / "b" / "cert.pem", tmp_path / "b" / "key.pem")
    assert other != made[2]


def test_the_key_is_readable_by_its_owner_only(made):
    assert stat.S_IMODE(made[1].stat().st_mode) == 0o600


def test_a_key_written_over_an_open_file_is_made_private(tmp_path):
    key = tmp_path / "key.pem"
    key.write_text("old")
    key.chmod(0o644)
    create_certificate(tmp_path / "cert.pem", key)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "PRIVATE KEY" in key.read_text()


def test_the_certificate_and_key_load_into_an_ssl_context(made):
    cert, key, _ = made
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)  # raises ssl.SSLError if they do not match


def test_a_certificate_with_another_key_does_not_load(tmp_path, made):
    other_key = tmp_path / "other" / "key.pem"
    create_certificate(tmp_path / "other" / "cert.pem", other_key)
    with pytest.raises(ssl.SSLError):
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(made[0], other_key)


@pytest.mark.parametrize("value", [
    COLONS, COLONS.lower(), DIGITS, DIGITS.lower(), f"sha256:{COLONS}", f"SHA256:{DIGITS}",
    f"sha256:{DIGITS.lower()}", " ".join(COLONS.split(":")), f" {COLONS} ",
])
def test_normalize_fingerprint_accepts_the_usual_forms(value):
    assert normalize_fingerprint(value) == COLONS


@pytest.mark.parametrize("value", [
    "", DIGITS[:-1], DIGITS + "0", DIGITS[:-1] + "G", f"sha1:{DIGITS}", f"md5:{COLONS}",
    COLONS.replace(":", "-"), "not a fingerprint",
])
def test_normalize_fingerprint_refuses_anything_else(value):
    with pytest.raises(ConfigError, match="not a SHA-256 fingerprint"):
        normalize_fingerprint(value)


def test_normalize_fingerprint_round_trips_a_real_one(made):
    pinned = made[2]
    assert normalize_fingerprint(pinned.replace(":", "").lower()) == pinned


@pytest.mark.parametrize("garbage", [
    "", "garbage", b"\xff\xfe", "-----BEGIN CERTIFICATE-----\nMIIB\n",  # no END line
])
def test_fingerprint_of_garbage_is_a_config_error(garbage):
    with pytest.raises(ConfigError, match="not a PEM certificate"):
        fingerprint(garbage)


def test_fingerprint_of_a_key_is_a_config_error(made):
    with pytest.raises(ConfigError, match="not a PEM certificate"):
        fingerprint(made[1].read_text())


def test_pinned_session_without_a_fingerprint_is_a_plain_session():
    session = pinned_session(None)
    assert isinstance(session, requests.Session)
    assert type(session.get_adapter("https://edge.example")) is HTTPAdapter


def test_pinned_session_mounts_a_pinning_adapter(made):
    session = pinned_session(made[2])
    adapter = session.get_adapter("https://edge.example")
    assert isinstance(adapter, HTTPAdapter) and type(adapter) is not HTTPAdapter
    assert type(session.get_adapter("http://edge.example")) is HTTPAdapter


def test_pinned_session_refuses_a_bad_fingerprint():
    with pytest.raises(ConfigError):
        pinned_session("12:34")


def test_fingerprint_refuses_a_pem_whose_body_is_garbage():
    garbage = "-----BEGIN CERTIFICATE-----\n!!!! ???? AAAA\n-----END CERTIFICATE-----\n"
    with pytest.raises(ConfigError, match="does not decode"):
        fingerprint(garbage)
