"""DNS queries the way BIND's dig makes them: one question, the whole response.

The network core of /dig: takes its servers, port, timeout and address policy
as arguments (`Options`), knows nothing of Slack, settings or the web.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from dataclasses import dataclass, field

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rdatatype

from chatbot import policy, targets
from chatbot.errors import Closed, ConnectFailed, ProtocolError, Timeout, UsageError

log = logging.getLogger(__name__)

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
    """`ip`, `ip:port` or `[ipv6]:port`, as operators write resolvers (ValueError if not)."""
    address, port = targets.server_address(spec)
    return Server(address=address, port=port)


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


# Parsing a message this big takes milliseconds (a hostile 64 KB answer of tiny
# records, tens of them): a thread does it, so the event loop keeps serving others.
BIG_MESSAGE = 4096


class _NotTheAnswer(Exception):
    """A well-formed message that does not answer our query (another ID or question)."""


async def _read(wire: bytes, message: dns.message.Message) -> dns.message.Message:
    if len(wire) > BIG_MESSAGE:
        response = await asyncio.to_thread(dns.message.from_wire, wire)
    else:
        response = dns.message.from_wire(wire)
    if not message.is_response(response):
        raise _NotTheAnswer()
    return response


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.arrived: asyncio.Queue[bytes | Exception] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.arrived.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        self.arrived.put_nowait(exc)  # ICMP port unreachable: "Connection refused"


async def _udp(message: dns.message.Message, server: Server) -> dns.message.Message:
    """One datagram each way on a connected socket: the kernel drops other senders'."""
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in server.address else socket.AF_INET
    transport, protocol = await loop.create_datagram_endpoint(
        _Datagrams, remote_addr=(server.address, server.port), family=family
    )
    try:
        transport.sendto(message.to_wire())
        arrived = await protocol.arrived.get()
        if isinstance(arrived, Exception):
            raise arrived
        return await _read(arrived, message)
    finally:
        transport.close()


async def _tcp(message: dns.message.Message, server: Server) -> dns.message.Message:
    """RFC 7766: a two-byte length, then the message, each way."""
    reader, writer = await asyncio.open_connection(server.address, server.port)
    try:
        wire = message.to_wire()
        writer.write(struct.pack("!H", len(wire)) + wire)
        await writer.drain()
        (length,) = struct.unpack("!H", await reader.readexactly(2))
        return await _read(await reader.readexactly(length), message)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _exchange(
    message: dns.message.Message, server: Server, tcp: bool
) -> tuple[dns.message.Message, bool]:
    """The response and whether TCP carried it: UDP first unless `tcp`, TCP when truncated."""
    if not tcp:
        response = await _udp(message, server)
        if not response.flags & dns.flags.TC:
            return response, False
    return await _tcp(message, server), True


async def ask(
    query: Query, rdtype: dns.rdatatype.RdataType, servers: tuple[Server, ...], timeout: float
) -> Answer:
    message = dns.message.make_query(query.name, rdtype, want_dnssec=query.dnssec)
    message.flags |= dns.flags.AD  # ask for the validation result, as dig does
    errors: list[str] = []
    for server in servers:
        exchange = await send(message, server, timeout, tcp=query.tcp)
        if exchange.response is None:
            errors.append(exchange.error or "")
            continue
        return Answer(
            rdtype,
            server,
            exchange.response,
            milliseconds=exchange.milliseconds,
            used_tcp=exchange.used_tcp,
            tried=errors,
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
    """Send `message` as it is (flags and EDNS set by the caller); never raises for the network.

    Whatever one server sends back is that server's problem, told in one sentence, so
    the caller can ask the next one.
    """
    started = time.perf_counter()
    exchange = Exchange(server)
    try:
        # One timeout for the whole question, UDP and any TCP retry together: a
        # server dripping one byte a second gets `timeout`, not twice that.
        async with asyncio.timeout(timeout):
            exchange.response, exchange.used_tcp = await _exchange(message, server, tcp)
    except TimeoutError:
        exchange.error = Timeout(server=server, seconds=timeout).message
        exchange.timed_out = True
    except (EOFError, ConnectionResetError, BrokenPipeError):
        # It accepted the connection: a reset (closed with our question unread) or an
        # early end (asyncio.IncompleteReadError) is a close, not a failure to connect.
        exchange.error = Closed(server=server).message
    except OSError as exc:
        exchange.error = ConnectFailed(server=server, reason=exc.strerror or str(exc)).message
    except _NotTheAnswer:
        reason = "an answer to another query (its ID or question differ)"
        exchange.error = ProtocolError(server=server, reason=reason).message
    except dns.exception.DNSException:
        exchange.error = ProtocolError(server=server, reason="a malformed DNS message").message
    except Exception:
        # dnspython's wire parser raises more than DNSException on hostile bytes.
        log.warning("unreadable DNS answer from %s", server, exc_info=True)
        exchange.error = ProtocolError(server=server, reason="a malformed DNS message").message
    exchange.milliseconds = (time.perf_counter() - started) * 1000
    return exchange
