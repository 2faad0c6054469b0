"""Port-43 WHOIS against real servers on 127.0.0.2, 127.0.0.3, ... sharing one port."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from chatbot.errors import ConnectFailed, RateLimited, TargetRefused, Timeout
from chatbot.registration import whois
from chatbot.registration.command import parse
from tests.servers.whois import (
    RATE_LIMITED,
    VERISIGN_GOOGLE,
    WhoisNet,
    WhoisServer,
    World,
    whois_net,
    world,
)


@pytest.fixture
async def net() -> AsyncIterator[WhoisNet]:
    async with whois_net() as net:
        yield net


@pytest.fixture
async def internet(net: WhoisNet) -> World:
    return await world(net)


def options(world: World, **overrides: Any) -> whois.Options:
    values: dict[str, Any] = {
        "server": world.iana.host,
        "port": world.net.port,
        "timeout": 2.0,
        "deadline": 5.0,
        "allow_private": True,
        "aliases": world.aliases,
    }
    values.update(overrides)
    return whois.Options(**values)


async def test_thin_registry_then_registrar(internet: World) -> None:
    record = await whois.lookup(parse("www.google.com"), options(internet))
    assert internet.iana.queries == ["google.com"]
    assert internet.registry.queries == ["domain google.com"]  # not NS hosts named alike
    assert internet.registrar.queries == ["google.com"]
    port = internet.net.port
    assert record.servers == [internet.iana.host, internet.registry.host, internet.registrar.host]
    assert record.source.startswith("WHOIS 127.0.0.2 → 127.0.0.3 → 127.0.0.4")
    assert port  # every hop used the configured port: none is shown
    # The registry's dates and status win; the registrar adds the registrant.
    assert record.registrar == "MarkMonitor Inc."
    assert record.created is not None and str(record.created) == "1997-09-15"
    assert record.expires is not None and str(record.expires) == "2028-09-14"
    assert record.changed is not None and str(record.changed) == "2019-09-09"
    assert "server transfer prohibited" in record.statuses  # as RDAP writes it
    assert record.nameservers == ["ns1.google.com", "ns2.google.com", "ns3.google.com",
                                  "ns4.google.com"]  # fmt: skip
    assert record.dnssec is False
    assert (record.registrant_org, record.registrant_country) == ("Google LLC", "US")
    assert record.abuse == "abusecomplaints@markmonitor.com"
    # IANA's record is about .com, not google.com: none of it leaks in.
    assert "a.gtld-servers.net" not in record.nameservers
    assert record.notes == []
    assert any("Registry Expiry Date" in line for line in record.raw)


async def test_no_match_is_an_answer(internet: World) -> None:
    record = await whois.lookup(parse("nope.com"), options(internet))
    assert record.found is False
    assert internet.registrar.queries == []


async def test_jprs_gets_slash_e_and_answers_in_english(internet: World) -> None:
    record = await whois.lookup(parse("jprs.jp"), options(internet))
    assert internet.jprs.queries == ["jprs.jp/e"]
    assert record.registrant_org == "Japan Registry Services Co., Ltd."
    assert str(record.created) == "2001-05-08"
    assert str(record.expires) == "2027-05-31"
    assert record.statuses == ["active"]
    assert record.nameservers[0] == "ns1.jprs.co.jp"
    assert record.dnssec is False  # an empty [Signing Key]


async def test_arin_referral_server_to_ripe(internet: World) -> None:
    record = await whois.lookup(parse("193.0.6.139"), options(internet))
    assert internet.arin.queries == ["n + 193.0.6.139"]
    # The last ReferralServer, with its port; the rwhois one is not for us.
    assert internet.ripe.queries == ["193.0.6.139"]
    assert record.servers == ["127.0.0.2", "127.0.0.6", "127.0.0.7"]
    assert (record.start, record.end, record.cidrs) == ("193.0.0.0", "193.0.7.255",
                                                        ["193.0.0.0/21"])  # fmt: skip
    assert record.name == "RIPE-NCC"
    assert record.org == "Reseaux IP Europeens Network Coordination Centre (RIPE NCC)"
    assert record.country == "NL"
    assert record.registry == "RIPE NCC"
    assert record.abuse == "abuse@ripe.net"


async def test_arin_most_specific_network(internet: World) -> None:
    record = await whois.lookup(parse("8.8.8.8"), options(internet, server=internet.arin.host))
    assert internet.arin.queries == ["n + 8.8.8.8"]
    assert record.name == "GOGL"
    assert record.cidrs == ["8.8.8.0/24"]
    assert record.org == "Google LLC"
    assert record.abuse == "network-abuse@google.com"
    assert record.registry == "ARIN"


async def test_asn_via_arin_to_ripe(internet: World) -> None:
    record = await whois.lookup(parse("AS3333"), options(internet))
    assert internet.arin.queries == ["a + 3333"]
    assert internet.ripe.queries == ["AS3333"]
    assert record.name == "RIPE-NCC-AS"
    assert record.country == "NL"
    assert record.registry == "RIPE NCC"


async def test_denic_query_rewrite(internet: World) -> None:
    record = await whois.lookup(parse("denic.de"), options(internet))
    assert internet.denic.queries == ["-T dn,ace denic.de"]
    assert record.statuses == ["connect"]
    assert record.nameservers[:2] == ["ns1.denic.de", "ns2.denic.net"]
    free = await whois.lookup(parse("nic-frei.de"), options(internet))
    assert free.found is False


async def test_unknown_tld_at_iana_is_no_match(internet: World) -> None:
    record = await whois.lookup(parse("example.invalid"), options(internet))
    assert record.found is False
    assert record.servers == ["127.0.0.2"]


async def test_iana_answers_for_special_ranges_itself(internet: World) -> None:
    record = await whois.lookup(parse("10.1.2.3"), options(internet))
    assert record.servers == ["127.0.0.2"]
    assert (record.start, record.end, record.cidrs) == ("10.0.0.0", "10.255.255.255",
                                                        ["10.0.0.0/8"])  # fmt: skip
    assert record.org == "IANA - Private Use"
    assert record.registry == "IANA"


async def test_referral_to_private_address_is_refused(internet: World) -> None:
    # The root is the operator's and trusted; what it refers to is not.
    with pytest.raises(TargetRefused, match="loopback"):
        await whois.lookup(parse("google.com"), options(internet, allow_private=False))
    assert internet.iana.queries == ["google.com"]
    assert internet.registry.queries == []


async def test_refused_registrar_keeps_the_registry_record(internet: World) -> None:
    record = await whois.lookup(
        parse("google.com"), options(internet, server=internet.registry.host, allow_private=False)
    )
    assert internet.registrar.queries == []
    assert record.registrar == "MarkMonitor Inc."
    assert record.registrant_org == ""
    assert any("not followed" in note and "loopback" in note for note in record.notes)


async def test_referral_loop_stops(net: WhoisNet) -> None:
    a = "127.0.0.2"
    b = "127.0.0.3"
    first = await net.add(
        lambda host, port: WhoisServer(host, default=f"ReferralServer: whois://{b}\n")
    )
    second = await net.add(
        lambda host, port: WhoisServer(host, default=f"ReferralServer: whois://{a}:{port}\n")
    )
    record = await whois.lookup(
        parse("192.0.2.1"), whois.Options(server=a, port=net.port, allow_private=True)
    )
    assert first.queries == ["192.0.2.1"] and second.queries == ["192.0.2.1"]
    assert any("loop" in note for note in record.notes)


async def test_at_most_three_referrals(net: WhoisNet) -> None:
    servers = []
    for index in range(5):
        following = net.address(index + 1)
        servers.append(
            await net.add(
                lambda host, port, following=following: WhoisServer(
                    host, default=f"Registrar WHOIS Server: {following}\nDomain Name: X.COM\n"
                )
            )
        )
    record = await whois.lookup(
        parse("x.com"), whois.Options(server=servers[0].host, port=net.port, allow_private=True)
    )
    assert [len(s.queries) for s in servers] == [1, 1, 1, 1, 0]
    assert any("Stopped after 3 referrals" in note for note in record.notes)


async def test_slow_drip_hits_the_hop_timeout(net: WhoisNet) -> None:
    slow = await net.add(lambda host, port: WhoisServer(host, default=VERISIGN_GOOGLE, mode="drip"))
    started = time.monotonic()
    with pytest.raises(Timeout, match=r"0\.5 s"):
        await whois.lookup(
            parse("google.com"),
            whois.Options(server=slow.host, port=net.port, timeout=0.5, allow_private=True),
        )
    assert time.monotonic() - started < 1.5
    assert 0 < slow.sent < 10


async def test_deadline_keeps_what_was_read(internet: World, net: WhoisNet) -> None:
    internet.registrar.mode = "drip"
    started = time.monotonic()
    record = await whois.lookup(
        parse("google.com"),
        options(internet, server=internet.registry.host, timeout=3.0, deadline=0.6),
    )
    assert time.monotonic() - started < 1.5
    assert record.registrar == "MarkMonitor Inc."
    assert any("deadline" in note for note in record.notes)


async def test_more_than_the_cap_is_cut(net: WhoisNet) -> None:
    flood = await net.add(lambda host, port: WhoisServer(host, mode="flood"))
    record = await whois.lookup(
        parse("example.com"), whois.Options(server=flood.host, port=net.port, allow_private=True)
    )
    assert sum(len(line) + 1 for line in record.raw) < 256 * 1024 + 1024
    assert any("more than 256 KB" in note for note in record.notes)


async def test_query_limit_exceeded_is_rate_limiting(net: WhoisNet) -> None:
    busy = await net.add(lambda host, port: WhoisServer(host, default=RATE_LIMITED))
    with pytest.raises(RateLimited, match="rate limiting"):
        await whois.lookup(
            parse("example.com"),
            whois.Options(server=busy.host, port=net.port, allow_private=True),
        )


async def test_rate_limited_registrar_keeps_the_registry_record(internet: World) -> None:
    internet.registrar.answers["google.com"] = RATE_LIMITED
    record = await whois.lookup(parse("google.com"), options(internet))
    assert record.registrar == "MarkMonitor Inc." and record.registrant_org == ""
    assert record.notes == ["127.0.0.4 is rate limiting us; try again in a minute."]


async def test_nothing_listening_is_connect_failed(net: WhoisNet) -> None:
    with pytest.raises(ConnectFailed, match=r"Could not connect to 127\.0\.0\.9:9"):
        await whois.lookup(
            parse("example.com"), whois.Options(server="127.0.0.9", port=9, allow_private=True)
        )


def test_decode_charsets() -> None:
    assert whois.decode("Müller".encode(), "whois.example") == "Müller"
    japanese = "[登録者名] 株式会社日本レジストリサービス"
    assert whois.decode(japanese.encode("iso-2022-jp"), "whois.jprs.jp") == japanese
    korean = "등록인: 한국인터넷진흥원"
    assert whois.decode(korean.encode("euc-kr"), "whois.kr") == korean
    assert whois.decode("Société".encode("latin-1"), "whois.example") == "Société"


NOMINET = """
    Domain name:
        google.co.uk

    Registrant:
        Google LLC

    Registrar:
        Markmonitor Inc. t/a MarkMonitor Inc. [Tag = MARKMONITOR]
        URL: http://www.markmonitor.com

    Relevant dates:
        Registered on: 14-Feb-1999
        Expiry date:  14-Feb-2027
        Last updated:  13-Jan-2026

    Registration status:
        Registered until expiry date.

    Name servers:
        ns1.google.com
        ns2.google.com
        ns3.google.com   2001:4860:4802:36::a

    WHOIS lookup made at 23:42:27 28-Nov-2026
"""


def test_indented_blocks_nominet() -> None:
    hop = whois.Hop("whois.nic.uk", 43, "google.co.uk", NOMINET)
    record = whois.summarise(parse("google.co.uk"), hop)
    assert record.registrant_org == "Google LLC"
    assert record.registrar == "Markmonitor Inc. t/a MarkMonitor Inc. [Tag = MARKMONITOR]"
    assert (str(record.created), str(record.expires), str(record.changed)) == (
        "1999-02-14",
        "2027-02-14",
        "2026-01-13",
    )
    assert record.nameservers == ["ns1.google.com", "ns2.google.com", "ns3.google.com"]


def test_epp_status_reads_like_rdap() -> None:
    assert whois.epp_status("clientTransferProhibited") == "client transfer prohibited"
    assert whois.epp_status("ok") == "active"
    assert whois.epp_status("pendingDelete") == "pending delete"
    assert whois.epp_status("connect") == "connect"


def test_referral_parsing() -> None:
    assert whois.referral("refer:        whois.verisign-grs.com\n") == (
        "whois.verisign-grs.com", None, "refer")  # fmt: skip
    assert whois.referral("   Registrar WHOIS Server: whois.markmonitor.com\n") == (
        "whois.markmonitor.com", None, "registrar")  # fmt: skip
    text = "ReferralServer: whois://whois.ripe.net\nReferralServer: whois://whois.lacnic.net:4343\n"
    assert whois.referral(text) == ("whois.lacnic.net", 4343, "referralserver")
    assert whois.referral("ReferralServer: rwhois://rwhois.example.net:4321\n") is None
    assert whois.referral("Registrar WHOIS Server: \n") is None
