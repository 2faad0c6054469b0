"""At most CHATBOT_MAX_PER_SERVER connections at once to any one server, counted by real
local servers; the rest wait their turn."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from chatbot import politeness
from chatbot.commands import COMMANDS, Invocation, execute
from chatbot.registration import command as registration
from chatbot.registration import rdap, whois
from chatbot.registration.command import parse
from chatbot.settings import Settings
from chatbot.tls import check as tls
from chatbot.tls import command as tls_command
from tests.servers.rdap import RdapWorld, Response, rdap_json
from tests.servers.tls import Authority, TLSServer
from tests.servers.whois import World

NAME = "example.test"


async def test_slots_queue_per_key_and_are_dropped_when_idle() -> None:
    running: dict[str, int] = {"a": 0, "b": 0}
    most: dict[str, int] = {"a": 0, "b": 0}

    async def use(key: str) -> None:
        async with politeness.slot(key, 2):
            running[key] += 1
            most[key] = max(most[key], running[key])
            await asyncio.sleep(0.02)
            running[key] -= 1

    await asyncio.gather(*(use("a") for _ in range(7)), *(use("b") for _ in range(3)))
    assert most == {"a": 2, "b": 2}
    assert politeness.busy() == {}


async def test_a_cancelled_waiter_gives_its_place_back() -> None:
    async with politeness.slot("x", 1):
        waiter = asyncio.create_task(_hold("x"))
        await asyncio.sleep(0.01)
        assert politeness.busy() == {"x": 2}
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    assert politeness.busy() == {}


async def _hold(key: str) -> None:
    async with politeness.slot(key, 1):
        await asyncio.sleep(1)


def test_keys() -> None:
    assert politeness.key("WHOIS.Example.") == "whois.example"
    assert politeness.key("[2001:db8::1]", 443) == "2001:db8::1:443"


# --- at the call sites, against servers that count their open connections ---------


@pytest.mark.parametrize("limit", [1, 2, 3])
async def test_whois_server_sees_at_most_the_limit(whois_servers: World, limit: int) -> None:
    whois_servers.iana.hold_seconds = 0.1
    options = whois.Options(
        server=whois_servers.iana.host,
        port=whois_servers.net.port,
        timeout=2,
        deadline=8,
        allow_private=True,
        aliases=whois_servers.aliases,
        max_per_server=limit,
    )
    await asyncio.gather(*(whois.lookup(parse("jprs.jp"), options) for _ in range(6)))
    assert len(whois_servers.iana.queries) == 6
    assert whois_servers.iana.most == limit


async def test_rdap_server_sees_at_most_two(rdap_servers: RdapWorld) -> None:
    route = "/com/v1/domain/example.com"
    document = rdap_servers.registry.routes[route]
    rdap_servers.registry.routes[route] = Response(
        document.status, document.body, document.headers, delay=0.1
    )
    options = rdap.Options(
        bootstrap_url=rdap_servers.bootstrap.url, timeout=3, allow_private=True, cache={}
    )
    records = await asyncio.gather(*(rdap.lookup(parse("example.com"), options) for _ in range(6)))
    assert all(record.found for record in records)
    assert rdap_servers.registry.paths.count(route) == 6
    assert rdap_servers.registry.most == 2


async def test_waiting_counts_against_the_deadline_not_the_timeout(
    rdap_servers: RdapWorld, whois_servers: World
) -> None:
    """Queued behind slow answers, a lookup still ends inside its deadline with WHOIS."""
    rdap_servers.registry.routes["/com/v1/domain/example.com"] = Response(
        body=rdap_json({"objectClassName": "domain"}).body, delay=1.0
    )
    whois_servers.iana.answers["example.com"] = whois_servers.iana.answers["google.com"]
    options = registration.Options(
        rdap=rdap.Options(
            bootstrap_url=rdap_servers.bootstrap.url,
            timeout=3,
            allow_private=True,
            cache={},
            max_per_server=1,
        ),
        whois=whois.Options(
            server=whois_servers.iana.host,
            port=whois_servers.net.port,
            timeout=2,
            allow_private=True,
            aliases=whois_servers.aliases,
        ),
        deadline=2.5,
    )
    records = await asyncio.gather(
        *(registration.lookup(parse("example.com"), options) for _ in range(4))
    )
    # (The server's own count is no use here: a request cancelled at the budget is
    # closed on our side while the server's handler still sleeps out its delay.)
    # One budget of 1.5 s fits one answer of 1 s: the others fell back to WHOIS in time.
    protocols = sorted(record.protocol for record in records)
    assert protocols[0] == "RDAP" and protocols[-1] == "WHOIS"


@pytest.fixture(scope="module")
def root() -> Authority:
    return Authority()


async def test_tls_target_sees_at_most_two(root: Authority, tmp_path: Path) -> None:
    ca_file = root.write_pem(tmp_path / "ca.pem")
    with TLSServer(root.issue(NAME), hold_seconds=0.1).running() as server:
        options = tls.Options(ca_file=str(ca_file), allow_private=True, handshake_timeout=3)
        target = tls_command.parse(f"127.0.0.1:{server.port} --sni {NAME} +protocols")
        reports = await asyncio.gather(*(tls.check(target, options) for _ in range(3)))
        await tls.settle()
    assert all(report.verdict.valid for report in reports)
    assert all(report.protocols["TLS 1.2"] == "accepted" for report in reports)
    assert server.connections >= 6
    assert server.most_holding == 2


async def test_the_setting_reaches_every_command(root: Authority, tmp_path: Path) -> None:
    ca_file = root.write_pem(tmp_path / "ca.pem")
    settings: Any = Settings(tls_ca_file=str(ca_file), allow_private_targets=True, max_per_server=1)
    with TLSServer(root.issue(NAME), hold_seconds=0.05).running() as server:
        text = f"127.0.0.1:{server.port} --sni {NAME} +protocols"
        replies = await asyncio.gather(
            *(execute(COMMANDS["tls"], Invocation(text=text), settings) for _ in range(2))
        )
        await tls.settle()
    assert not any(reply.is_error for reply in replies)
    assert server.most_holding == 1
    assert registration.Options.from_settings(settings).rdap.max_per_server == 1
    assert registration.Options.from_settings(settings).whois.max_per_server == 1
