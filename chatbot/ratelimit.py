"""How many commands a user and a workspace may run: moving windows, in memory or in Redis.

Cloud Run runs several instances, each with its own memory, so counts that
must hold across instances live in Redis (`CHATBOT_RATE_LIMIT_STORAGE`). When
Redis cannot be reached the service keeps answering, counting in memory, and
says so once a minute rather than once a request.

In memory, the limits library's moving-window strategy counts in a storage
of ours (`WindowStorage`), not in its `MemoryStorage`: that one inserts every
hit at the front of a list and runs a timer thread that, every 10 ms while
hits arrive, walks every key and copies its window, holding the GIL. At
1,000 commands a second from 1,000 users that sweep took about 0.9 ms a
time, 90 us a command, and made the service slower round after round as the
windows filled (docs/development.md, "Hot path").
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from limits import RateLimitItem, parse, strategies
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import MovingWindowSupport, Storage

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


class WindowStorage(Storage, MovingWindowSupport):
    """Moving windows in this process's memory, for the limits library's strategy.

    Each key holds the times of its hits, oldest first, in a deque: a hit is
    appended, hits that have left the window are dropped from the front when
    the key is next counted, and a key whose window has emptied is forgotten
    then, or by a sweep of every key at most once per SWEEP_SECONDS, on the
    caller's thread. No timer thread, no lock: the service counts on its event
    loop only. Only the moving-window strategy's two operations are kept here;
    the counters of the fixed and sliding windows are not.
    """

    STORAGE_SCHEME = None  # made directly, not from a URI
    SWEEP_SECONDS = 60.0

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.clock = clock
        self.windows: dict[str, tuple[float, deque[float]]] = {}
        self._swept = clock()

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return ValueError

    def _live(self, key: str, expiry: float, now: float) -> deque[float] | None:
        found = self.windows.get(key)
        if found is None:
            return None
        hits = found[1]
        while hits and hits[0] <= now - expiry:
            hits.popleft()
        if not hits:
            del self.windows[key]
            return None
        return hits

    def _sweep(self, now: float) -> None:
        self._swept = now
        for key, (expiry, _) in list(self.windows.items()):
            self._live(key, expiry, now)

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        now = self.clock()
        if now - self._swept >= self.SWEEP_SECONDS:
            self._sweep(now)
        hits = self._live(key, expiry, now)
        if hits is None:
            hits = self.windows.setdefault(key, (expiry, deque()))[1]
        if len(hits) + amount > limit:
            return False
        hits.extend([now] * amount)
        return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = self.clock()
        hits = self._live(key, expiry, now)
        return (hits[0], len(hits)) if hits else (now, 0)

    def get(self, key: str) -> int:
        found = self.windows.get(key)
        return 0 if found is None else len(self._live(key, found[0], self.clock()) or ())

    def clear(self, key: str) -> None:
        self.windows.pop(key, None)

    def reset(self) -> int | None:
        count = len(self.windows)
        self.windows.clear()
        return count

    def check(self) -> bool:
        return True

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        raise NotImplementedError("only the moving-window strategy counts here")

    def get_expiry(self, key: str) -> float:
        raise NotImplementedError("only the moving-window strategy counts here")


class MovingWindows:
    """The limits library's moving windows in this process's memory.

    A command counts on the user's and the workspace's window together or on
    neither: both are tested before either is hit, with no wait in between, so
    nothing else runs on the event loop in the meantime.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.storage = WindowStorage(clock)
        self.limiter = strategies.MovingWindowRateLimiter(self.storage)
        self.clock = clock

    def check(
        self, limits: tuple[tuple[str, RateLimitItem, tuple[str, ...]], ...]
    ) -> Exceeded | None:
        """Count one hit on every key, or on none: the first limit it would exceed."""
        for scope, item, keys in limits:
            if not self.limiter.test(item, *keys):
                stats = self.limiter.get_window_stats(item, *keys)
                wait = max(1, math.ceil(stats.reset_time - self.clock()))
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
