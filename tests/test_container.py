"""The Docker image, built from the Dockerfile and run as Cloud Run runs it.

Needs a Docker engine and a local `python:3.13-slim` (`../shared/tools/local-python-image`
makes one where no registry is reachable). Without an engine these tests are skipped,
except under CI, where a missing engine is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.slackreq import SECRET, form, headers

pytestmark = pytest.mark.container

ROOT = Path(__file__).resolve().parent.parent
PORT = 9090  # not the default 8080, so a service that ignored $PORT would not answer
GRACE_SECONDS = 10  # what Cloud Run allows between SIGTERM and SIGKILL


def _docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def _engine_problem() -> str | None:
    if shutil.which("docker") is None:
        return "no docker command"
    try:
        info = _docker("info", "--format", "{{.ServerVersion}}", timeout=20)
    except subprocess.TimeoutExpired:
        return "docker info timed out"
    if info.returncode != 0:
        return f"no Docker engine: {info.stderr.strip()[:200]}"
    return None


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    problem = _engine_problem()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the container tests: {problem}")
        pytest.skip(problem)
    tag = f"chatbot-test:{uuid.uuid4().hex[:12]}"
    build = _docker("build", "--quiet", "--tag", tag, str(ROOT), timeout=900)
    assert build.returncode == 0, build.stdout + build.stderr
    try:
        yield tag
    finally:
        _docker("rmi", "--force", tag)


@dataclass
class Container:
    id: str
    url: str

    def logs(self) -> str:
        result = _docker("logs", self.id)
        return result.stdout + result.stderr


def _published_url(container: str) -> str:
    # `docker port` prints one line per address family, e.g. "127.0.0.1:49153".
    port = _docker("port", container, f"{PORT}/tcp")
    assert port.returncode == 0, port.stderr
    host_port = port.stdout.split()[0].rsplit(":", 1)[1]
    return f"http://127.0.0.1:{host_port}"


def _wait_for_health(url: str, seconds: float = 30) -> httpx.Response:
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=1.0, trust_env=False) as client:
        while True:
            try:
                response = client.get(url + "/health")
                if response.status_code == 200:
                    return response
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"no 200 from {url}/health within {seconds} s")
            time.sleep(0.05)


@pytest.fixture
def container(image: str) -> Iterator[Container]:
    run = _docker(
        "run",
        "--detach",
        "--env",
        f"PORT={PORT}",
        "--env",
        f"SLACK_SIGNING_SECRET={SECRET}",
        "--publish",
        f"127.0.0.1::{PORT}",
        image,
    )
    assert run.returncode == 0, run.stderr
    started = Container(run.stdout.strip(), "")
    try:
        started.url = _published_url(started.id)
        try:
            _wait_for_health(started.url)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{started.logs()}") from None
        yield started
    finally:
        _docker("rm", "--force", started.id)


def test_runs_as_a_non_root_user(image: str) -> None:
    result = _docker("run", "--rm", image, "id", "-u")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() != "0"


def test_code_is_byte_compiled_at_build_time(image: str) -> None:
    # `python -v` says "code object from <file>" for each module it loads: a .py
    # there means that module was compiled at start-up, on every start.
    # Every chatbot module, the app, and the modules uvicorn picks at run time.
    script = (
        "import chatbot, importlib, pkgutil\n"
        "for m in pkgutil.walk_packages(chatbot.__path__, 'chatbot.'):\n"
        "    importlib.import_module(m.name)\n"
        "chatbot.app\n"
        "import uvicorn.protocols.http.h11_impl, uvicorn.lifespan.on, uvicorn.loops.asyncio\n"
        "import dns.rdtypes.ANY.MX, dns.rdtypes.IN.HTTPS, httpcore._backends.anyio\n"
    )
    result = _docker(
        "run",
        "--rm",
        "--env",
        f"SLACK_SIGNING_SECRET={SECRET}",
        image,
        "python",
        "-v",
        "-c",
        script,
    )
    assert result.returncode == 0, result.stderr
    # Python 3.13 quotes a .pyc's path but not a source file's.
    prefix = "# code object from "
    loaded = [
        line.removeprefix(prefix).strip("'")
        for line in result.stderr.splitlines()
        if line.startswith(prefix) and "/app/" in line
    ]
    assert any("/chatbot/__pycache__/web." in line for line in loaded), result.stderr[-2000:]
    from_source = [line for line in loaded if line.endswith(".py")]
    assert from_source == []


def test_runtime_image_has_no_build_tools(image: str) -> None:
    # Compilers, linkers and uv stay in the builder stage.
    tools = ("gcc", "cc", "make", "ld", "strip", "uv")
    script = " ".join(f"command -v {tool};" for tool in tools)
    result = _docker("run", "--rm", image, "sh", "-c", script)
    assert result.stdout.strip() == ""


def test_honours_port_and_answers_health(container: Container) -> None:
    response = httpx.get(container.url + "/health", timeout=5, trust_env=False)
    # Docker forwards the published port to the container's own address, so this
    # answer also shows the service bound 0.0.0.0, not loopback.
    assert response.json() == {"status": "ok"}


def test_answers_a_signed_slash_command(container: Container) -> None:
    body = form("hello", "world")
    response = httpx.post(
        container.url + "/slash-commands/hello",
        content=body,
        headers=headers(body),
        timeout=5,
        trust_env=False,
    )
    assert response.status_code == 200
    assert response.json()["text"] == "Hello ada, I received `world`"


def test_refuses_a_request_signed_with_another_secret(container: Container) -> None:
    body = form("hello", "world")
    response = httpx.post(
        container.url + "/slash-commands/hello",
        content=body,
        headers=headers(body, secret="not-the-secret"),
        timeout=5,
        trust_env=False,
    )
    assert response.status_code == 401


def test_sigterm_stops_cleanly_within_the_grace_period(container: Container) -> None:
    started = time.monotonic()
    # `docker stop` sends SIGTERM, then SIGKILL after -t seconds, as Cloud Run does.
    stop = _docker("stop", "-t", str(GRACE_SECONDS), container.id, timeout=GRACE_SECONDS + 20)
    seconds = time.monotonic() - started
    assert stop.returncode == 0, stop.stderr
    state = json.loads(_docker("inspect", "--format", "{{json .State}}", container.id).stdout)
    logs = container.logs()
    # 137 would mean SIGKILL: the service ignored SIGTERM until Docker gave up.
    assert state["ExitCode"] == 0, logs
    assert not state["OOMKilled"]
    assert seconds < GRACE_SECONDS / 2, logs
    assert "Traceback" not in logs
