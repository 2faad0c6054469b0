from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.servers.dns import DNSServer
from tests.servers.process import free_port
from tests.servers.tls import Authority, TLSServer


def chatbot(
    *args: str, resolver: str = "192.0.2.1", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "CHATBOT_DNS_RESOLVERS": resolver,
        "CHATBOT_DNS_TIMEOUT_SECONDS": "0.3",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "chatbot.cli", *args],
        # A variable given as "" is left out: unset, not empty.
        env={name: value for name, value in environ.items() if (env or {}).get(name) != ""},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_dig_prints_what_slack_would_show(dns_server: DNSServer) -> None:
    done = chatbot("dig", "example.test", "MX", resolver=dns_server.address)
    assert done.returncode == 0, done.stderr
    assert "example.test. 300 IN MX 10 mail.example.test." in done.stdout
    assert "```" not in done.stdout and "*" not in done.stdout


def test_dig_options_pass_through(dns_server: DNSServer) -> None:
    done = chatbot("dig", "-x", "192.0.2.10", "+short", resolver=dns_server.address)
    assert (done.returncode, done.stdout.strip()) == (0, "example.test.")


def test_nxdomain_is_an_answer(dns_server: DNSServer) -> None:
    done = chatbot("dig", "nothing.test", resolver=dns_server.address)
    assert done.returncode == 0
    assert "does not exist (NXDOMAIN)" in done.stdout


def test_usage_error_exits_2_with_the_usage_as_shell_lines() -> None:
    done = chatbot("dig", "a.test", "b.test")
    assert done.returncode == 2
    assert done.stdout.splitlines()[:3] == [
        "Give one name to look up, not 2 (a.test, b.test).",
        "",
        "usage: chatbot dig name [type ...] [@server] [-p port] [-x address] [-t type] "
        "[+short] [+tcp] [+dnssec] [+trace] [+validate] [+compare]",
    ]
    assert "  chatbot dig -x 8.8.8.8\n" in done.stdout
    assert "chatbot dig --help lists the options." in done.stdout
    assert "/dig" not in done.stdout and "`" not in done.stdout and "*" not in done.stdout


def test_symbols_instead_of_emoji_codes(tmp_path: Path) -> None:
    authority = Authority()
    ca_file = authority.write_pem(tmp_path / "ca.pem")
    with TLSServer(authority.issue("example.test", "127.0.0.1")).running() as server:
        target = f"127.0.0.1:{server.port}"
        env = {"CHATBOT_ALLOW_PRIVATE_TARGETS": "true", "CHATBOT_TLS_CA_FILE": str(ca_file)}
        valid = chatbot("tls", target, "--sni", "example.test", env=env)
        trusted_elsewhere = chatbot(
            "tls", target, "--sni", "example.test", env={**env, "CHATBOT_TLS_CA_FILE": ""}
        )
    assert valid.returncode == 0, valid.stderr
    assert valid.stdout.startswith("✓ example.test on 127.0.0.1: the certificate is valid\n")
    assert trusted_elsewhere.stdout.startswith(
        "✗ example.test on 127.0.0.1: the certificate is not valid\n"
    )
    for done in (valid, trusted_elsewhere):
        assert not re.search(r":[a-z_]+:", done.stdout), done.stdout
        assert "*" not in done.stdout and "`" not in done.stdout


def _on_a_terminal(*args: str, **env: str) -> str:
    """What `chatbot ARGS` writes when its stdout is a terminal (a pseudo-terminal here)."""
    leader, follower = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "chatbot.cli", *args],
        env={**os.environ, "CHATBOT_DNS_TIMEOUT_SECONDS": "0.3", **env},
        stdout=follower,
        stderr=subprocess.DEVNULL,
    ) as process:
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the child has gone and closed its end
                break
            if not chunk:
                break
            chunks.append(chunk)
        process.wait(timeout=30)
    os.close(leader)
    return b"".join(chunks).decode()


def test_colour_only_on_a_terminal_without_no_color(dns_server: DNSServer) -> None:
    env = {"CHATBOT_DNS_RESOLVERS": dns_server.address}
    coloured = _on_a_terminal("dig", "example.test", "MX", **env, NO_COLOR="")
    assert "\033[1mexample.test\033[0m MX · NOERROR" in coloured
    assert "example.test. 300 IN MX 10 mail.example.test." in coloured  # records unstyled
    assert "\033[" not in _on_a_terminal("dig", "example.test", "MX", **env, NO_COLOR="1")
    piped = chatbot("dig", "example.test", "MX", resolver=dns_server.address)
    assert "\033[" not in piped.stdout and piped.stdout.startswith("example.test MX · NOERROR")


def test_failed_lookup_exits_1(dns_server: DNSServer) -> None:
    done = chatbot("dig", "drop.test", resolver=dns_server.address)
    assert done.returncode == 1
    assert "No answer from" in done.stdout


def test_help_lists_each_command_once() -> None:
    from chatbot.cli import ACTIONS
    from chatbot.commands import COMMANDS

    done = chatbot("--help")
    assert done.returncode == 0
    listed = [line.split()[0] for line in done.stdout.splitlines() if line.startswith("  ")]
    for name in [*ACTIONS, *COMMANDS]:
        assert listed.count(name) == 1, (name, done.stdout)
    assert "`" not in done.stdout
    assert chatbot("dig", "help").returncode == 0


def test_command_help_is_made_from_the_declaration() -> None:
    from chatbot.commands import COMMANDS

    for word in ("--help", "-h", "help"):
        done = chatbot("dig", word)
        assert done.returncode == 0
        assert done.stdout.startswith(f"usage: chatbot dig {COMMANDS['dig'].usage_hint}\n")
        assert "  +dnssec     ask for DNSSEC records too" in done.stdout
        assert "  chatbot dig -x 8.8.8.8" in done.stdout
        assert "`" not in done.stdout
    assert chatbot("hello", "help").stdout.startswith("usage: chatbot hello [anything]")


def test_hello() -> None:
    done = chatbot("hello", "hi")
    assert done.returncode == 0
    assert done.stdout.endswith(", I received hi\n")


def test_what_the_user_typed_keeps_its_markup_characters() -> None:
    # Slack shows `*x*` inside the echo's code span literally; so does the terminal.
    done = chatbot("hello", "*x* _y_ :x:")
    assert done.stdout.endswith(", I received *x* _y_ :x:\n")


def test_no_slash_command_shadows_a_sub_command() -> None:
    # `main` dispatches registry names first: a command called `send` would hide ours.
    from chatbot.cli import ACTIONS
    from chatbot.commands import COMMANDS

    assert not set(ACTIONS) & set(COMMANDS)


def test_sub_commands_have_help() -> None:
    done = chatbot("--help")
    assert "manifest" in done.stdout and "send" in done.stdout
    manifest = chatbot("manifest", "--help")
    assert manifest.returncode == 0 and "--url" in manifest.stdout
    send = chatbot("send", "--help")
    assert send.returncode == 0
    assert "--wait" in send.stdout and "CHATBOT_RESPONSE_URL_PREFIXES" in send.stdout
    assert "--click {share,again}" in send.stdout


def test_manifest_and_send_are_imported_only_when_used() -> None:
    code = (
        "import sys, chatbot.cli; "
        "print(sorted(m for m in ('chatbot.manifest', 'chatbot.send', 'yaml') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert done.stdout.strip() == "[]"


# --- .env ------------------------------------------------------------------------------


def _signed_hello(url: str, secret: str) -> httpx.Response:
    from chatbot import send

    body = send.form("hello", "from .env", "https://hooks.slack.com/x", "ada")
    return httpx.post(
        f"{url}/slash-commands/hello",
        content=body,
        headers=send.signed_headers(body, secret),
        timeout=10,
        trust_env=False,
    )


def test_serve_reads_dot_env_says_so_and_the_environment_wins(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / ".env").write_text(
        "SLACK_SIGNING_SECRET=from-the-file\n"
        "CHATBOT_RESPONSE_TYPE=in_channel\n"
        f"PORT={port}\n"
        "NOT_OURS=ignored\n",
        encoding="utf-8",
    )
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("CHATBOT_", "SLACK_")) and name != "PORT"
    }
    env["CHATBOT_RESPONSE_TYPE"] = "ephemeral"  # the environment wins over the file
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "chatbot.cli", "serve", "--host", "127.0.0.1"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"  # the port from the file
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/health", timeout=1, trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        answer = _signed_hello(url, "from-the-file")
        assert answer.status_code == 200, answer.text
        assert answer.json()["response_type"] == "ephemeral"
        assert _signed_hello(url, "another").status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=15)
    first = json.loads(log.read_text().splitlines()[0])
    assert first["message"] == (
        f"settings: read {tmp_path.resolve() / '.env'} too; "
        "variables set in the environment win over it"
    )


def test_a_named_env_file_must_exist(tmp_path: Path) -> None:
    done = chatbot("dig", "example.test", env={"CHATBOT_ENV_FILE": str(tmp_path / "nope.env")})
    assert done.returncode == 2
    assert done.stderr == f"chatbot: CHATBOT_ENV_FILE={tmp_path / 'nope.env'}: no such file\n"


def test_the_cli_reads_a_named_env_file(tmp_path: Path, dns_server: DNSServer) -> None:
    named = tmp_path / "lab.env"
    named.write_text(f"CHATBOT_DNS_RESOLVERS={dns_server.address}\n", encoding="utf-8")
    # The environment's resolver (192.0.2.1, from chatbot()) wins over the file's...
    assert chatbot("dig", "example.test", env={"CHATBOT_ENV_FILE": str(named)}).returncode == 1
    # ... and where the environment has none, the file's is used.
    done = subprocess.run(
        [sys.executable, "-m", "chatbot.cli", "dig", "example.test", "+short"],
        env={**os.environ, "CHATBOT_ENV_FILE": str(named), "CHATBOT_DNS_TIMEOUT_SECONDS": "1"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "192.0.2.10\n"), done.stderr


def test_settings_in_tests_never_read_a_dot_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chatbot.settings import Settings

    (tmp_path / ".env").write_text("CHATBOT_MAX_PENDING=7\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert Settings().max_pending == 100
    assert os.environ["CHATBOT_ENV_FILE"] == ""  # and the chatbot processes tests start read none
