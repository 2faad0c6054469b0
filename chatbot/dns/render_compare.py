"""+compare as a `Reply`: one table of who says what, then the findings in sentences."""

from __future__ import annotations

import dns.flags
import dns.rdatatype

from chatbot.dns import compare
from chatbot.reply import Part, Reply, code, text


def table(comparison: compare.Comparison) -> list[str]:
    rows = [("server", "answer", "TTL", "serial", "AA")]
    for row in comparison.rows:
        answer = compare.answer_of(row, comparison.name, comparison.rdtype)
        ttl = compare.ttl_of(row, comparison.name)
        authoritative = row.kind == "authoritative"
        aa = ""
        if authoritative and row.response is not None:
            aa = "yes" if row.response.flags & dns.flags.AA else "no"
        rows.append(
            (
                row.name,
                answer,
                "" if ttl is None else str(ttl),
                str(row.serial) if authoritative and row.serial is not None else "",
                aa,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(r, widths, strict=True)).rstrip()
        for r in rows
    ]


def render(shown: str, comparison: compare.Comparison, timeout: float) -> Reply:
    type_name = dns.rdatatype.to_text(comparison.rdtype)
    resolvers = sum(1 for r in comparison.rows if r.kind == "resolver")
    authoritative = len(comparison.rows) - resolvers
    zone = f" of {comparison.zone}" if comparison.zone is not None else ""
    header = (
        f"*{shown}* {type_name} +compare · {resolvers} resolvers, {authoritative} "
        f"authoritative server{'s' if authoritative != 1 else ''}{zone} · "
        f"{comparison.milliseconds:.0f} ms"
    )
    findings = compare.findings(comparison, timeout)
    parts: list[Part] = [text(header), code(table(comparison))]
    parts += [text(f"• {finding}") for finding in findings]
    return Reply(summary=f"{shown} {type_name} +compare: {findings[0]}", parts=tuple(parts))
