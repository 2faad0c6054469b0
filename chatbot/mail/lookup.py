"""DNS for the audit: the configured resolvers (as /dig asks them), one cache per audit.

Each question goes through `chatbot.dns.query.ask`, so /mail sees what /dig
sees: the same servers, tried in order, each with the DNS timeout, TCP when
an answer is truncated. An audit asks many overlapping questions (the SPF walk
and the MX check both want the MX hosts' addresses), so each question is asked
once per audit and concurrent askers share the one query in flight.

Whether an answer is DNSSEC-validated is not the resolver's word (its AD flag
says only that it believes so, and a resolver on the path can set it): DANE's
TLSA records are validated here by /dig +validate's walk from the root trust
anchor (`dnssec_validated`).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Literal

import dns.exception
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from chatbot.dns import trace, validate
from chatbot.dns.query import Query, Server, ask

Status = Literal["ok", "nxdomain", "nodata", "error"]


@dataclass(frozen=True)
class Result:
    name: str  # as asked, without the final dot
    rdtype: str
    status: Status
    rdatas: tuple[dns.rdata.Rdata, ...] = ()
    cname: str | None = None  # the name is an alias; the records are the target's
    error: str = ""

    @property
    def void(self) -> bool:
        """No records, no error: what RFC 7208 §4.6.4 calls a void lookup."""
        return self.status in ("nxdomain", "nodata")

    def texts(self) -> list[str]:
        """TXT records, each one string: its character-strings joined without spaces."""
        return [
            b"".join(rdata.strings).decode("utf-8", "replace")  # type: ignore[attr-defined]
            for rdata in self.rdatas
        ]

    def problem(self) -> str:
        """Why there is no answer, as a clause: 'the resolvers answered SERVFAIL'."""
        return self.error.rstrip(".") or f"{self.name} has no {self.rdtype} record"


@dataclass(frozen=True)
class Dnssec:
    """Where our own DNSSEC validation starts: the root servers and the root's trust anchor."""

    roots: tuple[Server, ...]
    anchors: validate.Anchors = validate.BUILT_IN
    timeout: float = 2.0  # each query of the walk
    allow_private: bool = False  # servers the referrals name pass the address policy
    now: float | None = None  # tests judge signatures at another time


@dataclass(frozen=True)
class Validated:
    """Our DNSSEC verdict on one RRset, and in a few words what it rests on."""

    status: validate.Status
    said: str  # "validated from the root trust anchor", "insecure: no DS at X", "bogus: ..."
    reason: str = ""  # the verdict's whole sentence: what is wrong and what to fix
    # The records as the zone's servers gave them (what a verdict is about).
    rdatas: tuple[dns.rdata.Rdata, ...] = ()
    queries: int = 0

    @property
    def secure(self) -> bool:
        return self.status == "secure"


async def dnssec_validated(name: str, rdtype: str, options: Dnssec, deadline: float) -> Validated:
    """Validate `name` `rdtype` from the root trust anchor down, as /dig +validate does.

    The data comes from the zones' authoritative servers, never from the
    resolver, so its AD flag is neither needed nor believed.
    """
    try:
        qname = dns.name.from_text(name)
    except (dns.exception.DNSException, ValueError):
        return Validated("indeterminate", f"not validated: {name} is not a valid DNS name")
    kind = dns.rdatatype.from_text(rdtype)
    port = options.roots[0].port if options.roots else 53
    walk = trace.Options(
        roots=options.roots,
        port=port,  # referred servers on the roots' port (53; a test tree shares another)
        timeout=options.timeout,
        deadline=max(deadline, 0.05),
        allow_private=options.allow_private,
    )
    checked = await validate.validate(
        qname, kind, validate.Options(walk, options.anchors, options.now)
    )
    verdict = checked.verdict
    response = checked.trace.response
    last = checked.trace.walks[-1].name if checked.trace.walks else qname
    rrset = response.get_rrset(response.answer, last, dns.rdataclass.IN, kind) if response else None
    rdatas = tuple(rrset) if rrset is not None else ()
    reason = (verdict.reason or "").rstrip(".")
    if verdict.status == "secure":
        said = "validated from the root trust anchor"
    elif verdict.status == "insecure":
        said = f"insecure: {verdict.ends or reason}"
    elif verdict.status == "bogus":
        said = f"bogus: {reason}"
    else:
        said = f"not validated: {reason.removeprefix('I could not validate: ')}"
    return Validated(verdict.status, said, verdict.reason or "", rdatas, checked.queries)


class Lookup:
    """Asks the configured resolvers; one query per (name, type) for the whole audit."""

    def __init__(
        self, servers: tuple[Server, ...], timeout: float, gate: asyncio.Lock | None = None
    ) -> None:
        self.servers = servers
        self.timeout = timeout
        # With a gate, one question at a time: the benchmark's sequential audit.
        self.gate = gate
        self.asked = 0
        self.answered = 0  # responses received, of any rcode
        self.validation_queries = 0  # sent by DNSSEC validation's walks, not to the resolvers
        self._tasks: dict[tuple[str, str], asyncio.Task[Result]] = {}

    async def ask(self, name: str, rdtype: str) -> Result:
        key = (name.lower().rstrip("."), rdtype)
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.ensure_future(self._ask(key[0], rdtype))
            self._tasks[key] = task
        return await asyncio.shield(task)

    def close(self) -> None:
        """Cancel questions still in flight when the audit stops waiting for them."""
        for task in self._tasks.values():
            task.cancel()

    async def _ask(self, name: str, rdtype: str) -> Result:
        try:
            qname = dns.name.from_text(name)
        except (dns.exception.DNSException, ValueError):
            return Result(name, rdtype, "error", error=f"{name} is not a valid DNS name")
        query = Query(name=qname, shown=name, types=())
        kind = dns.rdatatype.from_text(rdtype)
        async with self.gate or contextlib.nullcontext():
            self.asked += 1
            answer = await ask(query, kind, self.servers, self.timeout)
        if answer.response is None:
            return Result(name, rdtype, "error", error=answer.error or "no answer")
        response = answer.response
        self.answered += 1
        rcode = response.rcode()
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            return Result(
                name,
                rdtype,
                "error",
                error=f"the resolver answered {dns.rcode.to_text(rcode)} for {name} {rdtype}",
            )
        owner, cname = qname, None
        for _ in range(8):  # follow a CNAME chain within the answer
            alias = response.get_rrset(
                response.answer, owner, dns.rdataclass.IN, dns.rdatatype.CNAME
            )
            if alias is None or kind == dns.rdatatype.CNAME:
                break
            owner = alias[0].target
            cname = owner.to_text(omit_final_dot=True)
        rrset = response.get_rrset(response.answer, owner, dns.rdataclass.IN, kind)
        if rrset:
            return Result(name, rdtype, "ok", tuple(rrset), cname)
        status: Status = "nxdomain" if rcode == dns.rcode.NXDOMAIN else "nodata"
        return Result(name, rdtype, status, cname=cname)
