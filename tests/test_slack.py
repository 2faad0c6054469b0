from __future__ import annotations

from typing import Any

import pytest

from chatbot import arguments, slack
from chatbot.commands import COMMANDS, Invocation
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


# --- buttons ------------------------------------------------------------------------


def _buttons(message: dict[str, Any]) -> list[tuple[str, str, str]]:
    found = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    return [(b["text"]["text"], b["action_id"], b["value"]) for b in found]


ANSWER = Reply("ok", (text("ok"),))


def test_an_ephemeral_answer_gets_share_and_run_again_last() -> None:
    message = slack.message(ANSWER, "ephemeral", rerun="/dig example.com MX")
    assert message["blocks"][-1]["type"] == "actions"
    assert _buttons(message) == [
        ("Share in channel", "share", "/dig example.com MX"),
        ("Run again", "run_again", "/dig example.com MX"),
    ]


def test_an_answer_in_the_channel_gets_run_again_only() -> None:
    message = slack.message(ANSWER, "in_channel", rerun="/dig example.com")
    assert _buttons(message) == [("Run again", "run_again", "/dig example.com")]


@pytest.mark.parametrize(
    "reply",
    [
        Reply.error("nope"),
        Reply.error("Give one host.", text("Usage: `/tls host`"), usage=True),
        COMMANDS["dig"].usage,
        COMMANDS["dig"].acknowledgement(Invocation("example.com")),
    ],
    ids=["error", "usage error", "help", "acknowledgement"],
)
def test_no_buttons_but_on_answers(reply: Reply) -> None:
    # The acknowledgement is an answer in shape: it is shown without a command line.
    rerun = "" if reply.summary.startswith("Looking up") else "/dig example.com"
    assert _buttons(slack.message(reply, "ephemeral", rerun=rerun)) == []


def test_a_command_line_too_long_for_a_button_gets_none_rather_than_a_cut_one() -> None:
    longest = "/hello " + "x" * (slack.VALUE_LIMIT - len("/hello "))
    assert len(_buttons(slack.message(ANSWER, "ephemeral", rerun=longest))) == 2
    assert _buttons(slack.message(ANSWER, "ephemeral", rerun=longest + "x")) == []


def test_a_long_answer_keeps_room_for_its_note_and_buttons() -> None:
    lines = [f"record {i:05d} " + "z" * 90 for i in range(5000)]
    reply = Reply("s", (text("header"), code(lines, unit="records")))
    message = slack.message(reply, "ephemeral", rerun="/dig x", note="shared by someone")
    blocks = message["blocks"]
    assert len(blocks) == slack.BLOCK_LIMIT
    assert [b["type"] for b in blocks[-3:]] == ["context", "context", "actions"]
    assert "records left out to fit Slack" in blocks[-3]["elements"][0]["text"]
    assert blocks[-2]["elements"][0]["text"] == "shared by someone"


def test_the_shared_note_names_the_user_and_quotes_the_command() -> None:
    assert slack.shared_note("U012ABC", "/dig a&b <c>") == (
        "shared by <@U012ABC> · `/dig a&amp;b &lt;c&gt;`"
    )
    # A backtick would end the inline code early; a user id that is not one stays out.
    assert slack.shared_note("<!here>", "/hello `x`") == "shared by someone · /hello `x`"
    assert len(slack.shared_note("U1", "/hello " + "x" * 5000)) < 300


def test_the_rerun_note_says_when_in_the_readers_time_zone() -> None:
    note = slack.rerun_note("W1", "/dig example.com", when=1_700_000_000)
    assert note == (
        "run again by <@W1> <!date^1700000000^{date_short_pretty} at {time_secs}|"
        "2023-11-14 22:13:20 UTC> · `/dig example.com`"
    )


def test_a_summary_gets_a_button_per_text_part() -> None:
    reply = Reply("s", (text("*a.example*\naddresses: 1"), text("*b.example*")))
    message = slack.summary_message(reply, ["/tls a.example", "/dig b.example MX"])
    assert message["response_type"] == "ephemeral"
    accessories = [b["accessory"] for b in message["blocks"]]
    assert [(a["text"]["text"], a["action_id"], a["value"]) for a in accessories] == [
        ("Run /tls", "run", "/tls a.example"),
        ("Run /dig", "run", "/dig b.example MX"),
    ]
    assert message["blocks"][0]["text"]["text"] == "*a.example*\naddresses: 1"
    plain_text = slack.summary_message(Reply("s", (text("nothing found"),)), [])
    assert plain_text["blocks"] == [
        {"text": {"text": "nothing found", "type": "mrkdwn"}, "type": "section"}
    ]
