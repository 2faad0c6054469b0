from __future__ import annotations

import json
import logging

import httpx
import pytest

from chatbot import logs
from tests.servers.dns import DNSServer
from tests.servers.process import service_process
from tests.servers.receiver import Receiver
from tests.slackreq import SECRET, form, headers

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize(
    ("header", "value", "expected"),
    [
        ("traceparent", f"00-{TRACE}-00f067aa0ba902b7-01", (TRACE, "00f067aa0ba902b7")),
        ("x-cloud-trace-context", f"{TRACE.upper()}/1;o=1", (TRACE, "0000000000000001")),
        ("x-cloud-trace-context", TRACE, (TRACE, "")),
        ("traceparent", "garbage", None),
        ("traceparent", f"00-{'0' * 32}-00f067aa0ba902b7-01", None),
    ],
)
def test_parse_trace(header: str, value: str, expected: tuple[str, str] | None) -> None:
    assert logs.parse_trace({header: value}) == expected


def _record(message: str, **fields: object) -> logging.LogRecord:
    record = logging.LogRecord("chatbot.web", logging.WARNING, __file__, 1, message, (), None)
    if fields:
        record.fields = fields
    return record


def test_json_line_shape_and_trace() -> None:
    formatter = logs.JSONFormatter(project="my-project")
    token = logs.trace.set((TRACE, "00f067aa0ba902b7"))
    try:
        entry = json.loads(formatter.format(_record("hello", command="dig")))
    finally:
        logs.trace.reset(token)
    assert entry["severity"] == "WARNING"
    assert entry["message"] == "hello"
    assert entry["command"] == "dig"
    assert entry[logs.TRACE_KEY] == f"projects/my-project/traces/{TRACE}"
    assert entry[logs.SPAN_KEY] == "00f067aa0ba902b7"
    assert "\n" not in formatter.format(_record("two\nlines"))


def test_redaction_of_credentials() -> None:
    formatter = logs.JSONFormatter(secrets=("s3cret-value",))
    line = formatter.format(
        _record(
            "posting to https://hooks.slack.com/commands/T1/123/abcDEF with v0="
            + "a" * 64
            + " and s3cret-value",
            url="https://hooks.slack.com/commands/T1/123/abcDEF",
        )
    )
    assert "abcDEF" not in line and "s3cret-value" not in line and "a" * 64 not in line
    assert "https://hooks.slack.com/…" in line


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com/actions/T1/123/abcDEF",  # a button's
        "https://hooks.slack.com/app/T1/123/abcDEF",  # a message shortcut's
    ],
)
def test_interaction_response_urls_are_redacted(url: str) -> None:
    assert logs.redact(f"posting to {url} now") == "posting to https://hooks.slack.com/… now"


def test_text_lines_on_a_terminal() -> None:
    line = logs.TextFormatter().format(_record("hello", command="dig"))
    assert line.endswith("WARNING hello  command=dig")


def test_the_service_logs_json_with_trace_and_no_credentials(
    dns_server: DNSServer, receiver: Receiver
) -> None:
    env = {
        "SLACK_SIGNING_SECRET": SECRET,
        "CHATBOT_DNS_RESOLVERS": dns_server.address,
        "CHATBOT_ALLOW_PRIVATE_TARGETS": "true",
        "CHATBOT_RESPONSE_URL_PREFIXES": "http://127.0.0.1:",
        "CHATBOT_INLINE_BUDGET_SECONDS": "0",
        "GOOGLE_CLOUD_PROJECT": "my-project",
    }
    response_url = receiver.url + "/commands/T0001/99/very-secret-token"
    with service_process(env) as service:
        body = form("dig", "example.test", response_url=response_url)
        signed = headers(body)
        ack = httpx.post(
            service.url + "/slash-commands/dig",
            content=body,
            headers={**signed, "traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"},
            timeout=5,
        )
        assert ack.status_code == 200
        receiver.wait_for(1)
        bad = headers(body, secret="wrong")
        httpx.post(service.url + "/slash-commands/dig", content=body, headers=bad, timeout=5)
        service.terminate()
        output = service.output()
    entries = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert entries, output
    assert all({"severity", "message"} <= entry.keys() for entry in entries)
    (summary, refusal) = [e for e in entries if e.get("command") == "dig"]
    assert refusal["outcome"] == "bad_signature" and refusal["mode"] == "refused"
    assert summary["mode"] == "deferred" and summary["outcome"] == "answer"
    assert summary["team_id"] == "T0001" and summary["user_id"] == "U0001"
    assert summary["delivered"] is True and summary["response_host"] == "127.0.0.1"
    assert isinstance(summary["duration_ms"], int)
    # The deferred line was written after the response, still under the request's trace.
    assert summary[logs.TRACE_KEY] == f"projects/my-project/traces/{TRACE}"
    assert any(e["severity"] == "WARNING" and "wrong signature" in e["message"] for e in entries)
    for secret in (
        SECRET,
        "very-secret-token",
        signed["x-slack-signature"],
        bad["x-slack-signature"],
    ):
        assert secret not in output
