"""Event-loop lag: how long the loop went without running a ready task.

A probe task sleeps 1 ms in a loop and records how late it woke each time;
its largest overshoot is the longest any other request would have waited for
the loop while the work under test ran. Used by tests/test_loop_lag.py and
bench/loop_lag.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any

from chatbot.settings import Settings

TICK = 0.001
NAME = "example.test"


class LagProbe:
    """`async with LagProbe() as probe:` ... `probe.worst` (seconds), `probe.stalls`."""

    def __init__(self, report_over: float = 0.005) -> None:
        self.worst = 0.0
        self.stalls: list[float] = []  # every overshoot over `report_over`, in order
        self.report_over = report_over
        self._task: asyncio.Task[None] | None = None
        self._asleep_since = time.perf_counter()

    def _note(self, late: float) -> None:
        self.worst = max(self.worst, late)
        if late > self.report_over:
            self.stalls.append(late)

    async def _run(self) -> None:
        while True:
            self._asleep_since = time.perf_counter()
            await asyncio.sleep(TICK)
            self._note(time.perf_counter() - self._asleep_since - TICK)

    async def __aenter__(self) -> LagProbe:
        self._task = asyncio.create_task(self._run())
        await asyncio.sleep(0)  # let the probe take its first tick before the work starts
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._task is not None
        # A stall just before the block ends has not woken the probe yet: count it too.
        self._note(time.perf_counter() - self._asleep_since - TICK)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    @property
    def worst_ms(self) -> float:
        return self.worst * 1000


# --- each command's heaviest local scenarios ------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    command: str
    text: str
    settings: Settings


NAMES = (
    "dig 64 KB TXT over TCP",
    "dig four types",
    "whois RDAP 200 KB +raw",
    "whois RDAP and registrar",
    "whois WHOIS 256 KB record",
    "tls AIA fetch +protocols",
    "tls chain of 30",
)
BIG_RDAP_NAMESERVERS = 1500  # a legitimate RFC 9083 answer of about 200 KB


def _big_domain() -> dict[str, Any]:
    from tests.servers import rdap

    document = rdap.domain(
        "big.com",
        registrar=rdap.registrar_entity("MarkMonitor Inc.", "292", "abuse@markmonitor.com"),
        created="1997-09-15T04:00:00Z",
        changed="2026-09-09T15:39:04Z",
        expires="2028-09-14T04:00:00Z",
        signed=True,
        registrant=rdap.registrant("Example Inc.", "US"),
    )
    document["nameservers"] = [
        {"objectClassName": "nameserver", "ldhName": f"NS{n}.BIG.COM", "ipAddresses": {
            "v4": [f"192.0.2.{n % 250}"], "v6": [f"2001:db8::{n:x}"]}}
        for n in range(BIG_RDAP_NAMESERVERS)
    ]  # fmt: skip
    return document


@asynccontextmanager
async def scenarios(tmp: Path) -> AsyncIterator[list[Scenario]]:
    """Local servers for every command, and the commands that work them hardest:
    a 64 KB DNS answer, a 200 KB RDAP answer with +raw, a 256 KB WHOIS record,
    a /tls check with an AIA fetch and +protocols, and one of a 30-certificate chain.

    The servers' modules are imported here, not at the top: a process that only
    measures (bench/loop_lag.py) then imports the commands' libraries the way the
    service does, on first use, and its "cold" figures are the service's.
    """
    from cryptography.hazmat.primitives.serialization import Encoding

    from tests.servers import dns, rdap, tls
    from tests.servers.whois import whois_net, world

    async with contextlib.AsyncExitStack() as stack:
        dns_server = stack.enter_context(dns.DNSServer().running())
        rdap_servers = stack.enter_context(rdap.rdap_world())
        rdap_servers.registry.routes["/com/v1/domain/big.com"] = rdap.rdap_json(_big_domain())
        net = await stack.enter_async_context(whois_net())
        whois_servers = await world(net)
        # A .jp name (no RDAP service in the local bootstrap) whose registry floods.
        whois_servers.jprs.answers["flood.jp/e"] = "x"
        whois_servers.iana.answers["flood.jp"] = whois_servers.iana.answers["jprs.jp"]
        whois_servers.jprs.mode = "flood"
        whois_servers.jprs.flood_bytes = 300 * 1024
        root = tls.Authority()
        ca_file = root.write_pem(tmp / "ca.pem")
        intermediate = tls.Authority("Test Intermediate CA", parent=root)
        files = stack.enter_context(
            tls.FileServer(
                {"/intermediate.der": intermediate.cert.public_bytes(Encoding.DER)}
            ).running()
        )
        incomplete = stack.enter_context(
            tls.TLSServer(
                intermediate.issue(NAME, aia_url=files.url("/intermediate.der")),
                send_chain=False,
            ).running()
        )
        long = stack.enter_context(tls.TLSServer(tls.long_chain(root, NAME, 30)).running())
        settings = Settings(
            dns_resolvers=(dns_server.address,),
            dns_timeout_seconds=2,
            target_resolvers=(dns_server.address,),
            allow_private_targets=True,
            rdap_bootstrap_url=rdap_servers.bootstrap.url,
            rdap_timeout_seconds=3,
            whois_server=whois_servers.iana.host,
            whois_port=whois_servers.net.port,
            whois_timeout_seconds=3,
            tls_ca_file=str(ca_file),
        )
        yield [
            Scenario("dig 64 KB TXT over TCP", "dig", "huge.test TXT", settings),
            Scenario("dig four types", "dig", "example.test A AAAA MX TXT", settings),
            Scenario("whois RDAP 200 KB +raw", "whois", "big.com +raw", settings),
            Scenario("whois RDAP and registrar", "whois", "google.com", settings),
            Scenario("whois WHOIS 256 KB record", "whois", "flood.jp", settings),
            Scenario(
                "tls AIA fetch +protocols",
                "tls",
                f"127.0.0.1:{incomplete.port} --sni {NAME} +protocols",
                settings,
            ),
            Scenario("tls chain of 30", "tls", f"127.0.0.1:{long.port} --sni {NAME}", settings),
        ]


# --- the same servers in a child process -----------------------------------------------
#
# Test servers running as threads of the measuring process take the GIL to build
# their answers (a 64 KB DNS message is tens of milliseconds of dnspython), and
# that would show up as our stall. In a process of their own they cost us nothing.


def _serve(conn: Connection) -> None:
    async def main() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            async with scenarios(Path(tmp)) as cases:
                conn.send(
                    [
                        (c.name, c.command, c.text, c.settings.model_dump(exclude=_SECRET))
                        for c in cases
                    ]
                )
                await asyncio.get_running_loop().run_in_executor(None, conn.recv)

    asyncio.run(main())


_SECRET = {"slack_signing_secret"}


@contextlib.contextmanager
def isolated_scenarios(timeout: float = 60) -> Iterator[list[Scenario]]:
    """`scenarios`, served from a child process."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(target=_serve, args=(theirs,), daemon=True)
    child.start()
    try:
        waited = 0.0
        while not ours.poll(0.1):
            waited += 0.1
            if not child.is_alive() or waited > timeout:
                raise RuntimeError("the scenario servers did not start")
        cases = [
            Scenario(name, command, text, Settings(**values))
            for name, command, text, values in ours.recv()
        ]
        yield cases
    finally:
        with contextlib.suppress(OSError):
            ours.send("stop")
        child.join(10)
        if child.is_alive():
            child.kill()
