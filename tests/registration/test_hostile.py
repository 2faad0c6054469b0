"""Hostile registries: each failure is one clear sentence, and the fallback still answers.

RDAP answers that are not JSON, nested 100,000 deep, of the wrong types, 50 MB
long or redirecting in a loop make RDAP fail cleanly, and port-43 WHOIS answers
(`registration.lookup` runs the fallback). WHOIS servers that send binary
garbage, an endless line or a referral to themselves are one sentence each.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

import pytest

from chatbot.commands import COMMANDS, Invocation, execute
from chatbot.errors import Closed, ProtocolError
from chatbot.registration import command as registration
from chatbot.registration import rdap, whois
from chatbot.registration.command import parse
from chatbot.registration.render import render
from chatbot.reply import plain
from chatbot.settings import Settings
from tests.registration.worlds import both
from tests.servers.rdap import FIFTY_MB, HOSTILE, RdapWorld, Response, add_hostile
from tests.servers.whois import VERISIGN_GOOGLE, World


@pytest.fixture
def rdap_servers(rdap_servers: RdapWorld) -> RdapWorld:
    """The local RDAP world with the hostile servers added."""
    add_hostile(rdap_servers)
    return rdap_servers


def whois_knows(whois_servers: World, name: str) -> None:
    """IANA refers `name` to the registry, which has a record of it (no registrar referral)."""
    whois_servers.iana.answers[name] = whois_servers.iana.answers["google.com"]
    record = VERISIGN_GOOGLE.replace("GOOGLE.COM", name.upper()).replace(
        "   Registrar WHOIS Server: {registrar}\n", ""
    )
    # As asked with and without the alias that makes it Verisign (its "domain " prefix).
    whois_servers.registry.answers[f"domain {name}"] = record
    whois_servers.registry.answers[name] = record


REASONS = {
    "nonjson.com": "not JSON",
    "deep.com": "JSON nested too deep",
    "deepobject.com": "JSON nested too deep",
    "strings.com": "its entities is a string, not a list",
    "numbers.com": "an eventDate is a number, not a date",
    "fifty.com": "an answer larger than 256 KB",
    "endless.com": "an answer larger than 256 KB",
    "loop.com": "a redirect loop",
    "badlocation.com": "Invalid URL in location header: Invalid port: ':1'",
    "infinity.com": "JSON I cannot read",
}


def test_every_hostile_answer_has_its_sentence() -> None:
    assert set(REASONS) == set(HOSTILE)


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_hostile_rdap_fails_cleanly_and_whois_answers(
    name: str, rdap_servers: RdapWorld, whois_servers: World
) -> None:
    whois_knows(whois_servers, name)
    record = await registration.lookup(parse(name), both(rdap_servers, whois_servers))
    registry = rdap_servers.registry.url.split("/")[2]
    assert record.protocol == "WHOIS"
    assert record.registrar == "MarkMonitor Inc."
    assert str(record.expires) == "2028-09-14"
    assert record.notes[0] == (
        f"RDAP failed, answered by port-43 WHOIS: {registry} answered with something I "
        f"could not read: {REASONS[name]}."
    )


@pytest.mark.parametrize("name", ["fifty.com", "endless.com"])
async def test_a_50_mb_body_is_cut_at_the_cap(
    name: str, rdap_servers: RdapWorld, whois_servers: World
) -> None:
    """Announced or not, 50 MB is never read: the connection closes at the cap."""
    with pytest.raises(ProtocolError, match="larger than 256 KB"):
        await rdap.lookup(parse(name), both(rdap_servers, whois_servers).rdap)
    # What the server managed to write before we hung up fits in the kernel's buffers.
    assert rdap_servers.registry.sent.get(f"/com/v1/domain/{name}", 0) < FIFTY_MB / 2


async def test_deep_json_through_the_command(rdap_servers: RdapWorld, whois_servers: World) -> None:
    """The issue's case end to end: one hostile registry, and the user still gets WHOIS."""
    whois_knows(whois_servers, "deep.com")
    settings = Settings(
        rdap_bootstrap_url=rdap_servers.bootstrap.url,
        rdap_timeout_seconds=2,
        whois_server=whois_servers.iana.host,
        whois_port=whois_servers.net.port,
        whois_timeout_seconds=2,
        allow_private_targets=True,
    )
    reply = await execute(COMMANDS["whois"], Invocation(text="deep.com"), settings)
    text = plain(reply)
    assert not reply.is_error
    assert "Registrar: MarkMonitor Inc." in text
    assert "RDAP failed, answered by port-43 WHOIS:" in text and "JSON nested too deep" in text


async def test_source_line_hides_userinfo(rdap_servers: RdapWorld, whois_servers: World) -> None:
    com = rdap_servers.registry.url.replace("http://", "http://user:s3cret@") + "com/v1/"
    rdap_servers.bootstrap.routes["/dns.json"] = Response(
        body=json.dumps({"services": [[["com"], [com]]]}).encode()
    )
    target = parse("example.com")
    record = await registration.lookup(target, both(rdap_servers, whois_servers))
    text = plain(render(target, record))
    registry = rdap_servers.registry.url.split("/")[2]
    assert f"source: RDAP {registry}" in text
    assert "s3cret" not in text and "user" not in text


async def test_registrar_step_that_cannot_finish_keeps_the_registry_answer(
    rdap_servers: RdapWorld, whois_servers: World
) -> None:
    """The registrar's record is optional: out of time, the registry's answer stays."""
    rdap_servers.registrar.routes["/rdap/domain/google.com"] = Response(body=b"{}", delay=3)
    options = replace(both(rdap_servers, whois_servers), deadline=2.0)
    record = await registration.lookup(parse("google.com"), options)
    assert record.protocol == "RDAP"
    assert record.registrar == "MarkMonitor Inc." and str(record.expires) == "2028-09-14"
    registrar = rdap_servers.registrar.url.split("/")[2]
    assert len(record.notes) == 1
    assert record.notes[0].startswith(
        f"The registrar's RDAP record was not read: No answer from {registrar} within "
    )
    assert whois_servers.iana.queries == []


async def test_hostile_registrar_is_a_note(rdap_servers: RdapWorld, whois_servers: World) -> None:
    rdap_servers.registrar.routes["/rdap/domain/google.com"] = Response(
        body=b"[" * 100_000 + b"]" * 100_000
    )
    record = await registration.lookup(parse("google.com"), both(rdap_servers, whois_servers))
    registrar = rdap_servers.registrar.url.split("/")[2]
    assert record.protocol == "RDAP" and record.registrar == "MarkMonitor Inc."
    assert record.notes == [
        f"The registrar's RDAP record was not read: {registrar} answered with something I "
        "could not read: JSON nested too deep."
    ]


# --- port-43 WHOIS -----------------------------------------------------------------


def whois_only(whois_servers: World) -> whois.Options:
    return whois.Options(
        server=whois_servers.iana.host,
        port=whois_servers.net.port,
        timeout=2,
        allow_private=True,
        aliases=whois_servers.aliases,
    )


@pytest.mark.parametrize(
    ("mode", "sentence"),
    [
        ("garbage", "127.0.0.2 answered with something I could not read: binary data, not text."),
        (
            "endless",
            "127.0.0.2 answered with something I could not read: a line longer than 16 KB.",
        ),
        ("refer-self", "127.0.0.2 refers to itself and gives no record."),
    ],
)
async def test_hostile_whois_root(mode: str, sentence: str, whois_servers: World) -> None:
    whois_servers.iana.mode = mode  # type: ignore[assignment]
    with pytest.raises(ProtocolError) as caught:
        await whois.lookup(parse("jprs.jp"), whois_only(whois_servers))
    assert caught.value.message == sentence


@pytest.mark.parametrize("mode", ["close", "silent-close", "reset"])
async def test_a_whois_server_that_accepts_and_closes_says_so(
    mode: str, whois_servers: World
) -> None:
    """It accepted the connection: never "could not connect", never an empty record."""
    whois_servers.iana.mode = mode  # type: ignore[assignment]
    for _ in range(20):  # closed before or after the query arrived: the same sentence
        with pytest.raises(Closed) as caught:
            await whois.lookup(parse("jprs.jp"), whois_only(whois_servers))
        server = f"127.0.0.2:{whois_servers.net.port}"
        assert caught.value.message == f"{server} closed the connection without answering."


@pytest.mark.parametrize("mode", ["garbage", "endless"])
async def test_hostile_registrar_whois_keeps_the_registry_record(
    mode: str, whois_servers: World
) -> None:
    """A referral that answers garbage is a note; the thin registry's record stays."""
    whois_servers.registrar.mode = mode  # type: ignore[assignment]
    record = await whois.lookup(parse("google.com"), whois_only(whois_servers))
    assert record.registrar == "MarkMonitor Inc." and str(record.expires) == "2028-09-14"
    assert record.notes[0].startswith("Referral from 127.0.0.3 not followed: 127.0.0.4 answered")


async def test_whois_fallback_to_a_hostile_whois_says_both(
    rdap_servers: RdapWorld, whois_servers: World
) -> None:
    whois_servers.iana.mode = "garbage"
    with pytest.raises(ProtocolError) as caught:
        await registration.lookup(parse("deep.com"), both(rdap_servers, whois_servers))
    assert "RDAP: " in caught.value.message and "JSON nested too deep" in caught.value.message
    assert "Port-43 WHOIS: 127.0.0.2 answered with something I could not read: binary data" in (
        caught.value.message
    )


@pytest.mark.parametrize("port", ["²", "1¹", "9" * 5000, "65536"])
def test_referral_ports_are_ascii_and_bounded(port: str) -> None:
    assert whois.referral(f"ReferralServer: whois://whois.example.net:{port}\n") is None
    assert whois.referral(f"refer: whois.example.net:{port}\n") is None


# --- JPRS -------------------------------------------------------------------------


async def test_jprs_co_jp_expiry_from_connected_state(whois_servers: World) -> None:
    record = await whois.lookup(parse("jprs.co.jp"), whois_only(whois_servers))
    assert record.expires is not None and record.expires.day == date(2027, 3, 31)
    assert record.created is not None and record.created.day == date(2001, 3, 26)
    assert record.statuses == ["connected"]
    assert record.registrant_org == "Japan Registry Services Co., Ltd."
    assert record.nameservers[0] == "ns1.jprs.co.jp"
    text = plain(render(parse("jprs.co.jp"), record, date(2026, 11, 29)))
    assert "Expires: 2027-03-31 (in 122 days)" in text


def test_connected_without_a_date_is_no_expiry() -> None:
    hop = whois.Hop("whois.jprs.jp", 43, "x.co.jp/e", "[State]   Connected\n")
    assert whois.summarise(parse("x.co.jp"), hop).expires is None


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"Domain Name: EXAMPLE.COM\r\nRegistrar: X\r\n", None),
        (b"Domain Name: EXAMPLE.COM\r\n\x00", None),  # a C string's terminator
        (b"\x1b$B...\x1b(B\n[Name] x\n\x0c\n", None),  # ISO-2022-JP escapes, a form feed
        (b"Domain\x00Name", "binary data, not text"),
        (bytes(range(32)) * 4, "binary data, not text"),
        (b"x" * (16 * 1024 + 1), "a line longer than 16 KB"),
    ],
)
def test_what_is_not_a_whois_record(data: bytes, problem: str | None) -> None:
    assert whois._unreadable(data) == problem
