"""The whole audit against the local servers: every finding the issue lists.

Each scenario is a domain of tests/servers/mail_dns.py; the assertions name
the finding's severity and check, and the words that make it that finding.
"""

from __future__ import annotations

import pytest

from chatbot.commands import COMMANDS, Invocation, execute
from chatbot.reply import plain
from tests.mail.conftest import Servers, said
from tests.servers.tls import refused_port, unanswered_port


def one(report_lines: list[str], *words: str) -> str:
    """The one finding containing all `words`."""
    hits = [line for line in report_lines if all(w in line for w in words)]
    assert len(hits) == 1, (words, report_lines)
    return hits[0]


async def test_a_good_domain_has_no_problems(servers: Servers) -> None:
    report = await servers.audit("good.test dkim=s2048,ed")
    assert said(report, "problem") == []
    assert said(report, "warning") == []
    facts = {check.title: check.facts for check in report.checks}
    assert facts["MX"] == [" 10 mx.good.test  127.0.0.2"]
    assert "  mx.good.test  covered" in facts["MTA-STS"]
    starttls = "\n".join(facts["STARTTLS and DANE"])
    assert "mx.good.test 127.0.0.2  STARTTLS · TLS 1." in starttls
    assert "certificate valid" in starttls
    assert "_25._tcp.mx.good.test TLSA (DNSSEC: validated from the root trust anchor)" in starttls
    assert "DANE-EE public key SHA-256: match" in starttls


# --- SPF ---------------------------------------------------------------------


async def test_two_spf_records_are_a_permerror(servers: Servers) -> None:
    report = await servers.audit("twospf.test")
    assert one(said(report), "SPF", "2 SPF records").startswith("problem")


async def test_eleven_lookups_are_over_the_limit(servers: Servers) -> None:
    report = await servers.audit("lookups.test")
    line = one(said(report), "SPF", "DNS lookups")
    assert line.startswith("problem SPF: 11 DNS lookups, over the limit of 10")
    # l2 (3 lookups) includes l3 (2): the heaviest path, 1 + 5 against l1's 1 + 4.
    assert "heaviest: include:l2.lookups.test → include:l3.lookups.test" in line
    spf = next(c for c in report.checks if c.title == "SPF")
    assert spf.facts[0].startswith("lookups.test (11 lookups)  v=spf1")
    assert "    include:l3.lookups.test  v=spf1 a:h3.lookups.test a:h4.lookups.test -all" in (
        spf.facts
    )
    assert spf.facts[-1] == "lookups 11 of 10 · void lookups 0 of 2"


async def test_ten_lookups_are_fine(servers: Servers) -> None:
    """The same tree less one term is within the limit: the count is exact, not rounded."""
    report = await servers.audit("l2.lookups.test")
    assert not [line for line in said(report) if "DNS lookups" in line]
    spf = next(c for c in report.checks if c.title == "SPF")
    assert spf.facts[-1] == "lookups 5 of 10 · void lookups 0 of 2"


async def test_three_void_lookups_are_over_the_limit(servers: Servers) -> None:
    report = await servers.audit("void.test")
    line = one(said(report), "SPF", "void lookups")
    assert line.startswith("problem SPF: 3 void lookups (")
    for name in ("nx1.void.test", "nx2.void.test", "nx3.void.test"):
        assert name in line


async def test_plus_all_lets_anyone_send(servers: Servers) -> None:
    report = await servers.audit("plusall.test")
    assert one(said(report), "SPF", "+all").startswith(
        "problem SPF: plusall.test's SPF record ends in +all: anyone may send mail as"
    )


async def test_plus_all_behind_a_redirect(servers: Servers) -> None:
    report = await servers.audit("redirected.test")
    assert one(said(report), "SPF", "+all").startswith(
        "problem SPF: _spf.redirected.test's SPF record ends in +all"
    )


async def test_neutral_all_and_ptr_are_warnings(servers: Servers) -> None:
    report = await servers.audit("neutral.test")
    assert one(said(report), "SPF", "?all").startswith("warning")
    assert one(said(report), "SPF", "ptr, deprecated").startswith("warning")


async def test_no_all_and_no_redirect_is_a_warning(servers: Servers) -> None:
    report = await servers.audit("noall.test")
    assert one(said(report), "SPF", "no `all` and no redirect").startswith("warning")


async def test_syntax_errors_are_named(servers: Servers) -> None:
    report = await servers.audit("badsyntax.test")
    lines = [x for x in said(report) if "Syntax error" in x]
    assert any("192.0.2.300 is not an IPv4 address" in x for x in lines)
    assert any("unknown mechanism foo" in x for x in lines)
    assert all(x.startswith("problem") for x in lines)


async def test_an_include_without_spf_and_a_loop(servers: Servers) -> None:
    missing = await servers.audit("missinginclude.test")
    assert one(said(missing), "include:nospf.test", "no SPF record").startswith("problem")
    loop = await servers.audit("loop.test")
    assert one(said(loop), "a loop").startswith("problem")


async def test_no_spf_record(servers: Servers) -> None:
    report = await servers.audit("nomx.test")
    assert one(said(report), "has no SPF record").startswith("problem SPF")


# --- DMARC -------------------------------------------------------------------


async def test_p_none_is_monitoring_only(servers: Servers) -> None:
    report = await servers.audit("dmarcnone.test")
    line = one(said(report), "DMARC", "p=none")
    assert line.startswith("warning DMARC: p=none is monitoring only: spoofed mail")


async def test_pct_under_100(servers: Servers) -> None:
    report = await servers.audit("pct.test")
    assert one(said(report), "DMARC", "pct=20").startswith("warning")


async def test_external_rua_needs_the_other_domains_agreement(servers: Servers) -> None:
    report = await servers.audit("externalrua.test")
    line = one(said(report), "DMARC", "has not agreed")
    assert line.startswith("warning DMARC: rua sends reports to agg@reports-no.test")
    assert "externalrua.test._report._dmarc.reports-no.test" in line
    assert not [x for x in said(report) if "reports-ok.test has not agreed" in x]
    facts = next(c for c in report.checks if c.title == "DMARC").facts
    assert (
        "rua agg@reports-ok.test: authorised (externalrua.test._report._dmarc.reports-ok.test)"
        in facts
    )
    assert any("agg@reports-no.test: NOT authorised" in x for x in facts)


async def test_organisational_domain_fallback(servers: Servers) -> None:
    """eu.shop.co.uk has no record; co.uk is a public suffix, so shop.co.uk's applies, with sp."""
    report = await servers.audit("eu.shop.co.uk")
    line = one(said(report), "DMARC", "organisational domain")
    assert line.startswith("info DMARC: No record at _dmarc.eu.shop.co.uk:")
    assert "shop.co.uk applies" in line
    # The organisational record's sp=none is the policy for its subdomains.
    assert one(said(report), "DMARC", "p=none").startswith("warning")
    facts = next(c for c in report.checks if c.title == "DMARC").facts
    assert facts[0].startswith("_dmarc.shop.co.uk  v=DMARC1; p=reject; sp=none")


async def test_missing_invalid_and_doubled_dmarc(servers: Servers) -> None:
    missing = await servers.audit("nomx.test")
    assert one(said(missing), "No DMARC record").startswith("problem")
    invalid = await servers.audit("baddmarc.test")
    assert one(said(invalid), "p=maybe").startswith("problem")
    assert one(said(invalid), "pct=150").startswith("problem")
    doubled = await servers.audit("twodmarc.test")
    assert one(said(doubled), "2 DMARC records").startswith("problem")


# --- DKIM --------------------------------------------------------------------


async def test_dkim_keys(servers: Servers) -> None:
    report = await servers.audit("dkim.test dkim=weak,revoked,testing,garbled,absent")
    lines = said(report)
    # Under 1024 bits is a problem (tests/mail/test_records.py); 1024 itself a warning.
    assert one(lines, "selector weak", "1024-bit RSA").startswith("warning")
    assert one(lines, "selector revoked is revoked").startswith("warning")
    assert one(lines, "selector testing", "t=y").startswith("warning")
    assert one(lines, "selector garbled", "invalid").startswith("problem")
    assert one(lines, "selector absent", "no key at absent._domainkey.dkim.test").startswith(
        "problem"
    )
    facts = next(c for c in report.checks if c.title == "DKIM").facts
    assert facts[:3] == [
        "weak._domainkey.dkim.test  rsa 1024 bits",
        "revoked._domainkey.dkim.test  revoked (empty p=)",
        "testing._domainkey.dkim.test  rsa 2048 bits · testing (t=y)",
    ]


async def test_without_selectors_dkim_says_why_it_was_not_checked(servers: Servers) -> None:
    report = await servers.audit("good.test")
    assert one(said(report, "info"), "selectors cannot be listed from DNS")


# --- MX ----------------------------------------------------------------------


async def test_null_mx_accepts_no_mail(servers: Servers) -> None:
    report = await servers.audit("nullmx.test")
    assert one(said(report), "MX", "accepts no mail").startswith("info")
    # No mail server: no STARTTLS, MTA-STS or TLS-RPT to judge.
    assert [c.title for c in report.checks] == ["MX", "SPF", "DMARC", "DKIM", "BIMI"]


async def test_mx_to_a_cname(servers: Servers) -> None:
    report = await servers.audit("cname-mx.test")
    line = one(said(report), "MX", "alias")
    assert line.startswith("problem MX: MX alias.cname-mx.test is an alias (CNAME to real.cname")


async def test_mx_an_ip_literal_and_a_dangling_name(servers: Servers) -> None:
    literal = await servers.audit("literal-mx.test")
    assert one(said(literal), "is an IP address").startswith("problem MX")
    dangling = await servers.audit("dangling-mx.test")
    assert one(said(dangling), "nowhere.dangling-mx.test does not resolve").startswith("problem")


async def test_no_mx_falls_back_to_the_address(servers: Servers) -> None:
    report = await servers.audit("nomx.test")
    assert one(said(report), "MX", "no MX record: senders deliver to its own address")
    facts = next(c for c in report.checks if c.title == "MX").facts
    assert facts == ["(no MX record: the domain's own address is used)", "  0 nomx.test  192.0.2.8"]
    nomail = await servers.audit("nomail.test")
    assert one(said(nomail), "no MX record and no address").startswith("problem")


async def test_a_domain_that_does_not_exist_is_one_sentence(servers: Servers) -> None:
    reply = await execute(COMMANDS["mail"], Invocation("nosuch.test"), servers.settings())
    assert reply.is_error and not reply.is_usage
    assert plain(reply) == "nosuch.test does not exist (the resolvers answer NXDOMAIN)."


# --- MTA-STS -----------------------------------------------------------------


async def test_mta_sts_testing_with_an_mx_not_covered(servers: Servers) -> None:
    report = await servers.audit("sts-testing.test")
    assert one(said(report), "MTA-STS", "mode is testing").startswith("warning")
    line = one(said(report), "MTA-STS", "mx2.elsewhere.test is not covered")
    assert line.startswith("warning")
    facts = next(c for c in report.checks if c.title == "MTA-STS").facts
    assert "  mx1.sts-testing.test  covered" in facts
    assert "  mx2.elsewhere.test  NOT covered" in facts


async def test_mta_sts_policy_redirect_is_refused(servers: Servers) -> None:
    report = await servers.audit("redirect.test")
    line = one(said(report), "MTA-STS", "cannot be fetched")
    assert "redirects to https://elsewhere.test/policy.txt" in line
    assert line.startswith("problem")
    assert "elsewhere.test/policy.txt" not in servers.https.requests


async def test_mta_sts_policy_host_with_a_bad_certificate(servers: Servers) -> None:
    report = await servers.audit("badcert.test")
    line = one(said(report), "MTA-STS", "cannot be fetched")
    assert "the certificate of mta-sts.badcert.test is not valid" in line


async def test_mta_sts_policy_needs_our_trust_store(servers: Servers) -> None:
    """Without CHATBOT_TLS_CA_FILE the Mozilla bundle is used, which does not know the test CA."""
    report = await servers.audit("good.test", tls_ca_file=None)
    line = one(said(report), "MTA-STS", "cannot be fetched")
    assert "certificate" in line


async def test_mta_sts_policy_host_must_pass_the_address_policy(servers: Servers) -> None:
    report = await servers.audit("good.test", allow_private_targets=False)
    line = one(said(report), "MTA-STS", "cannot be fetched")
    assert "127.0.0.1, a loopback address (127.0.0.0/8), which I may not contact" in line


# --- STARTTLS and DANE -------------------------------------------------------


async def test_expired_certificate_is_a_warning_for_opportunistic_tls(servers: Servers) -> None:
    report = await servers.audit("expired.test")
    line = one(said(report), "STARTTLS", "mx.expired.test")
    assert line.startswith("warning STARTTLS: The certificate of MX mx.expired.test (127.0.0.3)")
    assert "expired on" in line


async def test_wrong_name_is_a_warning_and_a_problem_under_mta_sts_enforce(
    servers: Servers,
) -> None:
    opportunistic = await servers.audit("wrong-name.test")
    line = one(said(opportunistic), "STARTTLS", "not valid")
    assert line.startswith("warning")
    assert "not valid for mx.wrong-name.test; it covers someone-else.test" in line
    enforced = await servers.audit("enforce.test")
    line = one(said(enforced), "STARTTLS", "not valid")
    assert line.startswith("problem")
    assert "MTA-STS enforce requires a valid one" in line


async def test_no_starttls_is_a_problem(servers: Servers) -> None:
    report = await servers.audit("plain.test")
    assert one(said(report), "does not offer STARTTLS").startswith(
        "problem STARTTLS: MX mx.plain.test (127.0.0.5) does not offer STARTTLS"
    )


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
async def test_an_mx_that_accepts_and_closes_says_so(servers: Servers, reset: bool) -> None:
    """It accepted the connection: "closed the connection", not an errno or a refusal."""
    servers.farm.reset = reset
    try:
        report = await servers.audit("closes.test")
    finally:
        servers.farm.reset = False
    assert one(said(report), "STARTTLS", "mx.closes.test") == (
        "problem STARTTLS: MX mx.closes.test (127.0.0.8) closed the connection without a greeting."
    )


async def test_every_mx_silent_means_port_25_looks_blocked(servers: Servers) -> None:
    report = await servers.audit("silent.test")
    line = one(said(report), "port 25 looks blocked")
    assert line.startswith("info")
    starttls = [x for x in said(report) if x.split(" ", 1)[1].startswith("STARTTLS")]
    assert starttls == [line]


async def test_one_silent_mx_among_answering_ones_is_its_own_warning(servers: Servers) -> None:
    report = await servers.audit("mixed.test")
    line = one(said(report), "mx.silent.test")
    assert line == "warning STARTTLS: MX mx.silent.test (127.0.0.6) sent no greeting within 1 s."
    assert not [x for x in said(report) if "looks blocked" in x]
    assert not [x for x in said(report) if "mx.mixed.test" in x]


async def test_smtp_checks_off(servers: Servers) -> None:
    report = await servers.audit("good.test", mail_smtp_checks=False)
    assert one(said(report), "STARTTLS not checked (outbound port 25 is blocked on Google Cloud)")
    facts = next(c for c in report.checks if c.title == "STARTTLS and DANE").facts
    assert facts[0] == "STARTTLS not checked (outbound port 25 is blocked on Google Cloud)."
    assert "not matched (no certificate seen)" in facts[-1]


async def test_tlsa_mismatch_is_a_problem(servers: Servers) -> None:
    report = await servers.audit("dane-bad.test")
    line = one(said(report), "DANE", "do not match")
    assert line.startswith("problem DANE: The TLSA records at _25._tcp.mx.dane-bad.test")
    facts = next(c for c in report.checks if c.title == "STARTTLS and DANE").facts
    assert any(x.endswith("DANE-EE public key SHA-256: no match") for x in facts)


async def test_tlsa_in_an_unsigned_zone_is_ignored_by_senders(servers: Servers) -> None:
    """The resolver sets the AD flag on this answer; our own walk proves the zone unsigned."""
    report = await servers.audit("dane-unsigned.test")
    line = one(said(report), "DANE", "not DNSSEC-validated")
    assert line == (
        "warning DANE: TLSA records at _25._tcp.mx.dane-unsigned.test are not "
        "DNSSEC-validated (insecure: no DS at dane-unsigned.test): DANE senders ignore them."
    )
    assert not [x for x in said(report) if "do not match" in x]
    facts = next(c for c in report.checks if c.title == "STARTTLS and DANE").facts
    assert (
        "_25._tcp.mx.dane-unsigned.test TLSA (DNSSEC: insecure: no DS at dane-unsigned.test)"
        in (facts)
    )


async def test_one_mx_with_secure_tlsa_and_one_with_bogus(servers: Servers) -> None:
    """Both MX present a certificate their TLSA records match; one RRset was edited after
    signing, so its signature fails: a problem for that MX alone, though the resolver said AD."""
    report = await servers.audit("dane-half.test")
    line = one(said(report), "DANE")
    assert line == (
        "problem DANE: The TLSA records at _25._tcp.mx.dane-bogus.test fail DNSSEC validation "
        "(bogus): DANE senders treat MX mx.dane-bogus.test as unusable and defer mail to it "
        "(RFC 7672 §2.2)."
    )
    finding = next(x for x in report.findings if x.check == "DANE")
    assert finding.todo.startswith("The RRSIG over _25._tcp.mx.dane-bogus.test TLSA by key ")
    assert "does not verify" in finding.todo and "Re-sign" in finding.todo
    facts = next(c for c in report.checks if c.title == "STARTTLS and DANE").facts
    assert "_25._tcp.mx.good.test TLSA (DNSSEC: validated from the root trust anchor)" in facts
    assert "_25._tcp.mx.dane-bogus.test TLSA (DNSSEC: bogus, see the DANE finding)" in facts
    assert not [x for x in said(report) if x.split(" ", 1)[1].startswith("STARTTLS")]


async def test_a_resolver_servfail_on_bogus_tlsa_is_explained(servers: Servers) -> None:
    """A validating resolver answers SERVFAIL for bogus records; our walk says why."""
    report = await servers.audit("dane-servfail.test")
    line = one(said(report), "DANE")
    assert line.startswith(
        "problem DANE: The TLSA records at _25._tcp.mx2.dane-bogus.test fail DNSSEC validation"
    )
    assert not [x for x in said(report) if "lookup of" in x]
    facts = next(c for c in report.checks if c.title == "STARTTLS and DANE").facts
    assert any(x.endswith("DANE-EE public key SHA-256: match") for x in facts)


async def test_tlsa_validation_that_cannot_finish_leaves_the_audit_its_answer(
    servers: Servers,
) -> None:
    """Root servers that never answer: the walk stops within the audit's deadline, the TLSA
    records are reported as not validated, and STARTTLS is still judged."""
    dead = servers.tree.resolvers(24)[0]  # a server of the tree that never answers
    report = await servers.audit(
        "good.test",
        dns_root_servers=(dead,) * 8,
        command_deadline_seconds=2.5,
        dns_timeout_seconds=0.5,
    )
    line = one(said(report), "DANE")
    assert line.startswith(
        "warning DANE: The TLSA records at _25._tcp.mx.good.test could not be "
        "DNSSEC-validated from here (not validated: "
    )
    assert not [x for x in said(report) if "did not finish within 2 s" in x]
    facts = next(c for c in report.checks if c.title == "STARTTLS and DANE").facts
    assert any("STARTTLS · TLS 1." in x for x in facts)
    assert report.milliseconds < 2500


# --- the command -------------------------------------------------------------


async def test_the_command_answers_worst_first(servers: Servers) -> None:
    reply = await execute(
        COMMANDS["mail"], Invocation("sts-testing.test dkim=absent"), servers.settings()
    )
    assert not reply.is_error
    text = plain(reply)
    first = text.splitlines()[0]
    assert first.startswith("sts-testing.test: :x: ")
    order = [text.index(":x:"), text.index(":warning:"), text.index(":information_source:")]
    assert order == sorted(order)


@pytest.mark.parametrize(
    ("text", "said_"),
    [
        ("", "Usage: /mail"),
        ("good.test bad.test", "Give one domain to audit, not 2 (good.test, bad.test)."),
        ("good.test +x", "+x is not an option I know (try dkim=selector[,selector...])."),
        ("good.test dkim=", "dkim= needs a value: dkim=selector[,selector...]."),
        ("good.test dkim=a/b", "a/b is not a DKIM selector."),
        ("192.0.2.1", "Give a domain name, such as example.com."),
        (
            "exa{mple}.test",
            "exa{mple}.test is not a valid domain name: { cannot be part of a name.",
        ),
    ],
)
async def test_usage(servers: Servers, text: str, said_: str) -> None:
    reply = await execute(COMMANDS["mail"], Invocation(text), servers.settings())
    assert reply.is_error or reply.summary.startswith("Usage")
    assert (reply.summary if not text else plain(reply)).startswith(said_)


async def test_a_mail_address_audits_its_domain(servers: Servers) -> None:
    reply = await execute(COMMANDS["mail"], Invocation("someone@good.test"), servers.settings())
    assert plain(reply).startswith("good.test: :white_check_mark: no problems found")


async def test_two_mx_hosts_each_checked(servers: Servers) -> None:
    """The benchmark's domain: every check passes, each MX has its own session and TLSA."""
    report = await servers.audit("two-mx.test dkim=s2048")
    assert said(report, "problem") == [] and said(report, "warning") == []
    facts = next(c for c in report.checks if c.title == "STARTTLS and DANE").facts
    assert [x.split("  ")[0] for x in facts[:2]] == [
        "mx.good.test 127.0.0.2",
        "mx2.two-mx.test 127.0.0.2",
    ]
    assert sum(x.endswith(": match") for x in facts) == 2


async def test_resolvers_that_never_answer_are_one_sentence(servers: Servers) -> None:
    settings = servers.settings(dns_resolvers=("127.0.0.1:9",), dns_timeout_seconds=0.2)
    reply = await execute(COMMANDS["mail"], Invocation("good.test"), settings)
    assert reply.is_error
    assert plain(reply).startswith("I could not look up good.test's mail records: ")
    assert ".." not in plain(reply)


async def test_a_check_that_cannot_finish_says_so_and_the_others_answer(servers: Servers) -> None:
    """The silent MX holds STARTTLS past the audit's deadline; everything else still answers."""
    report = await servers.audit(
        "silent.test", command_deadline_seconds=1.5, smtp_timeout_seconds=5.0
    )
    assert one(said(report), "STARTTLS check did not finish within 1 s").startswith("warning")
    assert next(c for c in report.checks if c.title == "MX").facts == [
        " 10 mx.silent.test  127.0.0.6"
    ]


async def test_connect_timeouts_on_every_mx_mean_port_25_is_blocked(servers: Servers) -> None:
    with unanswered_port() as port:
        report = await servers.audit("blocked.test", smtp_port=port, smtp_timeout_seconds=0.5)
    line = one(said(report), "port 25 looks blocked")
    assert line.startswith("info STARTTLS: No MX answered on port 25 within 0.5 s")
    assert not [x for x in said(report) if "mx.blocked.test" in x]


async def test_a_refused_port_25_is_a_problem(servers: Servers) -> None:
    report = await servers.audit("good.test", smtp_port=refused_port())
    line = one(said(report), "STARTTLS", "mx.good.test")
    assert line.startswith(
        "problem STARTTLS: MX mx.good.test (127.0.0.2) refused the connection on port "
    )


async def test_mx_addresses_obey_the_address_policy(servers: Servers) -> None:
    """Private targets not allowed: no connection to a loopback MX, and the MX is a problem."""
    report = await servers.audit("good.test", allow_private_targets=False)
    assert one(said(report), "MX", "127.0.0.2, a loopback address").startswith("problem")
    line = one(said(report), "STARTTLS", "not checked")
    assert line == (
        "info STARTTLS: MX mx.good.test (127.0.0.2) not checked: 127.0.0.2 is a loopback "
        "address, which I may not contact."
    )
