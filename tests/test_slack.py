from __future__ import annotations

import pytest

from chatbot import arguments, slack
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


def test_slack_and_the_cli_fold_the_same_characters() -> None:
    """One table (arguments.FOLD) for the Slack edge and the word splitter."""
    for code_point, plain in arguments.FOLD.items():
        typed = f"a{chr(code_point)}b"
        assert slack.normalize_text(typed) == typed.translate(arguments.FOLD) == f"a{plain}b"
        assert arguments.split(typed) == arguments.split(slack.normalize_text(typed))


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


FENCE_RECORDS = {
    ("fence.test.", "TXT"): [
        '"before ``` *bold* <!here> after"',
        '"```"',
        '"ends with ``"',
        '"`single` and ```` four"',
    ]
}


async def test_a_txt_record_cannot_close_the_code_block() -> None:
    """Issue 9: a TXT record holding ``` ended the block and the rest rendered as markup."""
    from chatbot.dns import command as dig
    from chatbot.dns import query
    from tests.servers.dns import DNSServer

    with DNSServer(records=FENCE_RECORDS).running() as server:
        options = query.Options(resolvers=(query.parse_server(server.address),), timeout=1)
        reply = await dig.run("fence.test TXT", options)
    made = slack.blocks(reply)
    sections = [b["text"]["text"] for b in made if b["type"] == "section"]
    code_blocks = [text for text in sections if text.startswith("```\n")]
    assert len(code_blocks) == 1
    body = code_blocks[0]
    # The block's own fences are the only three-backtick runs left.
    assert body.count("```") == 2 and body.endswith("\n```")
    assert "``" not in body[3:-3]
    # Every record is still there, character for character, once the spaces are removed.
    shown = body.replace("\u200b", "")
    for record in FENCE_RECORDS[("fence.test.", "TXT")]:
        assert slack.escape(record) in shown


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("plain", "plain"),
        ("`one`", "`one`"),
        ("``", "`\u200b`"),
        ("a```b", "a`\u200b`\u200b`b"),
    ],
)
def test_defuse_fences(line: str, shown: str) -> None:
    assert slack.defuse_fences(line) == shown
