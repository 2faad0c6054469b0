"""Rate limits counted in memory or in a real Redis shared by several service processes."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from limits.strategies import MovingWindowRateLimiter

from chatbot.ratelimit import Exceeded, MovingWindows, RateLimits, WindowStorage, parse_limit
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


class Clock:
    """Seconds that pass only when a test says so."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_window_moves_with_its_oldest_hit() -> None:
    clock = Clock()
    windows = MovingWindows(clock)
    limits = (("user", parse_limit("3/minute"), ("user", "T1", "U1")),)
    for _ in range(3):  # hits at 1000, 1010, 1020
        assert windows.check(limits) is None
        clock.now += 10
    # At 1030 the window is full; its oldest hit leaves it at 1060.
    assert windows.check(limits) == Exceeded("user", 3, "minute", 30)
    clock.now = 1059.5
    assert windows.check(limits) == Exceeded("user", 3, "minute", 1)
    clock.now = 1060.0
    assert windows.check(limits) is None  # 1010, 1020, 1060
    assert windows.check(limits) == Exceeded("user", 3, "minute", 10)


def test_the_storage_itself_refuses_a_hit_beyond_the_limit() -> None:
    # As the limits library's strategies use it: hit() alone, without test() first.
    limiter = MovingWindowRateLimiter(WindowStorage(Clock()))
    item = parse_limit("2/minute")
    assert limiter.hit(item, "k")
    assert limiter.hit(item, "k")
    assert not limiter.hit(item, "k")
    assert limiter.get_window_stats(item, "k").remaining == 0
    assert not limiter.hit(item, "other", cost=3)
    assert limiter.hit(item, "other", cost=2)


def test_windows_that_have_emptied_are_forgotten() -> None:
    clock = Clock()
    storage = WindowStorage(clock)
    limiter = MovingWindowRateLimiter(storage)
    item = parse_limit("5/minute")
    for n in range(1000):
        assert limiter.hit(item, "user", f"U{n}")
    assert len(storage.windows) == 1000
    clock.now += 61  # past every window and the sweep's interval
    assert limiter.hit(item, "user", "U-new")
    assert list(storage.windows) == [item.key_for("user", "U-new")]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([0.0, 0.5, 7.0, 29.0, 60.0, 61.0]), st.sampled_from("ABC")),
        max_size=60,
    )
)
def test_memory_counts_like_a_list_of_every_hit(steps: list[tuple[float, str]]) -> None:
    """Against the plainest model: every counted hit kept, a window counted from them."""
    clock = Clock()
    windows = MovingWindows(clock)
    user, team = parse_limit("3/minute"), parse_limit("5/2 minutes")
    counted: dict[str, list[float]] = {}

    def within(key: str, seconds: float) -> list[float]:
        return [t for t in counted.get(key, []) if t > clock.now - seconds]

    for advance, who in steps:
        clock.now += advance
        keys = (f"user {who}", 60.0, user.amount, "user"), ("team", 120.0, team.amount, "team")
        expected = None
        for key, seconds, amount, scope in keys:
            live = within(key, seconds)
            if len(live) >= amount:
                wait = max(1, math.ceil(min(live) + seconds - clock.now))
                expected = Exceeded(
                    scope, amount, "minute" if scope == "user" else "2 minutes", wait
                )
                break
        got = windows.check((("user", user, ("user", "T1", who)), ("team", team, ("team", "T1"))))
        assert got == expected
        if expected is None:
            for key, *_ in keys:
                counted.setdefault(key, []).append(clock.now)


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
