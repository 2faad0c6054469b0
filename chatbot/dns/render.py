"""/dig answers as a neutral `Reply`: dig's sections, one sentence per outcome."""

from __future__ import annotations

import dns.flags
import dns.rcode
import dns.rdatatype
import dns.rrset

from chatbot.dns.query import Answer, Query
from chatbot.reply import Part, Reply, code, context, text

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
