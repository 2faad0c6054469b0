"""POST /slack/interactions against the real app under uvicorn, with signed payloads built
as Slack documents them, and a real receiver as the response_url."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from chatbot import interactions, slack
from chatbot.commands import COMMANDS, Invocation
from chatbot.interactions import (
    POSTS_PER_RESPONSE_URL,
    Click,
    Ignored,
    Malformed,
    Shortcut,
    read,
)
from chatbot.reply import Reply, text
from chatbot.web import create_app
from tests.servers.dns import DNSServer
from tests.servers.internet import Internet, internet
from tests.servers.receiver import Receiver
from tests.servers.service import serving
from tests.slackreq import block_actions, form, headers, interaction, message_action

HOOK = "/actions/T0001/1/secret"


def send(base: str, payload: dict[str, Any] | str, **signing: Any) -> httpx.Response:
    body = interaction(payload)
    return httpx.post(
        f"{base}/slack/interactions", content=body, headers=headers(body, **signing), timeout=10
    )


def blocks_text(message: dict[str, Any]) -> str:
    return json.dumps(message["blocks"], ensure_ascii=False)


def buttons(message: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(label, action_id, value) of every button in the message, in order."""
    found: list[dict[str, Any]] = []
    for block in message["blocks"]:
        if block["type"] == "actions":
            found += block["elements"]
        elif "accessory" in block:
            found.append(block["accessory"])
    return [(b["text"]["text"], b["action_id"], b["value"]) for b in found]


def quiet(receiver: Receiver, seconds: float = 0.5) -> None:
    """Give a post that should not come the time to come anyway."""
    time.sleep(seconds)


def wait_at(receiver: Receiver, path: str, timeout: float = 10.0) -> dict[str, Any]:
    ends = time.monotonic() + timeout
    with receiver.arrived:
        while path not in receiver.paths:
            left = ends - time.monotonic()
            assert left > 0, f"nothing posted to {path}"
            receiver.arrived.wait(left)
        return receiver.posts[receiver.paths.index(path)]


# --- the buttons on typed answers ------------------------------------------------------


@pytest.mark.parametrize("budget", [1.5, 0], ids=["inline", "deferred"])
@pytest.mark.parametrize("response_type", ["ephemeral", "in_channel"])
def test_typed_answers_carry_the_buttons(
    service: Callable[..., str], receiver: Receiver, budget: float, response_type: str
) -> None:
    base = service(inline_budget_seconds=budget, response_type=response_type)
    body = form("dig", "<http://example.test|example.test> MX", response_url=receiver.url + HOOK)
    answer = httpx.post(f"{base}/slash-commands/dig", content=body, headers=headers(body)).json()
    if budget == 0:
        assert buttons(answer) == []  # "Looking up …" is no answer
        (answer,) = receiver.wait_for(1)
    assert "mail.example.test." in blocks_text(answer)
    # What the user typed, as they typed it, Slack's link markup undone.
    again = ("Run again", "run_again", "/dig example.test MX")
    share = ("Share in channel", "share", "/dig example.test MX")
    assert buttons(answer) == ([share, again] if response_type == "ephemeral" else [again])


def test_usage_and_errors_carry_no_buttons(service: Callable[..., str]) -> None:
    base = service()
    for typed in ("help", "", "a.test b.test", "nothing.test"):
        body = form("dig", typed)
        answer = httpx.post(f"{base}/slash-commands/dig", content=body, headers=headers(body))
        has = buttons(answer.json()) != []
        # NXDOMAIN is an answer; help and a typing error are not.
        assert has == (typed == "nothing.test"), typed


# --- Share in channel ---------------------------------------------------------------


@pytest.mark.parametrize("budget", [1.5, 0], ids=["inline", "deferred"])
def test_share_posts_in_channel_then_deletes_the_original(
    service: Callable[..., str], receiver: Receiver, budget: float
) -> None:
    base = service(inline_budget_seconds=budget)
    payload = block_actions(
        "share", "/dig example.test MX", receiver.url + HOOK, label="Share in channel"
    )
    response = send(base, payload)
    assert (response.status_code, response.content) == (200, b"")
    shared, deleted = receiver.wait_for(2)
    assert receiver.paths == [HOOK, HOOK]
    assert shared["response_type"] == "in_channel"
    assert shared["replace_original"] is False
    assert "example.test. 300 IN MX 10 mail.example.test." in blocks_text(shared)
    context = shared["blocks"][-2]
    assert context == {
        "elements": [{"text": "shared by <@U0001> · `/dig example.test MX`", "type": "mrkdwn"}],
        "type": "context",
    }
    # Shared: "Run again" only.
    assert buttons(shared) == [("Run again", "run_again", "/dig example.test MX")]
    assert deleted == {"delete_original": True}


def test_a_share_that_fails_tells_the_clicker_and_keeps_the_original(
    service: Callable[..., str], receiver: Receiver
) -> None:
    base = service()
    payload = block_actions("share", "/dig a.test b.test", receiver.url + HOOK)
    assert send(base, payload).status_code == 200
    (told,) = receiver.wait_for(1)
    quiet(receiver)
    assert len(receiver.posts) == 1  # no in-channel post, no delete
    assert told["response_type"] == "ephemeral"
    assert told["replace_original"] is False
    assert buttons(told) == []


def test_the_original_is_deleted_only_once_the_share_arrived(
    service: Callable[..., str], receiver: Receiver
) -> None:
    receiver.statuses = [(404, {})]  # Slack's answer to a response_url that has expired
    base = service()
    assert send(base, block_actions("share", "/hello x", receiver.url + HOOK)).status_code == 200
    (refused,) = receiver.wait_for(1)
    quiet(receiver)
    assert len(receiver.posts) == 1  # no delete after a share that did not arrive
    assert refused["response_type"] == "in_channel"


def test_a_click_writes_one_summary_line(
    service: Callable[..., str], receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    base = service()
    assert (
        send(base, block_actions("run_again", "/hello x", receiver.url + HOOK)).status_code == 200
    )
    receiver.wait_for(1)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [r.fields for r in caplog.records if "outcome" in getattr(r, "fields", {})]
        if lines:
            break
        time.sleep(0.05)
    (line,) = lines
    assert {k: line[k] for k in ("command", "outcome", "mode", "action", "delivered")} == {
        "command": "hello",
        "outcome": "answer",
        "mode": "inline",
        "action": "run_again",
        "delivered": True,
    }
    assert line["user_id"] == "U0001" and line["team_id"] == "T0001"


# --- Run again ------------------------------------------------------------------------


def test_run_again_replaces_the_message_and_says_when_it_ran(
    service: Callable[..., str], receiver: Receiver
) -> None:
    base = service()
    before = int(time.time())
    response = send(base, block_actions("run_again", "/dig example.test", receiver.url + HOOK))
    assert response.status_code == 200
    (answer,) = receiver.wait_for(1)
    quiet(receiver)
    assert len(receiver.posts) == 1
    assert answer["replace_original"] is True
    assert answer["response_type"] == "ephemeral"
    assert "192.0.2.10" in blocks_text(answer)
    note = answer["blocks"][-2]["elements"][0]["text"]
    match = re.fullmatch(
        r"run again by <@U0001> <!date\^(\d+)\^\{date_short_pretty\} at \{time_secs\}\|"
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC> · `/dig example.test`",
        note,
    )
    assert match is not None, note
    assert before <= int(match.group(1)) <= time.time() + 1
    assert buttons(answer) == [
        ("Share in channel", "share", "/dig example.test"),
        ("Run again", "run_again", "/dig example.test"),
    ]


def test_run_again_deferred_says_looking_up_in_place_first(
    service: Callable[..., str], receiver: Receiver, dns_server: DNSServer
) -> None:
    dns_server.slow_seconds = 0.5
    base = service(inline_budget_seconds=0.1, dns_timeout_seconds=3)
    started = time.monotonic()
    response = send(base, block_actions("run_again", "/dig slow.test", receiver.url + HOOK))
    assert response.status_code == 200
    assert time.monotonic() - started < 0.5  # acknowledged before the answer is ready
    waiting, answer = receiver.wait_for(2)
    assert waiting["replace_original"] is True
    assert waiting["text"] == "Looking up slow.test, the answer follows."
    assert buttons(waiting) == []
    assert answer["replace_original"] is True
    assert "slow.test. 60 IN A 192.0.2.99" in blocks_text(answer)


def test_run_again_on_a_shared_answer_keeps_it_in_the_channel(
    service: Callable[..., str], receiver: Receiver
) -> None:
    base = service(inline_budget_seconds=0)
    payload = block_actions("run_again", "/dig example.test", receiver.url + HOOK, ephemeral=False)
    assert send(base, payload).status_code == 200
    (answer,) = receiver.wait_for(1)
    quiet(receiver)
    # No "Looking up…" in the channel meanwhile: the answer replaces the answer.
    assert len(receiver.posts) == 1
    assert answer["response_type"] == "in_channel"
    assert answer["replace_original"] is True
    assert buttons(answer) == [("Run again", "run_again", "/dig example.test")]


def test_run_again_that_fails_on_a_shared_answer_tells_only_the_clicker(
    service: Callable[..., str], receiver: Receiver
) -> None:
    base = service()
    payload = block_actions("run_again", "/dig a.test b.test", receiver.url + HOOK, ephemeral=False)
    assert send(base, payload).status_code == 200
    (told,) = receiver.wait_for(1)
    assert (told["response_type"], told["replace_original"]) == ("ephemeral", False)
    assert buttons(told) == []


def test_run_again_counts_against_the_same_limits_as_a_typed_command(
    service: Callable[..., str], receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    base = service(rate_limit_user="2/minute")
    for _ in range(2):
        clicked = send(base, block_actions("run_again", "/hello x", receiver.url + HOOK))
        assert clicked.status_code == 200
    receiver.wait_for(2)
    refused = send(base, block_actions("run_again", "/hello x", receiver.url + HOOK))
    assert (refused.status_code, refused.content) == (200, b"")
    posts = receiver.wait_for(3)
    assert len(posts) == 3
    told = posts[2]
    assert re.fullmatch(
        r"You have run 2 commands in the last minute; try again in \d+ s\.", told["text"]
    )
    assert (told["response_type"], told["replace_original"]) == ("ephemeral", False)
    # A typed command is counted in the same window.
    body = form("hello", "typed", user_id="U0001", team_id="T0001")
    typed = httpx.post(f"{base}/slash-commands/hello", content=body, headers=headers(body))
    assert typed.json()["text"].startswith("You have run 2 commands")
    outcomes = [getattr(r, "fields", {}).get("outcome") for r in caplog.records]
    assert outcomes.count("rate_limited") == 2


def test_busy_is_posted_when_the_pending_answers_are_full(
    service: Callable[..., str], receiver: Receiver, dns_server: DNSServer
) -> None:
    dns_server.slow_seconds = 1.0
    base = service(inline_budget_seconds=0.1, dns_timeout_seconds=3, max_pending=1)
    send(base, block_actions("run_again", "/dig slow.test", receiver.url + "/actions/1"))
    send(base, block_actions("run_again", "/dig slow.test", receiver.url + "/actions/2"))
    posts = receiver.wait_for(3)
    told = posts[receiver.paths.index("/actions/2")]
    assert told["text"] == "Busy right now, please try again in a minute."
    assert told["replace_original"] is False


# --- Run /tls, and the Check hosts shortcut ----------------------------------------------


@pytest.fixture(scope="module")
def net() -> Iterator[Internet]:
    with internet() as running:
        yield running


@pytest.fixture
def net_service(net: Internet) -> Iterator[str]:
    # The whole check of three hosts within the budget, so one post is the answer.
    with serving(create_app(net.settings(inline_budget_seconds=2.5))) as base:
        yield base


def test_check_hosts_on_a_message_with_a_url_an_address_and_a_mail_address(
    net: Internet, net_service: str
) -> None:
    port = net.tls.port
    message = (
        f"is <https://tls.test:{port}/login|tls.test:{port}/login> down? Mail "
        "<mailto:ops@example.test|ops@example.test> says 192.0.2.10 (see "
        "<http://example.test|example.test>)."
    )
    path = f"/app/T0001/{time.monotonic_ns()}/x"
    response = send(net_service, message_action(message, net.receiver.url + path))
    assert (response.status_code, response.content) == (200, b"")
    summary = wait_at(net.receiver, path)
    assert summary["response_type"] == "ephemeral"
    assert "replace_original" not in summary  # a shortcut has no message of ours to replace
    # At most three hosts: the fourth, example.test, is left out.
    assert buttons(summary) == [
        ("Run /tls", "run", f"/tls tls.test:{port}"),
        ("Run /dig", "run", "/dig example.test MX"),
        ("Run /dig", "run", "/dig -x 192.0.2.10"),
    ]
    sections = [block["text"]["text"] for block in summary["blocks"]]
    assert sections[0].splitlines() == [
        f"*tls.test:{port}*",
        "addresses: 127.0.0.1, ::1",
        sections[0].splitlines()[2],
    ]
    assert (
        sections[0]
        .splitlines()[2]
        .startswith(":white_check_mark: TLS: certificate valid, expires in ")
    )
    assert sections[1] == "*example.test*\nmail domain · MX: 10 mail.example.test., " + (
        "20 backup.example.test."
    )
    assert sections[2] == "*192.0.2.10*\nname: example.test."


def test_check_hosts_unwraps_slacks_links(net: Internet, net_service: str) -> None:
    message = "<http://www.example.test|www.example.test> and <https://example.test/x>"
    path = f"/app/T0001/{time.monotonic_ns()}/y"
    send(net_service, message_action(message, net.receiver.url + path))
    summary = wait_at(net.receiver, path)
    assert buttons(summary) == [
        ("Run /tls", "run", "/tls www.example.test"),
        ("Run /tls", "run", "/tls example.test"),
    ]
    first = summary["blocks"][0]["text"]["text"].splitlines()
    assert first[:2] == ["*www.example.test*", "addresses: 127.0.0.1, ::1"]
    # Nothing serves TLS on port 443 of this machine.
    assert first[2].startswith(":warning: TLS: ")


def test_check_hosts_with_nothing_to_check_says_so(net: Internet, net_service: str) -> None:
    path = f"/app/T0001/{time.monotonic_ns()}/z"
    message = "see <@U0002> in <#C0001|general>, e.g. at 12:30, v1.2 of the README?"
    send(net_service, message_action(message, net.receiver.url + path))
    summary = wait_at(net.receiver, path)
    assert summary["text"] == (
        "I found no host names, URLs, IP addresses or mail addresses in that message to check."
    )
    assert buttons(summary) == []


def test_run_tls_from_the_summary_is_a_new_answer(net: Internet, net_service: str) -> None:
    path = f"/actions/T0001/{time.monotonic_ns()}/r"
    line = f"/tls tls.test:{net.tls.port}"
    send(net_service, block_actions("run", line, net.receiver.url + path, label="Run /tls"))
    answer = wait_at(net.receiver, path)
    assert answer["replace_original"] is False  # the summary stays
    assert answer["response_type"] == "ephemeral"
    assert "the certificate is valid" in blocks_text(answer)
    assert buttons(answer) == [
        ("Share in channel", "share", line),
        ("Run again", "run_again", line),
    ]


# --- the doors ------------------------------------------------------------------------


def test_a_bad_signature_is_401_and_nothing_runs(
    service: Callable[..., str], receiver: Receiver, dns_server: DNSServer
) -> None:
    base = service()
    payload = block_actions("run_again", "/dig example.test", receiver.url + HOOK)
    response = send(base, payload, secret="not-the-secret")
    assert response.status_code == 401
    quiet(receiver)
    assert receiver.posts == []
    assert dns_server.queries == []


@pytest.mark.parametrize(
    "payload",
    [
        block_actions("approve", "/dig example.test", "RECEIVER"),
        {**block_actions("run_again", "/dig example.test", "RECEIVER"), "type": "view_closed"},
        message_action("example.test", "RECEIVER", callback_id="other_shortcut"),
        {"type": "shortcut", "callback_id": "check_hosts", "user": {"id": "U0001"}},
    ],
    ids=["unknown action", "unknown type", "unknown shortcut", "global shortcut"],
)
def test_what_is_not_ours_is_an_empty_200_and_a_log_line(
    service: Callable[..., str],
    receiver: Receiver,
    dns_server: DNSServer,
    payload: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    base = service()
    payload = json.loads(json.dumps(payload).replace("RECEIVER", receiver.url + HOOK))
    response = send(base, payload)
    assert (response.status_code, response.content) == (200, b"")
    assert any("/slack/interactions: ignored" in r.getMessage() for r in caplog.records)
    quiet(receiver)
    assert receiver.posts == []
    assert dns_server.queries == []


@pytest.mark.parametrize(
    "payload",
    [
        "not json",
        "[1, 2]",
        '"block_actions"',
        "{" * 5000,
        "9" * 5000,
        json.dumps({"type": 5}),
        json.dumps({**block_actions("run_again", "/dig x", "u"), "actions": []}),
        json.dumps({**block_actions("run_again", "/dig x", "u"), "actions": "x"}),
        json.dumps(block_actions("run_again", "/nope example.test", "u")),
        json.dumps(block_actions("run_again", "dig example.test", "u")),
        json.dumps({**block_actions("run_again", "/dig x", "u"), "response_url": None}),
        json.dumps({**block_actions("run_again", "/dig x", "u"), "user": "U0001"}),
        json.dumps({**message_action("x", "u"), "message": None}),
    ],
)
def test_a_malformed_payload_is_400(
    service: Callable[..., str], receiver: Receiver, payload: str
) -> None:
    response = send(service(), payload)
    assert response.status_code == 400
    assert response.json() == {"error": "malformed payload"}


def test_a_form_without_a_payload_is_400(service: Callable[..., str]) -> None:
    body = b"type=block_actions"
    response = httpx.post(
        f"{service()}/slack/interactions", content=body, headers=headers(body), timeout=10
    )
    assert response.status_code == 400


def test_a_payload_over_the_body_cap_is_413(
    service: Callable[..., str], receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    base = service(max_body_bytes=1024)
    message = "example.test " * 100
    response = send(base, message_action(message, receiver.url + HOOK))
    assert response.status_code == 413
    assert any("/interactions refused: body over the cap" in r.getMessage() for r in caplog.records)
    quiet(receiver)
    assert receiver.posts == []


def test_a_response_url_outside_the_allow_list_is_never_contacted(
    service: Callable[..., str], receiver: Receiver, dns_server: DNSServer
) -> None:
    base = service(response_url_prefixes=("https://hooks.slack.com/",), rate_limit_user="1/minute")
    for action in ("share", "run_again", "run"):
        payload = block_actions(action, "/dig example.test", receiver.url + HOOK)
        assert send(base, payload).status_code == 200
    assert send(base, message_action("example.test", receiver.url + HOOK)).status_code == 200
    quiet(receiver)
    assert receiver.posts == []
    # Nothing was run for a user who could not have been told the answer.
    assert dns_server.queries == []


def test_another_workspace_is_told_it_is_not_enabled(
    service: Callable[..., str], receiver: Receiver, dns_server: DNSServer
) -> None:
    base = service(allowed_team_ids=("T0OTHER",))
    payload = block_actions("run_again", "/dig example.test", receiver.url + HOOK)
    assert send(base, payload).status_code == 200
    (told,) = receiver.wait_for(1)
    assert told["text"] == "This app is not enabled for this workspace."
    assert dns_server.queries == []


def test_the_interaction_route_has_no_response_body_to_show(
    service: Callable[..., str], receiver: Receiver
) -> None:
    # Slack shows nothing of the HTTP answer to an interaction; each goes by response_url.
    response = send(service(), block_actions("run_again", "/hello x", receiver.url + HOOK))
    assert (response.status_code, response.content) == (200, b"")
    (answer,) = receiver.wait_for(1)
    assert answer["text"] == "Hello ada, I received `x`"


# --- reading payloads, and the five posts ---------------------------------------------


def test_read_takes_slacks_shapes() -> None:
    click = read(block_actions("share", "/dig example.com MX", "https://hooks.slack.com/a/1"))
    assert isinstance(click, Click)
    assert (click.command.name, click.text, click.line) == (
        "dig",
        "example.com MX",
        "/dig example.com MX",
    )
    assert click.ephemeral
    assert click.invocation == Invocation(
        text="example.com MX",
        user_id="U0001",
        user_name="ada",
        team_id="T0001",
        channel_id="C0001",
    )
    shortcut = read(message_action("see example.com", "https://hooks.slack.com/app/1"))
    assert isinstance(shortcut, Shortcut) and shortcut.message == "see example.com"
    assert isinstance(read({"type": "view_submission"}), Ignored)
    with pytest.raises(Malformed):
        read(None)


def _attempts(posts: Any) -> int:
    return sum(post.attempts for post in posts)


@pytest.mark.parametrize("failed", [False, True])
def test_no_click_makes_more_than_five_posts_to_its_response_url(failed: bool) -> None:
    reply = Reply.error("no") if failed else Reply("ok", (text("ok"),))
    line = "/dig example.com"
    acknowledgement = COMMANDS["dig"].acknowledgement(Invocation("example.com"))
    first = interactions.again_first(acknowledgement, ephemeral=True)
    assert first is not None and first.attempts is not None
    spent = {
        "share": _attempts(interactions.share(line, "U1")(reply)),
        "again": first.attempts + _attempts(interactions.again(line, "U1", True)(reply)),
        "again shared": _attempts(interactions.again(line, "U1", False)(reply)),
        "run": _attempts(interactions.run(line)(reply)),
        "summary": _attempts(interactions.summary([line])(reply)),
    }
    assert all(0 < n <= POSTS_PER_RESPONSE_URL for n in spent.values()), spent
    # Share: in the channel (3) and the delete (2); failed, one post to the clicker (4).
    assert spent["share"] == (4 if failed else 5)


def test_buttons_carry_what_a_click_reads_back() -> None:
    reply = Reply("ok", (text("ok"),))
    line = slack.command_line("dig", "example.com MX +short")
    message = slack.message(reply, "ephemeral", rerun=line)
    for _label, action_id, value in buttons(message):
        payload = block_actions(action_id, value, "https://hooks.slack.com/actions/1")
        click = read(payload)
        assert isinstance(click, Click)
        assert (click.command.name, click.text) == ("dig", "example.com MX +short")
