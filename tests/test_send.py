from __future__ import annotations

import getpass
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import pytest

from chatbot import send, slack
from chatbot.reply import Reply, code, context, text
from chatbot.terminal import render as terminal_text
from tests.servers.dns import DNSServer
from tests.slackreq import SECRET

USER = getpass.getuser()


class Terminal:
    def __init__(self) -> None:
        self.out: list[str] = []
        self.err: list[str] = []

    def send(
        self,
        line: str,
        url: str,
        secret: str = SECRET,
        wait: float = 10.0,
        click: str | None = None,
        raw: bool = False,
        colour: bool = False,
    ) -> int:
        return send.run(
            line,
            url,
            secret,
            wait=wait,
            timeout=10.0,
            out=self.out.append,
            err=self.err.append,
            click=click,
            raw=raw,
            colour=colour,
        )


@pytest.fixture
def terminal() -> Terminal:
    return Terminal()


# --- against the real service ----------------------------------------------------


def test_inline_answer(service: Callable[..., str], terminal: Terminal) -> None:
    status = terminal.send("/hello world", service())
    assert (status, terminal.err) == (0, [])
    assert terminal.out == [f"Hello {USER}, I received world"]


def test_deferred_answer_is_collected_at_the_receiver(
    service: Callable[..., str], terminal: Terminal
) -> None:
    base = service(inline_budget_seconds=0)
    status = terminal.send("/hello there & <back>", base)
    assert (status, terminal.err) == (0, [])
    assert terminal.out == [
        "Looking up there & <back>, the answer follows.",
        f"Hello {USER}, I received there & <back>",
    ]


def test_deferred_dig_prints_records_as_plain_text(
    service: Callable[..., str], terminal: Terminal, dns_server: DNSServer
) -> None:
    status = terminal.send("/dig example.test MX", service(inline_budget_seconds=0))
    assert status == 0, terminal.err
    immediate, deferred = terminal.out
    assert immediate == "Looking up example.test MX, the answer follows."
    assert "example.test. 300 IN MX 10 mail.example.test." in deferred
    assert "```" not in deferred and "&gt;" not in deferred
    assert ("udp", "example.test.", "MX") in dns_server.queries


def test_inline_dig_is_printed_once(
    service: Callable[..., str], terminal: Terminal, dns_server: DNSServer
) -> None:
    assert terminal.send("/dig example.test MX", service()) == 0
    assert len(terminal.out) == 1
    assert "example.test. 300 IN MX 20 backup.example.test." in terminal.out[0]


def test_json_prints_each_message_as_slack_sent_it(
    service: Callable[..., str], terminal: Terminal, dns_server: DNSServer
) -> None:
    status = terminal.send("/dig example.test MX", service(inline_budget_seconds=0), raw=True)
    assert (status, terminal.err) == (0, [])
    assert all("\n" not in line for line in terminal.out)  # one message a line
    acknowledged, answer = (json.loads(line) for line in terminal.out)
    assert acknowledged == {
        "response_type": "ephemeral",
        "text": "Looking up example.test MX, the answer follows.",
        "blocks": [],
    }
    assert answer["text"] == "example.test MX: NOERROR"
    assert answer["blocks"][0]["text"]["text"].startswith("*example.test* MX · NOERROR · ")
    assert any(
        block.get("text", {}).get("text", "").startswith("```\n;; ANSWER SECTION:")
        for block in answer["blocks"]
    )
    assert {"share", "run_again"} <= set(send.buttons(answer))


def test_colour_styles_the_sentences_and_leaves_records_alone(
    service: Callable[..., str], terminal: Terminal, dns_server: DNSServer
) -> None:
    assert terminal.send("/dig example.test MX", service(), colour=True) == 0
    lines = terminal.out[0].splitlines()
    assert lines[0].startswith("\033[1mexample.test\033[0m MX · NOERROR")
    assert "example.test. 300 IN MX 10 mail.example.test." in lines  # no escape codes


def test_the_slash_may_be_left_out(service: Callable[..., str], terminal: Terminal) -> None:
    assert terminal.send("hello hi", service()) == 0
    assert terminal.out == [f"Hello {USER}, I received hi"]


def test_a_usage_error_is_an_answer(service: Callable[..., str], terminal: Terminal) -> None:
    assert terminal.send("/dig a.test b.test", service()) == 0
    # What Slack shows, without its markup: slash commands are what one types there.
    assert "\nUsage: /dig name [type ...] [@server]" in terminal.out[0]
    assert "`" not in terminal.out[0] and "*" not in terminal.out[0]


def test_wrong_secret_is_one_clear_line(service: Callable[..., str], terminal: Terminal) -> None:
    status = terminal.send("/hello world", service(), secret="not-the-secret")
    assert status == 1
    assert terminal.out == []
    assert len(terminal.err) == 1 and "\n" not in terminal.err[0]
    assert "HTTP 401" in terminal.err[0] and "SLACK_SIGNING_SECRET" in terminal.err[0]


def test_service_that_may_not_answer_here_gets_the_hint(
    service: Callable[..., str], terminal: Terminal
) -> None:
    base = service(inline_budget_seconds=0, response_url_prefixes=("https://hooks.slack.com/",))
    assert terminal.send("/hello world", base) == 1
    assert terminal.out == ["This request has no usable response_url."]
    assert "CHATBOT_RESPONSE_URL_PREFIXES=http://127.0.0.1:" in terminal.err[0]


def test_no_deferred_answer_in_time(
    service: Callable[..., str], terminal: Terminal, dns_server: DNSServer
) -> None:
    # drop.test never answers, so the deferred answer (a timeout) comes after 0.5 s.
    base = service(inline_budget_seconds=0, dns_timeout_seconds=0.5)
    started = time.monotonic()
    assert terminal.send("/dig drop.test", base, wait=0.2) == 1
    assert time.monotonic() - started < 5
    assert terminal.out == ["Looking up drop.test, the answer follows."]
    message = terminal.err[0]
    assert message.startswith("chatbot send: no deferred answer within 0.2 s\n")
    assert message.endswith("CHATBOT_RESPONSE_URL_PREFIXES=http://127.0.0.1:")


def test_unknown_command(service: Callable[..., str], terminal: Terminal) -> None:
    assert terminal.send("/nope x", service()) == 1
    assert "no such command" in terminal.err[0] and "404" in terminal.err[0]


# --- --click: a button of the answer, clicked as Slack would ---------------------------


def test_click_share_prints_the_answer_and_the_shared_message(
    service: Callable[..., str], terminal: Terminal
) -> None:
    status = terminal.send("/dig example.test MX", service(), click="share")
    assert (status, terminal.err) == (0, [])
    answer, shared = terminal.out
    for printed in (answer, shared):
        assert "example.test. 300 IN MX 10 mail.example.test." in printed
    assert shared.endswith("shared by @U0CHATBOT · /dig example.test MX")
    # The terminal shows no buttons.
    assert not any("Share in channel" in line or "Run again" in line for line in terminal.out)


def test_click_again_on_a_deferred_answer(service: Callable[..., str], terminal: Terminal) -> None:
    status = terminal.send("/dig example.test", service(inline_budget_seconds=0), click="again")
    assert (status, terminal.err) == (0, [])
    acknowledged, answer, again, rerun = terminal.out
    assert acknowledged == again == "Looking up example.test, the answer follows."
    assert "192.0.2.10" in answer and "192.0.2.10" in rerun
    assert re.fullmatch(
        r"run again by @U0CHATBOT \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC · /dig example.test",
        rerun.splitlines()[-1],
    )


def test_click_on_an_answer_without_buttons(
    service: Callable[..., str], terminal: Terminal
) -> None:
    assert terminal.send("/dig a.test b.test", service(), click="share") == 1
    assert terminal.err == [
        'chatbot send: the answer has no "Share in channel" button (errors, usage texts '
        "and refusals have none)"
    ]


def test_click_that_cannot_come_back_gets_the_hint(
    service: Callable[..., str], terminal: Terminal
) -> None:
    # Inline, the answer needs no response_url; the click's answer does.
    base = service(response_url_prefixes=("https://hooks.slack.com/",))
    assert terminal.send("/hello x", base, click="again", wait=0.5) == 1
    assert terminal.err[0].startswith('chatbot send: nothing posted for "Run again" within 0.5 s')
    assert terminal.err[0].endswith("CHATBOT_RESPONSE_URL_PREFIXES=http://127.0.0.1:")


def test_the_click_payload_has_the_fields_slack_sends() -> None:
    from tests.slackreq import block_actions

    button = {"action_id": "share", "text": {"type": "plain_text", "text": "S"}, "value": "/x"}
    for ephemeral in (True, False):
        made = send.click_payload(button, "http://127.0.0.1:1/r", "ada", ephemeral=ephemeral)
        documented = block_actions("share", "/x", "http://127.0.0.1:1/r", ephemeral=ephemeral)
        assert list(made) == list(documented)
        assert list(made["actions"][0]) == list(documented["actions"][0])
        assert list(made["container"]) == list(documented["container"])
        assert made["container"]["is_ephemeral"] is ephemeral


def test_buttons_do_not_reach_the_terminal() -> None:
    reply = Reply(summary="s", parts=(text("*a* & <b>"), code(["x"])))
    message = slack.message(reply, "ephemeral", rerun="/dig x")
    assert set(send.buttons(message)) == {"share", "run_again"}
    assert send.message_text(message) == terminal_text(reply)


# --- without a service --------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_unreachable_service(terminal: Terminal) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    assert terminal.send("/hello", url) == 1
    assert terminal.err[0].startswith(f"chatbot send: could not reach {url}/slash-commands/hello")


@pytest.mark.parametrize("url", ["ftp://127.0.0.1", "127.0.0.1:8080", ""])
def test_bad_url(terminal: Terminal, url: str) -> None:
    assert terminal.send("/hello", url) == 1
    assert "not an http(s) URL" in terminal.err[0]


@pytest.mark.parametrize("line", ["", "  ", "/", "/ dig"])
def test_no_command(terminal: Terminal, line: str) -> None:
    assert terminal.send(line, "http://127.0.0.1:1") == 1
    assert "give a slash command" in terminal.err[0]


def test_no_secret(terminal: Terminal) -> None:
    assert terminal.send("/hello", "http://127.0.0.1:1", secret=" ") == 2
    assert "SLACK_SIGNING_SECRET is not set" in terminal.err[0]


def test_parse_line() -> None:
    assert send.parse_line("/dig  example.com MX ") == ("dig", "example.com MX")
    assert send.parse_line("/hello") == ("hello", "")


def test_form_is_what_slack_posts() -> None:
    from urllib.parse import parse_qsl

    body = send.form("dig", "example.com MX <&>", "http://127.0.0.1:1/x", "ada")
    fields = dict(parse_qsl(body.decode(), keep_blank_values=True))
    assert list(fields) == [
        "token",
        "team_id",
        "team_domain",
        "channel_id",
        "channel_name",
        "user_id",
        "user_name",
        "command",
        "text",
        "api_app_id",
        "response_url",
        "trigger_id",
    ]
    assert fields["command"] == "/dig" and fields["text"] == "example.com MX &lt;&amp;&gt;"
    assert fields["response_url"] == "http://127.0.0.1:1/x" and fields["user_name"] == "ada"


def test_messages_read_back_as_the_cli_prints_replies() -> None:
    reply = Reply(
        summary="s",
        parts=(
            text(":x: *example.com* A & <b> `*.example.com`"),
            code(["a.example. 60 IN A 192.0.2.1", "<*> & `x`", 'TXT "```" and *'], unit="records"),
            context("server 127.0.0.1 & more · _small_"),
        ),
    )
    shown = send.message_text(slack.message(reply, "ephemeral"))
    assert shown == terminal_text(reply)
    assert shown.splitlines() == [
        "✗ example.com A & <b> *.example.com",
        "a.example. 60 IN A 192.0.2.1",
        "<*> & `x`",
        'TXT "```" and *',  # slack.defuse_fences' zero-width spaces taken out again
        "server 127.0.0.1 & more · small",
    ]


def test_a_message_without_blocks_is_its_text() -> None:
    assert send.message_text({"text": "a &lt; b"}) == "a < b"
    with pytest.raises(send.SendError):
        send.message_text(["not", "a", "message"])


def test_receiver_takes_json_only_at_its_secret_path() -> None:
    with send.Receiver().running() as receiver:
        base, _, path = receiver.url.partition("/commands/")
        assert len(path) >= 20
        assert httpx.post(f"{base}/commands/guess", json={"text": "x"}).status_code == 404
        assert httpx.post(receiver.url, content=b"{not json").status_code == 400
        assert receiver.next(0.05) is None
        assert httpx.post(receiver.url, json={"text": "hi"}).status_code == 200
        assert receiver.next(1.0) == {"text": "hi"}


def test_receiver_refuses_a_bad_content_length() -> None:
    with send.Receiver().running() as receiver:
        host, port = receiver.server.server_address[:2]
        path = receiver.url.split(f":{port}", 1)[1]
        with socket.create_connection((str(host), int(port)), timeout=5) as conn:
            conn.sendall(
                f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: many\r\n\r\n".encode()
            )
            assert conn.recv(100).startswith(b"HTTP/1.0 400")
        assert receiver.next(0.05) is None


# --- the command line -----------------------------------------------------------------


def chatbot(*args: str, secret: str = SECRET) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatbot.cli", *args],
        env={**os.environ, "SLACK_SIGNING_SECRET": secret},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_cli_send_prints_both_answers(service: Callable[..., str]) -> None:
    base = service(inline_budget_seconds=0)
    done = chatbot("send", "/hello from the cli", "--url", base + "/")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "Looking up from the cli, the answer follows.",
        f"Hello {USER}, I received from the cli",
    ]


def test_cli_send_json_to_the_port_serve_listens_on(service: Callable[..., str]) -> None:
    base = service()
    port = base.rsplit(":", 1)[1].strip("/")
    done = subprocess.run(
        [sys.executable, "-m", "chatbot.cli", "send", "--json", "/hello <&> *x*"],
        # No --url: chatbot send goes to 127.0.0.1:$PORT, where chatbot serve listens.
        env={**os.environ, "SLACK_SIGNING_SECRET": SECRET, "PORT": port},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (message,) = (json.loads(line) for line in done.stdout.splitlines())
    assert message["blocks"][0]["text"]["text"] == (f"Hello {USER}, I received `&lt;&amp;&gt; *x*`")


def test_cli_send_wrong_secret(service: Callable[..., str]) -> None:
    done = chatbot("send", "/hello", "--url", service(), secret="wrong")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "HTTP 401" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_send_with_broken_settings_is_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "chatbot.cli", "send", "/hello"],
        env={**os.environ, "SLACK_SIGNING_SECRET": SECRET, "PORT": "abc"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "PORT" in done.stderr


def test_cli_send_without_secret() -> None:
    done = chatbot("send", "/hello", secret="")
    assert done.returncode == 2
    assert "SLACK_SIGNING_SECRET is not set" in done.stderr


@pytest.mark.parametrize("wait", ["-1", "0", "soon", "3601"])
def test_cli_send_refuses_bad_waits(wait: str) -> None:
    done = chatbot("send", "/hello", "--wait", wait)
    assert done.returncode == 2
    assert "seconds" in done.stderr


def test_receiver_payload_is_json_the_service_can_send() -> None:
    # The service posts slack.message(...) with httpx's json=; the receiver must take it.
    with send.Receiver().running() as receiver:
        payload = slack.message(Reply(summary="ok", parts=(text("ok"),)), "ephemeral")
        httpx.post(receiver.url, content=json.dumps(payload).encode())
        assert send.message_text(receiver.next(1.0)) == "ok"


def test_context_markup_reads_as_plain_text_and_user_text_stays_as_typed() -> None:
    note = slack.rerun_note("U1", "/hello <@U2>", when=0)
    message = slack.message(Reply("s", (text("x"),)), "ephemeral", note=note)
    assert send.message_text(message).splitlines()[-1] == (
        "run again by @U1 1970-01-01 00:00:00 UTC · /hello <@U2>"
    )
