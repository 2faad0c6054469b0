"""Rate limits counted in memory or in a real Redis shared by several service processes."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from limits.strategies import MovingWindowRateLimiter

from chatbot.ratelimit import Exceeded, RateLimits
from chatbot.settings import Settings
from chatbot.web import create_app
from tests.servers.dns import DNSServer
from tests.servers.process import free_port, service_process
from tests.servers.redis import RedisServer, redis_binary
from tests.servers.service import serving
from tests.slackreq import SECRET, form, headers

SettingsFactory = Callable[..., Settings]


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    with RedisServer(redis_binary()).running() as server:
        yield server


def hello(base: str, user: str = "U0001") -> str:
    body = form("hello", "hi", user_id=user)
    response = httpx.post(
        f"{base}/slash-commands/hello", content=body, headers=headers(body), timeout=10
    )
    assert response.status_code == 200
    text: str = response.json()["text"]
    return text


def answered(text: str) -> bool:
    return text.startswith("Hello ada")


def storage_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "chatbot.ratelimit" and r.levelno == logging.ERROR
    ]


def test_the_sentences() -> None:
    assert Exceeded("user", 20, "minute", 14).sentence() == (
        "You have run 20 commands in the last minute; try again in 14 s."
    )
    assert Exceeded("team", 300, "10 minutes", 1).sentence() == (
        "This workspace has run 300 commands in the last 10 minutes; try again in 1 s."
    )


async def test_memory_counts_each_user_and_workspace_apart() -> None:
    limits = RateLimits("2/minute", "3/hour")
    assert await limits.check("T1", "U1") is None
    assert await limits.check("T1", "U1") is None
    refused = await limits.check("T1", "U1")
    assert refused is not None and (refused.scope, refused.amount) == ("user", 2)
    assert 59 <= refused.retry_after <= 60
    assert await limits.check("T1", "U2") is None
    refused = await limits.check("T1", "U3")
    assert refused is not None and (refused.scope, refused.window) == ("team", "hour")
    assert await limits.check("T2", "U1") is None


def _remaining(limits: RateLimits, scope: str, *keys: str) -> int:
    item = limits.user if scope == "user" else limits.team
    return int(limits.memory.limiter.get_window_stats(item, scope, *keys).remaining)


async def test_a_refused_command_is_not_counted_anywhere() -> None:
    limits = RateLimits("2/minute", "3/minute")
    for user in ("U1", "U2", "U3"):
        assert await limits.check("T1", user) is None
    for _ in range(5):  # the workspace is full: U1 is refused, and not counted
        refused = await limits.check("T1", "U1")
        assert refused is not None and refused.scope == "team"
    assert _remaining(limits, "user", "T1", "U1") == 1  # its own 2 a minute, one spent
    for user in ("U1", "U1"):
        assert await limits.check("T2", user) is None
    for _ in range(5):  # over its own limit: the workspace's count is not spent
        refused = await limits.check("T2", "U1")
        assert refused is not None and refused.scope == "user"
    assert _remaining(limits, "team", "T2") == 1
    assert await limits.check("T2", "U2") is None


async def test_memory_is_the_limits_librarys_moving_window() -> None:
    """Issue 10 asks for the limits library's moving window, not a bucket of our own."""
    limits = RateLimits("2/minute", "100/minute")
    assert isinstance(limits.memory.limiter, MovingWindowRateLimiter)
    assert await limits.check("T1", "U1") is None
    assert await limits.check("T1", "U1") is None
    refused = await limits.check("T1", "U1")
    assert refused is not None and 59 <= refused.retry_after <= 60


def test_two_service_processes_share_one_limit(redis: RedisServer, dns_server: DNSServer) -> None:
    env = {
        "SLACK_SIGNING_SECRET": SECRET,
        "CHATBOT_DNS_RESOLVERS": dns_server.address,
        "CHATBOT_RATE_LIMIT_USER": "3/minute",
        "CHATBOT_RATE_LIMIT_STORAGE": redis.uri,
    }
    with service_process(env) as one, service_process(env) as two:
        assert answered(hello(one.url))
        assert answered(hello(two.url))
        assert answered(hello(one.url))
        refused = hello(two.url)
        assert refused.startswith("You have run 3 commands in the last minute; try again in ")
        assert not answered(hello(one.url))
        # Counted per user, across both.
        assert answered(hello(two.url, user="U0002"))
        one.terminate()
        two.terminate()
        output = one.output() + two.output()
    assert b"chatbot" in redis.command("KEYS", "*")
    assert '"severity": "ERROR"' not in output


def test_redis_dies_mid_run_and_comes_back(
    redis: RedisServer, make_settings: SettingsFactory, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(rate_limit_user="3/minute", rate_limit_storage=redis.uri)
    limits = RateLimits(
        settings.rate_limit_user, settings.rate_limit_team, redis.uri, retry_seconds=0.2
    )
    with serving(create_app(settings, limits=limits)) as base:
        assert answered(hello(base))
        assert answered(hello(base))
        assert b"chatbot" in redis.command("KEYS", "*")

        redis.stop()
        # Still answering, counted in memory from zero: three more, then refused.
        texts = [hello(base) for _ in range(5)]
        assert [answered(text) for text in texts] == [True, True, True, False, False]
        assert texts[-1].startswith("You have run 3 commands")
        # One error line for the outage, not one per request.
        (error,) = storage_errors(caplog)
        assert f"rate-limit storage redis://127.0.0.1:{redis.port} unreachable" in error

        redis.start()  # empty: the counts in memory stay in memory
        for _ in range(100):
            if answered(hello(base, user="U0002")) and b"U0002" in redis.command("KEYS", "*"):
                break
            time.sleep(0.05)
        else:
            raise AssertionError("requests never went back to Redis")
    assert len(storage_errors(caplog)) == 1
    assert any("reachable again" in r.getMessage() for r in caplog.records)


def test_an_unreachable_redis_from_the_start_costs_one_line(
    make_settings: SettingsFactory, caplog: pytest.LogCaptureFixture
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}"
    settings = make_settings(rate_limit_user="100/minute", rate_limit_storage=nowhere)
    with serving(create_app(settings)) as base:
        assert all(answered(hello(base)) for _ in range(20))
    assert len(storage_errors(caplog)) == 1
