"""A real HTTP receiver standing in for Slack's `response_url`."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.servers.threads import serving


class Receiver:
    """Records every POST; answers with `statuses` in turn (then 200)."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.statuses: list[tuple[int, dict[str, str]]] = []
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
                    status, headers = receiver.statuses.pop(0) if receiver.statuses else (200, {})
                    receiver.arrived.notify_all()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.posts) >= count, timeout=timeout)
            return list(self.posts)

    @contextmanager
    def running(self) -> Iterator[Receiver]:
        with serving(self.server):
            yield self
