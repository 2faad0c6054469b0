from __future__ import annotations

import os
import subprocess
import sys

from tests.servers.dns import DNSServer


def chatbot(*args: str, resolver: str = "192.0.2.1") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHATBOT_DNS_RESOLVERS": resolver, "CHATBOT_DNS_TIMEOUT_SECONDS": "0.3"}
    return subprocess.run(
        [sys.executable, "-m", "chatbot.cli", *args],
        env=env,
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


def test_usage_error_exits_2() -> None:
    done = chatbot("dig", "a.test", "b.test")
    assert done.returncode == 2
    assert "Usage: `/dig" in done.stdout


def test_failed_lookup_exits_1(dns_server: DNSServer) -> None:
    done = chatbot("dig", "drop.test", resolver=dns_server.address)
    assert done.returncode == 1
    assert "No answer from" in done.stdout


def test_help_lists_commands() -> None:
    done = chatbot("--help")
    assert done.returncode == 0
    assert "serve" in done.stdout and "dig" in done.stdout and "hello" in done.stdout
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
    assert "I received `hi`" in done.stdout


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
