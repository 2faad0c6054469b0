"""The README's first ten minutes, run as a newcomer would run them.

A fresh `git clone` of this checkout (its committed HEAD) into a temporary
directory; the quick start's serve command as a real process there (`uv run`
makes the clone's own `.venv` from `uv.lock`, from the uv cache: UV_OFFLINE,
no download); then the try-it commands from a "second terminal", checked
against the output the README promises. Two things differ from a newcomer's
machine, both through the environment, never in the commands: PORT is a free
port rather than 8080 (tests run side by side), and the service's resolver
(CHATBOT_DNS_RESOLVERS) is a local DNS server holding the records the README
shows, since tests never use the internet. It takes 20 to 60 s, most of it
making the clone's `.venv`; `-m "not quickstart"` leaves it out.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.servers.dns import DNSServer
from tests.servers.process import free_port

pytestmark = pytest.mark.quickstart

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
# Starting takes making the clone's .venv first: minutes on a busy machine at worst.
START_SECONDS = 240


def section(markdown: str, title: str) -> str:
    return markdown.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def blocks(markdown: str) -> list[tuple[str, str]]:
    """The fenced code blocks of `markdown`: (language, body)."""
    return re.findall(r"^```(\w*)\n(.*?)^```$", markdown, re.MULTILINE | re.DOTALL)


@dataclass
class Readme:
    serve: str
    test: str
    sends: list[str]
    hello: list[str]
    dig: list[str]

    @classmethod
    def read(cls) -> Readme:
        text = README.read_text(encoding="utf-8")
        ((_, quick),) = [b for b in blocks(section(text, "Quick start")) if b[0] == "sh"]
        serve, test = quick.splitlines()
        try_it = blocks(section(text, "Try it"))
        (sends,) = [body.splitlines() for lang, body in try_it if lang == "sh"]
        hello, dig = [body.splitlines() for lang, body in try_it if lang == ""]
        return cls(serve, test, sends, hello, dig)


def test_the_readme_has_the_two_commands_and_the_two_tries() -> None:
    readme = Readme.read()
    assert readme.serve.startswith("pip install uv && ")
    assert "uv run chatbot serve" in readme.serve
    assert "CHATBOT_RESPONSE_URL_PREFIXES=http://127.0.0.1:" in readme.serve
    assert readme.test == "pip install uv && uv run pytest"
    assert [re.sub(r"^.*chatbot send ", "", line) for line in readme.sends] == [
        '"/hello world"',
        '"/dig example.com"',
    ]
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 150


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is missing; CI installs it (.ci/run)")
        pytest.skip(f"{name} is not installed")
    return found


def newcomer_environment(**extra: str) -> dict[str, str]:
    """This environment without what a fresh shell would not have: our venv, our settings."""
    venv = os.environ.get("VIRTUAL_ENV", "")
    path = [p for p in os.environ["PATH"].split(os.pathsep) if not (venv and p.startswith(venv))]
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("CHATBOT_", "UV_PROJECT", "VIRTUAL_ENV", "SLACK_"))
        and name not in ("PORT", "GOOGLE_CLOUD_PROJECT", "NO_COLOR")
    }
    return {
        **env,
        "PATH": os.pathsep.join(path),
        # Only what the uv cache holds: no download, as no test uses the internet.
        "UV_OFFLINE": "1",
        "UV_PYTHON_DOWNLOADS": "never",
        # A read-only checkout owned by another user (CI's container) may be cloned.
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "safe.directory",
        "GIT_CONFIG_VALUE_0": "*",
        **extra,
    }


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    git = _tool("git")
    _tool("uv")
    target = tmp_path / "chatbot"
    subprocess.run(
        [git, "clone", "--quiet", str(ROOT), str(target)],
        env=newcomer_environment(),
        check=True,
        timeout=120,
    )
    return target


@dataclass
class Terminal:
    """The first terminal: the serve command running, and what it printed."""

    process: subprocess.Popen[bytes]
    log: Path
    url: str

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@pytest.fixture
def dns() -> Iterator[DNSServer]:
    addresses = [line.split()[-1] for line in Readme.read().dig if " IN A " in line]
    assert addresses, "the README shows no address records for /dig example.com"
    server = DNSServer(records={("example.com.", "A"): addresses})
    server.slow_seconds = 2.5  # slow.test.: past the 1.5 s inline budget, so deferred
    with server.running():
        yield server


@pytest.fixture
def first_terminal(clone: Path, dns: DNSServer, tmp_path: Path) -> Iterator[Terminal]:
    serve = Readme.read().serve
    port = free_port()
    env = newcomer_environment(
        PORT=str(port),
        CHATBOT_DNS_RESOLVERS=dns.address,
        # slow.test answers after 2.5 s: within this, past the inline budget.
        CHATBOT_DNS_TIMEOUT_SECONDS="5",
    )
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["bash", "-c", serve],
            cwd=clone,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches bash, uv and the service alike
        )
    terminal = Terminal(process, log, f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + START_SECONDS
        while not _healthy(terminal.url):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the quick start's serve command did not start:\n{terminal.output()}")
            time.sleep(0.2)
        yield terminal
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # Ctrl-C
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/health", timeout=1, trust_env=False).status_code == 200
    except httpx.TransportError:
        return False


def second_terminal(line: str, clone: Path, terminal: Terminal) -> subprocess.CompletedProcess[str]:
    port = terminal.url.rsplit(":", 1)[1]
    return subprocess.run(
        ["bash", "-c", line],
        cwd=clone,
        env=newcomer_environment(PORT=port),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_quick_start_and_try_it_as_a_newcomer(
    clone: Path, first_terminal: Terminal, dns: DNSServer
) -> None:
    readme = Readme.read()
    hello_line, dig_line = readme.sends

    hello = second_terminal(hello_line, clone, first_terminal)
    assert hello.returncode == 0, hello.stderr
    user = getpass.getuser()
    assert hello.stdout.splitlines() == [line.replace("ada", user) for line in readme.hello]

    dig = second_terminal(dig_line, clone, first_terminal)
    assert dig.returncode == 0, dig.stderr
    got = dig.stdout.splitlines()
    promised = readme.dig
    assert len(got) == len(promised), dig.stdout
    # The time varies, and the server is the local one instead of 8.8.8.8.
    assert re.fullmatch(re.escape(promised[0]).replace(r"14\ ms", r"\d+\ ms"), got[0]), got[0]
    local = dns.address.replace(":", "#")
    assert got[1] == promised[1].replace("8.8.8.8", local)
    assert got[2] == promised[2] == ";; ANSWER SECTION:"
    assert sorted(got[3:]) == sorted(promised[3:])  # "their order ... vary"
    assert ("udp", "example.com.", "A") in dns.queries

    # An answer slower than the inline budget comes in two messages, as the README says.
    slow = second_terminal(dig_line.replace("example.com", "slow.test"), clone, first_terminal)
    assert slow.returncode == 0, slow.stdout + slow.stderr
    acknowledged, *answer = slow.stdout.splitlines()
    assert acknowledged == "Looking up slow.test, the answer follows."
    assert "slow.test. 60 IN A 192.0.2.99" in answer

    # One log line per command in the first terminal.
    output = first_terminal.output()
    assert output.count('"command": "hello"') == 1, output
    assert output.count('"command": "dig"') == 2, output
    assert "Traceback" not in output
