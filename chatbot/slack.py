"""The Slack edge: request text in, Block Kit messages out.

Everything Slack-specific (link wrapping, mrkdwn escaping, block limits,
response types) lives here so the commands never see it.
"""

from __future__ import annotations

import html
import re
from typing import Any

from chatbot.arguments import FOLD
from chatbot.reply import Part, Reply

# A Block Kit block as Slack's JSON. Built as plain dicts: slack_sdk's model
# objects gave the same JSON at several times the cost, on every answer.
Block = dict[str, Any]

SECTION_LIMIT = 3000  # characters of text in one section block
BLOCK_LIMIT = 50  # blocks in one message
FENCE = "```"

# <https://example.com|example.com>, <mailto:a@b.c|a@b.c>, <#C123|name>, <@U123>
_WRAPPED = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
_BACKTICK_RUN = re.compile(r"`(?=`)")


def _unwrap(match: re.Match[str]) -> str:
    target, label = match.group(1), match.group(2)
    if target.startswith("mailto:"):
        return target.removeprefix("mailto:")
    if target.startswith(("http://", "https://")):
        # Slack links bare names it thinks are domains: the label is what the
        # user typed, the target may have gained a scheme they never wrote.
        return label if label else target
    return label or target


def normalize_text(text: str) -> str:
    """What the user typed, before Slack wrapped, escaped and prettified it."""
    text = _WRAPPED.sub(_unwrap, text)
    return html.unescape(text).translate(FOLD).strip()


def escape(text: str) -> str:
    # Slack's three control characters in mrkdwn; everything else is literal.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def defuse_fences(line: str) -> str:
    """Code-block text in which no run of backticks can close the block early.

    A TXT record holding ``` would end Slack's code block and the rest of the
    answer would render as markup. A zero-width space after each backtick that
    precedes another keeps every character of the record, and its look, while
    no three backticks stay adjacent. (A look-alike such as U+02CB would also
    work but changes what the reader sees; both change a copied byte.)
    """
    return _BACKTICK_RUN.sub("`\u200b", line)


def _code_blocks(part: Part, room: int) -> tuple[list[Block], int]:
    """Code lines packed into as few sections as fit; returns blocks and lines left out."""
    budget = SECTION_LIMIT - 2 * len(FENCE) - 2
    blocks: list[Block] = []
    chunk: list[str] = []
    size = 0
    for index, raw in enumerate(part.lines):
        line = defuse_fences(escape(raw))
        if len(line) > budget:
            line = line[: budget - 1] + "…"
        if chunk and size + len(line) + 1 > budget:
            if len(blocks) == room:
                return blocks, len(part.lines) - index + len(chunk)
            blocks.append(_section(f"{FENCE}\n" + "\n".join(chunk) + f"\n{FENCE}"))
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk:
        if len(blocks) == room:
            return blocks, len(chunk)
        blocks.append(_section(f"{FENCE}\n" + "\n".join(chunk) + f"\n{FENCE}"))
    return blocks, 0


def _mrkdwn(text: str) -> Block:
    # Keys in the order slack_sdk's to_dict() wrote them, an empty text left
    # out as it left it out: the JSON stays byte for byte what it was.
    return {"text": text, "type": "mrkdwn"} if text else {"type": "mrkdwn"}


def _section(text: str) -> Block:
    return {"text": _mrkdwn(text), "type": "section"}


def _context(text: str) -> Block:
    return {"elements": [_mrkdwn(text)], "type": "context"}


def _text_block(part: Part) -> Block:
    body = escape(part.text)
    if len(body) > SECTION_LIMIT:
        body = body[: SECTION_LIMIT - 1] + "…"
    if part.kind == "context":
        return _context(body)
    return _section(body)


def blocks(reply: Reply) -> list[dict[str, Any]]:
    """Block Kit blocks for a reply, cut to Slack's limits with a note saying what was cut."""
    out: list[Block] = []
    # One block is always kept free for the note about what was cut.
    room = BLOCK_LIMIT - 1
    left_out: dict[str, int] = {}
    for part in reply.parts:
        if len(out) >= room:
            if part.kind == "code":
                left_out[part.unit] = left_out.get(part.unit, 0) + len(part.lines)
            continue
        if part.kind == "code":
            made, cut = _code_blocks(part, room - len(out))
            out.extend(made)
            if cut:
                left_out[part.unit] = left_out.get(part.unit, 0) + cut
        else:
            out.append(_text_block(part))
    if left_out:
        counts = ", ".join(f"{n} {unit}" for unit, n in left_out.items())
        out.append(_context(f"… {counts} left out to fit Slack."))
    return out


def message(reply: Reply, response_type: str) -> dict[str, Any]:
    """A slash-command response body: inline answer or `response_url` payload."""
    return {
        # Errors only concern the person who typed the command.
        "response_type": "ephemeral" if reply.is_error else response_type,
        "text": escape(reply.summary)[:SECTION_LIMIT],
        "blocks": blocks(reply),
    }
