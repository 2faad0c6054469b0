"""Terminal text: what Slack would show, without Slack's markup."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

import chatbot
from chatbot import slack, terminal
from chatbot.mail import render as mail_render
from chatbot.reply import Reply, code, context, text

SOURCE = Path(chatbot.__file__).parent
# An emoji code in a string literal: ":warning:", not "::ffff:" or "port:".
EMOJI = re.compile(r"(?<![\w:]):([a-z][a-z_]*):(?![\w:])")


def test_every_emoji_code_the_commands_use_has_a_symbol() -> None:
    used = {
        name
        for path in SOURCE.rglob("*.py")
        if path.name != "terminal.py"
        for name in EMOJI.findall(path.read_text(encoding="utf-8"))
    }
    assert {"x", "warning", "white_check_mark", "rotating_light"} <= used, used
    assert used <= set(terminal.SYMBOLS), f"no terminal symbol for {used - set(terminal.SYMBOLS)}"


@pytest.mark.parametrize(
    ("mrkdwn", "shown"),
    [
        # Markup the replies add goes.
        ("*example.com* MX · NOERROR · 23 ms", "example.com MX · NOERROR · 23 ms"),
        (
            ":x: *www.expired.test* A is *bogus*: it fails.",
            "✗ www.expired.test A is bogus: it fails.",
        ),
        (":white_check_mark: *a.test on 127.0.0.1*: valid", "✓ a.test on 127.0.0.1: valid"),
        (":warning: Expires in 10 days.", "⚠ Expires in 10 days."),
        (":rotating_light: Expires in 2 days.", "‼ Expires in 2 days."),
        (":information_source: *TLS-RPT*: none", "\u2139 TLS-RPT: none"),
        (":grey_question: *a.test* A: no verdict.", "? a.test A: no verdict."),
        ("Usage: `/dig name [type ...]`", "Usage: /dig name [type ...]"),
        (
            ":x: *SPF*: too many lookups. _Drop includes you no longer use._",
            "✗ SPF: too many lookups. Drop includes you no longer use.",
        ),
        (
            "_Publish `v=TLSRPTv1; rua=mailto:...` at _smtp._tls.example.test._",
            "Publish v=TLSRPTv1; rua=mailto:... at _smtp._tls.example.test.",
        ),
        (
            "no key at weak._domainkey.example.test: it fails. _Publish the key._",
            "no key at weak._domainkey.example.test: it fails. Publish the key.",
        ),
        ("(*this*), *that*: and *those*.", "(this), that: and those."),
        # What Slack shows literally stays: data is not markup.
        ("it covers *.example.test and www.example.test", None),
        ("it covers *.a.test, *.b.test", None),
        ("_dmarc.example.test has no record", None),
        ("5 * 3 and a_b_c and snake_case_name", None),
        ("2001:db8::1 and ::ffff:192.0.2.1 and 10:30:00 and :nope:", None),
        ("a lone ` backtick and ** and __", None),
        ("I received `*x* _y_ :x:`", "I received *x* _y_ :x:"),
        ("*bold _and italic_* ~gone~", "bold and italic gone"),
    ],
)
def test_inline(mrkdwn: str, shown: str | None) -> None:
    assert terminal.inline(mrkdwn) == (mrkdwn if shown is None else shown)


def test_code_lines_are_printed_as_they_are() -> None:
    records = ['fence.test. 300 IN TXT "```" "*bold* <!here> &amp; {0} %s"', ":x: `a` _b_"]
    reply = Reply("s", (text("*fence.test* TXT"), code(records), context("server `x`")))
    assert terminal.render(reply).splitlines() == ["fence.test TXT", *records, "server x"]


def test_a_real_mail_verdict() -> None:
    icons, words = mail_render.verdict([])
    assert terminal.inline(icons) == "✓ " + words


def test_colour() -> None:
    shown = terminal.inline(":x: *a.test*: `b` _c_", colour=True)
    assert shown == ("\033[31m✗\033[0m \033[1ma.test\033[0m: \033[36mb\033[0m \033[3mc\033[0m")
    # Small print is dim throughout, its bold on top.
    assert terminal.inline("via *x*", colour=True, small=True) == (
        "\033[2mvia \033[0m\033[2;1mx\033[0m"
    )
    lines = terminal.render(Reply("s", (text("*a*"), code(["*a*"]))), colour=True)
    assert lines.splitlines()[1] == "*a*"  # records are never styled


class Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("tty", "environ", "expected"),
    [
        (True, {}, True),
        (True, {"NO_COLOR": ""}, True),  # no-color.org: set *and not empty*
        (True, {"NO_COLOR": "1"}, False),
        (True, {"TERM": "dumb"}, False),
        (False, {}, False),
    ],
)
def test_colour_only_on_a_terminal(tty: bool, environ: dict[str, str], expected: bool) -> None:
    assert terminal.use_colour(Stream(tty), environ) is expected


def test_a_slack_message_reads_as_the_reply_it_was_made_from() -> None:
    reply = Reply(
        "summary",
        (
            text(":warning: *a & b* <c> `d`"),
            code(["x ``` y", "<&>"]),
            context("small & *print*"),
        ),
    )
    message = slack.message(reply, "ephemeral", rerun="/dig x")
    assert terminal.message_text(message) == terminal.render(reply)
    assert terminal.message_text(message, colour=True) == terminal.render(reply, colour=True)


@pytest.mark.parametrize(
    ("markup", "shown"),
    [
        ("<@U0123>", "@U0123"),
        ("<#C0123|general>", "#general"),
        ("<!here>", "@here"),
        (
            "<!date^0^{date_short_pretty} at {time_secs}|1970-01-01 00:00:00 UTC>",
            "1970-01-01 00:00:00 UTC",
        ),
        ("<https://example.com/x|example.com>", "example.com"),
        ("<https://example.com/x>", "https://example.com/x"),
        ("<mailto:a@example.com|a@example.com>", "a@example.com"),
        ("&lt;@U1&gt; &amp;", "<@U1> &"),  # text a user typed, escaped: not markup
    ],
)
def test_slack_markup_in_messages(markup: str, shown: str) -> None:
    message = {"blocks": [{"type": "context", "elements": [{"type": "mrkdwn", "text": markup}]}]}
    assert terminal.message_text(message) == shown


def test_not_a_message() -> None:
    assert terminal.message_text(["blocks"]) is None
    assert terminal.message_text({"text": "a &lt; *b*"}) == "a < b"
