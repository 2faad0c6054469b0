"""/mail in the registry, the CLI, the settings and the Cloud Run service."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from chatbot import cli
from chatbot.commands import COMMANDS
from chatbot.mail import command
from chatbot.settings import Settings
from tests.mail.conftest import Servers

ROOT = Path(__file__).resolve().parents[2]


def test_mail_is_in_the_registry() -> None:
    assert COMMANDS["mail"].usage_hint == "domain [dkim=selector[,selector...]]"


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("example.com", ("example.com", "example.com", ())),
        ("Example.COM.", ("example.com", "example.com", ())),
        ("someone@example.com dkim=a,b,a", ("example.com", "example.com", ("a", "b"))),
        ("https://example.com/x", ("example.com", "example.com", ())),
        ("bücher.example", ("xn--bcher-kva.example", "bücher.example (xn--bcher-kva.example)", ())),
        ("example.com dkim=s1 dkim=s2", ("example.com", "example.com", ("s1", "s2"))),
    ],
)
def test_parse(text: str, parsed: tuple[str, str, tuple[str, ...]]) -> None:
    assert command.parse(text) == parsed


def test_settings() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.mail_smtp_checks is True
    assert settings.smtp_port == 25 and settings.mail_https_port == 443
    options = command.options(settings)
    assert options.smtp.port == 25 and options.sts.port == 443 and options.smtp_checks
    assert options.deadline == settings.command_deadline_seconds - 0.5
    for field, value in (("smtp_port", 0), ("mail_https_port", 70000), ("smtp_timeout_seconds", 0)):
        with pytest.raises(ValueError):
            Settings(**{field: value})


def test_cloud_run_turns_smtp_checks_off() -> None:
    service = yaml.safe_load((ROOT / "deploy" / "service.yaml").read_text())
    (container,) = service["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert Settings(mail_smtp_checks=env["CHATBOT_MAIL_SMTP_CHECKS"]).mail_smtp_checks is False


def test_the_docs_list_the_settings() -> None:
    settings_table = (ROOT / "docs" / "operations.md").read_text()
    for name in ("MAIL_SMTP_CHECKS", "SMTP_PORT", "SMTP_TIMEOUT_SECONDS", "MAIL_HTTPS_PORT"):
        assert f"| `CHATBOT_{name}` |" in settings_table


def test_the_terminal_runs_it(
    servers: Servers, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`chatbot mail DOMAIN` reads its settings from the environment, as the CLI does."""
    settings = servers.settings()
    for name in ("dns_resolvers", "target_resolvers", "dns_root_servers"):
        monkeypatch.setenv(f"CHATBOT_{name.upper()}", ",".join(getattr(settings, name)))
    for name in (
        "smtp_port",
        "mail_https_port",
        "tls_ca_file",
        "allow_private_targets",
        "dnssec_trust_anchors",
    ):
        monkeypatch.setenv(f"CHATBOT_{name.upper()}", str(getattr(settings, name)))
    assert cli.main(["mail", "good.test", "dkim=s2048"]) == cli.EXIT_ANSWER
    out = capsys.readouterr().out
    assert out.startswith("good.test: ✓ no problems found\n")  # terminal text, no emoji codes
    assert "mx.good.test 127.0.0.2  STARTTLS" in out
    assert cli.main(["mail", "a", "b"]) == cli.EXIT_USAGE
