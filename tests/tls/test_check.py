"""/tls against real local TLS servers; every certificate verdict is also asked of openssl."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from chatbot import policy
from chatbot.commands import COMMANDS, Invocation, execute
from chatbot.errors import (
    ChatbotError,
    ConnectFailed,
    NotResolvable,
    ProtocolError,
    TargetRefused,
    Timeout,
    UsageError,
)
from chatbot.reply import plain
from chatbot.settings import Settings
from chatbot.tls import check as tls
from chatbot.tls import command as tls_command
from chatbot.tls import render as tls_render
from tests.servers.tls import (
    NOW,
    Authority,
    FileServer,
    ocsp_response,
    refused_port,
    self_signed,
    sha1_signed,
    unanswered_port,
)
from tests.tls.support import Serve, options

NAME = "example.test"
OPENSSL = shutil.which("openssl")


def need_openssl() -> str:
    if OPENSSL is None:
        if os.environ.get("CI"):
            pytest.fail("openssl is required under CI (Debian package openssl)")
        pytest.skip("openssl is not installed")
    return OPENSSL


def openssl_accepts(port: int, name: str, ca_file: Path) -> bool:
    """openssl s_client's verdict: the peer our valid/invalid verdict must agree with.

    -verify_hostname / -verify_ip are added because s_client checks no name
    without them, and a name mismatch is one of the scenarios.
    """
    args = [need_openssl(), "s_client", "-connect", f"127.0.0.1:{port}", "-verify_return_error"]
    args += ["-CAfile", str(ca_file)]
    if policy.parse_ip(name) is not None:
        args += ["-noservername", "-verify_ip", name]
    else:
        args += ["-servername", name, "-verify_hostname", name]
    done = subprocess.run(args, input=b"", capture_output=True, timeout=20, check=False)
    return done.returncode == 0


def openssl_status(port: int) -> str:
    """What `openssl s_client -status` says about stapling."""
    args = [need_openssl(), "s_client", "-connect", f"127.0.0.1:{port}", "-status"]
    args += ["-servername", NAME]
    done = subprocess.run(args, input=b"", capture_output=True, timeout=20, check=False)
    return done.stdout.decode(errors="replace")


async def check(port: int, ca_file: Path, *, name: str = NAME, **kw: Any) -> tls.Report:
    sni = f" --sni {name}" if policy.parse_ip(name) is None else ""
    target = tls_command.parse(f"127.0.0.1:{port}{sni}")
    return await tls.check(target, options(ca_file, **kw))


def agrees(report: tls.Report, port: int, ca_file: Path, name: str = NAME) -> None:
    assert report.verdict.valid == openssl_accepts(port, name, ca_file), report.verdict.reasons


# --- certificate scenarios, each also asked of openssl s_client ---------------------------


async def test_valid(root: Authority, ca_file: Path, serve: Serve) -> None:
    server = serve(root.issue(NAME, "www.example.test"))
    report = await check(server.port, ca_file)
    assert report.verdict.valid, report.verdict.reasons
    assert report.verdict.reasons == []
    assert report.session.openssl.code == 0
    assert report.session.version == "TLS 1.3"
    assert report.session.alpn == "h2"
    assert [c.subject for c in report.session.chain] == [report.session.chain[0].subject]
    assert 88 <= report.verdict.days_left <= 90
    assert server.connections == 1  # a valid certificate costs one handshake
    agrees(report, server.port, ca_file)
    shown = plain(tls_render.render(report))
    assert "the certificate is valid" in shown
    assert "example.test, www.example.test" in shown
    assert "TLS 1.3" in shown and "ALPN h2" in shown


async def test_expired(root: Authority, ca_file: Path, serve: Serve) -> None:
    issued = root.issue(
        NAME, not_before=NOW - dt.timedelta(days=100), not_after=NOW - dt.timedelta(days=12)
    )
    server = serve(issued)
    report = await check(server.port, ca_file)
    assert not report.verdict.valid
    assert report.session.openssl.code == 10
    expiry = issued.cert.not_valid_after_utc.strftime("%Y-%m-%d")
    assert report.verdict.reasons == [
        f"The certificate expired on {expiry} "
        f"{issued.cert.not_valid_after_utc:%H:%M} UTC, 12 days ago."
    ]
    agrees(report, server.port, ca_file)


async def test_not_yet_valid(root: Authority, ca_file: Path, serve: Serve) -> None:
    issued = root.issue(NAME, not_before=NOW + dt.timedelta(days=3, hours=1))
    server = serve(issued)
    report = await check(server.port, ca_file)
    assert not report.verdict.valid
    assert report.session.openssl.code == 9
    assert len(report.verdict.reasons) == 1
    assert "is not valid yet" in report.verdict.reasons[0]
    assert "in 3 days" in report.verdict.reasons[0]
    agrees(report, server.port, ca_file)


async def test_wrong_host(root: Authority, ca_file: Path, serve: Serve) -> None:
    server = serve(root.issue("other.test", "*.other.test"))
    report = await check(server.port, ca_file)
    assert not report.verdict.valid
    assert report.session.openssl.code == 0  # the name is checked by us, held to s_client here
    assert report.verdict.reasons == [
        "The certificate is not valid for example.test; it covers other.test, *.other.test."
    ]
    agrees(report, server.port, ca_file)


async def test_wildcard_covers_one_label(root: Authority, ca_file: Path, serve: Serve) -> None:
    server = serve(root.issue("*.example.test"))
    good = await check(server.port, ca_file, name="www.example.test")
    assert good.verdict.valid
    agrees(good, server.port, ca_file, "www.example.test")
    deep = await check(server.port, ca_file, name="a.b.example.test")
    assert not deep.verdict.valid
    agrees(deep, server.port, ca_file, "a.b.example.test")


async def test_self_signed(ca_file: Path, serve: Serve) -> None:
    server = serve(self_signed(NAME))
    report = await check(server.port, ca_file)
    assert not report.verdict.valid
    assert report.session.openssl.code == 18
    assert len(report.verdict.reasons) == 1
    assert report.verdict.reasons[0].startswith("The certificate is self-signed")
    agrees(report, server.port, ca_file)


async def test_untrusted_root(ca_file: Path, serve: Serve) -> None:
    stranger = Authority("Stranger Root CA")
    server = serve(stranger.issue(NAME))
    report = await check(server.port, ca_file)
    assert not report.verdict.valid
    assert report.session.openssl.code == 20
    assert report.verdict.reasons == [
        f"The issuer is not trusted: Stranger Root CA, which issued {NAME}, "
        f"is not in the trust store {ca_file}."
    ]
    agrees(report, server.port, ca_file)


async def test_missing_intermediate_fetched_from_aia(
    root: Authority, ca_file: Path, serve: Serve
) -> None:
    intermediate = Authority("Test Intermediate CA", parent=root)
    files = FileServer({"/intermediate.der": intermediate.cert.public_bytes(Encoding.DER)})
    with files.running():
        # SAN critical, as trustme makes it: OpenSSL accepts it, so must our re-check.
        issued = intermediate.issue(NAME, aia_url=files.url("/intermediate.der"), san_critical=True)
        incomplete = serve(issued, send_chain=False)
        report = await check(incomplete.port, ca_file)
        assert files.requests == ["/intermediate.der"]
        assert not report.verdict.valid
        assert report.verdict.incomplete_chain
        assert report.session.openssl.code == 20
        assert len(report.verdict.reasons) == 1
        assert report.verdict.reasons[0].startswith(
            "The chain is incomplete: the server does not send the intermediate certificate "
            "Test Intermediate CA."
        )
        agrees(report, incomplete.port, ca_file)

        complete = serve(issued, send_chain=True)
        whole = await check(complete.port, ca_file)
        assert whole.verdict.valid
        assert len(whole.session.chain) == 2
        assert files.requests == ["/intermediate.der"]  # nothing fetched for a whole chain
        agrees(whole, complete.port, ca_file)
        chain = plain(tls_render.render(whole))
        assert f"0 {NAME} -> Test Intermediate CA" in chain
        assert "1 Test Intermediate CA -> Test Root CA" in chain


async def test_missing_intermediate_that_aia_cannot_supply(
    root: Authority, ca_file: Path, serve: Serve
) -> None:
    intermediate = Authority("Test Intermediate CA", parent=root)
    files = FileServer({})
    with files.running():
        issued = intermediate.issue(NAME, aia_url=files.url("/gone.der"))
        server = serve(issued, send_chain=False)
        report = await check(server.port, ca_file)
    assert not report.verdict.valid
    assert not report.verdict.incomplete_chain
    assert report.verdict.reasons[0].endswith(
        "could not be fetched from the certificate's AIA URL."
    )
    agrees(report, server.port, ca_file)


async def test_ip_address_certificate(root: Authority, ca_file: Path, serve: Serve) -> None:
    server = serve(root.issue("127.0.0.1"))
    report = await check(server.port, ca_file, name="127.0.0.1")
    assert report.target.sni is None
    assert report.verdict.valid, report.verdict.reasons
    agrees(report, server.port, ca_file, "127.0.0.1")


async def test_weak_rsa_key(root: Authority, ca_file: Path, serve: Serve) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    server = serve(root.issue(NAME, key=weak))
    report = await check(server.port, ca_file)
    assert not report.verdict.valid
    assert report.verdict.reasons == [
        "The certificate has a weak 1024-bit RSA key; 2048 bits is the minimum."
    ]
    assert "RSA 1024 bits" in plain(tls_render.render(report))
    agrees(report, server.port, ca_file)


async def test_sha1_signature(root: Authority, ca_file: Path, serve: Serve) -> None:
    server = serve(sha1_signed(root, NAME, need_openssl()))
    report = await check(server.port, ca_file)
    assert not report.verdict.valid
    assert report.verdict.reasons == [
        "The certificate is signed with SHA-1, which is broken and which browsers and "
        "OpenSSL reject."
    ]
    assert "ecdsa-with-SHA1" in plain(tls_render.render(report))
    agrees(report, server.port, ca_file)


async def test_expired_and_wrong_host_reported_together(ca_file: Path, serve: Serve) -> None:
    stranger = Authority("Stranger Root CA")
    issued = stranger.issue("other.test", not_after=NOW - dt.timedelta(days=2))
    server = serve(issued)
    report = await check(server.port, ca_file)
    assert len(report.verdict.reasons) == 3
    assert "not trusted" in report.verdict.reasons[0]
    assert "expired" in report.verdict.reasons[1]
    assert "not valid for example.test" in report.verdict.reasons[2]
    agrees(report, server.port, ca_file)


async def test_expiring_soon_warns(root: Authority, ca_file: Path, serve: Serve) -> None:
    server = serve(root.issue(NAME, not_after=NOW + dt.timedelta(days=5, hours=1)))
    report = await check(server.port, ca_file)
    assert report.verdict.valid
    assert report.verdict.warnings[0].startswith("The certificate expires in 5 days")
    assert ":rotating_light:" in plain(tls_render.render(report))
    later = serve(root.issue(NAME, not_after=NOW + dt.timedelta(days=20, hours=1)))
    report = await check(later.port, ca_file)
    assert report.verdict.warnings[0].startswith("The certificate expires in 20 days")
    assert ":warning:" in plain(tls_render.render(report))


async def test_ocsp_staple(root: Authority, ca_file: Path, serve: Serve) -> None:
    issued = root.issue(NAME)
    stapling = serve(issued, staple=ocsp_response(issued, root))
    report = await check(stapling.port, ca_file)
    assert report.session.ocsp_stapled is True
    assert "OCSP       response stapled" in plain(tls_render.render(report))
    assert "OCSP Response Status: successful" in openssl_status(stapling.port)
    plain_server = serve(root.issue(NAME))
    report = await check(plain_server.port, ca_file)
    assert report.session.ocsp_stapled is False
    assert "OCSP       no response stapled" in plain(tls_render.render(report))
    assert "OCSP response: no response sent" in openssl_status(plain_server.port)


# --- protocols ----------------------------------------------------------------------------


async def test_tls12_only_server(root: Authority, ca_file: Path, serve: Serve) -> None:
    # Both bounds: OpenSSL's own floor for old versions differs between distributions.
    only = ssl.TLSVersion.TLSv1_2
    server = serve(root.issue(NAME), minimum=only, maximum=only)
    report = await tls.check(
        tls_command.parse(f"127.0.0.1:{server.port} --sni {NAME} +protocols"), options(ca_file)
    )
    assert report.verdict.valid
    assert report.session.version == "TLS 1.2"
    assert report.protocols["TLS 1.2"] == "accepted"
    assert report.protocols["TLS 1.3"] == "not accepted"
    for old in ("TLS 1.0", "TLS 1.1"):
        expected = (
            "not accepted"
            if tls.can_offer(_version(old))
            else "not tested: this OpenSSL cannot offer it"
        )
        assert report.protocols[old] == expected
    agrees(report, server.port, ca_file)


async def test_old_protocols_warn(root: Authority, ca_file: Path, serve: Serve) -> None:
    if not tls.can_offer(ssl.TLSVersion.TLSv1):
        pytest.skip("this OpenSSL cannot offer TLS 1.0 (the probe says 'not tested')")
    server = serve(root.issue(NAME), minimum=ssl.TLSVersion.TLSv1)
    report = await tls.check(
        tls_command.parse(f"127.0.0.1:{server.port} --sni {NAME} +protocols"), options(ca_file)
    )
    assert report.protocols == {
        "TLS 1.0": "accepted",
        "TLS 1.1": "accepted",
        "TLS 1.2": "accepted",
        "TLS 1.3": "accepted",
    }
    assert "still accepts TLS 1.0 and TLS 1.1" in plain(tls_render.render(report))


async def test_tls10_only_server(root: Authority, ca_file: Path, serve: Serve) -> None:
    if not tls.can_offer(ssl.TLSVersion.TLSv1):
        pytest.skip("this OpenSSL cannot offer TLS 1.0")
    server = serve(root.issue(NAME), minimum=ssl.TLSVersion.TLSv1, maximum=ssl.TLSVersion.TLSv1)
    report = await check(server.port, ca_file)
    assert report.verdict.valid
    assert report.session.version == "TLS 1.0"
    assert "The connection used TLS 1.0, deprecated since 2021" in plain(tls_render.render(report))


async def test_localhost_tries_each_address(root: Authority, ca_file: Path, serve: Serve) -> None:
    # The server listens on 127.0.0.1 only; if localhost also resolves to ::1,
    # that address is refused and the next one is tried.
    server = serve(root.issue(NAME))
    report = await tls.check(
        tls_command.parse(f"localhost:{server.port} --sni {NAME}"), options(ca_file)
    )
    assert report.verdict.valid
    assert str(report.session.address) == "127.0.0.1"


def test_versions_the_local_openssl_cannot_offer_are_not_tested() -> None:
    # TLS 1.3 is always offerable here; a context limited to SSLv3 never is.
    assert tls.can_offer(ssl.TLSVersion.TLSv1_3)
    assert not tls.can_offer(ssl.TLSVersion.SSLv3)


# --- failures -------------------------------------------------------------------------------


async def test_refused_port(ca_file: Path) -> None:
    port = refused_port()
    with pytest.raises(ConnectFailed) as caught:
        await check(port, ca_file)
    assert caught.value.message == f"Could not connect to 127.0.0.1:{port}: connection refused."


async def test_connect_timeout(ca_file: Path) -> None:
    with unanswered_port() as port, pytest.raises(Timeout) as caught:
        await check(port, ca_file, connect_timeout=0.3)
    assert caught.value.message == f"Could not connect to 127.0.0.1:{port} within 0.3 s."


async def test_stalled_handshake(ca_file: Path, serve: Serve) -> None:
    server = serve(mode="stall")
    with pytest.raises(Timeout) as caught:
        await check(server.port, ca_file, handshake_timeout=0.3)
    assert caught.value.message == (
        f"127.0.0.1:{server.port} accepted the connection but did not answer the TLS "
        "handshake within 0.3 s."
    )


async def test_plain_http_on_the_port(ca_file: Path, serve: Serve) -> None:
    server = serve(mode="http")
    with pytest.raises(ProtocolError) as caught:
        await check(server.port, ca_file)
    assert (
        caught.value.message == f"127.0.0.1:{server.port} speaks plain HTTP on this port, not TLS."
    )


async def test_name_that_does_not_resolve(ca_file: Path) -> None:
    with pytest.raises(NotResolvable):
        await tls.check(tls_command.parse("does-not-exist.invalid"), options(ca_file))


async def test_private_target_refused(ca_file: Path, serve: Serve) -> None:
    with pytest.raises(TargetRefused) as caught:
        await check(443, ca_file, allow_private=False)
    assert "loopback" in caught.value.message


async def test_overall_deadline(ca_file: Path, serve: Serve) -> None:
    server = serve(mode="stall")
    with pytest.raises(Timeout) as caught:
        await check(server.port, ca_file, handshake_timeout=5, deadline=0.3)
    assert "did not finish within 0.3 s" in caught.value.message


async def test_unreadable_trust_store(tmp_path: Path, serve: Serve, root: Authority) -> None:
    server = serve(root.issue(NAME))
    with pytest.raises(ChatbotError) as missing:
        await check(server.port, tmp_path / "nope.pem")
    assert "I cannot read certificates from the trust store" in missing.value.message
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(ChatbotError) as unreadable:
        await check(server.port, garbage)
    assert "I cannot read certificates from the trust store" in unreadable.value.message


# --- the command --------------------------------------------------------------------------


async def test_command_through_the_registry(root: Authority, ca_file: Path, serve: Serve) -> None:
    server = serve(root.issue(NAME))
    settings = Settings(
        tls_ca_file=str(ca_file),
        allow_private_targets=True,
        tls_connect_timeout_seconds=1,
        tls_handshake_timeout_seconds=1,
    )
    reply = await execute(
        COMMANDS["tls"],
        Invocation(text=f"https://127.0.0.1:{server.port}/x --sni {NAME}"),
        settings,
    )
    assert not reply.is_error
    assert reply.summary.startswith("example.test on 127.0.0.1: certificate valid, expires in 8")
    refused = await execute(
        COMMANDS["tls"],
        Invocation(text=f"127.0.0.1:{server.port}"),
        Settings(tls_ca_file=str(ca_file)),
    )
    assert refused.is_error
    assert "loopback" in refused.summary
    usage = await execute(COMMANDS["tls"], Invocation(text="ftp://x"), settings)
    assert usage.is_error and "Usage" in plain(usage)


# --- parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "host", "port", "sni"),
    [
        ("example.com", "example.com", 443, "example.com"),
        ("Example.COM.", "example.com", 443, "example.com"),
        ("example.com:8443", "example.com", 8443, "example.com"),
        ("https://example.com/path?q=1", "example.com", 443, "example.com"),
        ("https://example.com:8443/", "example.com", 8443, "example.com"),
        ("<https://example.com/a|example.com/a>", "example.com", 443, "example.com"),
        ("192.0.2.1", "192.0.2.1", 443, None),
        ("192.0.2.1:993", "192.0.2.1", 993, None),
        ("[2001:db8::1]:8443", "2001:db8::1", 8443, None),
        ("[2001:db8::1]", "2001:db8::1", 443, None),
        ("2001:db8::1", "2001:db8::1", 443, None),
        ("https://[2001:db8::1]:444/", "2001:db8::1", 444, None),
        ("bücher.example", "xn--bcher-kva.example", 443, "xn--bcher-kva.example"),
        ("192.0.2.1 --sni bücher.example", "192.0.2.1", 443, "xn--bcher-kva.example"),
        ("example.com \u2014sni www.example.com", "example.com", 443, "www.example.com"),
        ("_acme.example.com", "_acme.example.com", 443, "_acme.example.com"),
    ],
)
def test_parse(text: str, host: str, port: int, sni: str | None) -> None:
    target = tls_command.parse(text)
    assert (target.host, target.port, target.sni) == (host, port, sni)


def test_parse_shows_both_forms_of_an_idn() -> None:
    target = tls_command.parse("bücher.example +protocols")
    assert target.shown == "bücher.example (xn--bcher-kva.example)"
    assert target.protocols


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a.example b.example",
        "example.com:0",
        "example.com:99999",
        "example.com:https",
        "ftp://example.com",
        "https://",
        "example.com +short",
        "example.com -k",
        "example.com --sni",
        "example.com --sni 192.0.2.1",
        "[2001:db8::1]x",
        "1:2:3",
        "exa mple..com",
        "bad..name",
    ],
)
def test_parse_refuses(text: str) -> None:
    with pytest.raises(UsageError):
        tls_command.parse(text)


def _version(name: str) -> ssl.TLSVersion:
    return dict(tls.VERSIONS)[name]


@pytest.mark.parametrize("form", ["der", "pem", "p7c", "too big", "not a certificate", "404"])
async def test_fetch_issuer_forms(root: Authority, ca_file: Path, form: str) -> None:
    cert = root.cert
    bodies = {
        "der": cert.public_bytes(Encoding.DER),
        "pem": cert.public_bytes(Encoding.PEM),
        "p7c": pkcs7.serialize_certificates([cert], Encoding.DER),
        "too big": cert.public_bytes(Encoding.DER) + b"\0" * 70_000,
        "not a certificate": b"<html>hello</html>",
    }
    files = FileServer({"/issuer": bodies[form]} if form in bodies else {})
    with files.running():
        fetched = await tls.fetch_issuer(files.url("/issuer"), options(ca_file))
    assert (fetched == cert) is (form in ("der", "pem", "p7c"))


async def test_fetch_issuer_obeys_the_address_policy(root: Authority, ca_file: Path) -> None:
    files = FileServer({"/issuer": root.cert.public_bytes(Encoding.DER)})
    with files.running():
        assert await tls.fetch_issuer(files.url("/issuer"), options(ca_file)) == root.cert
        refused = await tls.fetch_issuer(
            files.url("/issuer"), options(ca_file, allow_private=False)
        )
    assert refused is None
    assert len(files.requests) == 1
