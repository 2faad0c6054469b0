"""A real `redis-server` on a free loopback port, which a test may stop and start again."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager

import pytest

from tests.servers.process import free_port


def redis_binary() -> str:
    """The redis-server binary; skips the test without one, fails it under CI."""
    found = shutil.which("redis-server")
    if found is None:
        problem = "redis-server is not installed (Debian package redis-server)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the Redis tests: {problem}")
        pytest.skip(problem)
    return found


class RedisServer:
    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def command(self, *words: str) -> bytes:
        """One command in Redis's inline protocol; its raw reply."""
        with closing(socket.create_connection(("127.0.0.1", self.port), timeout=2)) as sock:
            sock.sendall(" ".join(words).encode() + b"\r\n")
            return sock.recv(65536)

    def start(self) -> None:
        # No persistence: a restarted server starts empty, as a replaced Memorystore node might.
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.command("PING").startswith(b"+PONG"):
                    return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    @contextmanager
    def running(self) -> Iterator[RedisServer]:
        self.start()
        try:
            yield self
        finally:
            self.stop()
