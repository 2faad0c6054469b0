"""Posting deferred answers to Slack's `response_url`.

Every post first takes one of `concurrency` slots, and the HTTP client's pool
holds more connections than there are slots. That is what keeps the client
from breaking after a burst. httpcore's `AsyncConnectionPool` (1.0.9) hands a
queued request a new, not yet connected connection when one frees up; if the
request is cancelled before it resumes (by its own pool timeout, an anyio
cancel scope, or by any asyncio timeout around it), it leaves the queue but
the connection stays, CONNECTING for ever: never idle, closed or expired, so
never reaped, and never available (encode/httpcore#1093). A burst of failing
deliveries left every slot of the pool so, and each later post failed with
PoolTimeout until a restart (tests/test_delivery.py reproduces it with
httpx's own client). With fewer requests than connections a request is given
its connection in the same step that queues it: it never waits on the pool,
the pool timeout never fires, and the pool's bookkeeping, which compares every
queued request with every connection whenever a request comes or goes, stays
a few hundred steps instead of holding the event loop for a minute.

An attempt's deadline (connect, send, read the whole answer) is an asyncio
timeout armed by the first trace event httpcore reports from the connection
it was given: from there on a cancellation closes that connection and the pool
drops it. Until then the request is still with the pool, where a cancellation
is exactly what leaks.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import re
import statistics
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx

from chatbot import allowlist, logs

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Retry-After in seconds: ASCII digits only (Python's str.isdigit() accepts "²").
_SECONDS = re.compile(r"[0-9]{1,6}")
# Failures of this machine rather than of the receiver: out of descriptors, memory, ports.
_OUR_ERRNOS = frozenset(
    {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS, errno.EADDRNOTAVAIL}
)
_JSON = {"content-type": "application/json"}
# How long a post is expected to take before any has been timed.
_EXPECTED_SECONDS = 0.25


def url_host(url: str) -> str:
    """What may be logged of a response_url: it is a credential, so only its host."""
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


@dataclass(frozen=True)
class Outcome:
    """What became of one post, for the command's summary line."""

    delivered: bool
    reason: str = ""
    attempts: int = 0
    # Failed for a reason on our side (pool, client, descriptors), not the receiver's.
    ours: bool = False


@dataclass(frozen=True)
class _Try:
    response: httpx.Response | None
    reason: str = ""
    ours: bool = False
    final: bool = False


class Trouble:
    """Deliveries failing for reasons on our side, as `/ready` reports them.

    A run of such failures counts from its first one. It ends when a post
    reaches a receiver (whatever the receiver answers: a 4xx or 5xx is the
    receiver's business), or when none has failed for `after` seconds, so an
    instance that gets no traffic does not stay unready for want of evidence.
    """

    def __init__(self, after: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.after = after
        self.clock = clock
        self.since: float | None = None
        self.last = 0.0
        self.reason = ""

    def failed(self, reason: str) -> None:
        now = self.clock()
        if self.since is None or now - self.last > self.after:
            self.since = now
        self.last = now
        # /ready shows it to anyone who asks: no response_url, and short.
        self.reason = logs.redact(reason)[:200]

    def reached(self) -> None:
        self.since = None

    def problem(self) -> str | None:
        if self.since is None:
            return None
        now = self.clock()
        if now - self.last > self.after:
            self.since = None
            return None
        if now - self.since < self.after:
            return None
        return f"deliveries have failed on our side for {now - self.since:.0f} s: {self.reason}"


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _local(exc: BaseException) -> bool:
    """Whether a transport error came from this machine's limits (EMFILE and the like)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _OUR_ERRNOS:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _url_problem(url: str) -> str | None:
    """What httpx or the socket layer would refuse in a URL, found before any I/O."""
    try:
        httpx.URL(url)
        # A port over 65535 passes httpx and fails in the socket call as an
        # OverflowError wrapped in an ExceptionGroup.
        urlsplit(url).port  # noqa: B018
    except (httpx.InvalidURL, ValueError) as exc:
        return str(exc)
    return None


class Delivery:
    """JSON POSTs to response URLs: bounded concurrency, retries, an overall deadline."""

    def __init__(
        self,
        prefixes: Sequence[str],
        *,
        concurrency: int = 10,
        deadline: float = 30.0,
        attempts: int = 4,
        backoff: float = 0.5,
        max_wait: float = 10.0,
        timeout: float = 5.0,
        unready_after: float = 30.0,
    ) -> None:
        self.prefixes = tuple(prefixes)
        self.concurrency = concurrency
        self.deadline = deadline
        self.attempts = attempts
        self.backoff = backoff
        self.max_wait = max_wait
        self.timeout = timeout
        self.slots = asyncio.Semaphore(concurrency)
        self.client = httpx.AsyncClient(
            trust_env=False,
            timeout=timeout,
            # Twice the slots: a post never waits for a connection (module docstring).
            limits=httpx.Limits(
                max_connections=2 * concurrency, max_keepalive_connections=concurrency
            ),
        )
        self.trouble = Trouble(unready_after)
        self.durations: deque[float] = deque(maxlen=64)
        # Loop time after which nothing may run any more (the shutdown's end), and
        # the timers that may be pulled in to it.
        self.stop_at: float | None = None
        self._timers: set[asyncio.Timeout] = set()

    async def __aenter__(self) -> Delivery:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.client.aclose()

    def allowed(self, url: str) -> bool:
        return allowlist.allowed(url, self.prefixes)

    def expected_seconds(self) -> float:
        """How long a post takes: the median of the recent ones."""
        if not self.durations:
            return _EXPECTED_SECONDS
        return statistics.median(self.durations)

    def stop_by(self, at: float) -> None:
        """Nothing runs past loop time `at`: waits and exchanges under way are cut there."""
        self.stop_at = at
        for timer in list(self._timers):
            when = timer.when()
            # One that has fired already is on its way out and may not be changed.
            if not timer.expired() and (when is None or when > at):
                timer.reschedule(at)

    async def post(
        self,
        url: str,
        payload: dict[str, Any],
        *,
        attempts: int | None = None,
        deadline: float | None = None,
    ) -> Outcome:
        """Post until the receiver takes it or the deadline (loop time) passes.

        Never raises (cancellation aside): whatever goes wrong is the outcome's
        reason, logged here, so the caller always writes its summary line.
        """
        host = url_host(url)
        try:
            outcome = await self._post(url, payload, attempts or self.attempts, deadline)
        except Exception as exc:
            # Not the receiver: a bug of ours or a broken client. Logged with its
            # traceback; the response_url in it is redacted by the log formatter.
            log.exception("delivery to response_url on %s failed", host)
            outcome = Outcome(False, _describe(exc), ours=True)
        if outcome.ours:
            self.trouble.failed(outcome.reason)
        if not outcome.delivered:
            log.error("could not deliver to response_url on %s: %s", host, outcome.reason)
        return outcome

    async def _post(
        self, url: str, payload: dict[str, Any], attempts: int, deadline: float | None
    ) -> Outcome:
        if not self.allowed(url):
            log.warning(
                "refused to post to response_url on %s: not an allowed prefix", url_host(url)
            )
            return Outcome(False, "response_url not allowed")
        problem = _url_problem(url)
        if problem is not None:
            return Outcome(False, f"invalid response_url: {problem}")
        body = json.dumps(payload).encode()
        loop = asyncio.get_running_loop()
        tried = _Try(None, "no attempt made")
        for attempt in range(attempts):
            try:
                # Waiting for our own slot is safe to cut short; waiting on the pool is not.
                async with self._until(deadline):
                    await self.slots.acquire()
            except TimeoutError:
                return Outcome(False, "no delivery slot came free in time", attempt)
            try:
                if deadline is None:
                    # Counted from the first slot: a queue of answers behind a slow
                    # receiver is bounded by max_pending, not cut short here.
                    deadline = loop.time() + self.deadline
                if loop.time() >= self._cap(deadline):
                    tried = _Try(None, "deadline passed waiting for a delivery slot", final=True)
                else:
                    tried = await self._attempt(url, body, deadline)
            finally:
                self.slots.release()
            if tried.response is not None:
                self.trouble.reached()
                if tried.response.is_success:
                    return Outcome(True, attempts=attempt + 1)
            if tried.final or attempt + 1 == attempts:
                break
            wait = self._wait(attempt, tried.response)
            if loop.time() + wait >= self._cap(deadline):
                reason = f"{tried.reason}; no time left to retry within the deadline"
                return Outcome(False, reason, attempt + 1, tried.ours)
            try:
                async with self._until(deadline):
                    await asyncio.sleep(wait)
            except TimeoutError:
                return Outcome(False, f"{tried.reason}; stopped by shutdown", attempt + 1)
        return Outcome(False, tried.reason, attempt + 1, tried.ours)

    async def _attempt(self, url: str, body: bytes, deadline: float) -> _Try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            response = await self._exchange(url, body, deadline)
        except TimeoutError:
            seconds = loop.time() - started
            return _Try(None, f"deadline passed after {seconds:.1f} s in the exchange", final=True)
        except httpx.InvalidURL as exc:
            return _Try(None, f"invalid response_url: {exc}", final=True)
        except httpx.PoolTimeout as exc:
            return _Try(None, _describe(exc), ours=True)
        except httpx.HTTPError as exc:
            return _Try(None, _describe(exc), ours=_local(exc))
        self.durations.append(loop.time() - started)
        if response.is_success:
            return _Try(response)
        status = response.status_code
        return _Try(response, f"HTTP {status}", final=status not in RETRY_STATUSES)

    async def _exchange(self, url: str, body: bytes, deadline: float) -> httpx.Response:
        timer = asyncio.timeout(None)

        async def arm(event: str, info: dict[str, Any]) -> None:
            # Events come only from the connection the pool gave this request
            # (connect, send, receive): cutting it short from here on is safe.
            if timer.when() is None:
                timer.reschedule(self._cap(deadline))
                self._timers.add(timer)

        remaining = max(self._cap(deadline) - asyncio.get_running_loop().time(), 0.001)
        try:
            async with timer:
                return await self.client.post(
                    url,
                    content=body,
                    headers=_JSON,
                    timeout=min(self.timeout, remaining),
                    extensions={"trace": arm},
                )
        finally:
            self._timers.discard(timer)

    def _cap(self, deadline: float) -> float:
        return deadline if self.stop_at is None else min(deadline, self.stop_at)

    @asynccontextmanager
    async def _until(self, deadline: float | None) -> AsyncIterator[None]:
        if deadline is not None:
            deadline = self._cap(deadline)
        timer = asyncio.timeout(self.stop_at if deadline is None else deadline)
        self._timers.add(timer)
        try:
            async with timer:
                yield
        finally:
            self._timers.discard(timer)

    def _wait(self, attempt: int, response: httpx.Response | None) -> float:
        retry_after = response.headers.get("retry-after", "") if response is not None else ""
        if _SECONDS.fullmatch(retry_after.strip()):
            return min(float(retry_after), self.max_wait)
        return min(self.backoff * 2.0**attempt, self.max_wait)
