"""Options for /whois pointed at the tests' local RDAP and WHOIS servers."""

from __future__ import annotations

from chatbot.registration import command as registration
from chatbot.registration import rdap, whois
from tests.servers.rdap import RdapWorld
from tests.servers.whois import World


def both(rdap_servers: RdapWorld, whois_servers: World) -> registration.Options:
    """RDAP from the local bootstrap, WHOIS from the local IANA server."""
    return registration.Options(
        rdap=rdap.Options(
            bootstrap_url=rdap_servers.bootstrap.url, timeout=2, allow_private=True, cache={}
        ),
        whois=whois.Options(
            server=whois_servers.iana.host,
            port=whois_servers.net.port,
            timeout=2,
            allow_private=True,
            aliases=whois_servers.aliases,
        ),
    )
