from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import certifi
import httpx
import pytest
import trustme

from chatbot import policy
from chatbot.errors import NotResolvable, TargetRefused
from tests.servers.dns import DNSServer
from tests.servers.receiver import Receiver
from tests.servers.threads import serving


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
        ("100.64.0.1", "carrier-grade NAT"),
        # What Python's tables got wrong, or differently per version (issue 10).
        ("192.0.0.8", "dummy"),  # allowed by 3.11 and 3.12's is_global, refused by 3.13's
        ("3fff::1", "documentation"),  # RFC 9637, allowed by every version's tables
        ("3fff:fff:ffff::1", "documentation"),
        ("203.0.113.80", "documentation"),
        ("198.18.0.1", "benchmarking"),
        ("192.0.0.170", "NAT64/DNS64 discovery"),
        ("255.255.255.255", "broadcast"),
        ("0.1.2.3", "this-network"),
        ("168.63.129.16", "cloud metadata"),  # Azure's wire server sits in public space
        ("100.100.100.200", "cloud metadata"),
        ("fd20:ce::254", "cloud metadata"),
        ("64:ff9b::a9fe:a9fe", "cloud metadata"),  # NAT64 of 169.254.169.254
        ("64:ff9b::7f00:1", "loopback"),
        ("64:ff9b:1::808:808", "local-use translation"),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"),  # Teredo client 127.0.0.1
        ("2001:0:7f00:1::1", "loopback"),  # Teredo server 127.0.0.1
        ("5f00::1", "SRv6 SID"),
        ("100::1", "discard-only"),
        ("100:0:0:1::1", "dummy"),
        ("2001:2::1", "benchmarking"),
        ("2001:db8::1", "documentation"),
        ("4000::1", "reserved"),  # outside 2000::/3: not assigned by IANA
        ("::8.8.8.8", "reserved"),  # IPv4-compatible, deprecated
        ("fec0::1", "site-local"),
    ],
)
def test_forbidden(address: str, kind: str) -> None:
    assert policy.forbidden_kind(ipaddress.ip_address(address)) == kind


def _sample(row: policy.Range) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address for which `row`, not a more specific one, is the deciding row."""
    network = row.network
    middle = network[network.num_addresses // 2]
    for candidate in (network.network_address, network.broadcast_address, middle):
        if policy.row_of(candidate) is row:
            return candidate
    raise AssertionError(f"{network} is hidden by more specific rows")


ROWS = [pytest.param(row, id=f"{row.network} {row.name}") for row in policy.RANGES]


@pytest.mark.parametrize("row", ROWS)
def test_each_row_of_the_table_decides_its_range(row: policy.Range) -> None:
    address = _sample(row)
    refused = policy.forbidden(address)
    if row.reachable:
        assert refused is None
        policy.check(str(address), address, allow_private=False)
    elif row.embeds is None:
        assert refused is not None and refused.row is row
        with pytest.raises(TargetRefused) as caught:
            policy.check(str(address), address, allow_private=False)
        assert caught.value.message == (
            f"{address} is {refused.article} {row.kind} address ({row.network}), "
            "which I may not contact."
        )


@pytest.mark.parametrize(
    ("address", "message"),
    [
        # Issue 16: this used to be called "a private address".
        ("203.0.113.80", "203.0.113.80 is a documentation address (203.0.113.0/24)"),
        ("100.64.0.1", "100.64.0.1 is a carrier-grade NAT address (100.64.0.0/10)"),
        ("0.0.0.0", "0.0.0.0 is an unspecified address (0.0.0.0/32)"),
        (
            "::ffff:127.0.0.1",
            "::ffff:127.0.0.1 is a loopback address (127.0.0.0/8 via IPv4-mapped)",
        ),
        (
            "2002:a9fe:a9fe::1",
            "2002:a9fe:a9fe::1 is a cloud metadata address (169.254.169.254/32 via 6to4)",
        ),
    ],
)
def test_refusals_name_the_range(address: str, message: str) -> None:
    with pytest.raises(TargetRefused) as caught:
        policy.check(address, ipaddress.ip_address(address), allow_private=False)
    assert caught.value.message == message + ", which I may not contact."


async def test_a_refused_name_says_what_it_resolved_to() -> None:
    with pytest.raises(TargetRefused) as caught:
        await policy.resolve_checked("localhost", allow_private=False)
    assert caught.value.message.startswith("localhost resolves to ")
    assert caught.value.message.endswith(
        (
            "a loopback address (127.0.0.0/8), which I may not contact.",
            "a loopback address (::1/128), which I may not contact.",
        )
    )


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "2001:4860:4860::8888",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",  # NAT64 of a public address
        "2002:808:808::1",  # 6to4 of a public address
        "192.0.0.9",  # IANA: globally reachable (PCP anycast)
        "192.175.48.6",  # AS112, which people do dig
        "2001:4:112::1",
        "2620:4f:8000::6",
    ],
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
    with pytest.raises(ValueError, match=r"is not an IP address|is not a port from 1 to 65535"):
        policy.Resolver.from_specs([spec], timeout=1)


@contextmanager
def _https_server(directory: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS server for localhost whose certificate only our test CA vouches for."""
    ca = trustme.CA()
    ca_file = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with serving(server):
        yield f"https://localhost:{server.server_address[1]}/", ca_file


async def test_guarded_client_trusts_what_we_choose_not_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _https_server(tmp_path) as (url, ca_file):
        # Issue 10: httpx's own transport read these although the client said trust_env=False.
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
        monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
        async with policy.guarded_client(allow_private=True, timeout=5) as client:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await client.get(url)
        async with policy.guarded_client(allow_private=True, timeout=5, ca_file=str(ca_file)) as c:
            assert (await c.get(url)).text == "ok"


async def test_guarded_client_resolves_with_the_given_resolver(receiver: Receiver) -> None:
    records = {("svc.test.", "A"): ["127.0.0.1"]}
    port = receiver.url.rsplit(":", 1)[1]
    with DNSServer(records).running() as dns:
        resolver = policy.Resolver.from_specs([dns.address], timeout=1)
        async with policy.guarded_client(allow_private=False, timeout=2, resolver=resolver) as c:
            with pytest.raises(
                TargetRefused, match=r"svc\.test resolves to 127\.0\.0\.1, a loopback"
            ):
                await c.get(f"http://svc.test:{port}/x")
        assert receiver.posts == []
        async with policy.guarded_client(allow_private=True, timeout=2, resolver=resolver) as c:
            response = await c.post(f"http://svc.test:{port}/x", json={"a": 1})
            assert response.status_code == 200
            # httpcore's errors arrive as httpx's, as with httpx's own transport.
            with pytest.raises(httpx.ConnectError):
                await c.get("http://svc.test:1/")
    assert receiver.posts == [{"a": 1}]


@pytest.mark.parametrize("ca_file", [None, "/etc/chatbot/ca.pem"])
def test_one_trust_store_for_every_tls_client(ca_file: str | None) -> None:
    """/tls, STARTTLS and the MTA-STS fetch trust, and name, the same CA bundle."""
    from chatbot.mail import mtasts, smtp
    from chatbot.tls import check

    expected = ca_file or certifi.where()
    assert policy.ca_bundle(ca_file) == expected
    assert check.Options(ca_file=ca_file).trust_store == expected
    assert smtp.Options(ca_file=ca_file).trust_store == expected
    assert mtasts.Options(ca_file=ca_file).trust_store == expected
    name = check.Options(ca_file=ca_file).store_name
    assert name == smtp.Options(ca_file=ca_file).store_name
    assert name == (f"the trust store {ca_file}" if ca_file else "the Mozilla trust store")
