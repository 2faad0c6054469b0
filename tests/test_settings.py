from __future__ import annotations

import pytest

from chatbot.settings import Settings


def test_defaults() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.inline_budget_seconds == 1.5
    assert settings.response_type == "ephemeral"
    assert settings.response_url_prefixes == ("https://hooks.slack.com/",)
    assert settings.dns_resolvers == ("8.8.8.8", "1.1.1.1")
    assert settings.allow_private_targets is False
    assert settings.port == 8080


def test_environment_comma_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    # This is the one place that reads the real environment on purpose.
    monkeypatch.setenv("CHATBOT_DNS_RESOLVERS", " 9.9.9.9, [2620:fe::fe]:53 ")
    monkeypatch.setenv(
        "CHATBOT_RESPONSE_URL_PREFIXES", "https://hooks.slack.com/,http://127.0.0.1:"
    )
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s3cret")
    monkeypatch.setenv("PORT", "9090")
    monkeypatch.setenv("CHATBOT_ALLOW_PRIVATE_TARGETS", "true")
    settings = Settings()
    assert settings.dns_resolvers == ("9.9.9.9", "[2620:fe::fe]:53")
    assert settings.response_url_prefixes == ("https://hooks.slack.com/", "http://127.0.0.1:")
    assert settings.slack_signing_secret.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    assert settings.port == 9090
    assert settings.allow_private_targets is True


@pytest.mark.parametrize(
    ("field", "value"),
    [("inline_budget_seconds", 3), ("response_type", "everyone"), ("port", 0)],
)
def test_invalid_values_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValueError):
        Settings(**{field: value})
