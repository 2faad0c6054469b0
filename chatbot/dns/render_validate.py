"""+validate as a `Reply`: the verdict, what to fix, and the chain as far as it holds."""

from __future__ import annotations

import dns.rdatatype

from chatbot.dns import render_trace, validate
from chatbot.reply import Part, Reply, code, context, text

HEADLINES = {
    "secure": ":white_check_mark: *{shown}* {type} is *secure*: every link from the root's "
    "trust anchor down to the answer verifies.",
    "insecure": ":warning: *{shown}* {type} is *insecure*: the answer is not signed, "
    "and DNSSEC proves it need not be.",
    "bogus": ":x: *{shown}* {type} is *bogus*: DNSSEC validation fails, so validating "
    "resolvers answer SERVFAIL.",
    "indeterminate": ":grey_question: *{shown}* {type}: no DNSSEC verdict.",
}


def render(shown: str, validation: validate.Validation) -> Reply:
    verdict = validation.verdict
    result = validation.trace
    type_name = dns.rdatatype.to_text(result.rdtype)
    parts: list[Part] = [text(HEADLINES[verdict.status].format(shown=shown, type=type_name))]
    if verdict.reason:
        parts.append(text(verdict.reason))
    if verdict.chain:
        title = "Chain of trust" if verdict.status == "secure" else "Chain of trust up to there"
        parts.append(text(f"*{title}*"))
        parts.append(code(verdict.chain))
    if verdict.status == "indeterminate":
        lines, _ = render_trace.step_lines(result.walks[-1], 0) if result.walks else ([], 0)
        if lines:
            parts.append(code(lines))
    parts += render_trace.answer_parts(result, dnssec=False)
    zones = {s.zone for walk in result.walks for s in walk.steps}
    parts.append(
        context(
            f"data from {validation.source} ({len(zones)} zones, {result.queries} queries) · "
            f"trust anchor: {validation.anchors.source} ({validation.anchors.tags()}) · "
            f"{verdict.signatures} signatures verified · {validation.milliseconds:.0f} ms"
        )
    )
    summary = f"{shown} {type_name} +validate: {verdict.status}"
    if verdict.reason and verdict.status != "secure":
        summary += f": {verdict.reason}"
    return Reply(summary=summary, parts=tuple(parts), is_error=verdict.status == "indeterminate")
