"""Configuration: read once from the environment, in one place."""

from __future__ import annotations

import ipaddress
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


def _server(spec: str) -> None:
    """`ip`, `ip:port` or `[ipv6]:port`, checked when the service starts."""
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        port = rest.removeprefix(":") or "53"
    elif spec.count(":") == 1:
        host, port = spec.split(":")
    else:
        host, port = spec, "53"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"not a server address: {spec!r}") from None
    if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"not a port: {spec!r}")


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
    # /dig +trace, +validate, +compare. IANA's root servers (IPv4), a to m.
    dns_root_servers: CommaList = (
        "198.41.0.4",
        "170.247.170.2",
        "192.33.4.12",
        "199.7.91.13",
        "192.203.230.10",
        "192.5.5.241",
        "192.112.36.4",
        "198.97.190.53",
        "192.36.148.17",
        "192.58.128.30",
        "193.0.14.129",
        "199.7.83.42",
        "202.12.27.33",
    )
    # A file of root DS or DNSKEY records; unset: IANA's root KSKs, built in.
    dnssec_trust_anchors: str | None = None
    dns_compare_resolvers: CommaList = (
        "8.8.8.8",
        "8.8.4.4",
        "1.1.1.1",
        "1.0.0.1",
        "9.9.9.9",
        "149.112.112.112",
        "208.67.222.222",
        "208.67.220.220",
    )

    @field_validator(
        "response_url_prefixes",
        "dns_resolvers",
        "target_resolvers",
        "dns_root_servers",
        "dns_compare_resolvers",
        mode="before",
    )
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return _split(value)

    @field_validator("dns_root_servers", "dns_compare_resolvers")
    @classmethod
    def _server_list(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not 1 <= len(value) <= 32:
            raise ValueError(f"give 1 to 32 servers, not {len(value)}")
        for spec in value:
            _server(spec)
        return value

    @field_validator("dnssec_trust_anchors")
    @classmethod
    def _anchor_file(cls, value: str | None) -> str | None:
        if value:
            from chatbot.dns.validate import read_anchors  # dnspython only when it is set

            read_anchors(value)
        return value or None


@lru_cache
def get_settings() -> Settings:
    return Settings()
