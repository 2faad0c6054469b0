"""DNS queries the way BIND's dig makes them: one question, the whole response.

The network core of /dig: takes its servers, port, timeout and address policy
as arguments (`Options`), knows nothing of Slack, settings or the web.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rdatatype

from chatbot import policy, targets
from chatbot.errors import ConnectFailed, ProtocolError, Timeout, UsageError

# Types a user may ask for. Meta types (ANY, AXFR, IXFR) are left out on
# purpose: public resolvers refuse or minimise them.
TYPES = frozenset(
    [
        "A",
        "AAAA",
        "MX",
        "TXT",
        "NS",
        "CNAME",
        "SOA",
        "CAA",
        "PTR",
        "SRV",
        "DS",
        "DNSKEY",
        "HTTPS",
        "SVCB",
        "TLSA",
        "NAPTR",
        "SSHFP",
        "CDS",
        "CDNSKEY",
        "RRSIG",
        "NSEC",
        "NSEC3PARAM",
        "URI",
        "LOC",
        "DNAME",
    ]
)


@dataclass(frozen=True)
class Server:
    """Where a query goes: the address contacted and how the user named it."""

    address: str
    port: int = 53
    label: str = ""

    def __str__(self) -> str:
        shown = f"[{self.address}]" if ":" in self.address else self.address
        name = f"{self.label} " if self.label and self.label != self.address else ""
        return f"{name}{shown}" + (f"#{self.port}" if self.port != 53 else "")


def parse_server(spec: str) -> Server:
    """`ip`, `ip:port` or `[ipv6]:port`, as operators write resolvers."""
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        port = rest.removeprefix(":") or "53"
    elif spec.count(":") == 1:
        host, port = spec.split(":")
    else:
        host, port = spec, "53"
    if policy.parse_ip(host) is None or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"not a resolver address: {spec!r}")
    return Server(address=host, port=int(port))


@dataclass(frozen=True)
class Options:
    resolvers: tuple[Server, ...]
    timeout: float = 2.0
    allow_private: bool = False
    resolver: policy.Resolver = policy.SYSTEM


@dataclass(frozen=True)
class Query:
    name: dns.name.Name
    shown: str  # the name as the user should read it (U-label and A-label for IDNs)
    types: tuple[dns.rdatatype.RdataType, ...]
    server: str | None = None
    port: int | None = None
    short: bool = False
    tcp: bool = False
    dnssec: bool = False


def to_name(text: str) -> tuple[dns.name.Name, str]:
    """A DNS name from user text (a name, URL, mail address or host:port: see
    chatbot.targets), IDNA 2008 for non-ASCII; and how to show it."""
    text = text.strip()
    if text in ("", "."):
        return dns.name.root, "."
    host = targets.parse(text, wildcard=True).host
    if host.address is not None:
        raise UsageError(
            "{address} is an IP address; for its name, use -x {address}.", address=host.name
        )
    try:
        return dns.name.from_text(host.name), host.shown
    except dns.exception.DNSException as exc:  # targets checked lengths and labels already
        raise UsageError("{text} is not a valid DNS name.", text=host.shown) from exc


@dataclass
class Answer:
    """The outcome of asking one type: a response, or the one sentence why not."""

    rdtype: dns.rdatatype.RdataType
    server: Server
    response: dns.message.Message | None = None
    error: str | None = None
    milliseconds: float = 0.0
    used_tcp: bool = False
    tried: list[str] = field(default_factory=list)


async def servers_for(query: Query, options: Options) -> tuple[Server, ...]:
    """The user's @server (checked against the address policy) or the configured resolvers."""
    if query.server is None:
        # A port applies only to the user's own server (parse refuses -p without it).
        return options.resolvers
    # parse() made the server an A-label name or an address (chatbot.targets).
    addresses = await policy.resolve_checked(
        query.server, allow_private=options.allow_private, resolver=options.resolver
    )
    return (Server(str(addresses[0]), query.port or 53, query.server),)


async def ask(
    query: Query, rdtype: dns.rdatatype.RdataType, servers: tuple[Server, ...], timeout: float
) -> Answer:
    message = dns.message.make_query(query.name, rdtype, want_dnssec=query.dnssec)
    message.flags |= dns.flags.AD  # ask for the validation result, as dig does
    errors: list[str] = []
    for server in servers:
        started = time.perf_counter()
        try:
            if query.tcp:
                response = await dns.asyncquery.tcp(message, server.address, timeout, server.port)
                used_tcp = True
            else:
                response, used_tcp = await dns.asyncquery.udp_with_fallback(
                    message, server.address, timeout, server.port
                )
        except dns.exception.Timeout:
            errors.append(Timeout(server=server, seconds=timeout).message)
            continue
        except EOFError:
            errors.append(ConnectFailed(server=server, reason="it closed the connection").message)
            continue
        except OSError as exc:
            errors.append(ConnectFailed(server=server, reason=exc.strerror or str(exc)).message)
            continue
        except dns.exception.DNSException as exc:
            errors.append(ProtocolError(server=server, reason=str(exc)).message)
            continue
        elapsed = (time.perf_counter() - started) * 1000
        return Answer(
            rdtype, server, response, milliseconds=elapsed, used_tcp=used_tcp, tried=errors
        )
    return Answer(rdtype, servers[-1], error=" ".join(errors), tried=errors)


async def lookup(query: Query, options: Options) -> list[Answer]:
    servers = await servers_for(query, options)
    return list(
        await asyncio.gather(*(ask(query, t, servers, options.timeout) for t in query.types))
    )
