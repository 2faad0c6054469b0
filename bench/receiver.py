"""A cheap `response_url` receiver for bench/load.py, in its own process.

    python bench/receiver.py --expect 192.0.2.10

Prints its port on the first line of stdout, then serves until stdin closes.
It speaks just enough HTTP/1.1 (keep-alive, Content-Length bodies) on plain
asyncio so that, under load, it costs a small part of what the systems it
receives from cost: the threaded test receiver (tests/servers/receiver.py)
spends a thread and a full `http.server` parse per POST.

- `POST /r/<key>`: a delivery; the key is unique per request sent, so each
  delivery is matched to its request. It is an answer when its body holds
  the `--expect` text (the looked-up address).
- `POST /api/auth.test`: the one Slack Web API call a single-workspace Bolt
  app makes (once, on its first request); answered as Slack would.
- `GET /stats/<prefix>?issued=N,...&tail=C`: JSON counts of the deliveries
  whose key is prefix<n>: distinct keys, answers, answers among the keys sent
  before the last C of each load-generator thread, duplicates, and the last
  arrival (time.time()).
- anything else: 200 "ok" (what the load generator's own check is run against).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

AUTH_TEST = json.dumps(
    {
        "ok": True,
        "url": "https://example.slack.com/",
        "team": "Bench",
        "user": "bench-bot",
        "team_id": "T0001",
        "user_id": "U0BOT",
        "bot_id": "B0BOT",
        "is_enterprise_install": False,
    }
).encode()


@dataclass
class Deliveries:
    expect: bytes
    arrived: dict[str, tuple[float, bool]] = field(default_factory=dict)
    duplicates: int = 0

    def record(self, key: str, body: bytes) -> None:
        if key in self.arrived:
            self.duplicates += 1
            return
        self.arrived[key] = (time.time(), self.expect in body)

    def stats(self, prefix: str, issued: list[int], tail: int) -> dict[str, object]:
        """Counts for the keys `prefix<n>`; `head` ones were sent before the last `tail`.

        The load generator's thread t of T sends keys t, t+T, t+2T, ... in
        order; `issued[t]` is how many it sent, the last `tail` of them perhaps
        still in flight when it stopped.
        """
        matched: list[tuple[int, float, bool]] = []
        for key, (at, answer) in self.arrived.items():
            if key.startswith(prefix) and key[len(prefix) :].isdigit():
                matched.append((int(key[len(prefix) :]), at, answer))
        threads = max(1, len(issued))

        def head(n: int) -> bool:
            return bool(issued) and n // threads < issued[n % threads] - tail

        answered = {n for n, _, answer in matched if answer}
        missing = [
            t + threads * j
            for t, count in enumerate(issued)
            for j in range(count - tail)
            if t + threads * j not in answered
        ]
        return {
            "missing_head": missing[:10],
            "received": len(matched),
            "answers": sum(1 for _, _, answer in matched if answer),
            "head": sum(max(0, count - tail) for count in issued),
            "head_answers": sum(1 for n in answered if head(n)),
            "duplicates": self.duplicates,
            "last": max((at for _, at, _ in matched), default=0.0),
        }


def _response(status: str, body: bytes, content_type: bytes = b"text/plain") -> bytes:
    return (
        b"HTTP/1.1 " + status.encode() + b"\r\ncontent-type: " + content_type
        + b"\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )  # fmt: skip


OK = _response("200 OK", b"ok")


class Connection(asyncio.Protocol):
    def __init__(self, deliveries: Deliveries) -> None:
        self.deliveries = deliveries
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = self.buffer[:end].split(b"\r\n")
            method, target = lines[0].split(b" ")[:2]
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding":
                    # Nobody we receive from chunks a JSON POST; say so loudly if one does.
                    self.transport.write(_response("411 Length Required", b"length required"))
                    self.transport.close()
                    return
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            self.transport.write(self.answer(method, target.decode(), body))

    def answer(self, method: bytes, path: str, body: bytes) -> bytes:
        if method == b"POST" and path.startswith("/r/"):
            self.deliveries.record(path[3:], body)
            return OK
        if path.startswith("/api/auth.test"):
            return _response("200 OK", AUTH_TEST, b"application/json")
        if method == b"GET" and path.startswith("/stats/"):
            prefix, _, query = path[7:].partition("?")
            fields = dict(parse_qsl(query))
            issued = [int(n) for n in fields.get("issued", "").split(",") if n]
            stats = self.deliveries.stats(prefix, issued, int(fields.get("tail", "0")))
            stats_json = json.dumps(stats).encode()
            return _response("200 OK", stats_json, b"application/json")
        return OK


async def serve(expect: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    deliveries = Deliveries(expect.encode())
    server = await loop.create_server(
        lambda: Connection(deliveries), "127.0.0.1", port, backlog=1024
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    # Serve until whoever started us closes our stdin (or dies).
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--expect", default="192.0.2.10", help="text an answer holds")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(serve(args.expect, args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
