"""DNS queries the way BIND's dig makes them: one question, the whole response.

The network core of /dig: takes its servers, port, timeout and address policy
as arguments (`Options`), knows nothing of Slack, settings or the web.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rdatatype
import idna

from chatbot import policy
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
    # /dig in depth (+trace, +validate, +compare): at most one is set.
    trace: bool = False
    validate: bool = False
    compare: bool = False


def to_name(text: str) -> tuple[dns.name.Name, str]:
    """A DNS name from user text, IDNA 2008 for non-ASCII; and how to show it."""
    text = text.strip()
    if "://" in text:  # a link (Slack adds the scheme to bare names): its host
        text = urlsplit(text).hostname or ""
    if "@" in text:  # a mail address: the domain is what can be looked up
        text = text.rsplit("@", 1)[1]
    if text in ("", "."):
        return dns.name.root, "."
    if text.isascii():
        try:
            return dns.name.from_text(text), text.rstrip(".")
        except dns.exception.DNSException as exc:
            raise UsageError("{text} is not a valid DNS name.", text=text) from exc
    try:
        ascii_name = idna.encode(text.rstrip("."), uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise UsageError(
            "{text} is not a valid internationalised name ({exc}).", text=text, exc=exc
        ) from exc
    unicode_name = idna.decode(ascii_name)
    return dns.name.from_text(ascii_name), f"{unicode_name} ({ascii_name})"


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
        if query.port is None:
            return options.resolvers
        return tuple(Server(s.address, query.port) for s in options.resolvers)
    host = query.server.strip("[]")
    label = host
    if policy.parse_ip(host) is None:
        host = to_name(host)[0].to_text(omit_final_dot=True)
    addresses = await policy.resolve_checked(
        host, allow_private=options.allow_private, resolver=options.resolver
    )
    return (Server(str(addresses[0]), query.port or 53, label),)


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


@dataclass
class Exchange:
    """One message sent to one server and what came back, for the trace, validation and compare."""

    server: Server
    response: dns.message.Message | None = None
    error: str | None = None
    timed_out: bool = False
    milliseconds: float = 0.0
    used_tcp: bool = False


async def send(
    message: dns.message.Message, server: Server, timeout: float, *, tcp: bool = False
) -> Exchange:
    """Send `message` as it is (flags and EDNS set by the caller); never raises for the network."""
    started = time.perf_counter()
    exchange = Exchange(server)
    try:
        if tcp:
            exchange.response = await dns.asyncquery.tcp(
                message, server.address, timeout, server.port
            )
            exchange.used_tcp = True
        else:
            exchange.response, exchange.used_tcp = await dns.asyncquery.udp_with_fallback(
                message, server.address, timeout, server.port
            )
    except dns.exception.Timeout:
        exchange.error = Timeout(server=server, seconds=timeout).message
        exchange.timed_out = True
    except EOFError:
        exchange.error = ConnectFailed(server=server, reason="it closed the connection").message
    except OSError as exc:
        exchange.error = ConnectFailed(server=server, reason=exc.strerror or str(exc)).message
    except dns.exception.DNSException as exc:
        exchange.error = ProtocolError(server=server, reason=str(exc)).message
    exchange.milliseconds = (time.perf_counter() - started) * 1000
    return exchange
