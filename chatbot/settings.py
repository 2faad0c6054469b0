"""Configuration: read once from the environment, in one place."""

from __future__ import annotations

import ipaddress
import os
import re
import ssl
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

CommaList = Annotated[tuple[str, ...], NoDecode]


def _split(value: object) -> object:
    # Operators write "a,b" in env vars, not JSON arrays.
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def url_problem(url: str) -> str | None:
    """Why `url` is not an http(s) URL with a host, or None when it is one."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises ValueError for a port that is not one
    except ValueError:
        return "not a URL"
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return "not an http:// or https:// URL with a host"
    return None


def ca_file_problem(path: str) -> str | None:
    """Why `path` is not a readable PEM file of certificates, or None when it is one."""
    if not os.path.isfile(path):
        return "no such file"
    try:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(cafile=path)
    except (OSError, ssl.SSLError, ValueError):
        return "not a readable file of PEM certificates"
    if not context.cert_store_stats()["x509"]:
        return "holds no PEM certificate"
    return None


_HOST = re.compile(r"(?i)[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*\.?")


def host_problem(host: str) -> str | None:
    """Why `host` is neither a host name nor an IP address, or None."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        if len(host) > 253 or not _HOST.fullmatch(host):
            return "not a host name or IP address"
    return None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHATBOT_", frozen=True, extra="ignore")

    slack_signing_secret: SecretStr = Field(
        default=SecretStr(""),
        validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "slack_signing_secret"),
    )
    port: int = Field(default=8080, ge=1, le=65535, validation_alias=AliasChoices("PORT", "port"))
    inline_budget_seconds: float = Field(default=1.5, ge=0, le=2.5, allow_inf_nan=False)
    response_type: Literal["ephemeral", "in_channel"] = "ephemeral"
    response_url_prefixes: CommaList = ("https://hooks.slack.com/",)
    dns_resolvers: CommaList = ("8.8.8.8", "1.1.1.1")
    dns_timeout_seconds: float = Field(default=2.0, gt=0, le=30, allow_inf_nan=False)
    # Empty: target host names (/tls, /whois servers) resolve with the system's resolver.
    target_resolvers: CommaList = ()
    command_deadline_seconds: float = Field(default=10.0, gt=0, le=600, allow_inf_nan=False)
    allow_private_targets: bool = False
    shutdown_grace_seconds: int = Field(default=8, ge=2, le=60)
    # Deferred answers still being worked out, per instance; measured in docs/development.md.
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
    rdap_timeout_seconds: float = Field(default=4.0, gt=0, le=60, allow_inf_nan=False)
    whois_server: str = "whois.iana.org"
    whois_port: int = Field(default=43, ge=1, le=65535)
    whois_timeout_seconds: float = Field(default=4.0, gt=0, le=60, allow_inf_nan=False)
    whois_deadline_seconds: float = Field(default=8.0, gt=0, le=600, allow_inf_nan=False)
    tls_ca_file: str | None = None
    tls_connect_timeout_seconds: float = Field(default=3.0, gt=0, le=60, allow_inf_nan=False)
    tls_handshake_timeout_seconds: float = Field(default=5.0, gt=0, le=60, allow_inf_nan=False)
    # Connections from this instance to any one WHOIS or RDAP host or /tls host:port.
    max_per_server: int = Field(default=2, ge=1, le=16)
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
    # /mail: STARTTLS needs outbound port 25, which Google Cloud blocks.
    mail_smtp_checks: bool = True
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_timeout_seconds: float = Field(default=4.0, gt=0, le=30)
    mail_https_port: int = Field(default=443, ge=1, le=65535)

    # Admission (docs/operations.md; chatbot/admission.py, ratelimit.py, connections.py).
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

    # Checked here, at start, so a bad value stops the service with its variable's
    # name instead of failing every command later.
    @field_validator("dns_resolvers", "target_resolvers")
    @classmethod
    def _resolvers(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        from chatbot.targets import server_address

        if not value and info.field_name == "dns_resolvers":
            raise ValueError("must list at least one resolver (ip, ip:port or [ipv6]:port)")
        for spec in value:
            server_address(spec)  # its ValueError says what is wrong
        return value

    @field_validator("response_url_prefixes", "rdap_bootstrap_url")
    @classmethod
    def _urls(cls, value: tuple[str, ...] | str) -> tuple[str, ...] | str:
        if isinstance(value, str):
            problem = url_problem(value)
            if problem:
                raise ValueError(problem)
            return value
        for url in value:
            problem = url_problem(url)
            if problem:
                raise ValueError(f"{url} is {problem}")
        return value

    @field_validator("whois_server")
    @classmethod
    def _host(cls, value: str) -> str:
        problem = host_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("tls_ca_file")
    @classmethod
    def _ca_file(cls, value: str | None) -> str | None:
        problem = ca_file_problem(value) if value is not None else None
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("dns_root_servers", "dns_compare_resolvers")
    @classmethod
    def _server_list(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from chatbot.targets import server_address

        if not 1 <= len(value) <= 32:
            raise ValueError(f"give 1 to 32 servers, not {len(value)}")
        for spec in value:
            server_address(spec)  # its ValueError says what is wrong
        return value

    @field_validator("dnssec_trust_anchors")
    @classmethod
    def _anchor_file(cls, value: str | None) -> str | None:
        if value:
            from chatbot.dns.validate import read_anchors  # dnspython only when it is set

            read_anchors(value)
        return value or None

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


# The file of settings the CLI reads beside the environment (`chatbot serve`,
# `chatbot send`, ...): `.env` in the working directory, or the file this variable
# names; set to nothing, none. Only the CLI reads one: `Settings()` in tests and
# `uvicorn chatbot:app` read the environment alone, so a stray `.env` changes
# no test.
ENV_FILE_VARIABLE = "CHATBOT_ENV_FILE"
ENV_FILE = ".env"
_env_file: Path | None = None


def use_env_file(environ: Mapping[str, str] | None = None) -> Path | None:
    """Make `get_settings` read the `.env` file (or $CHATBOT_ENV_FILE) too, if there is one.

    Variables in the environment win over the file's. Returns the file's path,
    or None when there is none to read. A file named by the variable must exist.
    """
    global _env_file
    environ = os.environ if environ is None else environ
    named = environ.get(ENV_FILE_VARIABLE)
    path = Path(ENV_FILE if named is None else named)
    if named is not None and named and not path.is_file():
        raise FileNotFoundError(f"{ENV_FILE_VARIABLE}={named}: no such file")
    _env_file = path.resolve() if named != "" and path.is_file() else None
    get_settings.cache_clear()
    return _env_file


def env_file() -> Path | None:
    """The file `get_settings` reads beside the environment, if any (see `use_env_file`)."""
    return _env_file


@lru_cache
def get_settings() -> Settings:
    if _env_file is None:
        return Settings()
    # BaseSettings takes `_env_file`, but the __init__ mypy makes from the fields
    # (pydantic's dataclass_transform) does not list it.
    return Settings(_env_file=_env_file)  # type: ignore[call-arg]
