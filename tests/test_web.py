from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import pytest
from slack_sdk.signature import Clock

from chatbot.settings import Settings
from chatbot.verification import STALE_SECONDS
from chatbot.web import MissingSecret, create_app
from tests.servers.dns import DNSServer
from tests.servers.receiver import Receiver
from tests.servers.service import post, serving
from tests.slackreq import form, headers

SettingsFactory = Callable[..., Settings]


# --- Slack's documented example --------------------------------------------

SLACK_EXAMPLE_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmi"
    b"bIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_EXAMPLE_HEADERS = {
    "content-type": "application/x-www-form-urlencoded",
    "x-slack-request-timestamp": "1531420618",
    "x-slack-signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
}


class PinnedClock(Clock):
    def now(self) -> float:
        return 1531420618


def test_slacks_documented_example_is_accepted(make_settings: SettingsFactory) -> None:
    settings = make_settings(slack_signing_secret="8f742231b10e8888abcd99yyyzzz85a5")
    with serving(create_app(settings, clock=PinnedClock())) as base:
        response = post(base, "hello", SLACK_EXAMPLE_BODY, SLACK_EXAMPLE_HEADERS)
    assert response.status_code == 200
    assert response.json()["text"] == "Hello roadrunner, I received ``"


def test_slacks_documented_example_is_stale_without_the_pinned_clock(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(slack_signing_secret="8f742231b10e8888abcd99yyyzzz85a5")
    with serving(create_app(settings)) as base:
        response = post(base, "hello", SLACK_EXAMPLE_BODY, SLACK_EXAMPLE_HEADERS)
    assert response.status_code == 401


# --- verification ------------------------------------------------------------


def _bad_headers(body: bytes) -> dict[str, dict[str, str]]:
    good = headers(body)
    return {
        "missing": {"content-type": good["content-type"]},
        "malformed timestamp": {**good, "x-slack-request-timestamp": "yesterday"},
        "malformed signature": {**good, "x-slack-signature": "sha1=abc"},
        "wrong secret": headers(body, secret="not-the-secret"),
        # Well past the five minutes: the request reaches the server a moment after
        # it is signed (the exact bound is tests/test_verification.py's, on a fixed clock).
        "stale": headers(body, timestamp=int(time.time()) - STALE_SECONDS - 30),
        "future": headers(body, timestamp=int(time.time()) + STALE_SECONDS + 30),
        "other body": headers(body + b"&x=1"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "malformed timestamp",
        "malformed signature",
        "wrong secret",
        "stale",
        "future",
        "other body",
    ],
)
def test_unverified_requests_get_401_and_do_no_work(
    service: Callable[..., str], dns_server: DNSServer, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    base = service()
    body = form("dig", "example.test")
    response = post(base, "dig", body, _bad_headers(body)[case])
    assert response.status_code == 401
    assert response.json() == {"error": "invalid signature"}
    assert dns_server.queries == []
    assert any("rejected /slash-commands/dig" in r.getMessage() for r in caplog.records)
    assert not any("example.test" in r.getMessage() for r in caplog.records)


def test_ssl_check_gets_an_empty_200(service: Callable[..., str], dns_server: DNSServer) -> None:
    base = service()
    body = b"ssl_check=1&token=legacy-token"
    response = post(base, "dig", body, headers(body))
    assert response.status_code == 200
    assert response.content == b""
    assert dns_server.queries == []


def test_missing_secret_refuses_to_build_the_app() -> None:
    with pytest.raises(MissingSecret):
        create_app(Settings(slack_signing_secret=""))


@pytest.mark.parametrize(
    "argv",
    [
        ["-m", "chatbot.cli", "serve", "--port", "0"],
        ["-m", "uvicorn", "chatbot:app", "--port", "0"],
    ],
)
def test_service_refuses_to_start_without_a_secret(argv: list[str]) -> None:
    env = {**os.environ, "SLACK_SIGNING_SECRET": ""}
    done = subprocess.run(
        [sys.executable, *argv], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode != 0
    assert "SLACK_SIGNING_SECRET is not set: refusing to start without it." in done.stderr
    assert "Traceback" not in done.stderr


# --- answers -----------------------------------------------------------------


def test_index_and_health(service: Callable[..., str]) -> None:
    base = service()
    index = httpx.get(base + "/", timeout=5).json()
    assert index["service"] == "chatbot"
    assert {"/hello", "/dig"} <= {c["command"] for c in index["commands"]}
    assert httpx.get(base + "/health", timeout=5).status_code == 200


def test_hello(service: Callable[..., str]) -> None:
    base = service()
    body = form("hello", "hi there")
    answer = post(base, "hello", body, headers(body)).json()
    assert answer["text"] == "Hello ada, I received `hi there`"
    assert answer["response_type"] == "ephemeral"


def test_fast_answer_is_inline(service: Callable[..., str], receiver: Receiver) -> None:
    base = service(response_type="in_channel")
    body = form("dig", "example.test MX", response_url=receiver.url + "/hook")
    answer = post(base, "dig", body, headers(body)).json()
    assert answer["response_type"] == "in_channel"
    blocks_text = "\n".join(b["text"]["text"] for b in answer["blocks"] if "text" in b)
    assert "example.test. 300 IN MX 10 mail.example.test." in blocks_text
    assert receiver.posts == []


@pytest.mark.parametrize(
    "typed",
    [
        "<http://example.test|example.test> \u201cMX\u201d",
        "<https://example.test> MX",
        "<mailto:ada@example.test|ada@example.test> MX",
    ],
)
def test_slack_wrapped_input_is_unwrapped(service: Callable[..., str], typed: str) -> None:
    base = service()
    body = form("dig", typed)
    answer = post(base, "dig", body, headers(body)).json()
    assert "mail.example.test." in str(answer["blocks"])


def test_slow_answer_is_deferred_to_response_url(
    service: Callable[..., str], dns_server: DNSServer, receiver: Receiver
) -> None:
    dns_server.slow_seconds = 1.0
    base = service(inline_budget_seconds=0.3, dns_timeout_seconds=3)
    body = form("dig", "slow.test", response_url=receiver.url + "/commands/T1/2/xyz")
    started = time.monotonic()
    ack = post(base, "dig", body, headers(body))
    assert time.monotonic() - started < 1.0
    assert ack.status_code == 200
    assert ack.json()["response_type"] == "ephemeral"
    assert ack.json()["text"] == "Looking up slow.test, the answer follows."
    (delivered,) = receiver.wait_for(1)
    assert receiver.paths == ["/commands/T1/2/xyz"]
    assert "slow.test. 60 IN A 192.0.2.99" in str(delivered["blocks"])


def test_budget_zero_always_defers(service: Callable[..., str], receiver: Receiver) -> None:
    base = service(inline_budget_seconds=0)
    body = form("dig", "example.test", response_url=receiver.url + "/hook")
    ack = post(base, "dig", body, headers(body)).json()
    assert ack["text"].startswith("Looking up example.test")
    (delivered,) = receiver.wait_for(1)
    assert "192.0.2.10" in str(delivered["blocks"])


def test_deferred_answer_to_a_foreign_url_is_refused(
    service: Callable[..., str], receiver: Receiver
) -> None:
    base = service(inline_budget_seconds=0, response_url_prefixes=("https://hooks.slack.com/",))
    body = form("dig", "example.test", response_url=receiver.url + "/hook")
    answer = post(base, "dig", body, headers(body)).json()
    assert answer["text"] == "This request has no usable response_url."
    time.sleep(0.3)
    assert receiver.posts == []


@pytest.mark.parametrize("text", ["", "help", "  HELP "])
def test_usage_on_empty_or_help(service: Callable[..., str], text: str) -> None:
    base = service()
    body = form("dig", text)
    answer = post(base, "dig", body, headers(body)).json()
    assert answer["text"].startswith("Usage: /dig name [type ...]")
    assert "/dig example.com MX" in str(answer["blocks"])


@pytest.mark.parametrize("text", ["a.test b.test", "example.test +nope", "-p 0 example.test", "-x"])
def test_bad_input_is_an_ephemeral_message_not_a_500(
    service: Callable[..., str], text: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    base = service(response_type="in_channel")
    body = form("dig", text)
    response = post(base, "dig", body, headers(body))
    assert response.status_code == 200
    answer = response.json()
    assert answer["response_type"] == "ephemeral"
    assert "Usage: `/dig" in str(answer["blocks"])
    assert _outcomes(caplog) == ["usage"]


def _outcomes(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The outcome of each command's summary log line."""
    return [
        record.fields["outcome"]
        for record in caplog.records
        if "outcome" in getattr(record, "fields", {})
    ]


def test_refused_target_is_a_message(
    service: Callable[..., str], dns_server: DNSServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    base = service(allow_private_targets=False)
    body = form("dig", f"example.test @127.0.0.1 -p {dns_server.port}")
    answer = post(base, "dig", body, headers(body)).json()
    assert answer["text"] == (
        "127.0.0.1 is a loopback address (127.0.0.0/8), which I may not contact."
    )
    assert answer["response_type"] == "ephemeral"
    assert dns_server.queries == []
    assert _outcomes(caplog) == ["error"]
