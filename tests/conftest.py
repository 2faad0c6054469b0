from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from chatbot.settings import Settings
from chatbot.web import create_app
from tests.servers.dns import DNSServer
from tests.servers.rdap import RdapWorld, rdap_world
from tests.servers.receiver import Receiver
from tests.servers.service import serving
from tests.servers.whois import World, whois_net, world
from tests.slackreq import SECRET

# The CLI reads a `.env` in the working directory; a developer's own must not reach
# the `chatbot ...` processes tests start (tests/test_docs.py sets it where it wants one).
os.environ["CHATBOT_ENV_FILE"] = ""


@pytest.fixture
def dns_server() -> Iterator[DNSServer]:
    with DNSServer().running() as server:
        yield server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver().running() as server:
        yield server


@pytest.fixture
def make_settings(dns_server: DNSServer) -> Any:
    """Settings pointing at the local DNS server, private targets allowed."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "slack_signing_secret": SECRET,
            "dns_resolvers": (dns_server.address,),
            "dns_timeout_seconds": 0.5,
            "allow_private_targets": True,
            "response_url_prefixes": ("http://127.0.0.1:",),
            # Tests send hundreds of commands as one user; the limits' own tests set them.
            "rate_limit_user": "100000/minute",
            "rate_limit_team": "100000/minute",
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def service(make_settings: Any) -> Iterator[Callable[..., str]]:
    """Start the real app under uvicorn, on a port-0 socket, with setting overrides."""
    with ExitStack() as stack:

        def start(**overrides: Any) -> str:
            return stack.enter_context(serving(create_app(make_settings(**overrides))))

        yield start


@pytest.fixture
def rdap_servers() -> Iterator[RdapWorld]:
    """IANA's bootstrap files, registries and registrars, each an RDAP server on 127.0.0.1."""
    with rdap_world() as servers:
        yield servers


@pytest.fixture
async def whois_servers() -> AsyncIterator[World]:
    """IANA's, registries' and registrars' port-43 WHOIS servers, on 127.0.0.1."""
    async with whois_net() as net:
        yield await world(net)
