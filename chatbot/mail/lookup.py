"""DNS for the audit: the configured resolvers (as /dig asks them), one cache per audit.

Each question goes through `chatbot.dns.query.ask`, so /mail sees what /dig
sees: the same servers, tried in order, each with the DNS timeout, TCP when
an answer is truncated. An audit asks many overlapping questions (the SPF walk
and the MX check both want the MX hosts' addresses), so each question is asked
once per audit and concurrent askers share the one query in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Literal

import dns.exception
import dns.flags
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from chatbot.dns.query import Query, Server, ask

Status = Literal["ok", "nxdomain", "nodata", "error"]


@dataclass(frozen=True)
class Result:
    name: str  # as asked, without the final dot
    rdtype: str
    status: Status
    rdatas: tuple[dns.rdata.Rdata, ...] = ()
    cname: str | None = None  # the name is an alias; the records are the target's
    authenticated: bool = False  # the resolver set the AD flag
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


def dnssec_validated(result: Result) -> bool:
    """Whether this answer was DNSSEC-validated: for now the AD flag from the resolver.

    The one place that decides it, so it can later be pointed at our own
    validation (chatbot.dns.validate) instead of trusting the resolver's word.
    """
    return result.authenticated


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
        authenticated = bool(response.flags & dns.flags.AD)
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
            return Result(name, rdtype, "ok", tuple(rrset), cname, authenticated)
        status: Status = "nxdomain" if rcode == dns.rcode.NXDOMAIN else "nodata"
        return Result(name, rdtype, status, cname=cname, authenticated=authenticated)
