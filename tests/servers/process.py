"""The real service as its own process (`chatbot serve`), for signals and stdout."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass

import httpx


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServiceProcess:
    process: subprocess.Popen[bytes]
    url: str
    log_path: str

    def output(self) -> str:
        with open(self.log_path, encoding="utf-8") as handle:
            return handle.read()

    def terminate(self, timeout: float = 15) -> tuple[int, float]:
        """SIGTERM, as Cloud Run sends it; returns (exit code, seconds to exit)."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        return code, time.monotonic() - started


@contextmanager
def service_process(env: dict[str, str]) -> Iterator[ServiceProcess]:
    port = free_port()
    with tempfile.NamedTemporaryFile("w+b", suffix=".log", delete=False) as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "chatbot.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    service = ServiceProcess(process, f"http://127.0.0.1:{port}", log.name)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(service.url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"service did not start:\n{service.output()}")
            time.sleep(0.05)
        yield service
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.unlink(log.name)
