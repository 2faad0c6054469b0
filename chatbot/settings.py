"""Configuration: read once from the environment, in one place."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

CommaList = Annotated[tuple[str, ...], NoDecode]


def _split(value: object) -> object:
    # Operators write "a,b" in env vars, not JSON arrays.
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHATBOT_", frozen=True, extra="ignore")

    slack_signing_secret: SecretStr = Field(
        default=SecretStr(""),
        validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "slack_signing_secret"),
    )
    port: int = Field(default=8080, ge=1, le=65535, validation_alias=AliasChoices("PORT", "port"))
    inline_budget_seconds: float = Field(default=1.5, ge=0, le=2.5)
    response_type: Literal["ephemeral", "in_channel"] = "ephemeral"
    response_url_prefixes: CommaList = ("https://hooks.slack.com/",)
    dns_resolvers: CommaList = ("8.8.8.8", "1.1.1.1")
    dns_timeout_seconds: float = Field(default=2.0, gt=0)
    # Empty: target host names (/tls, /whois servers) resolve with the system's resolver.
    target_resolvers: CommaList = ()
    command_deadline_seconds: float = Field(default=10.0, gt=0)
    allow_private_targets: bool = False
    shutdown_grace_seconds: int = Field(default=8, ge=2, le=60)
    # Deferred answers still being worked out, per instance; measured in README.
    max_pending: int = Field(default=100, ge=1, le=10000)
    # Posts to response_url at once; the HTTP client's pool is kept larger (delivery.py).
    delivery_concurrency: int = Field(default=10, ge=1, le=100)
    # One answer's delivery: connect, send, read the answer, retries and their waits.
    delivery_deadline_seconds: float = Field(default=30.0, gt=0, le=600)
    # /ready fails once deliveries have failed on our side for this long.
    unready_after_seconds: float = Field(default=30.0, gt=0, le=3600)
    google_cloud_project: str = Field(
        default="", validation_alias=AliasChoices("GOOGLE_CLOUD_PROJECT", "google_cloud_project")
    )
    rdap_bootstrap_url: str = "https://data.iana.org/rdap/"
    rdap_timeout_seconds: float = Field(default=4.0, gt=0)
    whois_server: str = "whois.iana.org"
    whois_port: int = Field(default=43, ge=1, le=65535)
    whois_timeout_seconds: float = Field(default=4.0, gt=0)
    whois_deadline_seconds: float = Field(default=8.0, gt=0)
    tls_ca_file: str | None = None
    tls_connect_timeout_seconds: float = Field(default=3.0, gt=0)
    tls_handshake_timeout_seconds: float = Field(default=5.0, gt=0)

    @field_validator("response_url_prefixes", "dns_resolvers", "target_resolvers", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return _split(value)


@lru_cache
def get_settings() -> Settings:
    return Settings()
