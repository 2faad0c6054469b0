"""/mail answers as a neutral `Reply`: the verdict, the findings worst first, then the facts.

Made to fit one Slack message: the findings share as few text blocks as fit
3000 characters each, and each check is a title and one code block, so a
full audit stays near 25 of Slack's 50 blocks.
"""

from __future__ import annotations

from chatbot.mail import findings as f
from chatbot.mail.audit import Report
from chatbot.reply import Part, Reply, code, context, text

ICONS = {"problem": ":x:", "warning": ":warning:", "info": ":information_source:"}
TEXT_BUDGET = 2800  # under Slack's 3000 per section, leaving room for escaping


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def verdict(found: list[f.Finding]) -> tuple[str, str]:
    """The headline with icons, and the same in plain words."""
    problems, warnings = f.count(found, "problem"), f.count(found, "warning")
    if problems:
        plain = _plural(problems, "problem") + (
            f", {_plural(warnings, 'warning')}" if warnings else ""
        )
        icons = f":x: {_plural(problems, 'problem')}" + (
            f", :warning: {_plural(warnings, 'warning')}" if warnings else ""
        )
        return icons, plain
    if warnings:
        return f":warning: {_plural(warnings, 'warning')}, no problems", (
            f"{_plural(warnings, 'warning')}, no problems"
        )
    return ":white_check_mark: no problems found", "no problems found"


def line(finding: f.Finding) -> str:
    todo = f" _{finding.todo}_" if finding.todo else ""
    return f"{ICONS[finding.severity]} *{finding.check}*: {finding.what}{todo}"


def _packed(lines: list[str]) -> list[Part]:
    """Lines joined into as few text parts as fit a Slack section each."""
    parts: list[Part] = []
    chunk: list[str] = []
    for item in lines:
        item = item if len(item) <= TEXT_BUDGET else item[: TEXT_BUDGET - 1] + "…"
        if chunk and len("\n".join([*chunk, item])) > TEXT_BUDGET:
            parts.append(text("\n".join(chunk)))
            chunk = []
        chunk.append(item)
    if chunk:
        parts.append(text("\n".join(chunk)))
    return parts


def render(report: Report) -> Reply:
    found = report.findings
    icons, plain = verdict(found)
    parts: list[Part] = [text(f"*{report.shown}*: {icons}")]
    parts += _packed([line(x) for x in found])
    for check in report.checks:
        parts.append(text(f"*{check.title}*"))
        parts.append(code(check.facts, unit="lines"))
    parts.append(
        context(
            f"{len(report.checks)} checks at once in {report.milliseconds:.0f} ms · "
            f"{report.queries} DNS queries"
        )
    )
    return Reply(summary=f"{report.shown}: {plain}", parts=tuple(parts))
