"""Walking the delegations from the root, as `dig +trace` does.

`Walker` asks the root servers, follows referrals down to the servers that
answer with authority, and remembers every zone cut it learns, so the next
walk (a CNAME's target, a name server without glue, validation's DNSKEY and
DS look-ups, +compare's authoritative servers) starts from the closest one.
Everything a referral names is remote data: its servers pass the address
policy before they are contacted, and every loop is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from chatbot import policy
from chatbot.dns.query import Exchange, Server, send
from chatbot.errors import TargetRefused

# IANA's root servers (https://www.iana.org/domains/root/servers), IPv4.
ROOT_SERVERS: dict[str, str] = {
    "198.41.0.4": "a.root-servers.net.",
    "170.247.170.2": "b.root-servers.net.",
    "192.33.4.12": "c.root-servers.net.",
    "199.7.91.13": "d.root-servers.net.",
    "192.203.230.10": "e.root-servers.net.",
    "192.5.5.241": "f.root-servers.net.",
    "192.112.36.4": "g.root-servers.net.",
    "198.97.190.53": "h.root-servers.net.",
    "192.36.148.17": "i.root-servers.net.",
    "192.58.128.30": "j.root-servers.net.",
    "193.0.14.129": "k.root-servers.net.",
    "199.7.83.42": "l.root-servers.net.",
    "202.12.27.33": "m.root-servers.net.",
}

IN = dns.rdataclass.IN
ADDRESS_TYPES = (dns.rdatatype.A, dns.rdatatype.AAAA)


@dataclass(frozen=True)
class Options:
    """Where the walk starts and how far it may go.

    `port` is used for every server a referral names (53 in real life; one
    shared port for a test hierarchy on 127.0.0.x). Root servers are the
    operator's and trusted; every other server passes the address policy.
    """

    roots: tuple[Server, ...]
    port: int = 53
    timeout: float = 2.0
    deadline: float = 10.0
    allow_private: bool = False
    tcp: bool = False
    max_referrals: int = 16
    max_cnames: int = 8
    max_lookup_depth: int = 3
    max_queries: int = 80


@dataclass
class Failure:
    """A server of the zone that did not give a usable answer, and the sentence why."""

    server: Server
    sentence: str
    timed_out: bool = False


@dataclass
class Lookup:
    """A name server without glue, looked up by walking to its own zone."""

    name: dns.name.Name
    addresses: list[str]
    queries: int
    problem: str | None = None


@dataclass
class Delegation:
    """A zone cut: the zone's name servers and the addresses known for them."""

    zone: dns.name.Name
    nameservers: list[dns.name.Name]
    addresses: dict[dns.name.Name, list[str]]
    # The referral that named these servers (None for the root): validation
    # reads the DS records, or the proof that there are none, from it.
    referral: dns.message.Message | None = None
    parent: dns.name.Name | None = None
    glued: frozenset[dns.name.Name] = frozenset()  # names the referral gave addresses for


@dataclass
class Step:
    """One zone's servers asked one question."""

    zone: dns.name.Name
    server: Server | None = None
    response: dns.message.Message | None = None
    referral: Delegation | None = None
    milliseconds: float = 0.0
    used_tcp: bool = False
    failures: list[Failure] = field(default_factory=list)
    lookups: list[Lookup] = field(default_factory=list)
    problem: str | None = None


@dataclass
class Walk:
    """From the closest known zone cut down to the answer for one name."""

    name: dns.name.Name
    rdtype: dns.rdatatype.RdataType
    start: dns.name.Name = dns.name.root
    steps: list[Step] = field(default_factory=list)
    response: dns.message.Message | None = None
    zone: dns.name.Name | None = None  # the zone whose server answered
    problem: str | None = None


@dataclass
class Trace:
    name: dns.name.Name
    rdtype: dns.rdatatype.RdataType
    walks: list[Walk] = field(default_factory=list)
    problem: str | None = None
    queries: int = 0
    milliseconds: float = 0.0

    @property
    def response(self) -> dns.message.Message | None:
        return self.walks[-1].response if self.walks else None


def said(name: dns.name.Name | None) -> str:
    """A name in a sentence: without the final dot, which would read as a full stop."""
    if name is None or name == dns.name.root:
        return "."
    return name.to_text(omit_final_dot=True)


def root_server(server: Server) -> Server:
    """A root server with its name, where the address is one of IANA's."""
    return Server(server.address, server.port, server.label or ROOT_SERVERS.get(server.address, ""))


class Walker:
    def __init__(self, options: Options) -> None:
        self.options = options
        roots = [root_server(s) for s in options.roots]
        names = [dns.name.from_text(s.label or s.address) for s in roots]
        self.root_servers = {name: server for name, server in zip(names, roots, strict=True)}
        self.cuts: dict[dns.name.Name, Delegation] = {
            dns.name.root: Delegation(
                dns.name.root, names, {n: [s.address] for n, s in self.root_servers.items()}
            )
        }
        self.queries = 0

    def closest(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> Delegation:
        """The deepest known zone cut above `name` (a DS is asked of the parent)."""
        if rdtype == dns.rdatatype.DS and name != dns.name.root:
            name = name.parent()
        while name not in self.cuts:
            name = name.parent()
        return self.cuts[name]

    async def walk(
        self,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        walk: Walk | None = None,
        path: tuple[dns.name.Name, ...] = (),
    ) -> Walk:
        """Fill `walk` (given, so that a deadline leaves what was found) and return it.

        `path`: the name servers being looked up for the walks that led here,
        so that a delegation that depends on itself is noticed.
        """
        delegation = self.closest(name, rdtype)
        walk = walk or Walk(name, rdtype)
        walk.start = delegation.zone
        for _ in range(self.options.max_referrals + 1):
            step = await self.ask(delegation, name, rdtype, walk, path)
            if step.response is None:
                walk.problem = step.problem
                return walk
            if step.referral is None:
                walk.response = step.response
                walk.zone = delegation.zone
                return walk
            delegation = step.referral
        walk.problem = (
            f"Gave up after {self.options.max_referrals} referrals without an answer "
            f"for {said(name)}: the delegations go deeper than any real name needs."
        )
        return walk

    async def ask(
        self,
        delegation: Delegation,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        walk: Walk | None = None,
        path: tuple[dns.name.Name, ...] = (),
    ) -> Step:
        """Ask the zone's servers in turn until one answers or refers us further down."""
        step = Step(zone=delegation.zone)
        if walk is not None:
            walk.steps.append(step)
        started = time.perf_counter()
        try:
            async with contextlib.aclosing(self._servers(delegation, step, path)) as servers:
                async for server in servers:
                    if self.queries >= self.options.max_queries:
                        step.problem = (
                            f"Gave up after {self.options.max_queries} queries "
                            "(the limit for one command)."
                        )
                        return step
                    self.queries += 1
                    exchange = await self._send(name, rdtype, server)
                    if exchange.response is None:
                        step.failures.append(
                            Failure(server, exchange.error or "", exchange.timed_out)
                        )
                        continue
                    kind, detail = self._classify(exchange, delegation, name, rdtype)
                    if kind == "failure":
                        step.failures.append(Failure(server, f"{server} {detail}."))
                        continue
                    step.server = server
                    step.response = exchange.response
                    step.used_tcp = exchange.used_tcp
                    if kind == "referral":
                        step.referral = self._learn(exchange.response, delegation)
                    return step
            step.problem = self._no_server(delegation, step)
            return step
        finally:
            step.milliseconds = (time.perf_counter() - started) * 1000

    async def _send(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, server: Server
    ) -> Exchange:
        message = dns.message.make_query(name, rdtype, want_dnssec=True, payload=1232)
        message.flags &= ~dns.flags.RD
        return await send(message, server, self.options.timeout, tcp=self.options.tcp)

    @staticmethod
    def _no_server(delegation: Delegation, step: Step) -> str:
        if not step.failures and not delegation.nameservers:
            return f"The referral to {said(delegation.zone)} names no name servers."
        if not step.failures:
            return (
                f"No server of {said(delegation.zone)} has an address I could find or may contact."
            )
        return (
            f"No server of {said(delegation.zone)} gave an answer or a referral, "
            "so the trace stops here."
        )

    async def _servers(
        self, delegation: Delegation, step: Step, path: tuple[dns.name.Name, ...]
    ) -> AsyncGenerator[Server, None]:
        """The zone's servers with known addresses first, then the glueless ones, looked up."""
        is_root = delegation.zone == dns.name.root and delegation.referral is None
        if is_root:
            for root in self.root_servers.values():
                yield root
            return
        pending: list[dns.name.Name] = []
        for name in delegation.nameservers:
            if name in delegation.addresses:
                for server in self.allowed(name, delegation.addresses[name], step):
                    yield server
            else:
                pending.append(name)
        for name in pending:
            addresses = await self._look_up(name, step, path)
            delegation.addresses[name] = addresses
            for server in self.allowed(name, addresses, step):
                yield server

    def allowed(self, name: dns.name.Name, addresses: list[str], step: Step) -> list[Server]:
        servers = []
        for address in sorted(addresses, key=lambda a: ":" in a):  # IPv4 first
            server = Server(address, self.options.port, name.to_text())
            parsed = policy.parse_ip(address)
            kind = None if parsed is None else policy.forbidden_kind(parsed)
            if kind is not None and not self.options.allow_private:
                refused = TargetRefused(target=name.to_text(), address=address, kind=kind)
                step.failures.append(Failure(server, refused.message))
                continue
            servers.append(server)
        return servers

    async def _look_up(
        self, name: dns.name.Name, step: Step, path: tuple[dns.name.Name, ...]
    ) -> list[str]:
        """Addresses of a name server the referral gave no glue for, by walking to them."""
        if name in path:
            chain = " → ".join(n.to_text() for n in [*path, name])
            step.lookups.append(
                Lookup(
                    name,
                    [],
                    0,
                    f"Looking up {said(name)} leads back to itself ({chain}): these zones are "
                    "delegated to name servers inside each other, without glue, so no "
                    "resolver can reach them.",
                )
            )
            return []
        if len(path) >= self.options.max_lookup_depth:
            step.lookups.append(
                Lookup(
                    name,
                    [],
                    0,
                    f"Did not look up {said(name)}: name servers without glue nest "
                    f"{len(path) + 1} deep, past my limit of "
                    f"{self.options.max_lookup_depth}.",
                )
            )
            return []
        before = self.queries
        addresses: list[str] = []
        problem = None
        for rdtype in ADDRESS_TYPES:
            inner = await self.walk(name, rdtype, path=(*path, name))
            for walk_step in inner.steps:  # a cycle found deeper explains this failure best
                for lookup in walk_step.lookups:
                    problem = problem or lookup.problem
            problem = problem or inner.problem
            if inner.response is not None:
                addresses += [
                    rdata.to_text()
                    for rrset in inner.response.answer
                    if rrset.rdtype == rdtype and rrset.name == name
                    for rdata in rrset
                ]
            if addresses:  # IPv4 found: the AAAA walk would only cost time
                break
        step.lookups.append(
            Lookup(name, addresses, self.queries - before, None if addresses else problem)
        )
        return addresses

    def _classify(
        self,
        exchange: Exchange,
        delegation: Delegation,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
    ) -> tuple[str, str]:
        """("answer" | "referral" | "failure", why it failed)."""
        response = exchange.response
        assert response is not None
        zone = delegation.zone
        rcode = response.rcode()
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            return "failure", (
                f"answered {dns.rcode.to_text(rcode)}: it does not serve {said(zone)} "
                "(a lame delegation)"
                if rcode == dns.rcode.REFUSED
                else f"answered {dns.rcode.to_text(rcode)}"
            )
        cut = _referral_zone(response)
        if cut is not None and not response.answer and rcode == dns.rcode.NOERROR:
            if cut != zone and cut.is_subdomain(zone) and name.is_subdomain(cut):
                return "referral", ""
            if response.flags & dns.flags.AA and cut == zone:
                return "answer", ""  # an authoritative NODATA that lists the zone's NS
            where = "back up to" if zone.is_subdomain(cut) else "sideways to"
            if cut == zone:
                where = "to the same zone,"
            return "failure", (
                f"referred us {where} {said(cut)} instead of answering for {said(zone)}: "
                "a referral loop"
            )
        if not response.flags & dns.flags.AA:
            if response.answer:
                return "failure", (
                    f"answered without the AA flag: it is not authoritative for {said(zone)} "
                    "(a lame delegation)"
                )
            return "failure", "gave neither an answer nor a referral (a lame delegation)"
        return "answer", ""

    def _learn(self, response: dns.message.Message, parent: Delegation) -> Delegation:
        ns = next(r for r in response.authority if r.rdtype == dns.rdatatype.NS and r.rdclass == IN)
        # Sorted, so that the same referral is always tried in the same order.
        nameservers = sorted(dict.fromkeys(rdata.target for rdata in ns))
        addresses: dict[dns.name.Name, list[str]] = {}
        for rrset in response.additional:
            # Glue is only believed from the zone it belongs to (RFC 2181 §5.4.1).
            if (
                rrset.rdtype in ADDRESS_TYPES
                and rrset.name in nameservers
                and rrset.name.is_subdomain(parent.zone)
            ):
                addresses.setdefault(rrset.name, []).extend(r.to_text() for r in rrset)
        known = self.cuts.get(ns.name)
        if known is not None:
            for name, found in addresses.items():
                known.addresses.setdefault(name, found)
            return known
        delegation = Delegation(
            ns.name, nameservers, addresses, response, parent.zone, frozenset(addresses)
        )
        self.cuts[ns.name] = delegation
        return delegation


def _referral_zone(response: dns.message.Message) -> dns.name.Name | None:
    for rrset in response.authority:
        if rrset.rdtype == dns.rdatatype.NS:
            return rrset.name
    return None


def cname_target(
    response: dns.message.Message, name: dns.name.Name, rdtype: dns.rdatatype.RdataType
) -> dns.name.Name | None:
    """Where a CNAME chain in the answer leaves off without the data, if it does."""
    current = name
    for _ in range(16):
        if response.get_rrset(response.answer, current, IN, rdtype) is not None:
            return None
        cname = response.get_rrset(response.answer, current, IN, dns.rdatatype.CNAME)
        if cname is None or rdtype == dns.rdatatype.CNAME:
            break
        current = cname[0].target
    if current == name or response.rcode() != dns.rcode.NOERROR:
        return None
    if any(rrset.rdtype == dns.rdatatype.SOA for rrset in response.authority):
        return None  # the server proved the target has no such data
    return current


async def trace(
    name: dns.name.Name,
    rdtype: dns.rdatatype.RdataType,
    options: Options,
    walker: Walker | None = None,
) -> Trace:
    """Walk to the answer, following CNAMEs into other zones, within the deadline."""
    walker = walker or Walker(options)
    result = Trace(name, rdtype)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(options.deadline):
            current: dns.name.Name | None = name
            seen = {name}
            while current is not None:
                walk = Walk(current, rdtype)
                result.walks.append(walk)
                await walker.walk(current, rdtype, walk)
                if walk.response is None:
                    break
                current = cname_target(walk.response, current, rdtype)
                if current is None:
                    break
                if current in seen:
                    result.problem = (
                        f"The CNAME chain loops back to {current}: it never reaches the data."
                    )
                    break
                if len(result.walks) > options.max_cnames:
                    result.problem = (
                        f"Stopped following CNAMEs after {options.max_cnames}: "
                        "the chain is longer than resolvers follow."
                    )
                    break
                seen.add(current)
    except TimeoutError:
        result.problem = (
            f"The trace did not finish within {options.deadline:g} s; this is how far it got."
        )
    result.queries = walker.queries
    result.milliseconds = (time.perf_counter() - started) * 1000
    return result
