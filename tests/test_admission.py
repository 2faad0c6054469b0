"""The door: body cap, signature, workspace, rate limit, each refusal a log line, never a 500."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from fastapi import Request
from hypothesis import given
from hypothesis import settings as profile
from hypothesis import strategies as st

from chatbot import logs
from chatbot.admission import Identity, form_fields
from chatbot.settings import Settings
from chatbot.verification import Verifier
from chatbot.web import create_app
from tests.servers import raw
from tests.servers.dns import DNSServer
from tests.servers.process import service_process
from tests.servers.service import post, serving
from tests.slackreq import SECRET, form, headers

SettingsFactory = Callable[..., Settings]


def refusals(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        record.fields
        for record in caplog.records
        if getattr(record, "fields", {}).get("mode") == "refused"
    ]


# --- issue 9 item 4: unsigned requests never reach a 500 ---------------------

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def _signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    """Signed over the bytes, whatever they are (slack_sdk's signer decodes them first)."""
    stamp = str(int(time.time()))
    base = b"v0:" + stamp.encode() + b":" + body
    return {
        "content-type": raw.FORM_TYPE,
        "x-slack-request-timestamp": stamp,
        "x-slack-signature": "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest(),
    }


def _hostile(body: bytes) -> dict[str, tuple[bytes, dict[str, Any]]]:
    good = headers(body)
    xff = b"text=\xff&team_id=T0001"
    return {
        "timestamp of 4,301 digits": (body, {**good, "x-slack-request-timestamp": "1" * 4301}),
        "timestamp of 400 nines": (body, {**good, "x-slack-request-timestamp": "9" * 400}),
        # Latin-1 bytes, as a client sends them: Starlette reads them back as ² and ¹.
        "timestamp ²": (body, {**good, "x-slack-request-timestamp": b"\xb2"}),
        "timestamp 1¹": (body, {**good, "x-slack-request-timestamp": b"1\xb9"}),
        "trace span of 5,000 digits": (
            body,
            {**headers(body, secret="wrong"), "x-cloud-trace-context": f"{TRACE}/{'9' * 5000}"},
        ),
        "body with \\xff": (xff, _signed(xff, secret="wrong")),
    }


HOSTILE = list(_hostile(b"x"))


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_unsigned_requests_get_401_and_one_warning(
    service: Callable[..., str],
    dns_server: DNSServer,
    caplog: pytest.LogCaptureFixture,
    case: str,
) -> None:
    base = service()
    body, hdrs = _hostile(form("dig", "example.test"))[case]
    response = post(base, "dig", body, hdrs)
    assert response.status_code == 401
    assert response.json() == {"error": "invalid signature"}
    (refusal,) = refusals(caplog)
    assert refusal["outcome"] == "bad_signature"
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].exc_info is None
    assert dns_server.queries == []


def test_hostile_unsigned_requests_leave_no_traceback_in_the_service_log(
    dns_server: DNSServer,
) -> None:
    env = {"SLACK_SIGNING_SECRET": SECRET, "CHATBOT_DNS_RESOLVERS": dns_server.address}
    with service_process(env) as service:
        for body, hdrs in _hostile(form("dig", "example.test")).values():
            assert post(service.url, "dig", body, hdrs).status_code == 401
        service.terminate()
        output = service.output()
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    rejected = [line for line in lines if line.get("outcome") == "bad_signature"]
    assert len(rejected) == len(HOSTILE)
    assert all(line["severity"] == "WARNING" and "\n" not in line["message"] for line in rejected)
    assert "Traceback" not in output
    assert not [line for line in lines if line["severity"] == "ERROR"]


@pytest.mark.parametrize(
    ("timestamp", "problem"),
    [
        ("1" * 4301, "malformed signature headers"),
        ("9" * 400, "malformed signature headers"),
        ("9" * 13, "malformed signature headers"),
        ("²", "malformed signature headers"),
        ("1¹", "malformed signature headers"),
        ("١٢٣", "malformed signature headers"),  # Arabic-Indic digits
        ("+1531420618", "malformed signature headers"),
        (" 1531420618", "malformed signature headers"),
        ("1531420618\n", "malformed signature headers"),
        ("999999999999", "stale timestamp"),
    ],
)
def test_timestamps_are_one_to_twelve_ascii_digits(timestamp: str, problem: str) -> None:
    verifier = Verifier(SECRET)
    good = headers(b"x")
    assert verifier.problem(b"x", {**good, "x-slack-request-timestamp": timestamp}) == problem


def test_a_body_that_is_not_utf8_is_refused_not_raised() -> None:
    # Slack's bodies are URL-encoded ASCII; even correctly signed, this is not from Slack.
    verifier = Verifier(SECRET)
    body = b"text=\xff\xfe&team_id=T0001"
    assert verifier.problem(body, _signed(body)) == "body is not UTF-8"
    good = b"text=caf%C3%A9&team_id=T0001"
    assert verifier.problem(good, _signed(good)) is None
    assert verifier.problem(good, _signed(good, secret="wrong")) == "wrong signature"


@pytest.mark.parametrize(
    "value",
    [
        f"{TRACE}/{'9' * 5000}",
        f"{TRACE}/{'9' * 21}",
        f"{TRACE}/{2**64}",
        f"{TRACE}/\u0661\u0662",  # non-ASCII digits
        f"{TRACE}/1;o=1{'x' * 100}",
        f"{'0' * 32}/1",
    ],
)
def test_trace_headers_that_do_not_parse_are_ignored(value: str) -> None:
    assert logs.parse_trace({"x-cloud-trace-context": value}) is None


def test_trace_span_ids_up_to_uint64_are_read() -> None:
    value = f"{TRACE}/{2**64 - 1};o=1"
    assert logs.parse_trace({"x-cloud-trace-context": value}) == (TRACE, "f" * 16)


# --- the body cap ------------------------------------------------------------


def test_a_declared_length_over_the_cap_is_413_before_the_body(
    service: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    base = service(max_body_bytes=2048)
    with raw.connect(base, timeout=5) as sock:
        sock.sendall(
            raw.head(
                "/slash-commands/dig",
                f"Content-Type: {raw.FORM_TYPE}",
                "Content-Length: 1000000000",
            )
        )
        # Not a byte of the body is sent: the answer comes anyway, and the connection closes.
        response = raw.read_response(sock)
    assert raw.status(response) == 413
    assert b"connection: close" in response.lower()
    (refusal,) = refusals(caplog)
    assert refusal["outcome"] == "too_large" and refusal["command"] == "dig"


def test_a_chunked_body_is_cut_at_the_cap(service: Callable[..., str]) -> None:
    base = service(max_body_bytes=2048)
    with raw.connect(base, timeout=5) as sock:
        streamed = raw.stream_chunked(
            sock,
            raw.head(
                "/slash-commands/dig",
                f"Content-Type: {raw.FORM_TYPE}",
                "Transfer-Encoding: chunked",
            ),
            (b"a" * 1024 for _ in range(100_000)),
        )
    assert raw.status(streamed.response) == 413
    # The server stops at the cap; what the client got out before it saw the 413 is
    # the kernel's socket buffers (a few MB on loopback, more on a busy machine).
    assert streamed.sent < 16 * 1024 * 1024


@pytest.mark.parametrize("size", [2048, 2047])
def test_a_body_up_to_the_cap_reaches_the_signature_check(
    service: Callable[..., str], size: int
) -> None:
    base = service(max_body_bytes=2048)
    body = form("hello", "x" * 10)
    body += b"&pad=" + b"p" * (size - len(body) - 5)
    assert len(body) == size
    answer = post(base, "hello", body, headers(body))
    assert answer.status_code == 200
    assert answer.json()["text"].startswith("Hello ada")
    chunked = httpx.post(
        f"{base}/slash-commands/hello",
        content=iter([body[:100], body[100:]]),
        headers=headers(body),
        timeout=10,
    )
    assert chunked.status_code == 200
    assert chunked.json()["text"].startswith("Hello ada")


@pytest.mark.parametrize(
    "content_type", ["application/json", "multipart/form-data; boundary=x", "text/plain", None]
)
def test_a_post_that_is_not_a_form_is_415(
    service: Callable[..., str], content_type: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    base = service()
    body = form("dig", "example.test")
    hdrs: dict[str, str] = {k: v for k, v in headers(body).items() if k != "content-type"}
    if content_type is not None:
        hdrs["content-type"] = content_type
    assert post(base, "dig", body, hdrs).status_code == 415
    assert [r["outcome"] for r in refusals(caplog)] == ["unsupported_type"]


def test_the_form_type_with_a_charset_is_a_form(service: Callable[..., str]) -> None:
    base = service()
    body = form("hello", "hi")
    hdrs = {**headers(body), "content-type": "Application/X-WWW-Form-Urlencoded; charset=utf-8"}
    assert post(base, "hello", body, hdrs).status_code == 200


def test_routes_added_later_are_capped_too(make_settings: SettingsFactory) -> None:
    app = create_app(make_settings(max_body_bytes=2048))
    seen: list[int] = []

    @app.post("/slack/later")
    async def later(request: Request) -> dict[str, int]:
        seen.append(len(await request.body()))
        return {"read": seen[-1]}

    with serving(app) as base:
        small = httpx.post(
            base + "/slack/later", content=b"a=1", headers={"content-type": raw.FORM_TYPE}
        )
        big = httpx.post(
            base + "/slack/later",
            content=iter([b"a" * 1500, b"a" * 1500]),
            headers={"content-type": raw.FORM_TYPE},
        )
    assert small.json() == {"read": 3}
    assert big.status_code == 413
    assert seen == [3]


# The service as deployed (`chatbot serve`), attacked as in issue 10. The bound on
# memory is generous (tens of MB over the start-up peak), the attack a thousand times more.
MEMORY_BOUND = 40 * 1024 * 1024


def test_a_1_gb_unsigned_chunked_post_costs_the_cap_not_the_body(dns_server: DNSServer) -> None:
    env = {"SLACK_SIGNING_SECRET": SECRET, "CHATBOT_DNS_RESOLVERS": dns_server.address}
    with service_process(env) as service:
        assert httpx.get(service.url + "/health", timeout=5).status_code == 200
        before = service.peak_memory()

        def check(sent: int) -> None:
            # Without the cap the server buffers it all; stop long before a gigabyte.
            if sent % (16 << 20) == 0:
                grown = service.peak_memory() - before
                assert grown < MEMORY_BOUND, f"server grew {grown >> 20} MB after {sent >> 20} MB"

        chunk = b"x" * 65536
        with raw.connect(service.url, timeout=10) as sock:
            streamed = raw.stream_chunked(
                sock,
                raw.head(
                    "/slash-commands/dig",
                    f"Content-Type: {raw.FORM_TYPE}",
                    "Transfer-Encoding: chunked",
                ),
                (chunk for _ in range((1 << 30) // len(chunk))),
                check=check,
            )
        grown = service.peak_memory() - before
        assert httpx.get(service.url + "/health", timeout=5).status_code == 200
    assert raw.status(streamed.response) == 413
    assert streamed.sent < 64 << 20, f"the server read {streamed.sent >> 20} MB"
    assert grown < MEMORY_BOUND


def test_sixteen_parallel_30_mb_posts_cost_the_cap(dns_server: DNSServer) -> None:
    env = {"SLACK_SIGNING_SECRET": SECRET, "CHATBOT_DNS_RESOLVERS": dns_server.address}
    body = b"text=" + b"x" * (30 * 1024 * 1024)
    statuses: list[int] = []
    with service_process(env) as service:
        assert httpx.get(service.url + "/health", timeout=5).status_code == 200
        before = service.peak_memory()

        def one() -> None:
            hdrs = {
                "content-type": raw.FORM_TYPE,
                "x-slack-request-timestamp": "1",
                "x-slack-signature": "v0=0",
            }
            statuses.append(post(service.url, "dig", body, hdrs).status_code)

        threads = [threading.Thread(target=one) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        grown = service.peak_memory() - before
    assert statuses == [413] * 16
    assert grown < MEMORY_BOUND


# --- workspaces --------------------------------------------------------------


def test_another_workspace_is_turned_away(
    service: Callable[..., str], dns_server: DNSServer, caplog: pytest.LogCaptureFixture
) -> None:
    base = service(allowed_team_ids=("T0002",))
    body = form("dig", "example.test", team_id="T0001")
    response = post(base, "dig", body, headers(body))
    assert response.status_code == 200
    answer = response.json()
    assert answer["response_type"] == "ephemeral"
    assert answer["text"] == "This app is not enabled for this workspace."
    assert dns_server.queries == []
    (refusal,) = refusals(caplog)
    assert refusal["outcome"] == "not_allowed" and refusal["team_id"] == "T0001"
    (line,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "T0001" in line.getMessage()


def test_allowed_workspaces_and_enterprises_get_in(service: Callable[..., str]) -> None:
    base = service(allowed_team_ids=("T0002", "E0001"))
    for extra in ({"team_id": "T0002"}, {"team_id": "T0009", "enterprise_id": "E0001"}):
        body = form("hello", "hi", **extra)
        assert post(base, "hello", body, headers(body)).json()["text"].startswith("Hello ada")


def test_every_workspace_gets_in_when_none_is_listed(service: Callable[..., str]) -> None:
    base = service()
    body = form("hello", "hi", team_id="T0NEW")
    assert post(base, "hello", body, headers(body)).json()["text"].startswith("Hello ada")


def test_an_interaction_payload_names_its_sender() -> None:
    payload = {"team": {"id": "T1"}, "enterprise": {"id": "E1"}, "user": {"id": "U1"}}
    assert Identity.of({"payload": json.dumps(payload)}) == Identity("T1", "E1", "U1")
    assert Identity.of({"payload": "[" * 100_000}) == Identity()
    assert Identity.of({"payload": '{"team": "T1", "user": {"id": 5}}'}) == Identity()


# Forms as a sender may write them: separators, escapes good and bad, non-ASCII, bytes
# that are not UTF-8.
_FORM_PIECES = st.sampled_from(
    ["&", "=", "+", "%", "%2", "%20", "%zz", "%C3%A9", "%FF", "%26", "%3D", "a", "Z", "é", " ", ";"]
)


@profile(max_examples=1000, derandomize=True, database=None)
@given(st.lists(_FORM_PIECES, max_size=40), st.text(max_size=4), st.binary(max_size=4))
def test_form_fields_are_what_parse_qsl_reads(
    pieces: list[str], text: str, raw_bytes: bytes
) -> None:
    body = "".join(pieces).encode() + text.encode() + raw_bytes
    expected = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    assert form_fields(body) == expected


def test_form_fields_of_a_slash_command() -> None:
    body = form("dig", "example.com  MX+ 50%", "https://hooks.slack.com/commands/T1/2/x")
    fields = form_fields(body + b"&empty=&bare&user_id=U9")
    assert fields["text"] == "example.com  MX+ 50%"
    assert fields["response_url"] == "https://hooks.slack.com/commands/T1/2/x"
    assert (fields["empty"], fields["bare"], fields["user_id"]) == ("", "", "U9")


# --- rate limits -------------------------------------------------------------


def test_a_user_over_the_limit_is_told_when_to_come_back(
    service: Callable[..., str], dns_server: DNSServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    base = service(rate_limit_user="3/minute")
    body = form("dig", "example.test")
    first = time.time()
    for _ in range(3):
        assert "192.0.2.10" in str(post(base, "dig", body, headers(body)).json())
    asked = len(dns_server.queries)
    answer = post(base, "dig", body, headers(body)).json()
    elapsed = time.time() - first
    assert answer["response_type"] == "ephemeral"
    prefix, _, rest = answer["text"].partition("; try again in ")
    assert prefix == "You have run 3 commands in the last minute"
    seconds = int(rest.removesuffix(" s."))
    assert math.floor(60 - elapsed) <= seconds <= 60
    assert len(dns_server.queries) == asked  # nothing run
    (refusal,) = refusals(caplog)
    assert refusal["outcome"] == "rate_limited" and refusal["user_id"] == "U0001"
    # Another user of the same workspace is counted apart.
    other = form("dig", "example.test", user_id="U0002")
    assert "192.0.2.10" in str(post(base, "dig", other, headers(other)).json())


def test_a_workspace_over_its_limit(service: Callable[..., str]) -> None:
    base = service(rate_limit_team="4/10 minutes")
    for user in ("U1", "U2", "U3", "U4"):
        body = form("hello", "hi", user_id=user)
        assert post(base, "hello", body, headers(body)).json()["text"].startswith("Hello")
    body = form("hello", "hi", user_id="U5")
    text = post(base, "hello", body, headers(body)).json()["text"]
    assert text.startswith(
        "This workspace has run 4 commands in the last 10 minutes; try again in "
    )
    elsewhere = form("hello", "hi", user_id="U5", team_id="T0002")
    assert post(base, "hello", elsewhere, headers(elsewhere)).json()["text"].startswith("Hello")


def test_unsigned_requests_are_not_counted(service: Callable[..., str]) -> None:
    base = service(rate_limit_user="2/minute")
    body = form("hello", "hi")
    for _ in range(5):
        assert post(base, "hello", body, headers(body, secret="wrong")).status_code == 401
    for _ in range(2):
        assert post(base, "hello", body, headers(body)).json()["text"].startswith("Hello")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("rate_limit_user", "lots"),
        ("rate_limit_team", "20 per fortnight"),
        ("rate_limit_storage", "mongodb://db:27017"),
        ("rate_limit_storage", "redis://"),
        ("allowed_team_ids", "acme,T0001"),
        ("max_body_bytes", 100),
        ("max_connections", 0),
        ("header_timeout_seconds", 0),
    ],
)
def test_admission_settings_are_checked(field: str, value: object) -> None:
    with pytest.raises(ValueError):
        Settings(**{field: value})
