"""RDAP against a local bootstrap and local RDAP services (plain http, private targets allowed)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from chatbot.errors import ProtocolError, RateLimited, TargetRefused, Timeout
from chatbot.registration import rdap
from chatbot.registration.command import parse
from tests.servers.rdap import RdapWorld, Response, rdap_world


@pytest.fixture
def world() -> Iterator[RdapWorld]:
    with rdap_world() as world:
        yield world


def options(world: RdapWorld, **overrides: Any) -> rdap.Options:
    values: dict[str, Any] = {
        "bootstrap_url": world.bootstrap.url,
        "timeout": 2.0,
        "allow_private": True,
        "cache": {},  # each test its own bootstrap cache: ports are reused between tests
    }
    values.update(overrides)
    return rdap.Options(**values)


async def test_domain_with_registrar_entity(world: RdapWorld) -> None:
    record = await rdap.lookup(parse("www.example.com"), options(world))
    assert world.registry.paths == ["/com/v1/domain/example.com"]
    assert record.protocol == "RDAP"
    assert record.found
    assert record.registrar == "RESERVED-Internet Assigned Numbers Authority"
    assert (str(record.created), str(record.changed), str(record.expires)) == (
        "1995-08-14",
        "2026-08-14",
        "2027-08-13",
    )
    assert record.statuses == [
        "client delete prohibited",
        "client transfer prohibited",
        "server update prohibited",
    ]
    assert record.nameservers == ["ns1.example.com", "ns2.example.com"]
    assert record.dnssec is True
    assert (record.registrant_org, record.registrant_country) == (
        "Internet Assigned Numbers Authority",
        "US",
    )
    assert record.abuse == "abuse@iana.org"
    # The registrant is published: the registrar's record is not needed.
    assert world.registrar.paths == []
    # Pretty-printing costs tens of milliseconds on big answers: only for +raw.
    assert record.raw == []
    raw = await rdap.lookup(parse("www.example.com +raw"), options(world))
    assert raw.raw[0] == "{"


async def test_thin_registry_follows_related_link(world: RdapWorld) -> None:
    record = await rdap.lookup(parse("google.com"), options(world))
    assert world.registrar.paths == ["/rdap/domain/GOOGLE.COM"]
    # Registry dates stand; the registrar adds the registrant.
    assert str(record.expires) == "2028-09-14"
    assert record.registrar == "MarkMonitor Inc."
    assert (record.registrant_org, record.registrant_country) == ("Google LLC", "US")
    assert len(record.servers) == 2
    assert record.servers[1] == world.registrar.url.split("/")[2]
    raw = await rdap.lookup(parse("google.com +raw"), options(world))
    assert any("registrar record" in line for line in raw.raw)


async def test_unreadable_registrar_record_is_a_note(world: RdapWorld) -> None:
    del world.registrar.routes["/rdap/domain/google.com"]
    record = await rdap.lookup(parse("google.com"), options(world))
    assert record.registrar == "MarkMonitor Inc." and record.registrant_org == ""
    assert record.notes == [
        f"The registrar's RDAP server {world.registrar.url.split('/')[2]} has no record of "
        "google.com."
    ]


async def test_not_found(world: RdapWorld) -> None:
    record = await rdap.lookup(parse("nope.com"), options(world))
    assert record.found is False


async def test_429_is_rate_limited(world: RdapWorld) -> None:
    with pytest.raises(RateLimited, match="rate limiting"):
        await rdap.lookup(parse("busy.com"), options(world))


async def test_answer_over_the_cap_is_refused(world: RdapWorld) -> None:
    with pytest.raises(ProtocolError, match="larger than 256 KB"):
        await rdap.lookup(parse("huge.com"), options(world))


async def test_ip_network(world: RdapWorld) -> None:
    record = await rdap.lookup(parse("8.8.8.8"), options(world))
    assert (record.start, record.end, record.cidrs) == ("8.8.8.0", "8.8.8.255", ["8.8.8.0/24"])
    assert record.name == "GOGL"
    assert record.org == "Google LLC"
    assert record.country == "United States"  # from the address label, as ARIN writes it
    assert record.abuse == "network-abuse@google.com"
    assert record.registry == "ARIN"


async def test_ipv6_cidr(world: RdapWorld) -> None:
    record = await rdap.lookup(parse("2001:4860::/32"), options(world))
    assert record.name == "GOOGLE-IPV6"
    assert record.cidrs == ["2001:4860::/32"]


async def test_rir_redirect_is_followed(world: RdapWorld) -> None:
    record = await rdap.lookup(parse("193.0.6.139"), options(world))
    assert world.ripe.paths == ["/ip/193.0.6.139"]
    assert record.name == "RIPE-NCC"
    assert record.country == "NL"
    assert record.registry == "RIPE NCC"
    assert record.abuse == "abuse@ripe.net"
    assert [host.split(":")[0] for host in record.servers] == ["127.0.0.1", "127.0.0.1"]


async def test_autnum(world: RdapWorld) -> None:
    record = await rdap.lookup(parse("AS15169"), options(world))
    assert (record.name, record.org, record.country, record.registry) == (
        "GOOGLE",
        "Google LLC",
        "US",
        "ARIN",
    )


async def test_no_service_for_tld(world: RdapWorld) -> None:
    with pytest.raises(rdap.NoService):
        await rdap.lookup(parse("jprs.jp"), options(world))


async def test_known_table_fills_in_for_iana(world: RdapWorld) -> None:
    world.registry.routes["/de/domain/denic.de"] = world.registry.routes[
        "/com/v1/domain/example.com"
    ]
    known = {"de": world.registry.url + "de/"}
    await rdap.lookup(parse("denic.de"), options(world, known=known))
    assert world.registry.paths == ["/de/domain/denic.de"]
    assert "de" in rdap.KNOWN  # .de is not in IANA's dns.json


async def test_bootstrap_cached(world: RdapWorld) -> None:
    settings = options(world)
    await rdap.lookup(parse("example.com"), settings)
    await rdap.lookup(parse("nope.com"), settings)
    await rdap.lookup(parse("8.8.8.8"), settings)
    assert world.bootstrap.paths == ["/dns.json", "/ipv4.json"]


async def test_bootstrap_fetched_again_after_hours(world: RdapWorld) -> None:
    settings = options(world)
    await rdap.lookup(parse("example.com"), settings)
    url = world.bootstrap.url + "dns.json"
    fetched, services = settings.cache[url]
    settings.cache[url] = (fetched - rdap.BOOTSTRAP_TTL_SECONDS - 1, services)
    await rdap.lookup(parse("example.com"), settings)
    assert world.bootstrap.paths == ["/dns.json", "/dns.json"]
    assert rdap.BOOTSTRAP_TTL_SECONDS >= 3600


async def test_plain_http_only_with_private_targets_allowed(world: RdapWorld) -> None:
    # The bootstrap (operator's) is trusted; the http service it names is not usable.
    with pytest.raises(rdap.NoService):
        await rdap.lookup(parse("example.com"), options(world, allow_private=False))
    assert world.registry.paths == []


async def test_https_service_on_a_private_address_is_refused(world: RdapWorld) -> None:
    world.bootstrap.routes["/dns.json"] = Response(
        body=b'{"services": [[["com"], ["https://127.0.0.1:1/com/"]]]}'
    )
    with pytest.raises(TargetRefused, match="loopback"):
        await rdap.lookup(parse("example.com"), options(world, allow_private=False))


async def test_slow_server_times_out(world: RdapWorld) -> None:
    started = time.monotonic()
    with pytest.raises(Timeout):
        await rdap.lookup(
            parse("slow.com"),
            options(world, timeout=0.5),
        )
    assert time.monotonic() - started < 2
