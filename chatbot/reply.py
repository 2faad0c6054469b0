"""What a command answers, before anyone decides how to show it.

Commands build a `Reply`; the Slack edge turns it into Block Kit JSON and the
CLI into terminal text (chatbot/terminal.py). Keeping this neutral is what lets
one command serve both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["text", "code", "context"]


@dataclass(frozen=True)
class Part:
    """One piece of an answer.

    `text` parts hold a sentence or two (Slack mrkdwn); `code` parts hold lines
    shown verbatim, each line one `unit` (records, lines) so that an answer cut
    to fit can say how many of them were left out; `context` is small print.
    """

    kind: Kind
    text: str = ""
    lines: tuple[str, ...] = ()
    unit: str = "lines"


@dataclass(frozen=True)
class Reply:
    summary: str
    parts: tuple[Part, ...] = field(default_factory=tuple)
    is_error: bool = False
    # A usage text: help asked for, or (with is_error) an error in what the user
    # typed (the CLI exits 2, the log says "usage").
    is_usage: bool = False

    @classmethod
    def error(cls, message: str, *extra: Part, usage: bool = False) -> Reply:
        return cls(summary=message, parts=(text(message), *extra), is_error=True, is_usage=usage)


def text(body: str) -> Part:
    return Part("text", text=body)


def code(lines: list[str] | tuple[str, ...], unit: str = "lines") -> Part:
    return Part("code", lines=tuple(lines), unit=unit)


def context(body: str) -> Part:
    return Part("context", text=body)


def plain(reply: Reply) -> str:
    """The reply's text with its Slack markup kept, for tests that look for it.

    A terminal gets `chatbot.terminal.render`: symbols instead of emoji codes,
    no mrkdwn markers."""
    out: list[str] = []
    for part in reply.parts:
        if part.kind == "code":
            out.extend(part.lines)
        else:
            out.append(part.text.replace("*", ""))
    return "\n".join(out)
