from __future__ import annotations

import time

import httpx
import pytest

from chatbot.delivery import Delivery, url_host
from tests.servers.receiver import Receiver

PAYLOAD = {"response_type": "ephemeral", "text": "hi"}


def delivery(client: httpx.AsyncClient, **kw: float) -> Delivery:
    return Delivery(client, ("http://127.0.0.1:",), backoff=0.01, **kw)  # type: ignore[arg-type]


async def test_posts_json(receiver: Receiver) -> None:
    async with httpx.AsyncClient(timeout=2) as client:
        assert await delivery(client).post(receiver.url + "/hook", PAYLOAD)
    assert receiver.posts == [PAYLOAD]


async def test_retries_5xx_and_honours_retry_after(receiver: Receiver) -> None:
    receiver.statuses = [(503, {}), (429, {"Retry-After": "1"}), (200, {})]
    async with httpx.AsyncClient(timeout=2) as client:
        started = time.monotonic()
        assert await delivery(client).post(receiver.url + "/hook", PAYLOAD)
        elapsed = time.monotonic() - started
    assert len(receiver.posts) == 3
    assert elapsed >= 1.0  # the Retry-After second was waited


async def test_gives_up_after_bounded_attempts(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.statuses = [(500, {})] * 10
    async with httpx.AsyncClient(timeout=2) as client:
        assert not await delivery(client, attempts=3).post(receiver.url + "/secret/path", PAYLOAD)
    assert len(receiver.posts) == 3
    assert "could not deliver to response_url on 127.0.0.1: HTTP 500" in caplog.text
    assert "/secret/path" not in caplog.text


async def test_client_errors_are_not_retried(receiver: Receiver) -> None:
    receiver.statuses = [(404, {})]
    async with httpx.AsyncClient(timeout=2) as client:
        assert not await delivery(client).post(receiver.url + "/hook", PAYLOAD)
    assert len(receiver.posts) == 1


async def test_connection_errors_are_retried(caplog: pytest.LogCaptureFixture) -> None:
    with Receiver().running() as gone:
        url = gone.url + "/hook"
    async with httpx.AsyncClient(timeout=1) as client:
        assert not await delivery(client, attempts=2).post(url, PAYLOAD)
    assert "ConnectError" in caplog.text


async def test_urls_outside_the_prefixes_are_never_contacted(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    async with httpx.AsyncClient(timeout=2) as client:
        sender = Delivery(client, ("https://hooks.slack.com/",))
        assert not await sender.post(receiver.url + "/hook", PAYLOAD)
        assert not await sender.post("https://hooks.slack.com.evil.example/x", PAYLOAD)
    assert receiver.posts == []
    assert "not an allowed prefix" in caplog.text


def test_only_the_host_is_loggable() -> None:
    assert url_host("https://hooks.slack.com/commands/T1/2/secret") == "hooks.slack.com"
