"""DNS lookups the way BIND's dig does them: one query, the whole response.

Knows nothing of Slack: `parse` reads dig-style arguments, `lookup` asks the
servers it is given, `render` turns responses into a neutral `Reply`.
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
import dns.rcode
import dns.rdatatype
import dns.reversename
import idna

from chatbot import arguments, policy
from chatbot.errors import ConnectFailed, ProtocolError, Timeout, UsageError
from chatbot.reply import Part, Reply, code, context, text
from chatbot.settings import Settings

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

    @classmethod
    def from_settings(cls, settings: Settings) -> Options:
        return cls(
            resolvers=tuple(parse_server(s) for s in settings.dns_resolvers),
            timeout=settings.dns_timeout_seconds,
            allow_private=settings.allow_private_targets,
        )


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
            raise UsageError(f"{text} is not a valid DNS name.") from exc
    try:
        ascii_name = idna.encode(text.rstrip("."), uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise UsageError(f"{text} is not a valid internationalised name ({exc}).") from exc
    unicode_name = idna.decode(ascii_name)
    return dns.name.from_text(ascii_name), f"{unicode_name} ({ascii_name})"


def parse(text: str) -> Query:
    """dig-style arguments in any order; see the usage text for the grammar."""
    names: list[str] = []
    types: list[dns.rdatatype.RdataType] = []
    server: str | None = None
    port: int | None = None
    reverse: str | None = None
    flags = {"short": False, "tcp": False, "dnssec": False}
    words = iter(arguments.split(text))
    for word in words:
        upper = word.upper()
        if word.startswith("@") and len(word) > 1:
            server = word[1:]
        elif word in ("-p", "-x", "-t"):
            value = next(words, None)
            if value is None:
                raise UsageError(f"{word} needs a value.")
            if word == "-p":
                if not value.isdigit() or not 0 < int(value) < 65536:
                    raise UsageError(f"{value} is not a port number.")
                port = int(value)
            elif word == "-x":
                reverse = value
            elif value.upper() in TYPES:
                types.append(dns.rdatatype.from_text(value.upper()))
            else:
                raise UsageError(f"{value} is not a record type I can look up.")
        elif word.startswith("+"):
            option = word[1:].lower()
            if option not in flags:
                raise UsageError(f"{word} is not an option I know (try +short, +tcp, +dnssec).")
            flags[option] = True
        elif word.startswith("-"):
            raise UsageError(f"{word} is not an option I know.")
        elif upper in TYPES:
            types.append(dns.rdatatype.from_text(upper))
        else:
            names.append(word)
    if reverse is not None:
        if names:
            raise UsageError("Give either a name or -x address, not both.")
        address = policy.parse_ip(reverse)
        if address is None:
            raise UsageError(f"{reverse} is not an IP address.")
        name = dns.reversename.from_address(str(address))
        shown = f"{reverse} ({name.to_text(omit_final_dot=True)})"
        types = types or [dns.rdatatype.PTR]
    elif len(names) != 1:
        raise UsageError(
            "Give one name to look up."
            if not names
            else f"Give one name to look up, not {len(names)} ({', '.join(names)})."
        )
    else:
        name, shown = to_name(names[0])
    unique = tuple(dict.fromkeys(types or [dns.rdatatype.A]))
    return Query(name=name, shown=shown, types=unique, server=server, port=port, **flags)


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
    addresses = await policy.resolve_checked(host, allow_private=options.allow_private)
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


_RCODE_SENTENCES = {
    dns.rcode.NXDOMAIN: "{name} does not exist (NXDOMAIN).",
    dns.rcode.SERVFAIL: "The server could not get an answer (SERVFAIL); often a broken DNSSEC "
    "chain or unreachable authoritative servers.",
    dns.rcode.REFUSED: "The server refused to answer (REFUSED); it may not serve recursion to us.",
}


def _sentence(query: Query, answer: Answer) -> str | None:
    assert answer.response is not None
    rcode = answer.response.rcode()
    type_name = dns.rdatatype.to_text(answer.rdtype)
    if rcode in _RCODE_SENTENCES:
        return _RCODE_SENTENCES[rcode].format(name=query.shown)
    if rcode != dns.rcode.NOERROR:
        return f"The server answered {dns.rcode.to_text(rcode)}."
    if not answer.response.answer:
        return f"{query.shown} exists but has no {type_name} records (NODATA)."
    return None


def _zone_lines(rrsets: list[dns.rrset.RRset]) -> list[str]:
    return [line for rrset in rrsets for line in rrset.to_text().splitlines()]


def _render_one(query: Query, answer: Answer) -> list[Part]:
    type_name = dns.rdatatype.to_text(answer.rdtype)
    if answer.response is None:
        return [text(f"*{query.shown}* {type_name}: {answer.error}")]
    response = answer.response
    status = dns.rcode.to_text(response.rcode())
    if query.short:
        data = [rdata.to_text() for rrset in response.answer for rdata in rrset]
        sentence = _sentence(query, answer)
        return [code(data, unit="records")] if data else [text(sentence or "(no records)")]
    flags = dns.flags.to_text(response.flags).lower()
    via = "TCP" if answer.used_tcp else "UDP"
    parts = [
        text(f"*{query.shown}* {type_name} · {status} · {answer.milliseconds:.0f} ms"),
        context(f"server {answer.server} ({via}) · flags: {flags}"),
    ]
    sentence = _sentence(query, answer)
    if sentence:
        parts.append(text(sentence))
    if response.answer:
        parts.append(code([";; ANSWER SECTION:", *_zone_lines(response.answer)], unit="records"))
    elif response.authority:
        parts.append(
            code([";; AUTHORITY SECTION:", *_zone_lines(response.authority)], unit="records")
        )
    return parts


def render(query: Query, answers: list[Answer]) -> Reply:
    parts = [part for answer in answers for part in _render_one(query, answer)]
    failed = [a for a in answers if a.response is None]
    types = " ".join(dns.rdatatype.to_text(a.rdtype) for a in answers)
    if len(failed) == len(answers):
        return Reply(
            summary=f"{query.shown} {types}: {failed[0].error}", parts=tuple(parts), is_error=True
        )
    statuses = ", ".join(
        dns.rcode.to_text(a.response.rcode()) for a in answers if a.response is not None
    )
    return Reply(summary=f"{query.shown} {types}: {statuses}", parts=tuple(parts))


async def run(arguments: str, options: Options) -> Reply:
    query = parse(arguments)
    return render(query, await lookup(query, options))
