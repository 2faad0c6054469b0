"""Configuration: read once from the environment, in one place."""

from __future__ import annotations

import re
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

    # Admission (README "Admission"; chatbot/admission.py, ratelimit.py, connections.py).
    # Slack's slash-command and interaction payloads are a few KB.
    max_body_bytes: int = Field(default=16 * 1024, ge=1024, le=1024 * 1024)
    # Slack gives up after 3 s, so a request not in whole by then cannot be answered
    # in time anyway; 5 s leaves room for a slow human with curl. A signed request
    # from `chatbot send` is in whole well under a millisecond after its connection.
    header_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    body_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    # Longer than the 600 s Google's front ends keep idle backend connections, so
    # they, not we, close them: the other order races a request into a closing
    # socket (a 502 for Slack). Idle connections cost about 9 KB each (measured)
    # and are the first closed when connections run short.
    keep_alive_seconds: float = Field(default=620.0, ge=1, le=3600)
    # Cloud Run sends at most containerConcurrency (80) requests at once; the rest
    # is room for its idle connections. Halved to ulimit -n / 2 when that is lower.
    max_connections: int = Field(default=256, ge=8, le=65536)
    rate_limit_user: str = "20/minute"
    rate_limit_team: str = "300/minute"
    rate_limit_storage: str = "memory://"
    allowed_team_ids: CommaList = ()

    @field_validator("response_url_prefixes", "dns_resolvers", "target_resolvers", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return _split(value)

    @field_validator("allowed_team_ids", mode="before")
    @classmethod
    def _team_ids(cls, value: object) -> object:
        value = _split(value)
        for team in value if isinstance(value, tuple) else ():
            if not re.fullmatch(r"[TE][A-Z0-9]{2,30}", team):
                raise ValueError(f"{team!r} is not a Slack team or enterprise id (T…, E…)")
        return value

    @field_validator("rate_limit_user", "rate_limit_team")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from chatbot.ratelimit import parse_limit

        parse_limit(value)  # ValueError names the notation it could not read
        return value

    @field_validator("rate_limit_storage")
    @classmethod
    def _storage(cls, value: str) -> str:
        from chatbot.ratelimit import check_storage

        return check_storage(value)


@lru_cache
def get_settings() -> Settings:
    return Settings()
