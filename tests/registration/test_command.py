"""Input parsing, the protocol-neutral answer, and RDAP-then-WHOIS against local servers."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest

from chatbot.commands import COMMANDS, Invocation, execute
from chatbot.errors import RateLimited, UsageError
from chatbot.registration import command as registration
from chatbot.registration.command import parse
from chatbot.registration.records import Record, Target, When
from chatbot.registration.render import RAW_LINES, render
from chatbot.reply import plain
from chatbot.settings import Settings
from chatbot.slack import normalize_text
from tests.registration.worlds import both
from tests.servers.rdap import RdapWorld
from tests.servers.whois import World


@pytest.mark.parametrize(
    ("typed", "kind", "query", "shown"),
    [
        ("example.com", "domain", "example.com", "example.com"),
        ("Example.COM.", "domain", "example.com", "example.com"),
        ("www.example.co.uk", "domain", "example.co.uk", "example.co.uk"),
        ("a.b.github.io", "domain", "github.io", "github.io"),
        ("日本語.jp", "domain", "xn--wgv71a119e.jp", "日本語.jp (xn--wgv71a119e.jp)"),
        ("www.xn--wgv71a119e.jp", "domain", "xn--wgv71a119e.jp", "日本語.jp (xn--wgv71a119e.jp)"),
        ("ハンバーガー.example.com", "domain", "example.com", "example.com"),
        ("_dmarc.mail.example.com", "domain", "example.com", "example.com"),
        ("user@mail.example.org", "domain", "example.org", "example.org"),
        ("https://www.example.com:8443/path?q=1", "domain", "example.com", "example.com"),
        ("8.8.8.8", "ip", "8.8.8.8", "8.8.8.8"),
        ("2001:4860:4860::8888", "ip", "2001:4860:4860::8888", "2001:4860:4860::8888"),
        ("193.0.6.139/21", "ip", "193.0.0.0/21", "193.0.0.0/21"),
        ("2001:db8::/32", "ip", "2001:db8::/32", "2001:db8::/32"),
        ("AS15169", "asn", "15169", "AS15169"),
        ("as3333", "asn", "3333", "AS3333"),
        ("15169", "asn", "15169", "AS15169"),
    ],
)
def test_parse(typed: str, kind: str, query: str, shown: str) -> None:
    target = parse(typed)
    assert (target.kind, target.query, target.shown, target.raw) == (kind, query, shown, False)


@pytest.mark.parametrize(
    ("wrapped", "query"),
    [
        ("<http://www.example.com|www.example.com>", "example.com"),
        ("<mailto:hostmaster@example.net|hostmaster@example.net>", "example.net"),
        ("<https://example.org/whois>", "example.org"),
    ],
)
def test_parse_slack_unwrapped(wrapped: str, query: str) -> None:
    assert parse(normalize_text(wrapped)).query == query


def test_parse_raw_flag() -> None:
    target = parse("+raw example.com")
    assert target.raw and target.query == "example.com"
    assert parse("example.com +RAW").raw


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Give one domain"),
        ("example.com example.net", "not 2"),
        ("example", "not a domain name"),
        ("co.uk", "public suffix"),
        ("example.com +short", "not an option"),
        ("AS4294967296", "not an AS number"),
        ("10.0.0.0/33", "not an address block"),
        ("exa_mple!.com", "not a valid domain name: ! cannot be part of a name"),
        ("exa_mple.com", "not a domain name"),
        ("8.8", "neither a domain name nor an IP address"),
        ("AS" + "9" * 4000, "not an AS number"),
        ("AS" + "\uff11\uff15\uff11\uff16\uff19", "not a domain name"),
        ("AS\u00b2", "not a domain name"),
        ("10.0.0.0/\uff18", "not an address block"),
        ("10.0.0.0/" + "9" * 4000, "not an address block"),
        ("2001:db8::/129", "not an address block"),
        ("fe80::1%eth0", "zone id"),
        ("https://[::1", "opens a [ that is never closed"),
        ("exa{mple", "exa{mple is not a valid domain name"),
    ],
)
def test_parse_refuses(typed: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse(typed)
    assert message in caught.value.message


TODAY = date(2026, 11, 29)


def domain_record(**fields: Any) -> Record:
    values: dict[str, Any] = {
        "kind": "domain",
        "protocol": "RDAP",
        "servers": ["rdap.verisign.com"],
        "registrar": "MarkMonitor Inc.",
        "created": When("1997-09-15T04:00:00Z", date(1997, 9, 15)),
        "expires": When("2028-09-14T04:00:00Z", date(2028, 9, 14)),
        "statuses": ["client delete prohibited"],
        "nameservers": ["ns1.google.com"],
        "dnssec": False,
    }
    values.update(fields)
    return Record(**values)


def test_render_domain_reads_the_same_for_both_protocols() -> None:
    target = Target("domain", "google.com", "google.com")
    by_rdap = plain(render(target, domain_record(), TODAY))
    by_whois = plain(
        render(target, domain_record(protocol="WHOIS", servers=["whois.iana.org"]), TODAY)
    )
    assert by_rdap.replace("RDAP rdap.verisign.com", "") == by_whois.replace(
        "WHOIS whois.iana.org", ""
    )
    assert "Expires: 2028-09-14 (in 655 days)" in by_rdap
    assert "DNSSEC: unsigned" in by_rdap
    assert "source: RDAP rdap.verisign.com" in by_rdap
    assert "warning" not in by_rdap


@pytest.mark.parametrize(
    ("days", "phrase", "warned"),
    [(31, "in 31 days", False), (30, "in 30 days", True), (1, "in 1 day", True),
     (0, "today", True), (-3, "expired 3 days ago", True)],
)  # fmt: skip
def test_expiry_warning(days: int, phrase: str, warned: bool) -> None:
    day = TODAY + timedelta(days=days)
    reply = render(
        Target("domain", "soon.com", "soon.com"),
        domain_record(expires=When(day.isoformat(), day)),
        TODAY,
    )
    assert phrase in plain(reply)
    assert (":warning:" in plain(reply)) is warned


def test_render_not_found_is_a_plain_answer() -> None:
    reply = render(
        Target("domain", "nope.com", "nope.com"),
        Record("domain", "WHOIS", ["whois.iana.org", "whois.verisign-grs.com"], found=False),
        TODAY,
    )
    assert not reply.is_error
    assert reply.summary == "nope.com: not registered (no match)"
    assert "source: WHOIS whois.iana.org → whois.verisign-grs.com" in plain(reply)


def test_render_ip_and_asn() -> None:
    ip = Record(
        "ip",
        "RDAP",
        ["rdap.arin.net"],
        start="8.8.8.0",
        end="8.8.8.255",
        cidrs=["8.8.8.0/24"],
        name="GOGL",
        org="Google LLC",
        country="US",
        registry="ARIN",
        abuse="network-abuse@google.com",
    )
    text = plain(render(Target("ip", "8.8.8.8", "8.8.8.8"), ip, TODAY))
    for line in (
        "Range: 8.8.8.0 - 8.8.8.255 (8.8.8.0/24)",
        "Network: GOGL",
        "Organisation: Google LLC",
        "Country: US",
        "Registry: ARIN",
        "Abuse: network-abuse@google.com",
        "source: RDAP rdap.arin.net",
    ):
        assert line in text
    asn = Record("asn", "WHOIS", ["whois.ripe.net"], name="RIPE-NCC-AS", country="NL")
    reply = render(Target("asn", "3333", "AS3333"), asn, TODAY)
    assert reply.summary == "AS3333: RIPE-NCC-AS"
    assert "Name: RIPE-NCC-AS" in plain(reply)


def test_raw_only_when_asked() -> None:
    record = domain_record(raw=["line"] * 1000)
    assert render(Target("domain", "g.com", "g.com"), record, TODAY).parts[-1].kind == "context"
    raw = render(Target("domain", "g.com", "g.com", raw=True), record, TODAY).parts[-1]
    assert raw.kind == "code" and len(raw.lines) == RAW_LINES


# --- RDAP first, WHOIS where it has no service or fails ----------------------


async def test_rdap_answers_when_it_can(rdap_servers: RdapWorld, whois_servers: World) -> None:
    reply = await registration.run("google.com", both(rdap_servers, whois_servers))
    assert "source: RDAP 127.0.0.1:" in plain(reply)
    assert whois_servers.iana.queries == []


async def test_whois_where_rdap_has_no_service(
    rdap_servers: RdapWorld, whois_servers: World
) -> None:
    reply = await registration.run("jprs.jp", both(rdap_servers, whois_servers))
    text = plain(reply)
    assert "source: WHOIS 127.0.0.2 → 127.0.0.5" in text
    assert "Registrant: Japan Registry Services Co., Ltd." in text
    assert "RDAP failed" not in text


async def test_whois_where_rdap_is_rate_limited(
    rdap_servers: RdapWorld, whois_servers: World
) -> None:
    whois_servers.iana.answers["busy.com"] = whois_servers.iana.answers["google.com"]
    record = await registration.lookup(parse("busy.com"), both(rdap_servers, whois_servers))
    assert record.protocol == "WHOIS" and record.found is False
    assert "rate limiting us" in record.notes[0]


async def test_slow_rdap_leaves_whois_its_time(
    rdap_servers: RdapWorld, whois_servers: World
) -> None:
    options = replace(both(rdap_servers, whois_servers), deadline=1.0)
    started = time.monotonic()
    record = await registration.lookup(parse("slow.com"), options)
    assert time.monotonic() - started < 1.5
    assert record.protocol == "WHOIS"
    assert record.notes[0].endswith("No answer from RDAP within 0.6 s.")


async def test_both_failing_says_both(rdap_servers: RdapWorld, whois_servers: World) -> None:
    whois_servers.iana.answers["busy.com"] = "% Query rate limit exceeded\n"
    with pytest.raises(RateLimited) as caught:
        await registration.lookup(parse("busy.com"), both(rdap_servers, whois_servers))
    assert caught.value.message.startswith("RDAP: 127.0.0.1:")
    assert "Port-43 WHOIS: 127.0.0.2" in caught.value.message


async def test_whois_command(rdap_servers: RdapWorld, whois_servers: World) -> None:
    settings = Settings(
        rdap_bootstrap_url=rdap_servers.bootstrap.url,
        rdap_timeout_seconds=2,
        whois_server=whois_servers.iana.host,
        whois_port=whois_servers.net.port,
        whois_timeout_seconds=2,
        allow_private_targets=True,
    )
    command = COMMANDS["whois"]
    reply = await execute(command, Invocation(text="www.soon.com"), settings)
    text = plain(reply)
    assert not reply.is_error
    assert "Registrar: MarkMonitor Inc." in text
    assert ":warning: Expires in 10 days." in text or ":warning: Expires in 9 days." in text
    assert "source: RDAP 127.0.0.1:" in text
    print(text)

    reply = await execute(command, Invocation(text="193.0.6.139 +raw"), settings)
    assert "Network: RIPE-NCC" in plain(reply)
    assert reply.parts[-1].kind == "code"
    print(plain(reply))

    reply = await execute(command, Invocation(text="google.com"), settings)
    print(plain(reply))

    reply = await execute(command, Invocation(text="nope.com"), settings)
    assert not reply.is_error and "not registered" in reply.summary

    reply = await execute(command, Invocation(text="not a domain"), settings)
    assert reply.is_error and "Usage: `/whois" in plain(reply)

    assert (await execute(command, Invocation(text="help"), settings)) == command.usage
