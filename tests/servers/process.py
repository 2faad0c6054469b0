"""The real service as its own process (`chatbot serve`), for signals and stdout."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

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

    def peak_memory(self) -> int:
        """The process's resident-memory high-water mark (VmHWM), in bytes."""
        with open(f"/proc/{self.process.pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmHWM in /proc status")

    def terminate(self, timeout: float = 15) -> tuple[int, float]:
        """SIGTERM, as Cloud Run sends it; returns (exit code, seconds to exit)."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        return code, time.monotonic() - started


def hiding(*modules: str) -> dict[str, str]:
    """Environment for a process in which `modules` cannot be imported.

    With httptools hidden uvicorn's protocol is h11, with uvloop hidden the
    loop is asyncio's: how the service runs where they are not installed.
    """
    shim = Path(tempfile.gettempdir()) / f"chatbot-hiding-{'-'.join(sorted(modules))}"
    shim.mkdir(exist_ok=True)
    for module in modules:
        (shim / f"{module}.py").write_text(f'raise ImportError("{module} hidden by the tests")\n')
    path = os.pathsep.join(p for p in (str(shim), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path}


def _limit_descriptors(count: int) -> Callable[[], None]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (count, count))

    return limit


@contextmanager
def service_process(env: dict[str, str], *, nofile: int | None = None) -> Iterator[ServiceProcess]:
    """`chatbot serve` with `env`; `nofile` caps its file descriptors (`ulimit -n`)."""
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
            preexec_fn=None if nofile is None else _limit_descriptors(nofile),
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
