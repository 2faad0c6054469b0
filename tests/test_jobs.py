"""Deferred answers under load: the pending cap, bursts, readiness, the summary line."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from chatbot.commands import Invocation
from chatbot.delivery import Delivery
from chatbot.jobs import BUSY, Job, Jobs
from chatbot.reply import Reply
from chatbot.settings import Settings
from chatbot.web import create_app
from tests.burst import commands, post_all
from tests.servers.dns import DNSServer
from tests.servers.process import service_process
from tests.servers.receiver import Answer, Receiver
from tests.slackreq import SECRET, form, headers

SettingsFactory = Callable[..., Settings]


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[str]:
    """The app under uvicorn in this test's own event loop, so the test can reach into it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 (uvicorn offers a flag, not an event)
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await serving
        sock.close()


async def slash(client: httpx.AsyncClient, command: str, text: str, url: str) -> dict[str, Any]:
    body = form(command, text, response_url=url)
    response = await client.post(f"/slash-commands/{command}", content=body, headers=headers(body))
    assert response.status_code == 200
    answer: dict[str, Any] = response.json()
    return answer


def summaries(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        record.fields  # type: ignore[attr-defined]
        for record in caplog.records
        if isinstance(getattr(record, "fields", None), dict) and "outcome" in record.fields  # type: ignore[attr-defined]
    ]


# --- 1. bounded pending work -------------------------------------------------


async def test_beyond_max_pending_the_answer_is_busy_and_nothing_is_queued(
    make_settings: SettingsFactory,
    dns_server: DNSServer,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    dns_server.slow_seconds = 1.5
    app = create_app(make_settings(inline_budget_seconds=0, dns_timeout_seconds=5, max_pending=2))
    async with running(app) as base, httpx.AsyncClient(base_url=base) as client:
        url = receiver.url + "/commands/T/1/x"
        first = await slash(client, "dig", "slow.test", url)
        second = await slash(client, "dig", "slow.test", url)
        started = time.monotonic()
        third = await slash(client, "dig", "slow.test", url)
        assert time.monotonic() - started < 1  # at once, not after the lookup
        assert first["text"] == second["text"] == "Looking up slow.test, the answer follows."
        assert third == {"response_type": "ephemeral", "text": BUSY, "blocks": third["blocks"]}
        assert BUSY in str(third["blocks"])
        assert len(app.state.jobs.pending) == 2
        await asyncio.to_thread(receiver.wait_for, 2)
        await asyncio.sleep(0.3)
    assert len(receiver.posts) == 2  # the busy one was not queued
    outcomes = [fields["outcome"] for fields in summaries(caplog)]
    assert outcomes.count("busy") == 1
    assert outcomes.count("answer") == 2


async def test_pending_frees_up_as_answers_are_delivered(
    make_settings: SettingsFactory, receiver: Receiver
) -> None:
    app = create_app(make_settings(inline_budget_seconds=0, max_pending=1))
    async with running(app) as base, httpx.AsyncClient(base_url=base) as client:
        for turn in range(3):
            answer = await slash(client, "hello", f"turn {turn}", receiver.url + "/hook")
            assert answer["text"] != BUSY
            await asyncio.to_thread(receiver.wait_for, turn + 1)
            for _ in range(100):
                if not app.state.jobs.pending:
                    break
                await asyncio.sleep(0.01)
    assert len(receiver.posts) == 3


# --- 2. the summary line whatever delivery meets -------------------------------


@pytest.mark.parametrize(
    "path", ["/commands/T/1/x\r\nX-Injected: 1", "/commands/T/1/x\x00", ":99999/commands/T/1/x"]
)
async def test_a_summary_line_is_written_whatever_the_delivery_meets(
    receiver: Receiver, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    jobs = Jobs("ephemeral")

    async def answer() -> Reply:
        return Reply(summary="done")

    async with Delivery(("http://127.0.0.1",)) as delivery:
        url = ("http://127.0.0.1" if path.startswith(":") else receiver.url) + path
        job = Job("hello", url, asyncio.create_task(answer()), Invocation("x", user_id="U1"))
        jobs.start(job, delivery)
        assert job.runner is not None
        await job.runner
    (line,) = summaries(caplog)
    assert line["outcome"] == "answer"
    assert line["mode"] == "deferred"
    assert line["delivered"] is False
    assert line["reason"]
    assert not jobs.pending
    assert receiver.posts == []


# --- 3. a client that cannot stay broken ---------------------------------------


def test_after_a_burst_of_failing_answers_a_new_one_arrives_within_a_second(
    make_settings: SettingsFactory, receiver: Receiver
) -> None:
    # 800 deferred answers whose receiver answers 500 after a moment: retried,
    # they contend for the HTTP client's pool. Before, that left httpcore's pool
    # full of connections stuck in CONNECTING (encode/httpcore#1093) and no
    # deferred answer arrived again until a restart.
    from tests.servers.service import serving

    receiver.rules["/fail"] = Answer(500, delay=0.05)
    app = create_app(
        make_settings(inline_budget_seconds=0, max_pending=1000, delivery_concurrency=50)
    )
    with serving(app) as base:
        bodies = commands("hello", "burst", [receiver.url + "/fail/T/1/x"] * 800)
        acks = asyncio.run(post_all(base + "/slash-commands/hello", bodies))
        statuses = [
            ack.status_code if isinstance(ack, httpx.Response) else repr(ack) for ack in acks
        ]
        assert statuses == [200] * 800, [status for status in statuses if status != 200]
        deadline = time.monotonic() + 120
        while app.state.jobs.pending and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not app.state.jobs.pending, "the burst did not finish within 120 s"
        failed = len(receiver.posts)
        body = form("hello", "after", response_url=receiver.url + "/ok/T/1/x")
        started = time.monotonic()
        ack = httpx.post(base + "/slash-commands/hello", content=body, headers=headers(body))
        assert ack.status_code == 200
        (answer,) = receiver.wait_for(failed + 1, timeout=5)[failed:]
        elapsed = time.monotonic() - started
    assert answer["text"] == "Hello ada, I received `after`"
    assert elapsed < 1.0


# --- 4. responsive while a burst finishes ----------------------------------------


def _probe_health(url: str, stop: threading.Event, latencies: list[float]) -> None:
    with httpx.Client(timeout=2, trust_env=False) as client:
        while not stop.is_set():
            started = time.monotonic()
            try:
                client.get(url + "/health").raise_for_status()
                latencies.append(time.monotonic() - started)
            except httpx.HTTPError:
                latencies.append(float("inf"))
            time.sleep(0.02)


def test_health_stays_responsive_while_800_answers_finish_at_once(
    dns_server: DNSServer, receiver: Receiver
) -> None:
    # drop.test never answers, so 800 lookups time out within a second or two of
    # each other and 800 answers go to delivery together.
    env = {
        "SLACK_SIGNING_SECRET": SECRET,
        "CHATBOT_DNS_RESOLVERS": dns_server.address,
        "CHATBOT_DNS_TIMEOUT_SECONDS": "3",
        "CHATBOT_ALLOW_PRIVATE_TARGETS": "true",
        "CHATBOT_RESPONSE_URL_PREFIXES": "http://127.0.0.1:",
        "CHATBOT_INLINE_BUDGET_SECONDS": "0",
        "CHATBOT_MAX_PENDING": "1000",
        # One test user sends hundreds: rate limits are tests/test_admission.py's subject.
        "CHATBOT_RATE_LIMIT_USER": "100000/minute",
        "CHATBOT_RATE_LIMIT_TEAM": "100000/minute",
    }
    latencies: list[float] = []
    stop = threading.Event()
    with service_process(env) as service:
        prober = threading.Thread(target=_probe_health, args=(service.url, stop, latencies))
        prober.start()
        try:
            bodies = commands("dig", "drop.test", [receiver.url + "/commands/T/1/x"] * 800)
            acks = asyncio.run(post_all(service.url + "/slash-commands/dig", bodies))
            posts = receiver.wait_for(800, timeout=60)
        finally:
            stop.set()
            prober.join()
        output = service.output()
    statuses = [ack.status_code if isinstance(ack, httpx.Response) else repr(ack) for ack in acks]
    assert statuses == [200] * 800, output[-2000:]
    assert len(posts) == 800, output[-2000:]
    assert all("No answer from" in json.dumps(post) for post in posts)
    assert "Exception in ASGI application" not in output
    ordered = sorted(latencies)
    p99 = ordered[int(0.99 * (len(ordered) - 1))]
    print(
        f"/health: {len(ordered)} probes, p50 {ordered[len(ordered) // 2] * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms"
    )
    # The goal is 100 ms; the bound leaves room for a loaded 2-core test machine
    # (the test's own 800 requests and the probes share it). Before, /health
    # timed out for as long as the burst lasted: about a minute.
    assert p99 < 0.5


# --- 5. readiness ----------------------------------------------------------------


async def test_ready_fails_when_deliveries_fail_on_our_side(
    make_settings: SettingsFactory, receiver: Receiver
) -> None:
    app = create_app(make_settings(inline_budget_seconds=0, unready_after_seconds=0.5))
    async with running(app) as base, httpx.AsyncClient(base_url=base) as client:
        ready = await client.get("/ready")
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
        # The delivery client broken, as a pool with every slot leaked would be.
        await app.state.delivery.client.aclose()
        for turn in range(4):
            await slash(client, "hello", f"turn {turn}", receiver.url + "/commands/T/1/x")
            await asyncio.sleep(0.25)
        ready = await client.get("/ready")
        assert ready.status_code == 503
        reason = ready.json()["reason"]
        assert re.match(r"deliveries have failed on our side for \d+ s: RuntimeError", reason)
        assert "client has been closed" in reason
        assert (await client.get("/health")).status_code == 200  # alive all the same
    assert receiver.posts == []


async def test_receivers_failing_do_not_make_us_unready(
    make_settings: SettingsFactory, receiver: Receiver
) -> None:
    receiver.rules["/"] = Answer(500)
    app = create_app(make_settings(inline_budget_seconds=0, unready_after_seconds=0.5))
    async with running(app) as base, httpx.AsyncClient(base_url=base) as client:
        for turn in range(4):
            await slash(client, "hello", f"turn {turn}", receiver.url + "/commands/T/1/x")
            await asyncio.sleep(0.25)
        ready = await client.get("/ready")
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    assert len(receiver.posts) >= 4


# --- 6. shutdown within the grace --------------------------------------------------


async def test_shutdown_notifies_only_as_many_as_can_arrive_in_time(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    receiver.rules["/"] = Answer(delay=0.2)  # every notice takes 0.2 s
    grace = 2  # the last 1.5 s: 1 s for notices, 0.5 s to leave
    jobs = Jobs("ephemeral", max_pending=100, grace=grace)
    never: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()

    async def unfinished() -> Reply:
        return await never

    async with Delivery(("http://127.0.0.1:",), concurrency=2) as delivery:
        for number in range(50):
            url = f"{receiver.url}/commands/T/{number}/x"
            jobs.start(
                Job("dig", url, asyncio.create_task(unfinished()), Invocation("x")), delivery
            )
        started = time.monotonic()
        await jobs.shutdown(delivery)
        elapsed = time.monotonic() - started
    assert elapsed < grace - 0.4  # done by the end it set itself, grace less 0.5 s
    (count,) = [
        record.fields  # type: ignore[attr-defined]
        for record in caplog.records
        if "not_notified" in getattr(record, "fields", {})
    ]
    notified, missed = count["notified"], count["not_notified"]
    assert notified + missed == 50
    # Two at a time for about a second at 0.2 s each: some, not all.
    assert 4 <= notified <= 12
    # A notice is started only when it can arrive in time: at most one cut off a slot.
    assert notified <= len(receiver.posts) <= notified + 2
    interrupted = [line for line in summaries(caplog) if line["outcome"] == "interrupted"]
    assert len(interrupted) == 50
    assert not jobs.pending
