"""Port-43 WHOIS (RFC 3912) with referrals, the way the `whois` command follows them.

Starts at the operator's server (trusted, IANA by default) and follows IANA's
`refer:`, a thin registry's `Registrar WHOIS Server:` and ARIN's
`ReferralServer: whois://host[:port]`; every server a referral names passes
the address policy. Bytes are capped per server, each hop has a timeout and
the whole chain a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from chatbot import policy, politeness
from chatbot.errors import (
    ChatbotError,
    Closed,
    ConnectFailed,
    ProtocolError,
    RateLimited,
    Timeout,
)
from chatbot.registration.records import (
    MAX_BYTES,
    Record,
    Target,
    When,
    network_span,
    rir_of,
    when,
)

Via = Literal["", "refer", "registrar", "referralserver"]

# Servers known to answer in something other than UTF-8 (what `whois` knows too).
CHARSETS = {
    "whois.jprs.jp": "iso-2022-jp",
    "whois.nic.ad.jp": "iso-2022-jp",
    "whois.kr": "euc-kr",
    "whois.nic.or.kr": "euc-kr",
    "whois.twnic.net.tw": "big5",
    "whois.registro.br": "iso-8859-1",
    "whois.nic.fr": "iso-8859-1",
}

_REFER = re.compile(r"^[ \t]*refer:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)
_REGISTRAR = re.compile(r"^[ \t]*Registrar WHOIS Server:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)
_REFERRAL = re.compile(r"^[ \t]*ReferralServer:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)
_RATE_LIMIT = re.compile(
    r"(?i)(quer(y|ies)|requests?|connections?|rate)\b[\w ]{0,20}\blimit\b[\w ]{0,12}\b"
    r"(exceeded|reached)|limit exceeded|too many (queries|requests|connections)"
)
_NOT_FOUND = re.compile(
    r"(?im)^\W*(no match|not found|no entries found|no data found|nothing found|no object found"
    r"|domain not found|status:\s*(free|available)|%error:101"
    r"|this query returned 0 objects|no matching record|the queried object does not exist)"
)


@dataclass(frozen=True)
class Options:
    server: str = "whois.iana.org"
    port: int = 43
    timeout: float = 4.0  # one server
    deadline: float = 8.0  # the whole referral chain
    allow_private: bool = False
    resolver: policy.Resolver = policy.SYSTEM
    max_bytes: int = MAX_BYTES
    max_hops: int = 3  # referrals followed after the first server
    max_per_server: int = politeness.DEFAULT_LIMIT
    # Hosts to treat as a well-known server (its query rewrites and charset),
    # for mirrors, proxies and test servers named by address.
    aliases: Mapping[str, str] = field(default_factory=dict)

    def known(self, server: str) -> str:
        return self.aliases.get(server, server).lower().rstrip(".")


@dataclass
class Hop:
    """One server's answer, and how it referred us onwards (if it did and we went)."""

    server: str
    port: int
    query: str
    text: str
    via: Via = ""

    def label(self, default_port: int) -> str:
        shown = f"[{self.server}]" if ":" in self.server else self.server
        return shown if self.port == default_port else f"{shown}:{self.port}"


def decode(data: bytes, server: str) -> str:
    """UTF-8, then the server's known charset, then Latin-1 (which never fails)."""
    charset = CHARSETS.get(server.lower())
    # ISO-2022-JP is 7-bit and so valid UTF-8: its escape sequences give it away.
    order = [charset, "utf-8"] if charset and b"\x1b" in data else ["utf-8", charset]
    for encoding in order:
        if encoding:
            try:
                return data.decode(encoding)
            except (UnicodeDecodeError, LookupError):
                continue
    return data.decode("latin-1")


def rewrite(server: str, target: Target) -> str:
    """The query as this server wants it (`whois` knows the same quirks)."""
    host = server.lower().rstrip(".")
    if target.kind == "domain":
        if host == "whois.jprs.jp":
            return f"{target.query}/e"  # English instead of ISO-2022-JP Japanese
        if host == "whois.denic.de":
            return f"-T dn,ace {target.query}"  # A-label answers, not only status
        if host == "whois.verisign-grs.com":
            return f"domain {target.query}"  # only the domain, not name servers like it
        return target.query
    if host == "whois.arin.net":
        return f"{'n' if target.kind == 'ip' else 'a'} + {target.query}"
    return f"AS{target.query}" if target.kind == "asn" else target.query


def _host_port(value: str) -> tuple[str, int | None] | None:
    """`host`, `host:port`, `whois://host[:port]/`, `[v6]:port`; None for other schemes."""
    if "://" in value:
        scheme, value = value.split("://", 1)
        if scheme.lower() not in ("whois", "http", "https"):
            return None  # rwhois:// speaks another protocol
    value = value.split("/", 1)[0].strip().rstrip(".")
    if not value:
        return None
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest.removeprefix(":")
    elif value.count(":") == 1:
        host, port = value.split(":")
    else:
        host, port = value, ""
    # ASCII digits only: "²" passes isdigit() and then fails int().
    if port and not (port.isascii() and port.isdigit() and len(port) <= 5):
        return None
    if port and not 0 < int(port) < 65536:
        return None
    if not re.fullmatch(r"[A-Za-z0-9.\-:_]+", host):
        return None
    return host, int(port) if port else None


def referral(text: str) -> tuple[str, int | None, Via] | None:
    """The next server to ask, as `whois` would choose it."""
    patterns: tuple[tuple[re.Pattern[str], Via], ...] = (
        (_REFER, "refer"),
        (_REGISTRAR, "registrar"),
    )
    for pattern, via in patterns:
        match = pattern.search(text)
        found = _host_port(match.group(1)) if match else None
        if found:
            return found[0], found[1], via
    # ARIN can list several; the last is the most specific.
    for value in reversed(_REFERRAL.findall(text)):
        found = _host_port(value)
        if found and value.lower().startswith("whois://"):
            return found[0], found[1], "referralserver"
    return None


async def ask(
    server: str,
    port: int,
    query: str,
    *,
    timeout: float,
    max_bytes: int,
    allow_private: bool,
    trusted: bool,
    resolver: policy.Resolver = policy.SYSTEM,
    max_per_server: int = politeness.DEFAULT_LIMIT,
) -> tuple[bytes, bool]:
    """One RFC 3912 exchange: the bytes (at most `max_bytes`) and whether there were more.

    At most `max_per_server` of these run at once against one server; the rest
    wait for a slot (inside the caller's deadline, outside this server's timeout).
    """
    async with politeness.slot(politeness.key(server), max_per_server):
        return await _exchange(
            server,
            port,
            query,
            timeout=timeout,
            max_bytes=max_bytes,
            allow_private=allow_private,
            trusted=trusted,
            resolver=resolver,
        )


async def _exchange(
    server: str,
    port: int,
    query: str,
    *,
    timeout: float,
    max_bytes: int,
    allow_private: bool,
    trusted: bool,
    resolver: policy.Resolver,
) -> tuple[bytes, bool]:
    label = server if port == 43 else f"{server}:{port}"
    if trusted:
        addresses = await policy.resolve(server, port, resolver)
    else:
        addresses = await policy.resolve_checked(
            server, port, allow_private=allow_private, resolver=resolver
        )
    failure: ChatbotError = ConnectFailed(server=label, reason="no address")
    for address in addresses[:3]:
        data = bytearray()
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(str(address), port)
                try:
                    writer.write(query.encode("utf-8") + b"\r\n")
                    await writer.drain()
                    while len(data) <= max_bytes:
                        chunk = await reader.read(65536)
                        if not chunk:
                            break
                        data += chunk
                except (ConnectionResetError, BrokenPipeError):
                    pass  # closed on us after accepting: what came is the answer, if anything
                finally:
                    writer.close()
                    with contextlib.suppress(OSError):
                        await writer.wait_closed()
        except TimeoutError as exc:
            raise Timeout(server=label, seconds=timeout) from exc
        except ConnectionResetError:
            # Refused would be ECONNREFUSED: a reset while connecting means it accepted
            # the connection, then closed it at once.
            failure = Closed(server=label)
            continue
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            failure = ConnectFailed(server=label, reason=reason)
            continue
        if not data:  # every server sends something, if only "No match"
            failure = Closed(server=label)
            continue
        return bytes(data[:max_bytes]), len(data) > max_bytes
    raise failure


MAX_LINE = 16 * 1024  # no record has a line this long; a server sending one is broken
_CONTROL = frozenset(range(32)) - {9, 10, 12, 13, 27} | {127}  # 27: ISO-2022-JP's escape


def _unreadable(data: bytes) -> str | None:
    """Why these bytes are not a WHOIS record to read, or None when they may be one."""
    head = data[:4096]
    # A NUL or two at the very end is an old server's string terminator, not binary.
    if b"\x00" in data.rstrip(b"\x00") or sum(byte in _CONTROL for byte in head) * 20 > len(head):
        return "binary data, not text"
    if max(map(len, data.splitlines()), default=0) > MAX_LINE:
        return f"a line longer than {MAX_LINE // 1024} KB"
    return None


# Reading a record this long (decoding, searching it for referrals, fields) takes
# milliseconds: a thread does it, so the event loop keeps serving others.
BIG_ANSWER = 16 * 1024

_T = TypeVar("_T")


async def _off_loop(size: int, function: Callable[..., _T], *args: Any) -> _T:
    """function(*args), in a thread when it reads `size` bytes or more."""
    if size > BIG_ANSWER:
        return await asyncio.to_thread(function, *args)
    return function(*args)


@dataclass
class _Reading:
    text: str
    unreadable: str | None
    referral: tuple[str, int | None, Via] | None


def _reading(data: bytes, known: str) -> _Reading:
    unreadable = _unreadable(data)
    if unreadable:
        return _Reading("", unreadable, None)
    text = decode(data, known)
    return _Reading(text, None, referral(text))


async def chain(target: Target, options: Options) -> tuple[list[Hop], list[str]]:
    """Ask the root and follow referrals; the hops read and notes on where it stopped."""
    hops: list[Hop] = []
    notes: list[str] = []
    server, port, trusted = options.server, options.port, True
    seen: set[tuple[str, int]] = set()
    refused: ChatbotError | None = None
    try:
        async with asyncio.timeout(options.deadline):
            for number in range(options.max_hops + 1):
                seen.add((server.lower(), port))
                query = rewrite(options.known(server), target)
                label = Hop(server, port, query, "").label(options.port)
                try:
                    data, more = await ask(
                        server,
                        port,
                        query,
                        timeout=options.timeout,
                        max_bytes=options.max_bytes,
                        allow_private=options.allow_private,
                        trusted=trusted,
                        resolver=options.resolver,
                        max_per_server=options.max_per_server,
                    )
                    reading = await _off_loop(len(data), _reading, data, options.known(server))
                    if reading.unreadable:
                        raise ProtocolError(server=label, reason=reading.unreadable)
                except ChatbotError as exc:
                    if not hops:
                        raise
                    refused = exc
                    notes.append(f"Referral from {hops[-1].server} not followed: {exc.message}")
                    hops[-1].via = ""
                    break
                text = reading.text
                # Rate-limit notices are short; long records may mention limits in their terms.
                if len(text) < 2048 and _RATE_LIMIT.search(text):
                    if not hops:
                        raise RateLimited(server=label)
                    refused = RateLimited(server=label)
                    notes.append(refused.message)
                    hops[-1].via = ""
                    break
                hops.append(Hop(server, port, query, text))
                if more:
                    notes.append(
                        f"{label} sent more than {options.max_bytes // 1024} KB; the rest was "
                        "not read."
                    )
                found = reading.referral
                if found is None:
                    break
                next_server, next_port, via = found
                next_port = next_port or options.port
                if (next_server.lower(), next_port) in seen:
                    if next_server.lower() != server.lower():
                        notes.append(f"Referral loop: {label} refers back to {next_server}.")
                    break
                if number == options.max_hops:
                    notes.append(
                        f"Stopped after {options.max_hops} referrals; {next_server} not asked."
                    )
                    break
                hops[-1].via = via
                server, port, trusted = next_server, next_port, False
    except TimeoutError as exc:
        if not hops:
            raise Timeout(server=options.server, seconds=options.deadline) from exc
        refused = Timeout(server=server, seconds=options.deadline)
        notes.append(f"Stopped at the {options.deadline:g} s deadline; {server} did not finish.")
        hops[-1].via = ""
    if refused is not None and not _usable(hops):
        raise refused
    return hops, notes


def _usable(hops: list[Hop]) -> list[Hop]:
    """Hops whose record is about the target itself.

    IANA's `refer:` answers describe the TLD or the /8, and an ARIN record that
    refers onwards is the RIR's block, so they give way to the server they name.
    A thin registry's record stays: its dates and status are authoritative.
    """
    usable = []
    for index, hop in enumerate(hops):
        followed = index + 1 < len(hops)
        if hop.via == "refer" or (hop.via == "referralserver" and followed):
            continue
        if not followed and _REFER.search(hop.text) and index == 0 and len(hops) == 1:
            continue  # IANA referred but we could not go on
        usable.append(hop)
    return usable


# --- reading key: value records ---------------------------------------------

_LINE = re.compile(
    r"^\s*(?:[a-z]\.\s*)?\[(?P<k1>[^\]]{1,40})\]\s*(?P<v1>.*)$"
    r"|^\s*(?P<k2>[A-Za-z][A-Za-z0-9 /()._-]{0,60}?)\s*:(?:\s+(?P<v2>.*)|$)"
)
_ABUSE_COMMENT = re.compile(r"(?i)abuse contact for .* is '([^']+@[^']+)'")

Fields = dict[str, list[str]]

KEYS: dict[str, tuple[str, ...]] = {
    "registrar": ("registrar", "sponsoring registrar", "registrar name"),
    "created": (
        "creation date",
        "created",
        "created on",
        "registered",
        "registered on",
        "registered date",
        "registration date",
        "registration time",
        "domain registration date",
        "connected date",
    ),
    "changed": (
        "updated date",
        "last updated",
        "last update",
        "changed",
        "last modified",
        "last-modified",
        "modified",
        "updated",
    ),
    "expires": (
        "registry expiry date",
        "registrar registration expiration date",
        "expiry date",
        "expiration date",
        "expires",
        "expires on",
        "expire date",
        "paid-till",
        "renewal date",
        "expiration time",
    ),
    "status": ("domain status", "status", "state"),
    "nameservers": ("name server", "nserver", "nameserver", "name servers", "nameservers"),
    "dnssec": ("dnssec", "signing key"),
    "registrant_org": ("registrant organization", "registrant organisation", "registrant"),
    "registrant_country": ("registrant country", "registrant country code"),
    "range": ("netrange", "inetnum", "inet6num"),
    "cidr": ("cidr",),
    "netname": ("netname", "net name"),
    "handle": ("nethandle", "aut-num", "asnumber"),
    "asname": ("asname", "as-name"),
    "orgname": ("orgname", "org-name"),
    # Not RPSL's "organisation:", which holds a handle (ORG-RIEN1-RIPE).
    "org": ("organization", "owner"),
    "descr": ("descr",),
    "organisation": ("organisation",),  # IANA's name; RPSL's handle, hence the last resort
    "country": ("country",),
    "abuse": (
        "orgabuseemail",
        "abuse-mailbox",
        "orgtechemail",
        "registrar abuse contact email",
    ),
    "source": ("source",),
}
_KEY_OF = {alias: key for key, aliases in KEYS.items() for alias in aliases}


def fields(text: str) -> Fields:
    """Known keys and their values, from `Key: value` lines, `[Key] value` (JPRS) and
    indented blocks under an empty `Key:` (Nominet and other ccTLDs)."""
    found: Fields = {}
    block: tuple[str, int] | None = None  # the key whose values follow, indented
    for line in text.splitlines():
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if block and (not stripped or indent <= block[1]):
            block = None
        if stripped.startswith(("%", "#", ">>>")):
            # Bounded: `.*` on a long line of repeated phrases would backtrack for seconds.
            abuse = _ABUSE_COMMENT.search(stripped) if len(stripped) <= 1024 else None
            if abuse:
                found.setdefault("abuse", []).append(abuse.group(1))
            continue
        match = _LINE.match(line)
        if not match:
            if block and stripped:
                found.setdefault(block[0], []).append(stripped)
            continue
        name = " ".join((match["k1"] or match["k2"]).lower().split())
        value = ((match["v1"] if match["k1"] else match["v2"]) or "").strip()
        key = _KEY_OF.get(name)
        if key:
            found.setdefault(key, []).append(value)
            if not value and match["k2"]:
                block = (key, indent)
    return found


def _first(found: Fields, key: str) -> str:
    return next((v for v in found.get(key, []) if v), "")


def _span(value: str) -> tuple[str, str, list[str]]:
    if "-" in value:
        first, last = (x.strip() for x in value.split("-", 1))
        return first, last, []
    return "", "", [value.strip()] if value.strip() else []


def _most_specific(text: str) -> Fields:
    """For IP answers listing several networks, the part about the smallest one.

    ARIN brackets each network with its organisation and abuse contact in
    `# start` ... `# end`; RPSL servers separate objects by blank lines.
    """
    sections = re.split(r"(?m)^# start\s*$", text)
    chunks = sections[1:] if len(sections) > 1 else re.split(r"\n\s*\n", text)
    best: tuple[int, Fields] | None = None
    for paragraph in chunks:
        found = fields(paragraph)
        value = _first(found, "range")
        if not value:
            continue
        start, end, cidrs = _span(value)
        try:
            if cidrs:
                size = ipaddress.ip_network(cidrs[0], strict=False).num_addresses
            else:
                size = int(ipaddress.ip_address(end)) - int(ipaddress.ip_address(start))
        except ValueError:
            continue
        if best is None or size < best[0]:
            best = (size, found)
    return best[1] if best else {}


def epp_status(code: str) -> str:
    """An EPP status as RDAP writes it (RFC 8056): clientHold -> client hold, ok -> active."""
    if code.lower() == "ok":
        return "active"
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", code).lower()


_CONNECTED = re.compile(r"(?ai)^connected\s*\((\d{4}/\d{1,2}/\d{1,2})\)")


def _connected_until(found: Fields) -> When | None:
    """JPRS's `.co.jp`-style records give no expiry line: `[State] Connected (2027/02/28)`
    says until when the domain stays connected, which is when it expires."""
    for value in found.get("status", []):
        match = _CONNECTED.match(value)
        if match:
            return when(match[1])
    return None


def summarise(target: Target, hop: Hop, known: str = "") -> Record:
    found = fields(hop.text)
    record = Record(kind=target.kind, protocol="WHOIS")
    if target.kind == "domain":
        record.name = target.query
        record.registrar = _first(found, "registrar")
        record.created = when(_first(found, "created"))
        record.changed = when(_first(found, "changed"))
        record.expires = when(_first(found, "expires")) or _connected_until(found)
        record.statuses = list(
            dict.fromkeys(epp_status(v.split()[0]) for v in found.get("status", []) if v.split())
        )
        record.nameservers = list(
            dict.fromkeys(
                v.split()[0].lower().rstrip(".") for v in found.get("nameservers", []) if v.split()
            )
        )
        if "dnssec" in found:
            value = _first(found, "dnssec").lower()
            record.dnssec = bool(value) and not value.startswith(("unsigned", "no", "inactive"))
        # JPRS's .co.jp style names the holder "Organization".
        record.registrant_org = _first(found, "registrant_org") or _first(found, "org")
        record.abuse = _first(found, "abuse")
        record.registrant_country = _first(found, "registrant_country")
        record.found = bool(record.registrar or record.created or record.nameservers) or not (
            _NOT_FOUND.search(hop.text)
        )
        return record
    specific = _most_specific(hop.text) if target.kind == "ip" else {}
    merged: Fields = {**found, **specific}
    record.handle = _first(merged, "handle")
    record.org = next(
        (_first(merged, k) for k in ("orgname", "org", "descr", "organisation") if merged.get(k)),
        "",
    )
    record.country = _first(merged, "country").upper()
    record.abuse = _first(merged, "abuse")
    record.registry = rir_of(known or hop.server) or rir_of(_first(found, "source"))
    if target.kind == "ip":
        record.name = _first(merged, "netname")
        record.start, record.end, record.cidrs = _span(_first(merged, "range"))
        cidr = _first(merged, "cidr")
        if cidr:
            record.cidrs = [c.strip() for c in cidr.split(",") if c.strip()]
        network_span(record)
        has_data = bool(record.start or record.cidrs)
    else:
        record.name = _first(merged, "asname")
        has_data = bool(record.handle or record.name)
    record.found = has_data or not _NOT_FOUND.search(hop.text)
    return record


async def lookup(target: Target, options: Options) -> Record:
    hops, notes = await chain(target, options)
    size = sum(len(hop.text) for hop in hops)
    return await _off_loop(size, _record, target, hops, notes, options)


def _record(target: Target, hops: list[Hop], notes: list[str], options: Options) -> Record:
    """The record the hops make together (CPU work on long records: run off the loop)."""
    usable = _usable(hops)
    if not usable:
        last = hops[-1]
        onward = referral(last.text)
        to_itself = onward is not None and (onward[0].lower(), onward[1] or options.port) == (
            last.server.lower(),
            last.port,
        )
        if to_itself:
            raise ProtocolError(
                "{server} refers to itself and gives no record.", server=last.label(options.port)
            )
        raise ProtocolError(server=last.label(options.port), reason="no record, only a referral")
    record = summarise(target, usable[0], options.known(usable[0].server))
    for hop in usable[1:]:
        more = summarise(target, hop, options.known(hop.server))
        if more.found and record.found:
            record.fill(more)
    record.servers = [hop.label(options.port) for hop in hops]
    record.notes = notes
    for hop in hops:
        record.raw += [f"# {hop.label(options.port)} ({hop.query})", *hop.text.splitlines(), ""]
    return record
