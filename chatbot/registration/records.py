"""The protocol-neutral registration record that RDAP and port-43 WHOIS both fill.

Below `rdap`, `whois` and `render`, so none of them imports another to share it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

Kind = Literal["domain", "ip", "asn"]

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
    # re.ASCII: full-width or Arabic-Indic digits from a registry are not a date we read.
    iso = re.match(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", value, re.ASCII)
    if iso:
        try:
            return When(value, date(int(iso[1]), int(iso[2]), int(iso[3])))
        except ValueError:
            return When(value, None)
    named = re.match(r"(\d{1,2})[- ]([A-Za-z]{3})[A-Za-z]*[- ](\d{4})", value, re.ASCII)
    if named and named[2].lower() in _MONTHS:
        try:
            return When(value, date(int(named[3]), _MONTHS[named[2].lower()], int(named[1])))
        except ValueError:
            return When(value, None)
    compact = re.fullmatch(r"(\d{4})(\d{2})(\d{2})", value, re.ASCII)
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
