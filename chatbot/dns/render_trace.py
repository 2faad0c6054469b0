"""+trace as a `Reply`: one block of steps like `dig +trace`, then the answer."""

from __future__ import annotations

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

from chatbot.dns import trace
from chatbot.reply import Part, Reply, code, text

NEXT = " I tried the zone's next server."


def _glue(delegation: trace.Delegation) -> str:
    with_glue = sum(1 for n in delegation.nameservers if n in delegation.glued)
    total = len(delegation.nameservers)
    if with_glue == 0:
        return "no glue"
    return "glue for all" if with_glue == total else f"glue for {with_glue} of {total}"


def _signed(response: dns.message.Message, zone: trace.Delegation) -> str:
    for rrset in response.authority:
        if rrset.name != zone.zone:
            continue
        if rrset.rdtype == dns.rdatatype.DS:
            return "DS " + " ".join(sorted({str(rdata.key_tag) for rdata in rrset}))
        if rrset.rdtype == dns.rdatatype.NSEC:
            return "no DS (unsigned)"
    if any(r.rdtype == dns.rdatatype.NSEC3 for r in response.authority):
        return "no DS (unsigned)"
    return ""


def _outcome(step: trace.Step) -> str:
    response = step.response
    assert response is not None
    if step.referral is not None:
        referral = step.referral
        names = " ".join(n.to_text() for n in referral.nameservers)
        details = [_glue(referral), _signed(response, referral)]
        return f"→ {referral.zone} NS {names} · " + " · ".join(d for d in details if d)
    status = dns.rcode.to_text(response.rcode())
    answers = sum(len(r) for r in response.answer if r.rdtype != dns.rdatatype.RRSIG)
    what = f"{answers} record{'s' if answers != 1 else ''}" if answers else status
    if answers and response.rcode() != dns.rcode.NOERROR:
        what += f", {status}"
    return f"→ answer: {what}, authoritative"


def step_lines(walk: trace.Walk, number: int) -> tuple[list[str], int]:
    """Each step: the zone, then what happened there in order, then where it led."""
    lines: list[str] = []
    width = max((len(s.zone.to_text()) for s in walk.steps), default=1)
    for step in walk.steps:
        number += 1
        entries: list[str] = []
        for lookup in step.lookups:
            found = ", ".join(lookup.addresses) or "no address"
            queries = f"{lookup.queries} quer{'y' if lookup.queries == 1 else 'ies'}"
            entries.append(f"~ {lookup.name} had no glue: looked it up ({queries}): {found}")
            if lookup.problem:
                entries.append(f"! {lookup.problem}")
        for index, failure in enumerate(step.failures):
            tried = NEXT if index < len(step.failures) - 1 or step.response is not None else ""
            entries.append(f"! {failure.sentence}{tried}")
        if step.server is not None and step.response is not None:
            via = " (TCP)" if step.used_tcp else ""
            entries.append(f"{step.server}{via} · {step.milliseconds:.0f} ms")
            entries.append(_outcome(step))
        else:
            entries.append(f"no usable answer · {step.milliseconds:.0f} ms")
        prefix = f"{number:<2} {step.zone.to_text():<{width}}  "
        lines.append(prefix + entries[0])
        lines += [" " * len(prefix) + entry for entry in entries[1:]]
    return lines, number


def _records(rrsets: list[dns.rrset.RRset], dnssec: bool) -> list[str]:
    return [
        line
        for rrset in rrsets
        if dnssec or rrset.rdtype not in (dns.rdatatype.RRSIG, dns.rdatatype.NSEC)
        for line in rrset.to_text().splitlines()
    ]


def answer_parts(result: trace.Trace, dnssec: bool) -> list[Part]:
    answer: list[str] = []
    authority: list[str] = []
    for walk in result.walks:
        if walk.response is None:
            continue
        answer += _records(walk.response.answer, dnssec)
        if walk is result.walks[-1] and not walk.response.answer:
            authority += _records(walk.response.authority, dnssec)
    if answer:
        return [code([";; ANSWER SECTION:", *answer], unit="records")]
    if authority:
        return [code([";; AUTHORITY SECTION:", *authority], unit="records")]
    return []


def problems(result: trace.Trace) -> list[str]:
    found = [w.problem for w in result.walks if w.problem]
    return [*found, result.problem] if result.problem else found


def render(shown: str, result: trace.Trace, dnssec: bool = False) -> Reply:
    type_name = dns.rdatatype.to_text(result.rdtype)
    lines: list[str] = []
    number = 0
    for walk in result.walks:
        if walk is not result.walks[0]:
            lines.append(f"   CNAME → {walk.name}: from the known servers of {walk.start}")
        more, number = step_lines(walk, number)
        lines += more
    response = result.response
    status = dns.rcode.to_text(response.rcode()) if response is not None else "no answer"
    header = (
        f"*{shown}* {type_name} +trace · {status} · {result.queries} "
        f"quer{'y' if result.queries == 1 else 'ies'} · {result.milliseconds:.0f} ms"
    )
    parts: list[Part] = [text(header), code(lines)]
    if response is not None and response.rcode() == dns.rcode.NXDOMAIN:
        parts.append(text(f"{shown} does not exist (NXDOMAIN)."))
    elif response is not None and not response.answer and not problems(result):
        parts.append(text(f"{shown} exists but has no {type_name} records (NODATA)."))
    parts += answer_parts(result, dnssec)
    parts += [text(problem) for problem in problems(result)]
    failed = response is None
    summary = f"{shown} {type_name} +trace: " + (
        problems(result)[0] if failed and problems(result) else status
    )
    return Reply(summary=summary, parts=tuple(parts), is_error=failed)
