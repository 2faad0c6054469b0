from __future__ import annotations

from collections.abc import Callable

import pytest

from chatbot import hosts, slack
from chatbot.hosts import Found, find
from chatbot.reply import plain
from chatbot.settings import Settings
from tests.servers.dns import DNSServer
from tests.servers.internet import loopback_records

SettingsFactory = Callable[..., Settings]


def lines(message: str) -> list[str]:
    return [item.line for item in find(slack.normalize_text(message))]


@pytest.mark.parametrize(
    ("message", "found"),
    [
        ("is https://shop.example.com down?", ["/tls shop.example.com"]),
        ("is <https://shop.example.com/cart?x=1> down?", ["/tls shop.example.com"]),
        ("<https://shop.example.com:8443/|shop.example.com:8443/>", ["/tls shop.example.com:8443"]),
        # Slack links a bare name it takes for a domain; http:// gets TLS on 443.
        ("<http://example.com|example.com> is slow", ["/tls example.com"]),
        ("http://example.com:8080/x", ["/tls example.com"]),
        ("mail <mailto:ops@example.org|ops@example.org>", ["/dig example.org MX"]),
        ("from ops@example.org.", ["/dig example.org MX"]),
        ("ping 192.0.2.1, then 2001:db8::1!", ["/dig -x 192.0.2.1", "/dig -x 2001:db8::1"]),
        ("([example.com])", ["/tls example.com"]),
        ("bücher.example is down", ["/tls xn--bcher-kva.example"]),
        ("host example.com:8443 too", ["/tls example.com:8443"]),
        ("[2001:db8::1]:8443", ["/dig -x 2001:db8::1"]),
        # The same host once per command; at most three.
        (
            "a.example b.example a.example A.EXAMPLE c.example d.example",
            ["/tls a.example", "/tls b.example", "/tls c.example"],
        ),
    ],
)
def test_find(message: str, found: list[str]) -> None:
    assert lines(message) == found


@pytest.mark.parametrize(
    "message",
    [
        "",
        "nothing here at all",
        "e.g. this, i.e. that",
        "version v1.2 or 1.2.3.4.5 at 12:30",
        "<@U0123ABC> in <#C0123|general> <!here>",
        "ftp://files.example.com/x",
        "user@localhost and http://intranet/",
        "{0}.{1} %s.%d",
        "a" * 5000 + ".example",
        "x.\u202e.example",
    ],
)
def test_find_nothing(message: str) -> None:
    assert lines(message) == []


def test_found_shows_the_name_as_typed() -> None:
    (item,) = find("https://[2001:db8::1]:8443/")
    assert item == Found("url", item.target)
    assert (item.shown, item.line) == ("[2001:db8::1]:8443", "/tls [2001:db8::1]:8443")


async def test_check_answers_each_host_in_order(make_settings: SettingsFactory) -> None:
    # Every name on loopback, so the /tls half never leaves this machine.
    with DNSServer(records=loopback_records()).running() as dns:
        settings = make_settings(
            dns_resolvers=(dns.address,),
            target_resolvers=(dns.address,),
            command_deadline_seconds=3,
        )
        found = find("example.test nothing.test 192.0.2.10")
        reply = await hosts.check(found, settings)
    assert not reply.is_error
    assert len(reply.parts) == 3
    first, second, third = (part.text.splitlines() for part in reply.parts)
    assert first[:2] == ["*example.test*", "addresses: 127.0.0.1, ::1"]
    # Nothing serves TLS on port 443 of this machine.
    assert first[2].startswith(":warning: TLS: Could not connect to example.test:443")
    assert second == [
        "*nothing.test*",
        "addresses: does not exist (NXDOMAIN)",
        ":warning: TLS: nothing.test does not resolve to an address.",
    ]
    assert third == ["*192.0.2.10*", "name: example.test."]
    assert reply.summary == "Checked example.test, nothing.test, 192.0.2.10"
    assert "addresses: 127.0.0.1, ::1" in plain(reply)


async def test_check_of_nothing_is_a_plain_sentence(make_settings: SettingsFactory) -> None:
    reply = await hosts.check([], make_settings())
    assert not reply.is_error
    assert reply.summary == hosts.NOTHING_FOUND


async def test_a_silent_resolver_is_one_line_within_the_deadline(
    make_settings: SettingsFactory, dns_server: DNSServer
) -> None:
    settings = make_settings(command_deadline_seconds=1, dns_timeout_seconds=5)
    reply = await hosts.check(find("ops@drop.test"), settings)
    assert reply.parts[0].text == "*drop.test*\nno answer within 0.75 s"
