"""How many commands a user and a workspace may run: moving windows, in memory or in Redis.

Cloud Run runs several instances, each with its own memory, so counts that
must hold across instances live in Redis (`CHATBOT_RATE_LIMIT_STORAGE`). When
Redis cannot be reached the service keeps answering, counting in memory, and
says so once a minute rather than once a request.

In memory, the counts are the limits library's synchronous `MemoryStorage`
(about 10 us for both keys, no hop to a thread; its asyncio storage started a
task per request that handed a bisect to the thread pool, about 150 us). Its
price is a timer thread that, every 10 ms while hits arrive, walks every
key's window and copies what is still in it: with a thousand users active in
a minute that sweep is most of what the limits cost a command under load
(docs/development.md, "Hot path").
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from limits import RateLimitItem, parse, storage, strategies
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

log = logging.getLogger(__name__)

# Memorystore answers within a millisecond or two inside a region; a Redis that
# has not answered in half a second is treated as down for this request.
REDIS_TIMEOUT_SECONDS = 0.5
# After a failure, how long requests are counted in memory before Redis is tried
# again: a down Redis then costs one timeout per interval, not one per request.
RETRY_SECONDS = 5.0
# At most one "unreachable" error line per this many seconds.
LOG_EVERY_SECONDS = 60.0


def parse_limit(text: str) -> RateLimitItem:
    """`20/minute`, `300 per 10 minutes`: the limits library's notation."""
    return parse(text)


def check_storage(uri: str) -> str:
    """The storage URI if we can use it: `memory://`, or `redis://` / `rediss://` HOST:PORT."""
    parts = urlsplit(uri)
    if uri == "memory://" or (parts.scheme in ("redis", "rediss") and parts.hostname):
        return uri
    raise ValueError("must be memory:// or redis://HOST:PORT")


@dataclass(frozen=True)
class Exceeded:
    """A limit reached: whose, how many in what window, and when a slot frees."""

    scope: str  # "user" or "team"
    amount: int
    window: str  # "minute", "10 minutes"
    retry_after: int  # whole seconds, at least 1

    def sentence(self) -> str:
        who = "You have" if self.scope == "user" else "This workspace has"
        return (
            f"{who} run {self.amount} commands in the last {self.window}; "
            f"try again in {self.retry_after} s."
        )


def _window(item: RateLimitItem) -> str:
    name = item.GRANULARITY.name
    return name if item.multiples == 1 else f"{item.multiples} {name}s"


class MovingWindows:
    """The limits library's moving windows in this process's memory.

    A command counts on the user's and the workspace's window together or on
    neither: both are tested before either is hit, with no wait in between, so
    nothing else runs on the event loop in the meantime.
    """

    def __init__(self) -> None:
        self.storage = storage.MemoryStorage()
        self.limiter = strategies.MovingWindowRateLimiter(self.storage)

    def check(
        self, limits: tuple[tuple[str, RateLimitItem, tuple[str, ...]], ...]
    ) -> Exceeded | None:
        """Count one hit on every key, or on none: the first limit it would exceed."""
        for scope, item, keys in limits:
            if not self.limiter.test(item, *keys):
                stats = self.limiter.get_window_stats(item, *keys)
                wait = max(1, math.ceil(stats.reset_time - time.time()))
                return Exceeded(scope, item.amount, _window(item), wait)
        for _, item, keys in limits:
            self.limiter.hit(item, *keys)
        return None


class RateLimits:
    """Per-user and per-workspace moving-window limits, checked before a command runs."""

    def __init__(
        self,
        user: str,
        team: str,
        storage: str = "memory://",
        *,
        retry_seconds: float = RETRY_SECONDS,
        timeout: float = REDIS_TIMEOUT_SECONDS,
    ) -> None:
        self.user = parse_limit(user)
        self.team = parse_limit(team)
        self.memory = MovingWindows()
        self.shared: MovingWindowRateLimiter | None = None
        self._pool: Any = None
        self.where = "memory"
        if check_storage(storage) != "memory://":
            import redis.asyncio

            parts = urlsplit(storage)
            # Host and port only: the URI may hold a password.
            self.where = f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}"
            # Our own pool, so its timeouts are ours and it can be closed at shutdown;
            # redis-py retries nothing by default, which is what a fallback wants.
            self._pool = redis.asyncio.ConnectionPool.from_url(
                storage, socket_connect_timeout=timeout, socket_timeout=timeout
            )
            backend = RedisStorage(
                "async+" + storage,
                implementation="redispy",
                wrap_exceptions=True,
                key_prefix="chatbot",
                connection_pool=self._pool,
            )
            self.shared = MovingWindowRateLimiter(backend)
        self.retry_seconds = retry_seconds
        self._down_until = 0.0
        self._logged_at = -math.inf
        self._failures = 0
        self._reported = False

    async def check(self, team: str, user: str) -> Exceeded | None:
        """Count one command; the limit it exceeds (and nothing counted), or None."""
        if self.shared is not None and time.monotonic() >= self._down_until:
            try:
                exceeded = await self._check(self.shared, team, user)
            except (StorageError, OSError, TimeoutError) as exc:
                self._down(exc)
            else:
                self._up()
                return exceeded
        return self.memory.check(
            (("user", self.user, ("user", team, user)), ("team", self.team, ("team", team)))
        )

    async def _check(
        self, limiter: MovingWindowRateLimiter, team: str, user: str
    ) -> Exceeded | None:
        for scope, item, keys in (
            ("user", self.user, (team, user)),
            ("team", self.team, (team,)),
        ):
            if not await limiter.hit(item, scope, *keys):
                stats = await limiter.get_window_stats(item, scope, *keys)
                wait = max(1, math.ceil(stats.reset_time - time.time()))
                return Exceeded(scope, item.amount, _window(item), wait)
        return None

    def _down(self, exc: BaseException) -> None:
        now = time.monotonic()
        self._down_until = now + self.retry_seconds
        self._failures += 1
        if now - self._logged_at < LOG_EVERY_SECONDS:
            return
        cause = exc.__cause__ or exc
        log.error(
            "rate-limit storage %s unreachable (%s: %s); counting in memory (%d failures)",
            self.where,
            type(cause).__name__,
            cause,
            self._failures,
        )
        self._logged_at = now
        self._failures = 0
        self._reported = True

    def _up(self) -> None:
        # Once per reported outage, so a flapping Redis stays within a line a minute.
        if self._reported:
            log.warning("rate-limit storage %s reachable again", self.where)
            self._reported = False
        self._failures = 0

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.disconnect()
