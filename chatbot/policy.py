"""Address policy: which addresses a user-supplied target may reach.

Checked on the address actually contacted, after resolution, so a name that
resolves to 127.0.0.1 or to a cloud metadata service is refused just like the
literal would be. Servers the operator configured are trusted and skip this.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import certifi
import httpcore
import httpx

from chatbot import targets
from chatbot.errors import NotResolvable, TargetRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Range:
    """One row of the policy: a block, what we call it in a refusal, and IANA's name for it.

    `reachable` rows are IANA special-purpose blocks marked "Globally Reachable":
    public services (AS112, AMT, anycast relays) a user may well ask about.
    `embeds` rows carry an IPv4 address inside an IPv6 one and are judged by it.
    """

    network: IPNetwork
    kind: str
    name: str
    reachable: bool = False
    embeds: Callable[[ipaddress.IPv6Address], tuple[ipaddress.IPv4Address, ...]] | None = None


def _low32(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    return (ipaddress.IPv4Address(int(address) & 0xFFFFFFFF),)


def _sixtofour(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    return (ipaddress.IPv4Address((int(address) >> 80) & 0xFFFFFFFF),)


def _teredo(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    # RFC 4380: the Teredo server's address, then the client's, stored inverted.
    bits = int(address)
    server = (bits >> 64) & 0xFFFFFFFF
    client = ~bits & 0xFFFFFFFF
    return ipaddress.IPv4Address(server), ipaddress.IPv4Address(client)


def _row(network: str, kind: str, name: str = "", **extra: Any) -> Range:
    return Range(ipaddress.ip_network(network), kind, name or kind, **extra)


# The address policy, one explicit table, the same on every Python version
# (ipaddress.is_private and is_global changed between 3.11 and 3.13). Sources:
# IANA's IPv4 and IPv6 Special-Purpose Address Registries (as of 2025-10, RFC
# 6890 and later), IANA's IPv4 multicast and IPv6 Address Space registries, and
# the cloud metadata services. The most specific row containing an address
# decides; an address in no row is public.
RANGES: tuple[Range, ...] = (
    # IPv4 Special-Purpose Address Registry
    _row("0.0.0.0/8", "this-network", '"This network"'),
    _row("0.0.0.0/32", "unspecified", '"This host on this network"'),
    _row("10.0.0.0/8", "private", "Private-Use"),
    _row("100.64.0.0/10", "carrier-grade NAT", "Shared Address Space"),
    _row("127.0.0.0/8", "loopback", "Loopback"),
    _row("169.254.0.0/16", "link-local", "Link Local"),
    _row("172.16.0.0/12", "private", "Private-Use"),
    _row("192.0.0.0/24", "IETF protocol assignment", "IETF Protocol Assignments"),
    _row("192.0.0.0/29", "IPv4 service continuity", "IPv4 Service Continuity Prefix"),
    _row("192.0.0.8/32", "dummy", "IPv4 dummy address"),
    _row("192.0.0.9/32", "anycast", "Port Control Protocol Anycast", reachable=True),
    _row("192.0.0.10/32", "anycast", "Traversal Using Relays around NAT Anycast", reachable=True),
    _row("192.0.0.170/31", "NAT64/DNS64 discovery", "NAT64/DNS64 Discovery"),
    _row("192.0.2.0/24", "documentation", "Documentation (TEST-NET-1)"),
    _row("192.31.196.0/24", "AS112", "AS112-v4", reachable=True),
    _row("192.52.193.0/24", "AMT", "AMT", reachable=True),
    _row("192.88.99.0/24", "6to4 relay anycast", "Deprecated (6to4 Relay Anycast)"),
    _row("192.88.99.2/32", "6a44 relay anycast", "6a44-relay anycast address"),
    _row("192.168.0.0/16", "private", "Private-Use"),
    _row("192.175.48.0/24", "AS112", "Direct Delegation AS112 Service", reachable=True),
    _row("198.18.0.0/15", "benchmarking", "Benchmarking"),
    _row("198.51.100.0/24", "documentation", "Documentation (TEST-NET-2)"),
    _row("203.0.113.0/24", "documentation", "Documentation (TEST-NET-3)"),
    _row("240.0.0.0/4", "reserved", "Reserved"),
    _row("255.255.255.255/32", "broadcast", "Limited Broadcast"),
    # IPv4 Multicast Address Space Registry
    _row("224.0.0.0/4", "multicast", "Multicast"),
    # IPv6 Special-Purpose Address Registry
    _row("::/128", "unspecified", "Unspecified Address"),
    _row("::1/128", "loopback", "Loopback Address"),
    _row("::ffff:0:0/96", "IPv4-mapped", "IPv4-mapped Address", embeds=_low32),
    _row("64:ff9b::/96", "NAT64", "IPv4-IPv6 Translation", embeds=_low32),
    _row("64:ff9b:1::/48", "local-use translation", "IPv4-IPv6 Translation (local use)"),
    _row("100::/64", "discard-only", "Discard-Only Address Block"),
    _row("100:0:0:1::/64", "dummy", "Dummy IPv6 Prefix"),
    _row("2001::/23", "IETF protocol assignment", "IETF Protocol Assignments"),
    _row("2001::/32", "Teredo", "TEREDO", embeds=_teredo),
    _row("2001:1::1/128", "anycast", "Port Control Protocol Anycast", reachable=True),
    _row("2001:1::2/128", "anycast", "Traversal Using Relays around NAT Anycast", reachable=True),
    _row(
        "2001:1::3/128", "anycast", "DNS-SD Service Registration Protocol Anycast", reachable=True
    ),
    _row("2001:2::/48", "benchmarking", "Benchmarking"),
    _row("2001:3::/32", "AMT", "AMT", reachable=True),
    _row("2001:4:112::/48", "AS112", "AS112-v6", reachable=True),
    _row("2001:10::/28", "ORCHID", "Deprecated (previously ORCHID)"),
    _row("2001:20::/28", "ORCHIDv2", "ORCHIDv2", reachable=True),
    _row("2001:30::/28", "DET", "Drone Remote ID Protocol Entity Tags", reachable=True),
    _row("2001:db8::/32", "documentation", "Documentation"),
    _row("2002::/16", "6to4", "6to4", embeds=_sixtofour),
    _row("2620:4f:8000::/48", "AS112", "Direct Delegation AS112 Service", reachable=True),
    _row("3fff::/20", "documentation", "Documentation"),
    _row("5f00::/16", "SRv6 SID", "Segment Routing (SRv6) SIDs"),
    _row("fc00::/7", "private", "Unique-Local"),
    _row("fe80::/10", "link-local", "Link-Local Unicast"),
    # IPv6 Address Space Registry: all but 2000::/3 is unassigned or special.
    _row("::/8", "reserved", "Reserved by IETF"),
    _row("100::/8", "reserved", "Reserved by IETF"),
    _row("200::/7", "reserved", "Reserved by IETF"),
    _row("400::/6", "reserved", "Reserved by IETF"),
    _row("800::/5", "reserved", "Reserved by IETF"),
    _row("1000::/4", "reserved", "Reserved by IETF"),
    _row("4000::/3", "reserved", "Reserved by IETF"),
    _row("6000::/3", "reserved", "Reserved by IETF"),
    _row("8000::/3", "reserved", "Reserved by IETF"),
    _row("a000::/3", "reserved", "Reserved by IETF"),
    _row("c000::/3", "reserved", "Reserved by IETF"),
    _row("e000::/4", "reserved", "Reserved by IETF"),
    _row("f000::/5", "reserved", "Reserved by IETF"),
    _row("f800::/6", "reserved", "Reserved by IETF"),
    _row("fe00::/9", "reserved", "Reserved by IETF"),
    _row("fec0::/10", "site-local", "Site-local (deprecated)"),
    _row("ff00::/8", "multicast", "Multicast"),
    # Cloud metadata services: GCP, AWS, Azure and OpenStack share the first;
    # then Alibaba, Azure's wire server (public space!), AWS and GCP over IPv6.
    _row("169.254.169.254/32", "cloud metadata", "Cloud metadata service"),
    _row("100.100.100.200/32", "cloud metadata", "Alibaba Cloud metadata service"),
    _row("168.63.129.16/32", "cloud metadata", "Azure wire server"),
    _row("fd00:ec2::254/128", "cloud metadata", "AWS metadata service (IPv6)"),
    _row("fd20:ce::254/128", "cloud metadata", "Google Cloud metadata service (IPv6)"),
)

# Most specific first, so the first row that contains an address is the one that decides.
_BY_PREFIX = sorted(RANGES, key=lambda row: row.network.prefixlen, reverse=True)


@dataclass(frozen=True)
class Forbidden:
    """Why an address may not be contacted: the row that refused it (and what embedded it)."""

    row: Range
    via: Range | None = None

    @property
    def kind(self) -> str:
        return self.row.kind

    @property
    def where(self) -> str:
        """The block, as the refusal names it: `127.0.0.0/8` or `127.0.0.0/8 via 6to4`."""
        if self.via is None:
            return str(self.row.network)
        return f"{self.row.network} via {self.via.kind}"

    @property
    def article(self) -> str:
        return "an" if self.row.kind[0].lower() in "aeiou" else "a"


def row_of(address: IPAddress) -> Range | None:
    """The most specific row of the table that contains `address`."""
    for row in _BY_PREFIX:
        if row.network.version == address.version and address in row.network:
            return row
    return None


def forbidden(address: IPAddress) -> Forbidden | None:
    """Why this address may not be contacted, or None if it may."""
    row = row_of(address)
    if row is None or row.reachable:
        return None
    if row.embeds is not None and isinstance(address, ipaddress.IPv6Address):
        # ::ffff:127.0.0.1, 6to4, NAT64 and Teredo reach the IPv4 address they carry.
        for inner in row.embeds(address):
            refused = forbidden(inner)
            if refused is not None:
                return Forbidden(refused.row, via=row)
        return None
    return Forbidden(row)


def forbidden_kind(address: IPAddress) -> str | None:
    """The kind of range that forbids this address ("loopback"), or None if it may be contacted."""
    refused = forbidden(address)
    return refused.kind if refused is not None else None


def parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def check(target: str, address: IPAddress, *, allow_private: bool) -> None:
    if allow_private:
        return
    refused = forbidden(address)
    if refused is None:
        return
    fields = {
        "target": target,
        "address": address,
        "kind": refused.kind,
        "article": refused.article,
        "network": refused.where,
    }
    # Compared as addresses: 3.13 writes ::ffff:7f00:1 as ::ffff:127.0.0.1.
    if parse_ip(target) == address:
        raise TargetRefused(
            "{target} is {article} {kind} address ({network}), which I may not contact.",
            **fields,
        )
    raise TargetRefused(
        "{target} resolves to {address}, {article} {kind} address ({network}), "
        "which I may not contact.",
        **fields,
    )


@dataclass(frozen=True)
class Resolver:
    """How a target's host name becomes addresses.

    With no nameservers, the system's resolver (getaddrinfo: /etc/hosts, then
    DNS), as before. With nameservers, they are asked directly for A and AAAA:
    tests point this at a local DNS server so no lookup leaves loopback, and an
    operator may make /tls and /whois see the same DNS as /dig.
    """

    nameservers: tuple[tuple[str, int], ...] = ()
    timeout: float = 2.0

    @classmethod
    def from_specs(cls, specs: Iterable[str], timeout: float) -> Resolver:
        """From `ip`, `ip:port` or `[v6]:port` as operators write them (checked at start)."""
        return cls(tuple(targets.server_address(spec) for spec in specs), timeout)

    async def addresses(self, host: str, port: int = 0) -> list[IPAddress]:
        if not self.nameservers:
            return await _system_addresses(host, port)
        return await self._ask(host)

    async def _ask(self, host: str) -> list[IPAddress]:
        import dns.asyncresolver
        import dns.exception
        import dns.resolver

        if host.lower().rstrip(".") == "localhost":
            # RFC 6761: localhost is loopback, whatever a resolver would say.
            return [ipaddress.ip_address("::1"), ipaddress.ip_address("127.0.0.1")]
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [address for address, _ in self.nameservers]
        resolver.port = self.nameservers[0][1]
        resolver.lifetime = self.timeout

        async def one(rdtype: str) -> list[IPAddress]:
            try:
                answer = await resolver.resolve(host, rdtype, search=False)
            except (dns.exception.DNSException, ValueError):
                return []
            return [ipaddress.ip_address(rdata.to_text()) for rdata in answer]

        found = [a for batch in await asyncio.gather(one("AAAA"), one("A")) for a in batch]
        if not found:
            raise NotResolvable(name=host)
        return list(dict.fromkeys(found))


SYSTEM = Resolver()


async def _system_addresses(host: str, port: int) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise NotResolvable(name=host) from exc
    seen: dict[IPAddress, None] = {}
    for *_, sockaddr in infos:
        address = parse_ip(str(sockaddr[0]))
        if address is not None:
            seen.setdefault(address)
    if not seen:
        raise NotResolvable(name=host)
    return list(seen)


async def resolve(host: str, port: int = 0, resolver: Resolver = SYSTEM) -> list[IPAddress]:
    """All addresses of `host` (a name or a literal), without blocking the loop."""
    literal = parse_ip(host)
    if literal is not None:
        return [literal]
    return await resolver.addresses(host, port)


async def resolve_checked(
    host: str, port: int = 0, *, allow_private: bool, resolver: Resolver = SYSTEM
) -> list[IPAddress]:
    """Addresses of `host` that may be contacted; refuses if none may."""
    addresses = await resolve(host, port, resolver)
    allowed = [a for a in addresses if allow_private or forbidden(a) is None]
    if not allowed:
        check(host, addresses[0], allow_private=allow_private)
    return allowed


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks, then connects to the checked address itself.

    httpcore keeps the URL's host name for SNI and the Host header, so TLS
    still verifies the name while the socket goes to the address we checked.
    """

    def __init__(self, allow_private: bool, resolver: Resolver) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._allow_private = allow_private
        self._resolver = resolver

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await resolve_checked(
            host, port, allow_private=self._allow_private, resolver=self._resolver
        )
        return await self._inner.connect_tcp(
            str(addresses[0]), port, timeout, local_address, socket_options
        )

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


# httpcore's errors as httpx's, most specific first, so callers catch httpx.HTTPError
# (and httpx.ConnectTimeout etc.) exactly as with httpx's own transport.
_ERRORS: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        mapped = next((ours for theirs, ours in _ERRORS if isinstance(exc, theirs)), None)
        if mapped is None:
            raise
        raise mapped(str(exc)) from exc


class _Body(httpx.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors():
            async for chunk in self._stream:
                yield chunk

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            await close()


class GuardedTransport(httpx.AsyncBaseTransport):
    """httpx's transport contract over an httpcore pool whose every connection is checked.

    Built only from public interfaces (httpcore's `network_backend` hook), and
    configured only by its arguments: no proxy, trust store or key log from the
    environment.
    """

    def __init__(self, *, allow_private: bool, resolver: Resolver, ca_file: str | None) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=trust_store(ca_file),
            network_backend=_GuardedBackend(allow_private, resolver),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx_errors():
            response = await self._pool.handle_async_request(core)
        assert isinstance(response.stream, AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


def ca_bundle(ca_file: str | None) -> str:
    """The file of trusted CAs: `ca_file` (CHATBOT_TLS_CA_FILE), else certifi's Mozilla bundle.

    The one choice behind /tls, the MTA-STS fetch, STARTTLS and the guarded client.
    """
    return ca_file or certifi.where()


def ca_bundle_name(ca_file: str | None) -> str:
    """The same trust store as a verdict names it."""
    return f"the trust store {ca_file}" if ca_file else "the Mozilla trust store"


def trust_store(ca_file: str | None = None) -> ssl.SSLContext:
    """A verifying TLS client context trusting exactly `ca_bundle(ca_file)`.

    Made by hand rather than with ssl.create_default_context, which would read
    SSLKEYLOGFILE (and, without a file, SSL_CERT_FILE) from the environment.
    Cached per file and modification time: loading a bundle costs tens of ms.
    """
    path = ca_bundle(ca_file)
    return _trust_store(path, os.stat(path).st_mtime)


@lru_cache(maxsize=8)
def _trust_store(path: str, mtime: float) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and the host name
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cafile=path)
    return context


def guarded_client(
    *,
    allow_private: bool,
    timeout: float,
    resolver: Resolver = SYSTEM,
    ca_file: str | None = None,
    **kwargs: Any,
) -> httpx.AsyncClient:
    """An httpx client whose every connection, redirects included, obeys the policy."""
    transport = GuardedTransport(allow_private=allow_private, resolver=resolver, ca_file=ca_file)
    return httpx.AsyncClient(transport=transport, timeout=timeout, trust_env=False, **kwargs)
