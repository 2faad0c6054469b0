"""Every local server at once, for tests that run any command: a small internet on loopback.

A DNS server (UDP and TCP) whose names all point at 127.0.0.1 or ::1, so that
even /tls and /whois of a name the fuzz made up stay on this machine; the
RDAP and WHOIS worlds of tests/servers/rdap.py and whois.py; a TLS server for
`tls.test` signed by a test CA; and a response_url receiver. `settings()`
points every setting at them with short timeouts, and `target_resolvers` at
the DNS server, so no lookup leaves loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatbot.settings import Settings
from tests.servers.dns import RECORDS, DNSServer
from tests.servers.rdap import RdapWorld, rdap_world
from tests.servers.receiver import Receiver
from tests.servers.tls import Authority, TLSServer
from tests.servers.whois import World, whois_net, world
from tests.slackreq import SECRET


def loopback_records() -> dict[tuple[str, str], list[str]]:
    """The standard zone with every address on loopback, plus names that exist for the fuzz."""
    records = {
        key: (["127.0.0.1"] if key[1] == "A" else ["::1"] if key[1] == "AAAA" else list(values))
        for key, values in RECORDS.items()
    }
    records.update(
        {
            ("tls.test.", "A"): ["127.0.0.1"],
            ("tls.test.", "AAAA"): ["::1"],
            ("localhost.test.", "A"): ["127.0.0.1"],
            # Record data a chat client might read as markup.
            ("fence.test.", "TXT"): ['"```"', '"*bold* <!here> &amp; {0} %s"'],
        }
    )
    return records


@dataclass
class Internet:
    dns: DNSServer
    rdap: RdapWorld
    whois: World
    tls: TLSServer
    receiver: Receiver
    ca_file: Path

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "slack_signing_secret": SECRET,
            "dns_resolvers": (self.dns.address,),
            "dns_timeout_seconds": 0.3,
            "target_resolvers": (self.dns.address,),
            "allow_private_targets": True,
            "command_deadline_seconds": 3.0,
            "response_url_prefixes": (self.receiver.url + "/",),
            "rdap_bootstrap_url": self.rdap.bootstrap.url,
            "rdap_timeout_seconds": 0.5,
            "whois_server": self.whois.iana.host,
            "whois_port": self.whois.net.port,
            "whois_timeout_seconds": 0.5,
            "whois_deadline_seconds": 1.0,
            "tls_ca_file": str(self.ca_file),
            "tls_connect_timeout_seconds": 0.5,
            "tls_handshake_timeout_seconds": 0.5,
        }
        values.update(overrides)
        return Settings(**values)


@contextlib.contextmanager
def _whois_world() -> Iterator[World]:
    """The WHOIS world on an event loop of its own thread, so it answers whoever asks."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    net_context = whois_net()

    async def start() -> World:
        return await world(await net_context.__aenter__())

    try:
        yield asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    finally:
        asyncio.run_coroutine_threadsafe(net_context.__aexit__(None, None, None), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


@contextlib.contextmanager
def internet() -> Iterator[Internet]:
    authority = Authority()
    with (
        tempfile.TemporaryDirectory() as directory,
        DNSServer(records=loopback_records()).running() as dns,
        rdap_world() as rdap,
        _whois_world() as whois,
        TLSServer(authority.issue("tls.test", "127.0.0.1")).running() as tls,
        Receiver().running() as receiver,
    ):
        ca_file = authority.write_pem(Path(directory) / "ca.pem")
        yield Internet(dns, rdap, whois, tls, receiver, ca_file)
