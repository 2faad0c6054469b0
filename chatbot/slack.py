"""The Slack edge: request text in, Block Kit messages out.

Everything Slack-specific (link wrapping, mrkdwn escaping, block limits,
response types) lives here so the commands never see it.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from chatbot.arguments import FOLD
from chatbot.reply import Part, Reply

# Blocks are slack_sdk's model objects: its to_dict() writes Slack's JSON and
# checks Slack's own limits on each (3000 characters of section text, ten
# context elements, ...), so a packing mistake here fails loudly, not in Slack.
# (Plain dicts would cost about 30 us less an answer; the SDK is the reference.)

SECTION_LIMIT = 3000  # characters of text in one section block
BLOCK_LIMIT = 50  # blocks in one message
VALUE_LIMIT = 2000  # characters of a button's value
FENCE = "```"

# The buttons' action_ids: what /slack/interactions (chatbot.interactions) acts on.
SHARE = "share"  # post the answer in the channel, remove the ephemeral original
RUN_AGAIN = "run_again"  # run it again and replace the message clicked on
RUN = "run"  # run a command from a summary (Check hosts) as a new answer
# A user id from Slack, before it goes into markup as <@U…>.
_USER_ID = re.compile(r"[UW][A-Z0-9]{1,30}")

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


def _section(text: str, accessory: ButtonElement | None = None) -> Block:
    return SectionBlock(text=MarkdownTextObject(text=text), accessory=accessory)


def _context(text: str) -> Block:
    return ContextBlock(elements=[MarkdownTextObject(text=text)])


def _part_text(part: Part) -> str:
    body = escape(part.text)
    if len(body) > SECTION_LIMIT:
        body = body[: SECTION_LIMIT - 1] + "…"
    return body


def _text_block(part: Part) -> Block:
    if part.kind == "context":
        return _context(_part_text(part))
    return _section(_part_text(part))


def _button(label: str, action_id: str, value: str) -> ButtonElement:
    return ButtonElement(text=label, action_id=action_id, value=value)


def _actions(buttons: list[ButtonElement]) -> Block:
    return ActionsBlock(elements=buttons)


def blocks(reply: Reply, reserve: int = 0) -> list[dict[str, Any]]:
    """Block Kit blocks for a reply as Slack's JSON; see `_blocks`."""
    return [block.to_dict() for block in _blocks(reply, reserve)]


def _blocks(reply: Reply, reserve: int = 0) -> list[Block]:
    """Block Kit blocks for a reply, cut to Slack's limits with a note saying what was cut.

    `reserve` blocks are left free for what the caller adds after them (a
    context line, the buttons).
    """
    out: list[Block] = []
    # One block is always kept free for the note about what was cut.
    room = BLOCK_LIMIT - 1 - reserve
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


def command_line(command: str, text: str) -> str:
    """`/dig example.com MX`: what a button carries to redo the work."""
    return f"/{command} {text}" if text else f"/{command}"


def answer_buttons(reply: Reply, response_type: str, line: str) -> Block | None:
    """ "Share in channel" (ephemeral answers only) and "Run again", or None.

    Only answers get them: not usage texts, errors or refusals. A command line
    longer than a button's value can hold gets no buttons rather than a cut one
    that would run something else.
    """
    if not line or reply.is_error or reply.is_usage or len(line) > VALUE_LIMIT:
        return None
    buttons = [_button("Run again", RUN_AGAIN, line)]
    if response_type == "ephemeral":
        buttons.insert(0, _button("Share in channel", SHARE, line))
    return _actions(buttons)


def message(reply: Reply, response_type: str, *, rerun: str = "", note: str = "") -> dict[str, Any]:
    """A slash-command response body: inline answer or `response_url` payload.

    `rerun` is the command line the answer's buttons redo (none without it);
    `note` is a context line of our own mrkdwn (see `shared_note`) shown last.
    """
    # Errors only concern the person who typed the command.
    response_type = "ephemeral" if reply.is_error else response_type
    extra = [_context(note)] if note else []
    buttons = answer_buttons(reply, response_type, rerun)
    if buttons is not None:
        extra.append(buttons)
    return {
        "response_type": response_type,
        "text": escape(reply.summary)[:SECTION_LIMIT],
        "blocks": [block.to_dict() for block in (*_blocks(reply, reserve=len(extra)), *extra)],
    }


def summary_message(reply: Reply, lines: Sequence[str]) -> dict[str, Any]:
    """An ephemeral summary whose n-th text part gets a button running the n-th line.

    For "Check hosts": a text part per host, each with "Run /tls" or "Run /dig"
    for the full answer. A line too long for a button's value leaves its part
    without one.
    """
    if reply.is_error:
        return message(reply, "ephemeral")
    out: list[Block] = []
    waiting = iter(lines)
    for part in reply.parts:
        if len(out) >= BLOCK_LIMIT:
            break
        if part.kind == "code":
            out.extend(_code_blocks(part, BLOCK_LIMIT - len(out))[0])
            continue
        line = next(waiting, "") if part.kind == "text" else ""
        if line and len(line) <= VALUE_LIMIT:
            label = "Run " + line.split(" ", 1)[0]
            out.append(_section(_part_text(part), _button(label, RUN, line)))
        else:
            out.append(_text_block(part))
    return {
        "response_type": "ephemeral",
        "text": escape(reply.summary)[:SECTION_LIMIT],
        "blocks": [block.to_dict() for block in out],
    }


def _inline_code(line: str, limit: int = 200) -> str:
    """A command line as inline code in a context line, or as plain text if it holds a backtick."""
    if len(line) > limit:
        line = line[: limit - 1] + "…"
    return escape(line) if "`" in line else f"`{escape(line)}`"


def _user(user_id: str) -> str:
    return f"<@{user_id}>" if _USER_ID.fullmatch(user_id) else "someone"


def shared_note(user_id: str, line: str) -> str:
    """The context line under a shared answer: who shared it, and what it ran."""
    return f"shared by {_user(user_id)} · {_inline_code(line)}"


def rerun_note(user_id: str, line: str, when: float | None = None) -> str:
    """The context line under an answer run again: who, when (in the reader's time zone)."""
    stamp = int(time.time() if when is None else when)
    fallback = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(stamp))
    moment = f"<!date^{stamp}^{{date_short_pretty}} at {{time_secs}}|{fallback}>"
    return f"run again by {_user(user_id)} {moment} · {_inline_code(line)}"
