from __future__ import annotations

import pytest

from chatbot import slack
from chatbot.reply import Reply, code, context, text


@pytest.mark.parametrize(
    ("typed", "plain"),
    [
        ("<http://example.com|example.com> MX", "example.com MX"),
        ("<https://example.com>", "https://example.com"),
        ("<https://example.com/path|example.com/path>", "example.com/path"),
        ("<mailto:a@example.com|a@example.com>", "a@example.com"),
        ("\u201cexample.com\u201d \u2018TXT\u2019", "\"example.com\" 'TXT'"),
        ("a &amp; b &lt;c&gt;", "a & b <c>"),
        ("\u2014short", "--short"),
        ("  spaced  ", "spaced"),
    ],
)
def test_normalize_text(typed: str, plain: str) -> None:
    assert slack.normalize_text(typed) == plain


def test_message_escapes_slack_control_characters() -> None:
    reply = Reply(summary="<a> & b", parts=(text("<!channel> & co"), code(['"<script>"'])))
    message = slack.message(reply, "in_channel")
    assert message["text"] == "&lt;a&gt; &amp; b"
    assert message["blocks"][0]["text"]["text"] == "&lt;!channel&gt; &amp; co"
    assert "&lt;script&gt;" in message["blocks"][1]["text"]["text"]
    assert message["response_type"] == "in_channel"


def test_errors_are_always_ephemeral() -> None:
    assert slack.message(Reply.error("nope"), "in_channel")["response_type"] == "ephemeral"


def test_parts_become_blocks() -> None:
    made = slack.blocks(Reply("s", (text("t"), context("c"), code(["x", "y"]))))
    assert [b["type"] for b in made] == ["section", "context", "section"]
    assert made[2]["text"]["text"] == "```\nx\ny\n```"


def test_long_code_is_split_and_cut_with_a_count() -> None:
    lines = [f"record {i:05d} " + "z" * 90 for i in range(5000)]
    made = slack.blocks(Reply("s", (text("header"), code(lines, unit="records"))))
    assert len(made) == slack.BLOCK_LIMIT
    sections = [b["text"]["text"] for b in made if b["type"] == "section"]
    assert all(len(s) <= slack.SECTION_LIMIT for s in sections)
    shown = sum(s.count("record ") for s in sections)
    assert made[-1]["elements"][0]["text"] == f"… {5000 - shown} records left out to fit Slack."


def test_an_overlong_single_line_is_shortened() -> None:
    made = slack.blocks(Reply("s", (code(["q" * 10_000]),)))
    assert len(made) == 1
    assert len(made[0]["text"]["text"]) <= slack.SECTION_LIMIT
    assert made[0]["text"]["text"].endswith("…\n```")


def test_short_answers_are_not_cut() -> None:
    made = slack.blocks(Reply("s", (code(["a", "b"]),)))
    assert len(made) == 1
