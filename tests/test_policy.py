from __future__ import annotations

import ipaddress

import httpx
import pytest

from chatbot import policy
from chatbot.errors import NotResolvable, TargetRefused
from tests.servers.dns import DNSServer
from tests.servers.receiver import Receiver


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("2002:7f00:1::1", "loopback"),  # 6to4 wrapping 127.0.0.1
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "non-public"),
    ],
)
def test_forbidden(address: str, kind: str) -> None:
    assert policy.forbidden_kind(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8"]
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert policy.forbidden_kind(ipaddress.ip_address(address)) is None
    policy.check(address, ipaddress.ip_address(address), allow_private=False)


def test_configuration_lifts_the_policy() -> None:
    policy.check("x", ipaddress.ip_address("127.0.0.1"), allow_private=True)


async def test_names_are_checked_after_resolution() -> None:
    with pytest.raises(TargetRefused, match=r"localhost resolves to .*loopback"):
        await policy.resolve_checked("localhost", allow_private=False)
    assert await policy.resolve_checked("localhost", allow_private=True)


async def test_unresolvable_names() -> None:
    with pytest.raises(NotResolvable):
        await policy.resolve("no-such-host.invalid")


async def test_guarded_client_refuses_private_targets(receiver: Receiver) -> None:
    async with policy.guarded_client(allow_private=False, timeout=2) as client:
        with pytest.raises(TargetRefused):
            await client.get(receiver.url + "/x")
    assert receiver.posts == [] and receiver.paths == []


async def test_guarded_client_reaches_allowed_targets(receiver: Receiver) -> None:
    async with policy.guarded_client(allow_private=True, timeout=2) as client:
        response = await client.post(receiver.url + "/x", json={"a": 1})
    assert response.status_code == 200
    assert receiver.posts == [{"a": 1}]


async def test_guarded_client_connects_to_the_checked_address() -> None:
    async with policy.guarded_client(allow_private=False, timeout=2) as client:
        with pytest.raises(TargetRefused, match=r"169\.254\.169\.254"):
            await client.get("http://169.254.169.254/latest/meta-data/")
        with pytest.raises(TargetRefused):
            await client.get("http://[::ffff:127.0.0.1]:1/")
    with pytest.raises(httpx.ConnectError):
        async with policy.guarded_client(allow_private=True, timeout=1) as client:
            await client.get("http://127.0.0.1:1/")


async def test_resolver_with_nameservers_asks_them(dns_server: DNSServer) -> None:
    resolver = policy.Resolver.from_specs([dns_server.address], timeout=1)
    found = await policy.resolve("example.test", resolver=resolver)
    assert {str(a) for a in found} == {"192.0.2.10", "2001:db8::10"}
    assert {(name, rdtype) for _, name, rdtype in dns_server.queries} == {
        ("example.test.", "A"),
        ("example.test.", "AAAA"),
    }
    with pytest.raises(NotResolvable):
        await policy.resolve("nothing.test", resolver=resolver)
    # RFC 6761: never asked, always loopback, and so refused by the policy.
    assert await policy.resolve("localhost", resolver=resolver) == [
        ipaddress.ip_address("::1"),
        ipaddress.ip_address("127.0.0.1"),
    ]
    with pytest.raises(TargetRefused):
        await policy.resolve_checked("localhost", allow_private=False, resolver=resolver)


@pytest.mark.parametrize("spec", ["dns.google", "127.0.0.1:x", "[::1]:\uff15\uff13", ""])
def test_resolver_specs_are_addresses(spec: str) -> None:
    with pytest.raises(ValueError, match="not a resolver address"):
        policy.Resolver.from_specs([spec], timeout=1)
