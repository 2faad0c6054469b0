"""A real HTTP receiver standing in for Slack's `response_url`."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.servers.threads import serving


@dataclass(frozen=True)
class Answer:
    """How the receiver answers a POST: a status, headers, and how fast."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the answer starts
    drip: float = 0.0  # seconds between the answer's bytes, status line included
    # Only the first `times` posts to each path are answered so, the rest 200.
    times: int | None = None


class _Server(ThreadingHTTPServer):
    # A burst of deliveries connects at once; the default backlog of 5 would
    # drop their SYNs and turn a local test into one of retransmission timers.
    request_queue_size = 1024


class Receiver:
    """Records every POST; answers with `statuses` in turn, then by `rules`, then 200.

    `rules` maps a path prefix to an `Answer` (the longest prefix wins), so a
    sender can be given receivers that are slow, dripping, failing or limiting
    by the response_url it is handed.
    """

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.statuses: list[tuple[int, dict[str, str]]] = []
        self.rules: dict[str, Answer] = {}
        # What each post in `posts` was answered.
        self.answers: list[Answer] = []
        self._seen: dict[str, int] = {}
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                # Recorded before the answer goes out: once the sender has its
                # answer, a test may look at what arrived.
                with receiver.arrived:
                    receiver.paths.append(self.path)
                    receiver.posts.append(json.loads(body or b"null"))
                    answer = receiver.answer_for(self.path)
                    receiver.answers.append(answer)
                    receiver.arrived.notify_all()
                if answer.delay:
                    time.sleep(answer.delay)
                if answer.drip:
                    with contextlib.suppress(OSError):
                        self._drip(answer)
                    self.close_connection = True
                    return
                self.send_response(answer.status)
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def _drip(self, answer: Answer) -> None:
                head = f"HTTP/1.1 {answer.status} Dripping\r\n"
                for key, value in {**answer.headers, "content-length": "2"}.items():
                    head += f"{key}: {value}\r\n"
                for byte in (head + "\r\nok").encode("latin-1"):
                    self.wfile.write(bytes([byte]))
                    time.sleep(answer.drip)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer_for(self, path: str) -> Answer:
        if self.statuses:
            status, headers = self.statuses.pop(0)
            return Answer(status, headers)
        matches = [prefix for prefix in self.rules if path.startswith(prefix)]
        if not matches:
            return Answer()
        answer = self.rules[max(matches, key=len)]
        seen = self._seen[path] = self._seen.get(path, 0) + 1
        return answer if answer.times is None or seen <= answer.times else Answer()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.posts) >= count, timeout=timeout)
            return list(self.posts)

    @contextmanager
    def running(self) -> Iterator[Receiver]:
        with serving(self.server):
            yield self
