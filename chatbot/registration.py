"""Registration data for domains, IP networks and AS numbers, whichever protocol answers.

`parse` turns what the user typed into a `Target`; `rdap` and `whois` each fill
a protocol-neutral `Record`; `render` makes the one `Reply` a user reads, the
same whether RDAP or port-43 WHOIS answered. `run` asks RDAP first and falls
back to WHOIS where RDAP has no service or fails.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

import idna

from chatbot import policy
from chatbot.errors import ChatbotError, Timeout, UsageError
from chatbot.reply import Part, Reply, code, context, text

if TYPE_CHECKING:
    from publicsuffixlist import PublicSuffixList

    from chatbot import rdap, whois
    from chatbot.settings import Settings

Kind = Literal["domain", "ip", "asn"]

EXPIRY_WARNING_DAYS = 30
MAX_BYTES = 256 * 1024  # read from any one server
RAW_LINES = 400  # a raw record longer than this is not worth a chat message


@dataclass(frozen=True)
class Target:
    kind: Kind
    query: str  # what registries are asked: A-label domain, address or CIDR, AS number digits
    shown: str  # how the user should read it
    raw: bool = False


@dataclass(frozen=True)
class When:
    """A date as a registry wrote it, and the day it means when we could read it."""

    text: str
    day: date | None

    def __str__(self) -> str:
        return self.day.isoformat() if self.day else self.text


@dataclass
class Record:
    """What one registry (and the registrar it pointed to) says, protocol aside."""

    kind: Kind
    protocol: str  # "RDAP" or "WHOIS"
    servers: list[str] = field(default_factory=list)  # in the order they answered
    found: bool = True
    name: str = ""
    handle: str = ""
    registrar: str = ""
    created: When | None = None
    changed: When | None = None
    expires: When | None = None
    statuses: list[str] = field(default_factory=list)
    nameservers: list[str] = field(default_factory=list)
    dnssec: bool | None = None
    registrant_org: str = ""
    registrant_country: str = ""
    start: str = ""  # first and last address of an IP network
    end: str = ""
    cidrs: list[str] = field(default_factory=list)
    org: str = ""
    country: str = ""
    registry: str = ""
    abuse: str = ""
    notes: list[str] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)

    @property
    def source(self) -> str:
        return f"{self.protocol} " + " → ".join(self.servers)

    def fill(self, other: Record) -> None:
        """Take from `other` what this record leaves empty (a registrar under a thin registry)."""
        for name in self.__dataclass_fields__:
            if name in ("kind", "protocol", "servers", "found", "notes", "raw"):
                continue
            if getattr(self, name) in (None, "", []) and getattr(other, name) not in (None, "", []):
                setattr(self, name, getattr(other, name))


# --- input ------------------------------------------------------------------

_ASN = re.compile(r"(?i)^(?:as)?(\d{1,10})$")


@lru_cache(maxsize=1)
def _suffixes() -> PublicSuffixList:
    from publicsuffixlist import PublicSuffixList

    # ICANN section only: registries know github.io, not user.github.io.
    return PublicSuffixList(only_icann=True)


def _domain(word: str, raw: bool) -> Target:
    name = word.strip().rstrip(".")
    if "@" in name:  # a mail address: its domain is what is registered
        name = name.rsplit("@", 1)[1]
    if "://" in name:  # a pasted URL
        name = name.split("://", 1)[1]
    name = re.split(r"[/?#]", name, maxsplit=1)[0]
    if re.fullmatch(r".+:\d+", name):
        name = name.rsplit(":", 1)[0]
    if name.isascii():
        # Host labels such as _dmarc are fine: only the registrable part must be a name.
        ascii_name = name.lower()
    else:
        try:
            ascii_name = idna.encode(name, uts46=True).decode("ascii").lower()
        except (idna.IDNAError, UnicodeError) as exc:
            raise UsageError(f"{word} is not a domain name, address or AS number.") from exc
    if "." not in ascii_name.strip("."):
        raise UsageError(f"{word} is not a domain name, address or AS number.")
    registrable = _suffixes().privatesuffix(ascii_name)
    if registrable is None:
        raise UsageError(f"{ascii_name} is a public suffix; give a domain registered under it.")
    if registrable.rsplit(".", 1)[-1].isdigit():
        raise UsageError(f"{word} is not a domain name, address or AS number.")
    try:
        idna.encode(registrable)  # IDNA 2008: also rejects "exa_mple.com" and friends
    except (idna.IDNAError, UnicodeError) as exc:
        raise UsageError(f"{word} is not a domain name, address or AS number.") from exc
    unicode_name = idna.decode(registrable)
    shown = registrable if unicode_name == registrable else f"{unicode_name} ({registrable})"
    return Target("domain", registrable, shown, raw)


def parse(arguments: str) -> Target:
    """One target (domain, host, mail address, URL, address, CIDR or AS number) and `+raw`."""
    words = arguments.split()
    raw = False
    targets: list[str] = []
    for word in words:
        if word.startswith("+"):
            if word.lower() != "+raw":
                raise UsageError(f"{word} is not an option I know (try +raw).")
            raw = True
        else:
            targets.append(word)
    if len(targets) != 1:
        raise UsageError(
            "Give one domain, address or AS number."
            if not targets
            else f"Give one domain, address or AS number, not {len(targets)}."
        )
    word = targets[0]
    asn = _ASN.match(word)
    if asn:
        number = int(asn.group(1))
        if number >= 2**32:
            raise UsageError(f"{word} is not an AS number (they end at 4294967295).")
        return Target("asn", str(number), f"AS{number}", raw)
    address = policy.parse_ip(word)
    if address is not None:
        return Target("ip", str(address), str(address), raw)
    if re.fullmatch(r"[0-9A-Fa-f:.]+/\d{1,3}", word):
        try:
            network = ipaddress.ip_network(word, strict=False)
        except ValueError as exc:
            raise UsageError(f"{word} is not an address block.") from exc
        return Target("ip", str(network), str(network), raw)
    return _domain(word, raw)


# --- reading what registries wrote -------------------------------------------

_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}


def when(value: str) -> When | None:
    """A registry's date in any of the usual spellings (ISO 8601, 2001/01/15, 14-Sep-2028)."""
    value = value.strip()
    if not value:
        return None
    iso = re.match(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", value)
    if iso:
        try:
            return When(value, date(int(iso[1]), int(iso[2]), int(iso[3])))
        except ValueError:
            return When(value, None)
    named = re.match(r"(\d{1,2})[- ]([A-Za-z]{3})[A-Za-z]*[- ](\d{4})", value)
    if named and named[2].lower() in _MONTHS:
        try:
            return When(value, date(int(named[3]), _MONTHS[named[2].lower()], int(named[1])))
        except ValueError:
            return When(value, None)
    compact = re.fullmatch(r"(\d{4})(\d{2})(\d{2})", value)
    if compact:
        try:
            return When(value, date(int(compact[1]), int(compact[2]), int(compact[3])))
        except ValueError:
            return When(value, None)
    return When(value, None)


def network_span(record: Record) -> None:
    """Complete start/end from CIDRs or CIDRs from start/end, whichever the registry gave."""
    try:
        if record.start and record.end and not record.cidrs:
            first = ipaddress.ip_address(record.start)
            last = ipaddress.ip_address(record.end)
            record.cidrs = [str(n) for n in ipaddress.summarize_address_range(first, last)]
        elif record.cidrs and not record.start:
            networks = [ipaddress.ip_network(c, strict=False) for c in record.cidrs]
            record.start = str(networks[0].network_address)
            record.end = str(networks[-1].broadcast_address)
    except (ValueError, TypeError):
        pass


_RIRS = {
    "arin": "ARIN",
    "ripe": "RIPE NCC",
    "apnic": "APNIC",
    "lacnic": "LACNIC",
    "afrinic": "AFRINIC",
    "iana": "IANA",
}


def rir_of(server: str) -> str:
    """The RIR whose server this is (whois.ripe.net, rdap.arin.net/registry), or ''."""
    lowered = server.lower()
    return next((name for key, name in _RIRS.items() if key in lowered), "")


# --- the answer --------------------------------------------------------------


def _days(expires: When, today: date) -> tuple[str, str | None]:
    assert expires.day is not None
    days = (expires.day - today).days
    if days < 0:
        return f"{expires} (expired {-days} days ago)", f":warning: Expired {-days} days ago."
    phrase = "today" if days == 0 else f"in {days} day" + ("" if days == 1 else "s")
    warning = f":warning: Expires {phrase}." if days <= EXPIRY_WARNING_DAYS else None
    return f"{expires} ({phrase})", warning


def _lines(pairs: list[tuple[str, str]]) -> str:
    return "\n".join(f"*{label}:* {value}" for label, value in pairs if value)


def render(target: Target, record: Record, today: date | None = None) -> Reply:
    today = today or datetime.now(UTC).date()
    small = [context(f"source: {record.source}"), *(context(note) for note in record.notes)]
    raw = [code(record.raw[:RAW_LINES], unit="lines")] if target.raw and record.raw else []
    if not record.found:
        sentence = (
            f"*{target.shown}* is not registered (no match)."
            if target.kind == "domain"
            else f"No registration found for *{target.shown}* (no match)."
        )
        return Reply(
            summary=f"{target.shown}: not registered (no match)"
            if target.kind == "domain"
            else f"{target.shown}: no match",
            parts=(text(sentence), *small, *raw),
        )
    parts: list[Part] = []
    if target.kind == "domain":
        expiry, warning = ("", None)
        if record.expires is not None:
            expiry, warning = (
                _days(record.expires, today) if record.expires.day else (str(record.expires), None)
            )
        dnssec = {True: "signed", False: "unsigned", None: ""}[record.dnssec]
        registrant = ", ".join(x for x in (record.registrant_org, record.registrant_country) if x)
        body = _lines(
            [
                ("Registrar", record.registrar),
                ("Created", str(record.created or "")),
                ("Changed", str(record.changed or "")),
                ("Expires", expiry),
                ("Status", ", ".join(record.statuses)),
                ("Name servers", ", ".join(record.nameservers)),
                ("DNSSEC", dnssec),
                ("Registrant", registrant),
                ("Abuse", record.abuse),
            ]
        )
        parts.append(text(f"*{target.shown}*\n{body}" if body else f"*{target.shown}*"))
        if warning:
            parts.append(text(warning))
        summary = f"{target.shown}: " + (
            ", ".join(
                x
                for x in (
                    f"registrar {record.registrar}" if record.registrar else "",
                    f"expires {expiry}" if expiry else "",
                )
                if x
            )
            or "registered"
        )
    elif target.kind == "ip":
        span = f"{record.start} - {record.end}" if record.start else ""
        cidr = ", ".join(record.cidrs)
        body = _lines(
            [
                ("Range", f"{span} ({cidr})" if span and cidr else span or cidr),
                ("Network", record.name or record.handle),
                ("Organisation", record.org),
                ("Country", record.country),
                ("Registry", record.registry),
                ("Abuse", record.abuse),
            ]
        )
        parts.append(text(f"*{target.shown}*\n{body}"))
        summary = f"{target.shown}: " + (
            ", ".join(x for x in (record.name, record.org, record.country) if x) or "registered"
        )
    else:
        body = _lines(
            [
                ("Name", record.name),
                ("Organisation", record.org),
                ("Country", record.country),
                ("Registry", record.registry),
                ("Abuse", record.abuse),
            ]
        )
        parts.append(text(f"*{target.shown}*\n{body}"))
        summary = f"{target.shown}: " + (
            ", ".join(x for x in (record.name, record.org) if x) or "registered"
        )
    return Reply(summary=summary, parts=(*parts, *small, *raw))


# --- asking ------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    rdap: rdap.Options
    whois: whois.Options
    deadline: float = 9.5  # both protocols together, inside the command's deadline

    @classmethod
    def from_settings(cls, settings: Settings) -> Options:
        from chatbot import rdap, whois

        return cls(
            rdap=rdap.Options(
                bootstrap_url=settings.rdap_bootstrap_url,
                timeout=settings.rdap_timeout_seconds,
                allow_private=settings.allow_private_targets,
            ),
            whois=whois.Options(
                server=settings.whois_server,
                port=settings.whois_port,
                timeout=settings.whois_timeout_seconds,
                deadline=settings.whois_deadline_seconds,
                allow_private=settings.allow_private_targets,
            ),
            # Leave the command room to render an answer before its own deadline.
            deadline=max(settings.command_deadline_seconds - 0.5, 0.5),
        )


async def lookup(target: Target, options: Options) -> Record:
    """RDAP where the bootstrap names a service; port-43 WHOIS where it does not or fails."""
    # Imported here: rdap and whois build Records, so they import this module.
    from chatbot import rdap, whois

    loop = asyncio.get_running_loop()
    started = loop.time()
    # RDAP may use most of the time, but WHOIS must keep a chance to answer.
    rdap_budget = options.deadline * 0.6
    rdap_error: ChatbotError | None = None
    try:
        async with asyncio.timeout(rdap_budget):
            return await rdap.lookup(target, options.rdap)
    except rdap.NoService:
        pass
    except ChatbotError as exc:
        rdap_error = exc
    except TimeoutError:
        rdap_error = Timeout(server="RDAP", seconds=rdap_budget)
    left = options.deadline - (loop.time() - started)
    whois_options = replace(options.whois, deadline=max(min(options.whois.deadline, left), 0.1))
    try:
        record = await whois.lookup(target, whois_options)
    except ChatbotError as exc:
        if rdap_error is None:
            raise
        raise type(exc)(
            "RDAP: {first} Port-43 WHOIS: {second}", first=rdap_error.message, second=exc.message
        ) from exc
    if rdap_error is not None:
        record.notes.insert(0, f"RDAP failed, answered by port-43 WHOIS: {rdap_error.message}")
    return record


async def run(arguments: str, options: Options) -> Reply:
    target = parse(arguments)
    record = await lookup(target, options)
    return render(target, record)
