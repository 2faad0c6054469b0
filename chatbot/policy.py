"""Address policy: which addresses a user-supplied target may reach.

Checked on the address actually contacted, after resolution, so a name that
resolves to 127.0.0.1 or to a cloud metadata service is refused just like the
literal would be. Servers the operator configured are trusted and skip this.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from chatbot.errors import NotResolvable, TargetRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata endpoints: AWS/GCP/Azure/OpenStack, AWS over IPv6, Alibaba,
# Azure's wire server. Most are also link-local, but naming them keeps the
# rule true if Python's idea of "link-local" ever changes.
METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "168.63.129.16")
)


def parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def forbidden_kind(address: IPAddress) -> str | None:
    """Why this address may not be contacted, or None if it may."""
    if isinstance(address, ipaddress.IPv6Address):
        # ::ffff:127.0.0.1 and friends reach the IPv4 address they embed.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return forbidden_kind(embedded)
    checks = (
        (address in METADATA, "cloud metadata"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (address.is_unspecified, "unspecified"),
        (address.is_reserved, "reserved"),
        (address.is_private, "private"),
        (not address.is_global, "non-public"),
    )
    return next((kind for hit, kind in checks if hit), None)


def check(target: str, address: IPAddress, *, allow_private: bool) -> None:
    if allow_private:
        return
    kind = forbidden_kind(address)
    if kind is not None:
        if target.strip("[]") == str(address):
            raise TargetRefused(TargetRefused.literal, target=target, address=address, kind=kind)
        raise TargetRefused(target=target, address=address, kind=kind)


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
        servers = []
        for spec in specs:
            if spec.startswith("["):
                host, _, rest = spec[1:].partition("]")
                port = rest.removeprefix(":") or "53"
            elif spec.count(":") == 1:
                host, port = spec.split(":")
            else:
                host, port = spec, "53"
            if parse_ip(host) is None or not (port.isascii() and port.isdigit()):
                raise ValueError(f"not a resolver address: {spec!r}")
            servers.append((host, int(port)))
        return cls(tuple(servers), timeout)

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
    allowed = [a for a in addresses if allow_private or forbidden_kind(a) is None]
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


def guarded_client(
    *, allow_private: bool, timeout: float, resolver: Resolver = SYSTEM, **kwargs: Any
) -> httpx.AsyncClient:
    """An httpx client whose every connection, redirects included, obeys the policy."""
    transport = httpx.AsyncHTTPTransport(**kwargs.pop("transport_options", {}))
    # httpx has no public hook for the network backend; the pool it builds is
    # replaced by an identical one that connects through the guard.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=transport._pool._ssl_context,
        network_backend=_GuardedBackend(allow_private, resolver),
    )
    return httpx.AsyncClient(transport=transport, timeout=timeout, trust_env=False, **kwargs)
