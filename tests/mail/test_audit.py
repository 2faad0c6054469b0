"""The whole audit against the local servers: every finding the issue lists."""

from __future__ import annotations

from tests.mail.conftest import Servers, said


async def test_a_good_domain_has_no_problems(servers: Servers) -> None:
    report = await servers.audit("good.test dkim=s2048,ed")
    print("\n".join(said(report)))
    for check in report.checks:
        print(check.title, check.facts)
    assert said(report, "problem") == []
    assert said(report, "warning") == []
