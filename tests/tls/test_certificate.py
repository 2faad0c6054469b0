"""The verdict on parsed certificates, without sockets: names, dates, keys, chains."""

from __future__ import annotations

import datetime as dt

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from chatbot.tls import certificate
from chatbot.tls.certificate import OpenSSLResult, assess
from tests.servers.tls import NOW, Authority, self_signed

OK = OpenSSLResult()


@pytest.mark.parametrize(
    ("host", "pattern", "expected"),
    [
        ("example.test", "example.test", True),
        ("EXAMPLE.test.", "example.TEST", True),
        ("www.example.test", "*.example.test", True),
        ("a.b.example.test", "*.example.test", False),
        ("example.test", "*.example.test", False),
        ("www.example.test", "w*.example.test", False),  # no partial wildcards, as OpenSSL here
        ("www.test", "*.test", False),  # a wildcard needs two labels under it
        ("other.test", "example.test", False),
    ],
)
def test_dns_names(root: Authority, host: str, pattern: str, expected: bool) -> None:
    assert certificate.matches(host, root.issue(pattern).cert) is expected


def test_ip_addresses_match_only_ip_entries(root: Authority) -> None:
    cert = root.issue("example.test", "192.0.2.1", "2001:db8::1").cert
    assert certificate.matches("192.0.2.1", cert)
    assert certificate.matches("2001:0db8:0:0::1", cert)
    assert not certificate.matches("192.0.2.2", cert)
    by_name = root.issue("192.0.2.7.example.test").cert
    assert not certificate.matches("192.0.2.7", by_name)


def test_long_name_lists_are_cut_with_a_count(root: Authority) -> None:
    cert = root.issue(*(f"host{i}.example.test" for i in range(20))).cert
    shown = certificate.shown_names(cert)
    assert shown.endswith("host7.example.test (+12 more)")
    assert shown.count(",") == 7


def test_expiry_warning_thresholds(root: Authority) -> None:
    cert = root.issue("example.test", not_after=NOW + dt.timedelta(days=40)).cert

    def warnings(days_before_expiry: float) -> list[str]:
        now = cert.not_valid_after_utc - dt.timedelta(days=days_before_expiry)
        return assess([cert], "example.test", OK, now=now).warnings

    assert warnings(31) == []
    assert warnings(30)[0].startswith("The certificate expires in 30 days")
    assert not warnings(30)[0].endswith("renew it now.")
    assert warnings(7)[0].endswith("renew it now.")
    assert warnings(0.5)[0].startswith("The certificate expires in less than a day")


def test_expired_intermediate_is_named(root: Authority) -> None:
    intermediate = Authority("Old Intermediate", parent=root)
    leaf = intermediate.issue("example.test").cert
    later = intermediate.cert.not_valid_after_utc + dt.timedelta(days=3)
    verdict = assess(
        [leaf, intermediate.cert],
        "example.test",
        OpenSSLResult(((10, "certificate has expired"),)),
        now=later,
    )
    assert any(r.startswith("The intermediate certificate expired on") for r in verdict.reasons)


def test_openssl_code_we_do_not_model_still_makes_it_invalid(root: Authority) -> None:
    cert = root.issue("example.test").cert
    verdict = assess(
        [cert], "example.test", OpenSSLResult(((26, "unsupported certificate purpose"),)), now=NOW
    )
    assert not verdict.valid
    assert verdict.reasons == [
        "OpenSSL rejects the chain: unsupported certificate purpose (error 26)."
    ]


def test_our_checks_are_stricter_than_a_lenient_openssl(root: Authority) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    cert = root.issue("example.test", key=weak).cert
    verdict = assess([cert], "example.test", OK, now=NOW)
    assert not verdict.valid
    assert verdict.reasons == [
        "The certificate has a weak 1024-bit RSA key; 2048 bits is the minimum."
    ]


def test_self_signed_is_not_also_called_untrusted() -> None:
    issued = self_signed("example.test")
    verdict = assess(
        [issued.cert],
        "example.test",
        OpenSSLResult(((18, "self-signed certificate"),)),
        now=NOW,
        store_name="the Mozilla trust store",
    )
    assert verdict.reasons == [
        "The certificate is self-signed: no certificate authority vouches for it, and it is "
        "not in the Mozilla trust store."
    ]


def test_chain_ending_in_an_unknown_root_sent_by_the_server() -> None:
    stranger = Authority("Stranger Root CA")
    leaf = stranger.issue("example.test").cert
    verdict = assess(
        [leaf, stranger.cert],
        "example.test",
        OpenSSLResult(((19, "self-signed in chain"),)),
        now=NOW,
    )
    assert verdict.reasons == [
        "The issuer is not trusted: the chain ends in the root Stranger Root CA, which is not "
        "in the trust store."
    ]


def test_trustme_certificates_with_critical_san_complete_a_chain() -> None:
    # trustme marks subjectAltName critical; cryptography's default WebPKI
    # policy rejects that, OpenSSL does not, and neither may we.
    ca = trustme.CA()
    child = ca.create_child_ca()
    leaf_pem = child.issue_cert("example.test").cert_chain_pems[0].bytes()
    leaf = x509.load_pem_x509_certificate(leaf_pem)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical
    root = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    intermediate = x509.load_pem_x509_certificate(child.cert_pem.bytes())
    assert certificate.completes_chain(leaf, [intermediate], (root,), NOW)
    assert not certificate.completes_chain(leaf, [], (root,), NOW)
    other = x509.load_pem_x509_certificate(trustme.CA().cert_pem.bytes())
    assert not certificate.completes_chain(leaf, [intermediate], (other,), NOW)


def test_facts(root: Authority) -> None:
    issued = root.issue("example.test", aia_url="http://ca.example.test/int.der")
    assert certificate.key_description(issued.cert) == "EC P-256"
    assert certificate.signature_name(issued.cert) == "ecdsa-with-SHA256"
    assert certificate.issuer_url(issued.cert) == "http://ca.example.test/int.der"
    assert certificate.issuer_url(root.cert) is None
    assert certificate.cn(issued.cert.issuer) == "Test Root CA"
    ed = root.issue("ed.example.test", key=ed25519.Ed25519PrivateKey.generate())
    assert certificate.key_description(ed.cert) == "Ed25519"


def test_path_follows_issuers_not_the_order_sent(root: Authority) -> None:
    intermediate = Authority("Test Intermediate CA", parent=root)
    leaf = intermediate.issue("example.test").cert
    unrelated = Authority("Unrelated CA").cert
    chain = certificate.path([leaf, unrelated, root.cert, intermediate.cert])
    assert chain == [leaf, intermediate.cert, root.cert]


def test_trust_store_is_parsed_once_per_file_version() -> None:
    import certifi

    first = certificate.roots(certifi.where())
    assert len(first) > 100
    assert certificate.roots(certifi.where()) is first
