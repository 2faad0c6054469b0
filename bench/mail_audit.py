"""How much a /mail audit gains from running its checks at once.

Starts the test servers of tests/mail (DNS with a delay on every answer to
stand in for a network round trip, the signed tree DANE's TLSA records are
validated in with the same delay, SMTP with STARTTLS, HTTPS for MTA-STS),
then times, alternately and many times over, for `two-mx.test` (2 MX hosts,
every record present, SPF with nested includes, DKIM, TLSA on both MX):
  each check alone - MX, SPF, DMARC, DKIM, MTA-STS, TLS-RPT, BIMI, and
                     STARTTLS+DANE (which needs the MX lookup first);
  full             - the whole audit, checks concurrent (what /mail does);
  sequential       - the same audit with one network step at a time.
Prints medians and full / slowest single check (goal under 1.5x).

    uv run python bench/mail_audit.py [rounds] [delay_ms]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dns.message

from chatbot.mail import audit, command, dkim, dmarc, mtasts, mx, reports, spf
from chatbot.mail.lookup import Lookup
from chatbot.settings import Settings
from chatbot.tls import check as tls
from tests.servers import mail_dns
from tests.servers.dns_hierarchy import Hierarchy
from tests.servers.mail_https import Page, PolicyServers
from tests.servers.smtp import Farm, Scenario
from tests.servers.tls import Authority

DOMAIN = "two-mx.test"


class SlowDNS(mail_dns.MailDNSServer):
    """Each answer after `delay` seconds (one thread per query, so delays overlap)."""

    delay = 0.02

    def answer(self, query: dns.message.Message) -> dns.message.Message | None:
        time.sleep(self.delay)
        return super().answer(query)


async def timed(work: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await work()
    elapsed = time.perf_counter() - started
    await tls.settle()
    return elapsed


def singles(options: audit.Options) -> dict[str, Callable[[], Awaitable[Any]]]:
    def fresh() -> Lookup:
        return Lookup(options.resolvers, options.dns_timeout)

    async def starttls() -> Any:
        lookup = fresh()
        task = asyncio.ensure_future(mx.find(lookup, DOMAIN))
        return await audit._starttls(lookup, task, options, None, None, time.perf_counter())

    return {
        "MX": lambda: mx.find(fresh(), DOMAIN),
        "SPF": lambda: spf.walk(fresh(), DOMAIN),
        "DMARC": lambda: dmarc.find(fresh(), DOMAIN),
        "DKIM": lambda: dkim.find_all(fresh(), DOMAIN, ("s2048",)),
        "MTA-STS": lambda: mtasts.find(fresh(), DOMAIN, options.sts),
        "TLS-RPT": lambda: reports.tlsrpt(fresh(), DOMAIN),
        "BIMI": lambda: reports.bimi(fresh(), DOMAIN),
        "STARTTLS+DANE": starttls,
    }


async def main(rounds: int, delay_ms: float) -> None:
    root = Authority("Bench Root CA")
    good = root.issue(*mail_dns.GOOD_NAMES)
    SlowDNS.delay = delay_ms / 1000
    records = mail_dns.zone(good.cert)
    dns_server = SlowDNS(records)
    tree = Hierarchy(mail_dns.tree(records))
    for server in tree.servers.values():
        server.delay = delay_ms / 1000
    farm = Farm([Scenario(mail_dns.GOOD, "tls", good)])
    pages = {f"mta-sts.{d}": Page(t.encode()) for d, t in mail_dns.POLICIES.items()}
    https = PolicyServers([(mail_dns.POLICY, root.issue(*mail_dns.POLICY_NAMES))], pages)
    with (
        tempfile.TemporaryDirectory() as tmp,
        dns_server.running(),
        farm.running(),
        https.running(),
        tree.running(),
    ):
        ca_file = root.write_pem(Path(tmp) / "ca.pem")
        anchors = tree.anchor_file(Path(tmp) / "root.ds")
        settings = Settings(
            dns_resolvers=(dns_server.address,),
            target_resolvers=(dns_server.address,),
            allow_private_targets=True,
            tls_ca_file=str(ca_file),
            smtp_port=farm.port,
            mail_https_port=https.port,
            dns_root_servers=(tree.root,),
            dnssec_trust_anchors=str(anchors),
        )
        options = command.options(settings)
        serial = replace(options, sequential=True)
        report = await audit.audit(DOMAIN, DOMAIN, ("s2048",), options)
        assert not [x for x in report.findings if x.severity != "info"], report.findings
        checks = singles(options)
        times: dict[str, list[float]] = {name: [] for name in [*checks, "full", "sequential"]}
        for _ in range(rounds):
            for name, work in checks.items():
                times[name].append(await timed(work))
            times["full"].append(
                await timed(lambda: audit.audit(DOMAIN, DOMAIN, ("s2048",), options))
            )
            times["sequential"].append(
                await timed(lambda: audit.audit(DOMAIN, DOMAIN, ("s2048",), serial))
            )
    medians = {name: statistics.median(values) * 1000 for name, values in times.items()}
    print(f"{rounds} rounds, every DNS answer delayed {delay_ms:g} ms; medians:")
    for name, ms in medians.items():
        print(f"  {name:<14} {ms:8.1f} ms")
    slowest = max(medians[name] for name in checks)
    print(f"full / slowest single check: {medians['full'] / slowest:.2f}x (goal < 1.5x)")
    print(f"sequential / full:           {medians['sequential'] / medians['full']:.2f}x")
    print(f"DNS queries in one audit:    {report.queries}")


if __name__ == "__main__":
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    delay = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
    asyncio.run(main(rounds, delay))
