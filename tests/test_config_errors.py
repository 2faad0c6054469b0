"""Settings checked at start: one line per problem naming the variable, exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from chatbot import config_errors
from chatbot.settings import Settings

CLEAN = {
    k: v
    for k, v in os.environ.items()
    if not k.upper().startswith("CHATBOT_") and k.upper() not in ("PORT", "SLACK_SIGNING_SECRET")
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in os.environ:
        if name.upper().startswith("CHATBOT_") or name.upper() in ("PORT", "SLACK_SIGNING_SECRET"):
            monkeypatch.delenv(name)


def lines(**environ: str) -> list[str]:
    """The problem lines for settings read from exactly `environ` (and nothing else)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environ.items():
            patch.setenv(name, value)
        with pytest.raises(config_errors.BadSettings) as caught:
            config_errors.load()
    return caught.value.lines


@pytest.mark.parametrize(
    ("variable", "value", "phrase"),
    [
        ("PORT", "abc", "not a whole number"),
        ("PORT", "0", "must be at least 1"),
        ("PORT", "²", "not a whole number"),
        ("CHATBOT_INLINE_BUDGET_SECONDS", "5", "must be at most 2.5"),
        ("CHATBOT_DNS_TIMEOUT_SECONDS", "0", "must be more than 0"),
        ("CHATBOT_DNS_TIMEOUT_SECONDS", "inf", "must be a finite number"),
        ("CHATBOT_DNS_TIMEOUT_SECONDS", "nan", "must be a finite number"),
        ("CHATBOT_RESPONSE_TYPE", "everyone", "must be 'ephemeral' or 'in_channel'"),
        ("CHATBOT_ALLOW_PRIVATE_TARGETS", "maybe", "must be true or false"),
        (
            "CHATBOT_DNS_RESOLVERS",
            "dns.google",
            "dns.google is not an IP address (give ip, ip:port or [ipv6]:port)",
        ),
        (
            "CHATBOT_DNS_RESOLVERS",
            "",
            "must list at least one resolver (ip, ip:port or [ipv6]:port)",
        ),
        (
            "CHATBOT_DNS_RESOLVERS",
            " , ",
            "must list at least one resolver (ip, ip:port or [ipv6]:port)",
        ),
        ("CHATBOT_DNS_RESOLVERS", "8.8.8.8:99999", "99999 is not a port from 1 to 65535"),
        ("CHATBOT_DNS_RESOLVERS", "8.8.8.8:5³", "5³ is not a port from 1 to 65535"),
        (
            "CHATBOT_TARGET_RESOLVERS",
            "127.0.0.1,resolver.local",
            "resolver.local is not an IP address (give ip, ip:port or [ipv6]:port)",
        ),
        (
            "CHATBOT_RDAP_BOOTSTRAP_URL",
            "data.iana.org/rdap",
            "not an http:// or https:// URL with a host",
        ),
        (
            "CHATBOT_RESPONSE_URL_PREFIXES",
            "https://hooks.slack.com/,hooks",
            "hooks is not an http:// or https:// URL with a host",
        ),
        ("CHATBOT_WHOIS_SERVER", "whois iana org", "not a host name or IP address"),
        ("CHATBOT_MAX_PER_SERVER", "0", "must be at least 1"),
        ("CHATBOT_MAX_PER_SERVER", "100", "must be at most 16"),
        ("CHATBOT_TLS_CA_FILE", "/nonexistent/ca.pem", "no such file"),
    ],
)
def test_one_line_names_the_variable(variable: str, value: str, phrase: str) -> None:
    assert lines(**{variable: value}) == [f"{variable}={value}: {phrase}"]


def test_the_ca_file_must_hold_certificates(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    text = tmp_path / "notes.pem"
    text.write_text("not a certificate\n")
    assert lines(CHATBOT_TLS_CA_FILE=str(empty)) == [
        f"CHATBOT_TLS_CA_FILE={empty}: not a readable file of PEM certificates"
    ]
    assert lines(CHATBOT_TLS_CA_FILE=str(text)) == [
        f"CHATBOT_TLS_CA_FILE={text}: not a readable file of PEM certificates"
    ]
    assert lines(CHATBOT_TLS_CA_FILE=str(tmp_path)) == [
        f"CHATBOT_TLS_CA_FILE={tmp_path}: no such file"
    ]


def test_good_values_pass(tmp_path: Path) -> None:
    import trustme

    ca = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca))
    settings = Settings(
        dns_resolvers="9.9.9.9, [2620:fe::fe]:53, 127.0.0.1:5300",  # type: ignore[arg-type]
        target_resolvers="",  # type: ignore[arg-type]
        tls_ca_file=str(ca),
        rdap_bootstrap_url="http://127.0.0.1:8000/",
        response_url_prefixes="https://hooks.slack.com/,http://127.0.0.1:",  # type: ignore[arg-type]
        whois_server="127.0.0.2",
        max_per_server=16,
    )
    assert settings.target_resolvers == ()
    assert Settings(whois_server="whois.nic.example.").whois_server == "whois.nic.example."


def test_several_problems_one_line_each_and_secrets_hidden() -> None:
    found = lines(
        SLACK_SIGNING_SECRET="",
        PORT="99999",
        CHATBOT_WHOIS_PORT="x",
        CHATBOT_COMMAND_DEADLINE_SECONDS="-1",
    )
    assert found == [
        "PORT=99999: must be at most 65535",
        "CHATBOT_COMMAND_DEADLINE_SECONDS=-1: must be more than 0",
        "CHATBOT_WHOIS_PORT=x: not a whole number",
    ]
    with pytest.raises(ValidationError) as caught:
        Settings(slack_signing_secret=123)  # type: ignore[arg-type]
    assert config_errors.problems(caught.value, {"SLACK_SIGNING_SECRET": "123"}) == [
        "SLACK_SIGNING_SECRET=(hidden): Input should be a valid string"
    ]


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_field_names_its_variable(name: str) -> None:
    """Fields added later are covered: each gets values its type refuses, and the line
    names the variable pydantic-settings reads, never the field."""
    variable = config_errors.env_name(name)
    for nonsense in ("\x01 not-a-value \x7f", "-99999999999", "99999999999", ""):
        try:
            Settings(**{name: nonsense})
        except ValidationError as exc:
            for line in config_errors.problems(exc, {variable: nonsense}):
                assert line.startswith(f"{variable}="), line
                assert "\n" not in line and "pydantic" not in line, line


def test_env_names_match_what_pydantic_settings_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(config_errors.env_name("port"), "9091")
    monkeypatch.setenv(config_errors.env_name("whois_port"), "4343")
    monkeypatch.setenv(config_errors.env_name("slack_signing_secret"), "s")
    settings = config_errors.load()
    assert (settings.port, settings.whois_port) == (9091, 4343)
    assert settings.slack_signing_secret.get_secret_value() == "s"


def run_cli(*args: str, **environ: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatbot.cli", *args],
        env={**CLEAN, "SLACK_SIGNING_SECRET": "s3cret", **environ},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


BAD = {
    "CHATBOT_INLINE_BUDGET_SECONDS": "5",
    "PORT": "abc",
    "CHATBOT_DNS_RESOLVERS": "dns.google",
}
EXPECTED = [
    "chatbot: PORT=abc: not a whole number",
    "chatbot: CHATBOT_INLINE_BUDGET_SECONDS=5: must be at most 2.5",
    "chatbot: CHATBOT_DNS_RESOLVERS=dns.google: dns.google is not an IP address "
    "(give ip, ip:port or [ipv6]:port)",
]


@pytest.mark.parametrize(
    "args",
    [
        ("serve", "--port", "1"),
        ("dig", "example.com"),
        ("whois", "example.com"),
        ("send", "/dig example.com", "--url", "http://127.0.0.1:1"),
        ("manifest", "--url", "https://chatbot.example.com"),
    ],
)
def test_cli_refuses_to_start(args: tuple[str, ...]) -> None:
    done = run_cli(*args, **BAD)
    assert done.returncode == 2, done
    assert done.stderr.splitlines() == EXPECTED
    assert done.stdout == ""


def test_cli_refuses_an_empty_resolver_list() -> None:
    done = run_cli("dig", "example.com", CHATBOT_DNS_RESOLVERS="")
    assert (done.returncode, done.stderr) == (
        2,
        "chatbot: CHATBOT_DNS_RESOLVERS=: must list at least one resolver "
        "(ip, ip:port or [ipv6]:port)\n",
    )


def test_help_needs_no_settings() -> None:
    done = run_cli("--help", PORT="abc")
    assert done.returncode == 0 and "serve" in done.stdout


def test_uvicorn_refuses_to_start_with_one_line_per_problem() -> None:
    """`uvicorn chatbot:app` (the container's other way in) reads the same settings."""
    done = subprocess.run(
        [sys.executable, "-m", "uvicorn", "chatbot:app", "--port", "0"],
        env={**CLEAN, "SLACK_SIGNING_SECRET": "s3cret", **BAD},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2, done
    assert done.stderr.splitlines() == EXPECTED
    assert done.stdout == ""
