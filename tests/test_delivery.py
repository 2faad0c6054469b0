from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from chatbot.delivery import Delivery, Outcome, Trouble, url_host
from tests.servers.receiver import Answer, Receiver

PAYLOAD = {"response_type": "ephemeral", "text": "hi"}


def delivery(**kw: Any) -> Delivery:
    return Delivery(("http://127.0.0.1:",), backoff=0.01, **kw)


async def test_posts_json(receiver: Receiver) -> None:
    async with delivery() as sender:
        outcome = await sender.post(receiver.url + "/hook", PAYLOAD)
    assert outcome == Outcome(True, attempts=1)
    assert receiver.posts == [PAYLOAD]


async def test_retries_5xx_and_honours_retry_after(receiver: Receiver) -> None:
    receiver.statuses = [(503, {}), (429, {"Retry-After": "1"}), (200, {})]
    async with delivery() as sender:
        started = time.monotonic()
        assert (await sender.post(receiver.url + "/hook", PAYLOAD)).delivered
        elapsed = time.monotonic() - started
    assert len(receiver.posts) == 3
    assert elapsed >= 1.0  # the Retry-After second was waited


# Superscript two, fullwidth one, Arabic-Indic three: digits to str.isdigit().
@pytest.mark.parametrize("value", ["\u00b2", "\uff11", "\u0663", "1e3", "-1", "0x10", "9" * 40])
async def test_retry_after_is_ascii_digits_or_ignored(
    receiver: Receiver, value: str, caplog: pytest.LogCaptureFixture
) -> None:
    # "²".isdigit() is True in Python and float("²") raises: that ValueError
    # escaped delivery, with no summary line and no retry.
    receiver.statuses = [(429, {"Retry-After": value}), (200, {})]
    async with delivery(max_wait=0.5) as sender:
        started = time.monotonic()
        outcome = await sender.post(receiver.url + "/hook", PAYLOAD)
    assert outcome.delivered, caplog.text
    assert outcome.attempts == 2
    assert time.monotonic() - started < 2  # the backoff, not a huge or odd wait


async def test_gives_up_after_bounded_attempts(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.statuses = [(500, {})] * 10
    async with delivery(attempts=3) as sender:
        outcome = await sender.post(receiver.url + "/secret/path", PAYLOAD)
    assert outcome == Outcome(False, "HTTP 500", attempts=3)
    assert len(receiver.posts) == 3
    assert "could not deliver to response_url on 127.0.0.1: HTTP 500" in caplog.text
    assert "/secret/path" not in caplog.text


async def test_client_errors_are_not_retried(receiver: Receiver) -> None:
    receiver.statuses = [(404, {})]
    async with delivery() as sender:
        outcome = await sender.post(receiver.url + "/hook", PAYLOAD)
    assert outcome == Outcome(False, "HTTP 404", attempts=1)
    assert len(receiver.posts) == 1


async def test_connection_errors_are_retried(caplog: pytest.LogCaptureFixture) -> None:
    with Receiver().running() as gone:
        url = gone.url + "/hook"
    async with delivery(attempts=2) as sender:
        outcome = await sender.post(url, PAYLOAD)
    assert not outcome.delivered
    assert outcome.attempts == 2
    assert not outcome.ours  # a receiver that is down is not our failure
    assert "ConnectError" in caplog.text


async def test_urls_outside_the_prefixes_are_never_contacted(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    async with Delivery(("https://hooks.slack.com/",)) as sender:
        assert not (await sender.post(receiver.url + "/hook", PAYLOAD)).delivered
        assert not (await sender.post("https://hooks.slack.com.evil.example/x", PAYLOAD)).delivered
    assert receiver.posts == []
    assert "not an allowed prefix" in caplog.text


@pytest.mark.parametrize(
    "path",
    [
        "/commands/T1/2/abc\r\nX-Injected: 1",  # httpx.InvalidURL, not an httpx.HTTPError
        "/commands/T1/2/abc\nmore",
        "/commands/T1/2/abc\x00",
    ],
)
async def test_a_response_url_httpx_refuses_is_an_outcome_not_an_exception(
    receiver: Receiver, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with delivery() as sender:
        outcome = await sender.post(receiver.url + path, PAYLOAD)
    assert not outcome.delivered
    assert not outcome.ours
    assert outcome.attempts <= 1  # never retried
    assert "could not deliver to response_url on 127.0.0.1" in caplog.text
    assert receiver.posts == []


async def test_a_port_out_of_range_is_an_outcome(caplog: pytest.LogCaptureFixture) -> None:
    async with delivery() as sender:
        outcome = await sender.post("http://127.0.0.1:99999/hook", PAYLOAD)
    assert not outcome.delivered
    assert not outcome.ours
    # The allow-list reads the URL first and refuses what it cannot parse; either
    # way it is an outcome with its reason, never an exception.
    assert "response_url not allowed" in caplog.text


async def test_a_dripping_receiver_is_cut_off_at_the_deadline(receiver: Receiver) -> None:
    # One byte every half second: each read finishes well within the read
    # timeout, so only an overall deadline stops it (about 30 s otherwise).
    receiver.rules["/drip"] = Answer(drip=0.5)
    async with delivery(deadline=1.5) as sender:
        started = time.monotonic()
        outcome = await sender.post(receiver.url + "/drip/x", PAYLOAD)
        elapsed = time.monotonic() - started
    assert not outcome.delivered
    assert "deadline" in outcome.reason
    assert 1.4 < elapsed < 4


async def test_the_deadline_covers_retries_and_their_waits(receiver: Receiver) -> None:
    receiver.statuses = [(503, {"Retry-After": "5"})] * 5
    async with Delivery(("http://127.0.0.1:",), deadline=1.0, attempts=5) as sender:
        started = time.monotonic()
        outcome = await sender.post(receiver.url + "/hook", PAYLOAD)
        elapsed = time.monotonic() - started
    assert not outcome.delivered
    assert "no time left to retry" in outcome.reason
    assert elapsed < 1.0
    assert len(receiver.posts) == 1


async def test_a_slow_receiver_times_out_and_is_retried(receiver: Receiver) -> None:
    receiver.rules["/slow"] = Answer(delay=1.0)
    async with delivery(timeout=0.3, attempts=2, deadline=10) as sender:
        outcome = await sender.post(receiver.url + "/slow", PAYLOAD)
    assert not outcome.delivered
    assert outcome.attempts == 2
    assert "ReadTimeout" in outcome.reason
    assert len(receiver.posts) == 2


async def test_concurrency_is_bounded(receiver: Receiver) -> None:
    receiver.rules["/slow"] = Answer(delay=0.3)
    async with delivery(concurrency=3) as sender:
        started = time.monotonic()
        outcomes = await asyncio.gather(
            *(sender.post(receiver.url + "/slow", PAYLOAD) for _ in range(9))
        )
        elapsed = time.monotonic() - started
    assert all(outcome.delivered for outcome in outcomes)
    assert elapsed >= 0.85  # three rounds of three, not one round of nine


async def test_a_broken_client_is_our_failure_and_never_raises(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    async with delivery() as sender:
        await sender.client.aclose()
        outcome = await sender.post(receiver.url + "/hook", PAYLOAD)
    assert not outcome.delivered
    assert outcome.ours
    assert "client has been closed" in outcome.reason
    assert sender.trouble.since is not None


async def test_the_cause_httpcore_leaks_a_slot_when_a_request_handed_a_new_connection_is_cancelled(
    receiver: Receiver,
) -> None:
    # httpx alone, no Delivery: the leak delivery.py is built to avoid
    # (encode/httpcore#1093). When this starts failing, httpcore has fixed it.
    receiver.rules["/slow"] = Answer(delay=0.3)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=1), timeout=2) as client:
        waiting: asyncio.Task[httpx.Response] | None = None

        async def holds_the_only_connection() -> None:
            await client.post(receiver.url + "/slow", json=PAYLOAD)
            # Its connection has closed (the receiver speaks HTTP/1.0), and the
            # pool has just handed the waiting request a new one, still
            # CONNECTING: cancel that request before it runs again, as its own
            # pool timeout (an anyio cancel scope) or an asyncio timeout would.
            assert waiting is not None
            waiting.cancel()

        first = asyncio.create_task(holds_the_only_connection())
        await asyncio.sleep(0.1)
        waiting = asyncio.create_task(client.post(receiver.url + "/x", json=PAYLOAD))
        await first
        with pytest.raises(asyncio.CancelledError):
            await waiting
        pool = client._transport._pool  # type: ignore[attr-defined]
        assert [connection.info() for connection in pool.connections] == ["CONNECTING"]
        with pytest.raises(httpx.PoolTimeout):  # for good: nothing ever reaps it
            await client.post(receiver.url + "/x", timeout=httpx.Timeout(1, pool=0.5))


async def test_the_pool_stays_usable_after_a_burst_of_failing_deliveries(
    receiver: Receiver,
) -> None:
    # The burst that broke httpcore's pool for good (encode/httpcore#1093): 800
    # posts, each answered 500 after a moment, retried. Before, the pool ended
    # up holding 100 connections stuck in CONNECTING and every later post
    # failed with PoolTimeout; the event loop was busy for a minute meanwhile.
    receiver.rules["/fail"] = Answer(500, delay=0.05)
    async with delivery(concurrency=50, attempts=2, deadline=30) as sender:
        pool = sender.client._transport._pool  # type: ignore[attr-defined]
        most = {"requests": 0, "queued": 0}

        async def watch() -> None:
            # The pool's queue stays short: its bookkeeping walks every queued
            # request against every connection whenever a request comes or goes.
            while True:
                most["requests"] = max(most["requests"], len(pool._requests))
                queued = sum(1 for request in pool._requests if request.is_queued())
                most["queued"] = max(most["queued"], queued)
                await asyncio.sleep(0)

        watcher = asyncio.create_task(watch())
        outcomes = await asyncio.gather(
            *(sender.post(receiver.url + "/fail", PAYLOAD) for _ in range(800))
        )
        watcher.cancel()
        assert 0 < most["requests"] <= 50
        assert most["queued"] == 0
        assert not any(outcome.delivered for outcome in outcomes)
        assert not any(outcome.ours for outcome in outcomes)
        started = time.monotonic()
        outcome = await sender.post(receiver.url + "/ok", PAYLOAD)
        assert outcome.delivered
        assert time.monotonic() - started < 1.0
        assert all(connection.info() != "CONNECTING" for connection in pool.connections)


async def test_shutdown_cuts_waits_and_exchanges_short(receiver: Receiver) -> None:
    receiver.rules["/drip"] = Answer(drip=0.5)
    async with delivery(concurrency=1, deadline=30) as sender:
        loop = asyncio.get_running_loop()
        posts = [
            asyncio.create_task(sender.post(receiver.url + "/drip", PAYLOAD)) for _ in range(3)
        ]
        await asyncio.sleep(0.3)
        started = loop.time()
        sender.stop_by(loop.time() + 0.5)
        outcomes = await asyncio.gather(*posts)
        elapsed = loop.time() - started
    assert not any(outcome.delivered for outcome in outcomes)
    assert elapsed < 1.5


def test_only_the_host_is_loggable() -> None:
    assert url_host("https://hooks.slack.com/commands/T1/2/secret") == "hooks.slack.com"
    assert url_host("http://[::1") == "?"


def test_trouble_counts_from_the_first_failure_of_a_run() -> None:
    now = [0.0]
    trouble = Trouble(after=10, clock=lambda: now[0])
    trouble.failed("PoolTimeout")
    now[0] = 9
    trouble.failed("PoolTimeout")
    assert trouble.problem() is None
    now[0] = 10.5
    assert trouble.problem() == "deliveries have failed on our side for 10 s: PoolTimeout"
    trouble.reached()
    assert trouble.problem() is None


def test_trouble_ends_when_failures_stop() -> None:
    now = [0.0]
    trouble = Trouble(after=10, clock=lambda: now[0])
    for second in range(0, 12):
        now[0] = second
        trouble.failed("closed")
    assert trouble.problem() is not None
    now[0] = 22  # nothing has failed for more than `after`
    assert trouble.problem() is None


def test_httpx_invalid_url_is_not_an_http_error() -> None:
    # Why delivery catches it apart: it escaped `except httpx.HTTPError`.
    assert not issubclass(httpx.InvalidURL, httpx.HTTPError)


def test_trouble_shows_no_response_url() -> None:
    now = [0.0]
    trouble = Trouble(after=1, clock=lambda: now[0])
    reason = "ValueError: bad https://hooks.slack.com/commands/T1/2/secret " + "x" * 500
    trouble.failed(reason)
    now[0] = 0.9
    trouble.failed(reason)
    now[0] = 1.5
    problem = trouble.problem()
    assert problem is not None
    assert "secret" not in problem
    assert "https://hooks.slack.com/…" in problem
    assert len(problem) < 300
