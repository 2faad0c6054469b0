"""Hostile TLS servers: garbage for a ServerHello, a certificate cryptography cannot parse,
a chain of 30, probes that are reset, refused or stalled. One sentence each; what was
found is kept."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path
from typing import Any

import pytest

from chatbot.commands import COMMANDS, Invocation, execute
from chatbot.errors import Closed, ProtocolError
from chatbot.reply import plain
from chatbot.settings import Settings
from chatbot.slack import BLOCK_LIMIT, blocks
from chatbot.tls import check as tls
from chatbot.tls import command as tls_command
from chatbot.tls import render as tls_render
from tests.servers.tls import (
    Authority,
    FileServer,
    bad_version,
    broken_extension,
    long_chain,
    unanswered_port,
)
from tests.tls.support import Serve, options

NAME = "example.test"


async def check(port: int, ca_file: Path, text: str = "", **kw: Any) -> tls.Report:
    target = tls_command.parse(f"127.0.0.1:{port} --sni {NAME} {text}")
    return await tls.check(target, options(ca_file, **kw))


async def test_garbage_instead_of_a_server_hello(ca_file: Path, serve: Serve) -> None:
    server = serve(mode="garbage")
    with pytest.raises(ProtocolError) as caught:
        await check(server.port, ca_file)
    assert caught.value.message == f"127.0.0.1:{server.port} answered, but not with TLS."


@pytest.mark.parametrize("mode", ["close", "reset"])
async def test_a_server_that_accepts_and_closes_says_so(
    ca_file: Path, serve: Serve, mode: str
) -> None:
    """It accepted the connection: "closed the connection", never "could not connect"."""
    server = serve(mode=mode)
    for _ in range(20):  # closed before or after the ClientHello, or the connect seen: alike
        with pytest.raises(Closed) as caught:
            await check(server.port, ca_file)
        assert caught.value.message == (
            f"127.0.0.1:{server.port} closed the connection during the TLS handshake."
        )


async def test_certificate_cryptography_cannot_parse(
    root: Authority, ca_file: Path, serve: Serve
) -> None:
    server = serve(broken_extension(root, NAME))
    report = await check(server.port, ca_file)
    assert not report.verdict.valid
    assert (
        "The certificate has an extension that cannot be parsed (malformed DER); clients "
        "that read certificates strictly refuse it." in report.verdict.reasons
    )
    text = plain(tls_render.render(report))
    assert f"names      {NAME}" not in text  # the SAN is in the extensions it cannot read
    assert "names      no names at all" in text


async def test_certificate_cryptography_cannot_load(
    root: Authority, ca_file: Path, serve: Serve
) -> None:
    server = serve(bad_version(root, NAME))
    with pytest.raises(ProtocolError) as caught:
        await check(server.port, ca_file)
    assert caught.value.message == (
        f"127.0.0.1:{server.port} sent a certificate I could not read: "
        "5 is not a valid X509 version."
    )


async def test_chain_of_30(root: Authority, ca_file: Path, serve: Serve) -> None:
    server = serve(long_chain(root, NAME, 30))
    report = await check(server.port, ca_file)
    assert len(report.session.chain) == 30
    assert report.verdict.valid, report.verdict.reasons
    assert report.verdict.warnings[0].startswith("The server sends 30 certificates;")
    made = blocks(tls_render.render(report))
    assert len(made) <= BLOCK_LIMIT


@pytest.mark.parametrize(
    ("after_first", "result"),
    [
        ("reset", "not tested: the connection was reset"),
        ("refuse", "not tested: connection refused"),
        ("stall", "no answer"),
    ],
)
async def test_probes_that_fail_keep_the_verdict(
    root: Authority, ca_file: Path, serve: Serve, after_first: str, result: str
) -> None:
    """Only the check's own handshake is answered: every probe after it fails, and the
    verdict and the version that handshake used stand."""
    server = serve(root.issue(NAME), after_first=after_first)
    report = await check(server.port, ca_file, "+protocols", deadline=3.0)
    assert report.verdict.valid
    assert report.session.version == "TLS 1.3"
    assert report.protocols["TLS 1.3"] == "accepted"
    assert report.protocols["TLS 1.2"] == result
    for old in ("TLS 1.0", "TLS 1.1"):
        assert report.protocols[old] in (result, "not tested: this OpenSSL cannot offer it")
    text = plain(tls_render.render(report))
    assert "the certificate is valid" in text
    assert f"TLS 1.2  {result}" in text


async def test_probe_result_words(root: Authority, ca_file: Path, serve: Serve) -> None:
    """A refusing alert is 'not accepted'; that is not what a reset or a stall is."""
    only = ssl.TLSVersion.TLSv1_3
    server = serve(root.issue(NAME), minimum=only)
    report = await check(server.port, ca_file, "+protocols")
    assert report.protocols["TLS 1.2"] == "not accepted"


async def test_failed_aia_fetch_is_its_own_line(
    root: Authority, ca_file: Path, serve: Serve
) -> None:
    intermediate = Authority("Test Intermediate CA", parent=root)
    files = FileServer({})
    with files.running():
        url = files.url("/gone.der")
        server = serve(intermediate.issue(NAME, aia_url=url), send_chain=False)
        report = await check(server.port, ca_file)
    assert report.notes == [f"The missing issuer was not fetched from {url}: HTTP 404."]
    assert not report.verdict.valid
    assert f"The missing issuer was not fetched from {url}: HTTP 404." in plain(
        tls_render.render(report)
    )


async def test_unparseable_aia_url_is_a_note(root: Authority, ca_file: Path, serve: Serve) -> None:
    intermediate = Authority("Test Intermediate CA", parent=root)
    server = serve(intermediate.issue(NAME, aia_url="http://[::1/ca.der"), send_chain=False)
    report = await check(server.port, ca_file)
    assert not report.verdict.valid
    assert report.notes[0].startswith("The missing issuer was not fetched from http://[::1/ca.der")


async def test_through_the_command(root: Authority, ca_file: Path, serve: Serve) -> None:
    server = serve(root.issue(NAME), after_first="reset")
    settings = Settings(
        tls_ca_file=str(ca_file),
        allow_private_targets=True,
        tls_handshake_timeout_seconds=1,
        command_deadline_seconds=4,
    )
    reply = await execute(
        COMMANDS["tls"],
        Invocation(text=f"127.0.0.1:{server.port} --sni {NAME} +protocols"),
        settings,
    )
    assert not reply.is_error
    assert "TLS 1.2  not tested: the connection was reset" in plain(reply)


async def test_a_connect_cut_off_by_the_deadline_closes_its_socket() -> None:
    """The check's deadline cancels a connect in flight: its socket is closed, not leaked."""
    import gc
    import ipaddress
    import warnings

    from chatbot.tls.check import _connect

    with unanswered_port() as port, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        target = tls_command.parse(f"127.0.0.1:{port}")
        options = tls.Options(connect_timeout=30, allow_private=True)
        task = asyncio.ensure_future(_connect(target, ipaddress.ip_address("127.0.0.1"), options))
        await asyncio.sleep(0.1)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
