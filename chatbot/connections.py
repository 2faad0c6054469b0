"""Connection hygiene for `chatbot serve`: read timeouts, keep-alive, and a cap on connections.

uvicorn times out idle keep-alive connections but never a request being
read: a connection that sends nothing, or its headers or body a byte at a
time, stays open for good, and under a low descriptor limit (macOS's 256,
which the README's ngrok setup exposes) a few hundred of them stop `accept()`
and make asyncio log an error per attempt. So the HTTP protocol is uvicorn's
own (httptools where it is installed, as in the image: it parses in C, a
fifth of a /dig's CPU less than h11; h11 otherwise) with three additions,
watched after every read:

- reading the headers of a request, new connection included, has
  `header_timeout` seconds, and its body `body_timeout` more: then 408 (if a
  byte of the request arrived) and the connection closes;
- at most `max_connections` are open: a new one beyond it closes the
  connection that has waited longest for a request (silent, slow, or idle
  between requests), or, when every one is busy with a command, gets 503;
- the listen backlog, which is also how many connections asyncio accepts at
  once, stays well inside the descriptor limit;
- a request's headers stop at MAX_HEADER_BYTES with a 400: h11's own limit,
  which httptools lacks and is given here.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import resource
import time
from collections import Counter
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from chatbot.settings import Settings

log = logging.getLogger(__name__)

# uvicorn's own default; a descriptor limit under eight times this shrinks it.
BACKLOG = 2048
# h11's limit on a request's headers (its max_incomplete_event_size), kept with httptools.
MAX_HEADER_BYTES = 16 * 1024
REPORT_EVERY_SECONDS = 60.0
_REQUEST_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n"
    b"retry-after: 1\r\nconnection: close\r\n\r\n"
)


class Report:
    """Counts connection events; one log line a minute at most, however many there are."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.reported_at = -REPORT_EVERY_SECONDS

    def add(self, event: str) -> None:
        self.counts[event] += 1
        now = time.monotonic()
        if now - self.reported_at >= REPORT_EVERY_SECONDS:
            summary = ", ".join(f"{count} {event}" for event, count in sorted(self.counts.items()))
            log.warning(
                "connections closed by the server since the last report: %s",
                summary,
                extra={"fields": dict(self.counts)},
            )
            self.counts.clear()
            self.reported_at = now


class Guard:
    """The hygiene itself, shared by the h11 and the httptools protocol below.

    Each protocol says what its connection waits for (`_phase`), whether a
    byte of the request waited for has arrived (`_begun`), and whether the
    response to it has yet to begin (`_unanswered`); the timers, the cap and
    the eviction are the same for both.
    """

    http_parser: ClassVar[str] = ""  # "h11" or "httptools"
    header_timeout: ClassVar[float] = 5.0
    body_timeout: ClassVar[float] = 5.0
    max_connections: ClassVar[int] = 256
    report: ClassVar[Report] = Report()
    # Breaks ties between waits that began at the same loop time: uvloop's clock
    # is read once per loop iteration, and a batch of accepts shares it.
    _order: ClassVar[itertools.count[int]] = itertools.count()
    # Set by uvicorn's protocols.
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    connections: set[Any]

    def _phase(self) -> str | None:
        raise NotImplementedError

    def _begun(self) -> bool:
        raise NotImplementedError

    def _unanswered(self) -> bool:
        raise NotImplementedError

    def _guard(self, transport: asyncio.Transport) -> None:
        """At connection_made: refused at the cap, or watched."""
        self._timer: asyncio.TimerHandle | None = None
        self._waiting: str | None = None
        self._since = (self.loop.time(), next(self._order))
        if self._open() > self.max_connections and not self._evict_one():
            self.report.add("refused at the connection cap (503)")
            transport.write(_BUSY)
            transport.close()
            return
        self._watch()

    def _watch(self) -> None:
        phase = self._phase()
        if phase == self._waiting:
            return  # the same wait goes on: its deadline stands
        self._cancel()
        self._waiting = phase
        self._since = (self.loop.time(), next(self._order))
        if phase == "headers":
            self._timer = self.loop.call_later(self.header_timeout, self._late)
        elif phase == "body":
            self._timer = self.loop.call_later(self.body_timeout, self._late)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _late(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        started = self._begun()
        if started and self._unanswered():
            self.transport.write(_REQUEST_TIMEOUT)
        self.report.add(f"{'slow' if started else 'silent'} {self._waiting} (timeout)")
        self.transport.close()

    def _open(self) -> int:
        return sum(1 for c in self.connections if not c.transport.is_closing())

    def _evictable(self) -> bool:
        return self._waiting is not None and not self.transport.is_closing()

    def _evict_one(self) -> bool:
        waiting = [
            c for c in self.connections if c is not self and isinstance(c, Guard) and c._evictable()
        ]
        if not waiting:
            return False
        oldest = min(waiting, key=lambda c: c._since)
        self.report.add(f"{oldest._waiting} (made room at the connection cap)")
        oldest._cancel()
        oldest.transport.close()
        return True


class GuardedH11Protocol(Guard, H11Protocol):
    """uvicorn's h11 protocol with header and body read timeouts and a connection cap."""

    http_parser = "h11"

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._guard(transport)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)

    # What the connection waits for: "idle" (between requests, uvicorn's keep-alive
    # timer runs), "headers", "body", or None (the request is in; the app's turn).
    def _phase(self) -> str | None:
        if self.transport.is_closing():
            return None
        state = self.conn.their_state
        if state is h11.IDLE:
            idle = self.timeout_keep_alive_task is not None and not self.conn.trailing_data[0]
            return "idle" if idle else "headers"
        if state is h11.SEND_BODY:
            return "body"
        return None

    def _begun(self) -> bool:
        return self._waiting == "body" or bool(self.conn.trailing_data[0])

    def _unanswered(self) -> bool:
        return self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE)


def httptools_protocol() -> type[Guard] | None:
    """The guarded httptools protocol, or None where httptools is not installed."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return None

    class GuardedHttpToolsProtocol(Guard, HttpToolsProtocol):
        """uvicorn's httptools protocol with the same timeouts and cap, and h11's header cap.

        httptools (llhttp) reads headers of any size, where h11 stops at
        MAX_HEADER_BYTES with a 400: the same limit is counted here. The
        phase comes from the parser's callbacks: `_reading` is "headers" from
        a request's first byte, "body" once its headers are in, None once it
        is whole.
        """

        http_parser = "httptools"
        _reading: str | None = None
        _header_bytes = 0

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._guard(transport)

        def data_received(self, data: bytes) -> None:
            before = self._reading
            super().data_received(data)
            # A chunk read wholly within one request's headers counts whole; the
            # chunk a request begins in is not counted (its split is unknown), so
            # what a connection holds stays within the cap and one read.
            if before == "headers" and self._reading == "headers":
                self._header_bytes += len(data)
                if self._header_bytes > MAX_HEADER_BYTES and not self.transport.is_closing():
                    self.report.add("headers over the cap (400)")
                    self.send_400_response("Invalid HTTP request received.")
            self._watch()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._reading, self._header_bytes = "headers", 0

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            self._reading = "body"

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._reading = None

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._watch()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel()
            super().connection_lost(exc)

        def _phase(self) -> str | None:
            if self.transport.is_closing():
                return None
            cycle = self.cycle
            in_flight = cycle is not None and not cycle.response_complete
            if self._reading == "headers":
                # A pipelined request waits for the one in flight, as h11 makes it.
                return None if in_flight else "headers"
            if self._reading == "body":
                return None if self.pipeline else "body"
            if cycle is None:
                return "headers"  # a new connection: its first request's headers
            if in_flight:
                return None
            return "idle" if self.timeout_keep_alive_task is not None else "headers"

        def _begun(self) -> bool:
            return self._reading is not None

        def _unanswered(self) -> bool:
            cycle = self.cycle
            return cycle is None or cycle.response_complete or not cycle.response_started

    return GuardedHttpToolsProtocol


def descriptor_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn.run's arguments for connection hygiene, from the settings and `ulimit -n`."""
    files = descriptor_limit()
    # Half the descriptors for connections in, the rest for what commands open
    # (DNS, WHOIS, TLS and RDAP sockets, Redis) and the process's own files.
    cap = max(8, min(settings.max_connections, files // 2))
    # asyncio accepts up to `backlog` connections in one go, before any of them
    # reaches the protocol (and the cap), and the connections closed to make room
    # for one batch free their descriptors only after the next batch is accepted.
    # So at the worst: cap + 2 x backlog, half plus a quarter of the descriptors,
    # leaving a quarter to the process and its commands. (With a quarter for the
    # backlog, 1,000 connections at once under ulimit -n 256 on a loaded machine
    # ran out of descriptors; far fewer makes the kernel drop the SYNs of a burst,
    # a second's wait each.)
    backlog = max(16, min(BACKLOG, files // 8))
    base = httptools_protocol() or GuardedH11Protocol
    protocol = type(
        f"Chatbot{base.__name__.removeprefix('Guarded')}",
        (base,),
        {
            "header_timeout": settings.header_timeout_seconds,
            "body_timeout": settings.body_timeout_seconds,
            "max_connections": cap,
            "report": Report(),
        },
    )
    _quiet_accept_errors()
    return {"http": protocol, "timeout_keep_alive": settings.keep_alive_seconds, "backlog": backlog}


class _AcceptErrors(logging.Filter):
    """asyncio logs "accept() out of system resource" per failed accept; we, once a minute."""

    def __init__(self) -> None:
        super().__init__()
        self.last = -REPORT_EVERY_SECONDS
        self.hidden = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if "out of system resource" not in record.getMessage():
            return True
        now = time.monotonic()
        if now - self.last < REPORT_EVERY_SECONDS:
            self.hidden += 1
            return False
        if self.hidden:
            record.msg = f"{record.msg} ({self.hidden} more since the last report)"
        self.last, self.hidden = now, 0
        return True


def _quiet_accept_errors() -> None:
    asyncio_log = logging.getLogger("asyncio")
    if not any(isinstance(f, _AcceptErrors) for f in asyncio_log.filters):
        asyncio_log.addFilter(_AcceptErrors())
