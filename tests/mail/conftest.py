"""Local servers for /mail: DNS zones, SMTP servers with STARTTLS, HTTPS policy hosts.

Started once for the whole session (each test only reads from them); every
name resolves through the local DNS server, so nothing leaves loopback. DANE's
DNSSEC validation walks a signed local tree (tests/servers/dns_hierarchy.py)
from its root, with that root's trust anchor.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatbot.mail import audit, command
from chatbot.settings import Settings
from chatbot.tls import check as tls
from tests.servers import mail_dns
from tests.servers.dns_hierarchy import Hierarchy
from tests.servers.mail_dns import MailDNSServer
from tests.servers.mail_https import Page, PolicyServers
from tests.servers.smtp import Farm, Scenario
from tests.servers.tls import NOW, Authority, Issued


class Servers:
    def __init__(
        self,
        dns: MailDNSServer,
        farm: Farm,
        https: PolicyServers,
        ca_file: Path,
        tree: Hierarchy,
        anchors: Path,
    ):
        self.dns, self.farm, self.https, self.ca_file = dns, farm, https, ca_file
        self.tree, self.anchors = tree, anchors
        self.good: Issued | None = None

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "dns_resolvers": (self.dns.address,),
            "target_resolvers": (self.dns.address,),
            "dns_timeout_seconds": 1.0,
            "allow_private_targets": True,
            "tls_ca_file": str(self.ca_file),
            "smtp_port": self.farm.port,
            "smtp_timeout_seconds": 1.0,
            "mail_https_port": self.https.port,
            "command_deadline_seconds": 8.0,
            "dns_root_servers": (self.tree.root,),
            "dnssec_trust_anchors": str(self.anchors),
        }
        values.update(overrides)
        return Settings(**values)

    async def audit(self, text: str, **overrides: Any) -> audit.Report:
        name, shown, selectors = command.parse(text)
        report = await audit.audit(
            name, shown, selectors, command.options(self.settings(**overrides))
        )
        await tls.settle()
        return report


@pytest.fixture(scope="session")
def root() -> Authority:
    return Authority("Mail Test Root CA")


@pytest.fixture(scope="session")
def servers(root: Authority, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    directory = tmp_path_factory.mktemp("mail")
    ca_file = root.write_pem(directory / "ca.pem")
    good = root.issue(*mail_dns.GOOD_NAMES)
    expired = root.issue(
        "mx.expired.test",
        not_before=NOW - dt.timedelta(days=100),
        not_after=NOW - dt.timedelta(days=3),
    )
    wrong = root.issue("someone-else.test")
    farm = Farm(
        [
            Scenario(mail_dns.GOOD, "tls", good),
            Scenario(mail_dns.EXPIRED, "tls", expired),
            Scenario(mail_dns.WRONG_NAME, "tls", wrong),
            Scenario(mail_dns.PLAIN, "plain"),
            Scenario(mail_dns.SILENT, "silent"),
            Scenario(mail_dns.CLOSES, "close"),
        ]
    )
    pages = {f"mta-sts.{domain}": Page(text.encode()) for domain, text in mail_dns.POLICIES.items()}
    pages["mta-sts.redirect.test"] = Page(
        status=301, headers={"Location": "https://elsewhere.test/policy.txt"}
    )
    https = PolicyServers(
        [
            (mail_dns.POLICY, root.issue(*mail_dns.POLICY_NAMES)),
            (mail_dns.BAD_POLICY, root.issue("someone-else.test")),
        ],
        pages,
    )
    records = mail_dns.zone(good.cert)
    dns_server = MailDNSServer(records)
    tree = Hierarchy(mail_dns.tree(records))
    with dns_server.running(), farm.running(), https.running(), tree.running():
        anchors = tree.anchor_file(directory / "root.ds")
        found = Servers(dns_server, farm, https, ca_file, tree, anchors)
        found.good = good
        yield found


def said(report: audit.Report, severity: str | None = None) -> list[str]:
    """The findings as 'severity CHECK: what', for readable assertions."""
    return [
        f"{x.severity} {x.check}: {x.what}"
        for x in report.findings
        if severity is None or x.severity == severity
    ]
