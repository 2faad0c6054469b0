"""Answers as a terminal shows them: symbols for Slack's emoji codes, no mrkdwn markers.

Commands write the sentences of a `Reply` in Slack's mrkdwn (`*bold*`,
`_italic_`, `` `code` ``, `:warning:`), and Slack shows them by its own rules.
This module reads that mrkdwn by the same rules, so a terminal shows what
Slack shows: the markers Slack turns into formatting go (or become ANSI
styles), and whatever Slack would print literally stays, such as the `*` of a
wildcard name or an underscore inside `_dmarc.example.com`. Code parts are
record data and are printed verbatim, never parsed. Slack's own markup in
messages (`<@U123>`, `<!date^…|fallback>`, links, `&lt;`) becomes plain
text in `message_text`, which `chatbot send` prints.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from typing import IO, Any

from chatbot.reply import Reply

# The emoji codes our answers use, as a terminal symbol and its colour (SGR).
SYMBOLS: dict[str, tuple[str, str]] = {
    "white_check_mark": ("✓", "32"),  # green
    "x": ("✗", "31"),  # red
    "warning": ("⚠", "33"),  # yellow
    "rotating_light": ("‼", "1;31"),  # bold red: expiry within days
    "information_source": ("\u2139", "34"),  # blue: information source
    "grey_question": ("?", "33"),
}
# mrkdwn's inline markers and the style each gives (SGR codes).
MARKERS = {"*": "1", "_": "3", "~": "9"}
CODE_STYLE = "36"  # cyan, for `inline code`
SMALL_PRINT = "2"  # dim, for context lines

Segment = tuple[str, tuple[str, ...]]  # text and the SGR codes in force


def use_colour(stream: IO[str], environ: Mapping[str, str] | None = None) -> bool:
    """Colour only on a terminal, and not when NO_COLOR (https://no-color.org) is set."""
    environ = os.environ if environ is None else environ
    if environ.get("NO_COLOR") or environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


# What may stand before an opening marker and after a closing one, besides the
# start or end of the line and white space: `weak._domainkey` and `a*b` stay as
# they are, `(*this*)` and `*this*:` are bold.
OPENS_AFTER = frozenset("([{\"'*_~")
CLOSES_BEFORE = frozenset(".,;:!?)]}\"'*_~-")


def _opens(before: str, after: str) -> bool:
    return (not before or before.isspace() or before in OPENS_AFTER) and bool(after.strip())


def _closing(line: str, start: int, marker: str) -> int:
    """Where the marker opened at `start` closes by Slack's rules, or -1."""
    index = line.find(marker, start + 2)
    while index != -1:
        before = line[index - 1]
        after = line[index + 1] if index + 1 < len(line) else ""
        if not before.isspace() and (not after or after.isspace() or after in CLOSES_BEFORE):
            return index
        index = line.find(marker, index + 1)
    return -1


def _boundary(char: str) -> bool:
    """Whether an emoji code may touch `char`: start, end, space or punctuation."""
    return not char or not char.isalnum()


def segments(line: str, styles: tuple[str, ...] = ()) -> Iterator[Segment]:
    """One line of mrkdwn as text segments with their styles; markers removed."""
    plain: list[str] = []
    index = 0
    while index < len(line):
        char = line[index]
        before = line[index - 1] if index else ""
        after = line[index + 1] if index + 1 < len(line) else ""
        if char == "`":
            end = line.find("`", index + 1)
            if end > index + 1:
                yield "".join(plain), styles
                plain = []
                yield line[index + 1 : end], (*styles, CODE_STYLE)
                index = end + 1
                continue
        elif char in MARKERS and _opens(before, after):
            end = _closing(line, index, char)
            if end != -1 and after != char:
                yield "".join(plain), styles
                plain = []
                yield from segments(line[index + 1 : end], (*styles, MARKERS[char]))
                index = end + 1
                continue
        elif char == ":" and _boundary(before):
            end = line.find(":", index + 1)
            name = line[index + 1 : end] if end != -1 else ""
            following = line[end + 1] if end != -1 and end + 1 < len(line) else ""
            if name in SYMBOLS and _boundary(following):
                symbol, colour = SYMBOLS[name]
                yield "".join(plain), styles
                plain = []
                yield symbol, (*styles, colour)
                index = end + 1
                continue
        plain.append(char)
        index += 1
    yield "".join(plain), styles


def _paint(segments: Iterator[Segment], colour: bool) -> str:
    if not colour:
        return "".join(text for text, _ in segments)
    out: list[str] = []
    for text, styles in segments:
        if not text:
            continue
        out.append(f"\033[{';'.join(styles)}m{text}\033[0m" if styles else text)
    return "".join(out)


def inline(text: str, *, colour: bool = False, small: bool = False) -> str:
    """mrkdwn sentences as terminal text, line by line (Slack's markers never span lines)."""
    base = (SMALL_PRINT,) if small else ()
    return "\n".join(_paint(segments(line, base), colour) for line in text.split("\n"))


def render(reply: Reply, *, colour: bool = False) -> str:
    """A reply as terminal text: sentences without markup, code lines as they are."""
    out: list[str] = []
    for part in reply.parts:
        if part.kind == "code":
            out.extend(part.lines)
        else:
            out.append(inline(part.text, colour=colour, small=part.kind == "context"))
    if not reply.parts:
        out.append(inline(reply.summary, colour=colour))
    return "\n".join(out)


# --- Slack messages (what `chatbot send` receives) ------------------------------------

# Slack's markup in a message: <@U123>, <#C123|name>, <!here>, <!date^…|fallback>,
# <https://x|label>, <mailto:a@b|a@b>. Text a user typed arrives escaped (&lt;),
# so a raw < always opens markup.
_MARKUP = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
# slack.defuse_fences puts a zero-width space between backticks in code blocks.
_DEFUSED = re.compile("(?<=`)\u200b(?=`)")
FENCE = "```"


def _markup(match: re.Match[str]) -> str:
    target, label = match.group(1), match.group(2)
    if target.startswith("@"):
        return label or target  # a user: @U123
    if target.startswith("#"):
        return f"#{label}" if label else target
    if target.startswith("!date^"):
        return label or target
    if target.startswith("!"):
        return f"@{label or target[1:]}"  # <!here>, <!channel>
    if target.startswith("mailto:"):
        return label or target.removeprefix("mailto:")
    return label if label and label != target else target


def unescape(text: str) -> str:
    # Only Slack's three control characters are escaped (slack.escape).
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _mrkdwn(text: str, *, colour: bool, small: bool = False) -> str:
    return unescape(inline(_MARKUP.sub(_markup, text), colour=colour, small=small))


def _section(text: str, colour: bool) -> list[str]:
    if text.startswith(FENCE + "\n") and text.endswith("\n" + FENCE):
        body = text[len(FENCE) + 1 : -len(FENCE) - 1]
        return [unescape(_DEFUSED.sub("", line)) for line in body.split("\n")]
    return [_mrkdwn(text, colour=colour)]


def message_text(payload: Any, *, colour: bool = False) -> str | None:
    """A Slack message as terminal text, the way `render` shows the reply it was made
    from; None when `payload` is not a Slack message."""
    if not isinstance(payload, dict):
        return None
    lines: list[str] = []
    for block in payload.get("blocks") or []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "section":
            body = block.get("text")
            lines.extend(
                _section(str(body.get("text", "")) if isinstance(body, dict) else "", colour)
            )
        elif block.get("type") == "context":
            elements = block.get("elements") or []
            texts = [str(e.get("text", "")) for e in elements if isinstance(e, dict)]
            lines.append(_mrkdwn(" ".join(texts), colour=colour, small=True))
    if not lines:
        lines = [_mrkdwn(str(payload.get("text", "")), colour=colour)]
    return "\n".join(lines)
