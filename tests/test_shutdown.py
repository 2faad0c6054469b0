"""SIGTERM to the real server process: in-flight answers are delivered or excused."""

from __future__ import annotations

import asyncio
import json

import httpx

from tests.burst import commands, post_all
from tests.servers.dns import DNSServer
from tests.servers.process import service_process
from tests.servers.receiver import Receiver
from tests.slackreq import SECRET, form, headers


def _env(dns_server: DNSServer, grace: int) -> dict[str, str]:
    return {
        "SLACK_SIGNING_SECRET": SECRET,
        "CHATBOT_DNS_RESOLVERS": dns_server.address,
        "CHATBOT_DNS_TIMEOUT_SECONDS": "30",
        "CHATBOT_COMMAND_DEADLINE_SECONDS": "60",
        "CHATBOT_ALLOW_PRIVATE_TARGETS": "true",
        "CHATBOT_RESPONSE_URL_PREFIXES": "http://127.0.0.1:",
        "CHATBOT_INLINE_BUDGET_SECONDS": "0.2",
        "CHATBOT_SHUTDOWN_GRACE_SECONDS": str(grace),
        # One test user sends hundreds: rate limits are tests/test_admission.py's subject.
        "CHATBOT_RATE_LIMIT_USER": "100000/minute",
        "CHATBOT_RATE_LIMIT_TEAM": "100000/minute",
    }


def _start_slow_lookup(url: str, receiver: Receiver) -> None:
    body = form("dig", "slow.test", response_url=receiver.url + "/commands/T/1/x")
    ack = httpx.post(url + "/slash-commands/dig", content=body, headers=headers(body), timeout=5)
    assert ack.json()["text"] == "Looking up slow.test, the answer follows."


def test_answer_in_flight_is_delivered_before_exit(
    dns_server: DNSServer, receiver: Receiver
) -> None:
    dns_server.slow_seconds = 2
    with service_process(_env(dns_server, grace=8)) as service:
        _start_slow_lookup(service.url, receiver)
        code, seconds = service.terminate()
    assert code == 0
    assert seconds < 8
    (delivered,) = receiver.posts
    assert "slow.test. 60 IN A 192.0.2.99" in str(delivered["blocks"])


def test_answer_that_cannot_finish_gets_a_restart_notice(
    dns_server: DNSServer, receiver: Receiver
) -> None:
    dns_server.slow_seconds = 20
    with service_process(_env(dns_server, grace=3)) as service:
        _start_slow_lookup(service.url, receiver)
        code, seconds = service.terminate()
        output = service.output()
    assert seconds < 3.5, output
    assert code == 0, output
    (notice,) = receiver.posts
    assert notice["response_type"] == "ephemeral"
    assert notice["text"] == (
        "The service restarted before your /dig answer was ready. Please run the command again."
    )


def test_exits_within_the_grace_with_2000_answers_pending(
    dns_server: DNSServer, receiver: Receiver
) -> None:
    # Before: 500 pending took 18.7 s to exit and told nobody; 2,000 kept the
    # process at 100% CPU for minutes. Cloud Run kills 10 s after SIGTERM.
    grace = 4
    env = {
        **_env(dns_server, grace),
        "CHATBOT_INLINE_BUDGET_SECONDS": "0",
        "CHATBOT_MAX_PENDING": "2000",
    }
    urls = [f"{receiver.url}/commands/T/{number}/x" for number in range(2000)]
    with service_process(env) as service:
        acks = asyncio.run(
            post_all(service.url + "/slash-commands/dig", commands("dig", "drop.test", urls))
        )
        texts = [
            ack.json()["text"] if isinstance(ack, httpx.Response) else repr(ack) for ack in acks
        ]
        assert texts == ["Looking up drop.test, the answer follows."] * 2000
        code, seconds = service.terminate()
        output = service.output()
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    print(f"exit {code} {seconds:.2f} s after SIGTERM; {len(receiver.posts)} restart notices")
    assert code == 0, output[-3000:]
    assert seconds < grace, output[-3000:]
    (count,) = [line for line in lines if "not_notified" in line]
    assert count["notified"] + count["not_notified"] == 2000
    assert count["notified"] == len(receiver.posts) > 0
    assert len(set(receiver.paths)) == len(receiver.paths)  # nobody told twice
    assert all(post["text"].startswith("The service restarted before") for post in receiver.posts)
    interrupted = [line for line in lines if line.get("outcome") == "interrupted"]
    assert len(interrupted) == 2000  # one summary line each, notified or not
    assert sum(line["notified"] for line in interrupted) == count["notified"]
