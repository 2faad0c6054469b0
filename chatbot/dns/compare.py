"""One question to many servers at once: public resolvers and the zone's own servers.

The resolvers are the operator's list; the authoritative servers are found
by +trace's walk (the zone's delegation and the addresses of its name
servers), so they pass the address policy like every referral. All queries
run in parallel: the whole takes as long as the slowest server, never the sum.
`findings` says in sentences what the table shows.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype

from chatbot.dns import trace
from chatbot.dns.query import Exchange, Server, send
from chatbot.dns.trace import said

IN = dns.rdataclass.IN

# Who runs the well-known public resolvers, to label the table.
PROVIDERS = {
    "8.8.8.8": "Google",
    "8.8.4.4": "Google",
    "1.1.1.1": "Cloudflare",
    "1.0.0.1": "Cloudflare",
    "9.9.9.9": "Quad9",
    "149.112.112.112": "Quad9",
    "208.67.222.222": "OpenDNS",
    "208.67.220.220": "OpenDNS",
}

Kind = Literal["resolver", "authoritative"]


@dataclass(frozen=True)
class Options:
    resolvers: tuple[Server, ...]
    walk: trace.Options


@dataclass
class Row:
    """One server's answer, reduced so that equal answers look equal."""

    server: Server
    kind: Kind
    exchange: Exchange | None = None
    serial: int | None = None

    @property
    def name(self) -> str:
        if self.kind == "resolver":
            provider = PROVIDERS.get(self.server.address)
            return f"{provider} {self.server}" if provider else str(self.server)
        return str(self.server)

    @property
    def response(self) -> dns.message.Message | None:
        return self.exchange.response if self.exchange else None

    @property
    def lame(self) -> str | None:
        """Why an authoritative server is lame, or None."""
        response = self.response
        if self.kind != "authoritative" or response is None:
            return None
        rcode = response.rcode()
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            return f"answers {dns.rcode.to_text(rcode)}"
        if not response.flags & dns.flags.AA:
            return "answers without AA"
        return None


@dataclass
class Comparison:
    name: dns.name.Name
    rdtype: dns.rdatatype.RdataType
    rows: list[Row] = field(default_factory=list)
    zone: dns.name.Name | None = None
    problem: str | None = None  # why the authoritative servers are missing
    milliseconds: float = 0.0


def answer_of(row: Row, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> str:
    """What the server says about `name` itself: its records sorted, or the outcome."""
    if row.exchange is None:
        return "no answer before the deadline"
    response = row.response
    if response is None:
        return "no answer" if row.exchange.timed_out else "error"
    rcode = response.rcode()
    if rcode != dns.rcode.NOERROR:
        return dns.rcode.to_text(rcode)
    owned = {r.rdtype: r for r in response.answer if r.name == name and r.rdclass == IN}
    rrset = owned.get(rdtype) or owned.get(dns.rdatatype.CNAME)
    if rrset is None:
        return "NODATA"
    values = sorted(rdata.to_text() for rdata in rrset)
    prefix = "CNAME " if rrset.rdtype != rdtype else ""
    return prefix + ", ".join(values)


def ttl_of(row: Row, name: dns.name.Name) -> int | None:
    response = row.response
    if response is None:
        return None
    ttls = [rrset.ttl for rrset in response.answer if rrset.name == name]
    return min(ttls) if ttls else None


async def _ask(
    server: Server,
    name: dns.name.Name,
    rdtype: dns.rdatatype.RdataType,
    recursive: bool,
    options: trace.Options,
) -> Exchange:
    message = dns.message.make_query(name, rdtype, payload=1232)
    if not recursive:
        message.flags &= ~dns.flags.RD
    return await send(message, server, options.timeout, tcp=options.tcp)


async def _authoritative(row: Row, comparison: Comparison, options: trace.Options) -> None:
    assert comparison.zone is not None
    exchange, soa = await asyncio.gather(
        _ask(row.server, comparison.name, comparison.rdtype, False, options),
        _ask(row.server, comparison.zone, dns.rdatatype.SOA, False, options),
    )
    row.exchange = exchange
    if soa.response is not None:
        rrset = soa.response.get_rrset(soa.response.answer, comparison.zone, IN, dns.rdatatype.SOA)
        if rrset is not None:
            row.serial = rrset[0].serial


async def _resolver(row: Row, comparison: Comparison, options: trace.Options) -> None:
    row.exchange = await _ask(row.server, comparison.name, comparison.rdtype, True, options)


async def _zone_servers(
    comparison: Comparison, options: trace.Options
) -> tuple[list[Server], dict[Server, trace.Failure]]:
    """The zone's servers (by walking from the root), and those that timed out on the way."""
    walker = trace.Walker(options)
    walk = await walker.walk(comparison.name, comparison.rdtype)
    if walk.zone is None:
        comparison.problem = "I could not find the authoritative servers: " + (
            walk.problem or "the walk from the root did not reach them."
        )
        return [], {}
    comparison.zone = walk.zone
    # A server that just let the walk time out is not asked again: that would
    # double the wait for an outcome already known.
    silent = {f.server: f for f in walk.steps[-1].failures if f.timed_out}
    delegation = walker.cuts[walk.zone]
    if delegation.referral is None:  # the root zone itself
        return list(walker.root_servers.values()), silent

    async def addresses(name: dns.name.Name) -> list[str]:
        if delegation.addresses.get(name):
            return delegation.addresses[name]
        found = await asyncio.gather(*(walker.walk(name, t) for t in trace.ADDRESS_TYPES))
        return [
            rdata.to_text()
            for inner in found
            if inner.response is not None
            for rrset in inner.response.answer
            if rrset.name == name and rrset.rdtype in trace.ADDRESS_TYPES
            for rdata in rrset
        ]

    names = delegation.nameservers
    found = await asyncio.gather(*(addresses(name) for name in names))
    step = trace.Step(zone=walk.zone)
    servers = []
    for name, known in zip(names, found, strict=True):
        servers += walker.allowed(name, known, step)
    if step.failures:
        comparison.problem = " ".join(f.sentence for f in step.failures)
    return servers, silent


async def compare(
    name: dns.name.Name, rdtype: dns.rdatatype.RdataType, options: Options
) -> Comparison:
    """Ask every resolver and every authoritative server, in parallel, within the deadline."""
    started = time.perf_counter()
    comparison = Comparison(name, rdtype)
    comparison.rows = [Row(server, "resolver") for server in options.resolvers]
    walk_options = options.walk

    async def authoritative() -> None:
        servers, silent = await _zone_servers(comparison, walk_options)
        rows = [Row(server, "authoritative") for server in servers]
        for row in rows:
            if row.server in silent:
                row.exchange = Exchange(row.server, error=silent[row.server].sentence)
                row.exchange.timed_out = True
        comparison.rows.extend(rows)
        await asyncio.gather(
            *(_authoritative(r, comparison, walk_options) for r in rows if r.exchange is None)
        )

    tasks = [
        asyncio.ensure_future(_resolver(row, comparison, walk_options)) for row in comparison.rows
    ]
    tasks.append(asyncio.ensure_future(authoritative()))
    _, pending = await asyncio.wait(tasks, timeout=walk_options.deadline)
    for task in pending:  # rows of servers still silent keep "no answer before the deadline"
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    if pending and comparison.zone is None and comparison.problem is None:
        comparison.problem = (
            f"I could not find the authoritative servers within {walk_options.deadline:g} s."
        )
    comparison.milliseconds = (time.perf_counter() - started) * 1000
    return comparison


def _count(number: int) -> str:
    return {2: "two", 3: "three", 4: "four", 5: "five"}.get(number, str(number))


def _listed(items: list[str], limit: int = 4) -> str:
    shown = items[:limit]
    more = len(items) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more else "")


def _silence(row: Row, timeout: float) -> str:
    if row.exchange is None:
        return f"{row.name} (still silent at the deadline)"
    if row.exchange.timed_out:
        return f"{row.name} (nothing within {timeout:g} s)"
    return f"{row.name} ({row.exchange.error})"


def findings(comparison: Comparison, timeout: float) -> list[str]:
    """The table in sentences: agreement, lame servers, serials, silent servers."""
    name, rdtype = comparison.name, comparison.rdtype
    out: list[str] = []
    voting = [r for r in comparison.rows if r.response is not None and not r.lame]
    answers = {id(r): answer_of(r, name, rdtype) for r in voting}
    counts = Counter(answers.values())
    if not voting:
        out.append("No server gave a usable answer.")
    elif len(voting) == 1:
        out.append(f"Only one server answered: {voting[0].name}.")
    elif len(counts) == 1:
        out.append(f"All {len(voting)} servers agree.")
    else:
        common, _ = counts.most_common(1)[0]
        others = [r for r in voting if answers[id(r)] != common]
        listed = _listed([f"{r.name} says {answers[id(r)]}" for r in others])
        verb = "answers" if len(others) == 1 else "answer"
        out.append(
            f"{len(others)} of {len(voting)} servers {verb} differently from the "
            f"others ({common}): {listed}."
        )
    for row in comparison.rows:
        if row.lame:
            out.append(
                f"{row.name} is lame ({row.lame}): it does not serve {said(comparison.zone)} "
                "with authority."
            )
    serials = Counter(
        r.serial for r in comparison.rows if r.kind == "authoritative" and r.serial is not None
    )
    if len(serials) > 1:
        parts = [f"{serial} ({count})" for serial, count in sorted(serials.items(), reverse=True)]
        listed = ", ".join(parts[:-1]) + f" and {parts[-1]}"
        out.append(
            f"The authoritative servers serve {_count(len(serials))} serials: {listed}: "
            "a secondary has not transferred the zone."
        )
    silent = [r for r in comparison.rows if r.response is None]
    if silent:
        listed = _listed([_silence(r, timeout) for r in silent], limit=6)
        plural = "s" if len(silent) > 1 else ""
        out.append(f"{len(silent)} server{plural} did not answer: {listed}.")
    if comparison.problem:
        out.append(comparison.problem)
    return out
