"""The whole audit: every check started at once, each judged when its facts are in.

The checks share one `Lookup` (one query per question), so the SPF walk, the
MX check and DANE never ask twice. STARTTLS and DANE wait for the MX hosts;
everything else runs alongside. A TLSA RRset found (or a TLSA look-up the
resolvers failed) is validated by our own walk from the root trust anchor,
alongside the STARTTLS sessions, within what is left of the deadline. The
audit has one deadline: a check still running then is reported as unfinished
and the others answer as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chatbot.dns import trace
from chatbot.dns.query import Server
from chatbot.errors import ChatbotError, NotResolvable
from chatbot.mail import dane, dkim, dmarc, mtasts, mx, reports, smtp, spf
from chatbot.mail import findings as f
from chatbot.mail.lookup import Dnssec, Lookup, dnssec_validated

# What validating a TLSA RRset leaves of the audit's deadline, for judging and the answer.
VALIDATION_MARGIN = 0.25


def _iana_roots() -> Dnssec:
    return Dnssec(roots=tuple(Server(address) for address in trace.ROOT_SERVERS))


@dataclass(frozen=True)
class Options:
    resolvers: tuple[Server, ...]
    dns_timeout: float = 2.0
    allow_private: bool = False
    sts: mtasts.Options = field(default_factory=mtasts.Options)
    smtp: smtp.Options = field(default_factory=smtp.Options)
    smtp_checks: bool = True
    dnssec: Dnssec = field(default_factory=_iana_roots)
    deadline: float = 9.0
    # The benchmark's baseline: the same audit with one network step at a time.
    sequential: bool = False


@dataclass
class Check:
    title: str
    findings: list[f.Finding]
    facts: list[str]


@dataclass
class Report:
    domain: str
    shown: str
    checks: list[Check]
    milliseconds: float = 0.0
    queries: int = 0

    @property
    def findings(self) -> list[f.Finding]:
        return f.worst_first(x for check in self.checks for x in check.findings)


@dataclass
class Starttls:
    sessions: list[smtp.Session]
    danes: dict[str, smtp.Dane]


async def _starttls(
    lookup: Lookup,
    mx_task: asyncio.Task[mx.Found],
    options: Options,
    gate: asyncio.Lock | None,
    now: dt.datetime | None,
    started: float,
) -> Starttls:
    found = await mx_task
    hosts = [h for h in found.hosts if h.usable]

    async def tlsa(name: str) -> smtp.Dane:
        owner = f"_25._tcp.{name}"
        result = await lookup.ask(owner, "TLSA")
        record = smtp.Dane(name, records=_tlsa(result.rdatas))
        if result.status == "error":
            record.error = result.problem()
        if result.status not in ("ok", "error"):
            return record  # no TLSA records: nothing for DANE to validate
        # A validating resolver answers SERVFAIL for bogus records: validate those too.
        left = options.deadline - (time.perf_counter() - started) - VALIDATION_MARGIN
        async with gate or contextlib.nullcontext():
            checked = await dnssec_validated(owner, "TLSA", options.dnssec, left)
        lookup.validation_queries += checked.queries
        record.dnssec = checked
        if checked.status == "indeterminate":
            return record
        if checked.rdatas:
            record.records = _tlsa(checked.rdatas)  # the zone's own records, as judged
            record.error = ""
        elif checked.status != "bogus":
            # The zone's servers (validated, or provably unsigned) publish none.
            record.records, record.error = [], ""
        return record

    pairs = smtp.targets([(h.name, h.addresses) for h in hosts]) if options.smtp_checks else []
    danes, sessions = await asyncio.gather(
        asyncio.gather(*(tlsa(h.name) for h in hosts)),
        asyncio.gather(*(smtp.session(h, a, options.smtp, now, gate) for h, a in pairs)),
    )
    return Starttls(list(sessions), {d.host: d for d in danes})


def _tlsa(rdatas: tuple[Any, ...]) -> list[dane.TLSA]:
    return [dane.TLSA(r.usage, r.selector, r.mtype, r.cert) for r in rdatas]


def _unfinished(title: str, seconds: float) -> Check:
    return Check(
        title,
        [f.warning(title, f"The {title} check did not finish within {seconds:g} s.")],
        ["(did not finish)"],
    )


async def audit(
    domain: str,
    shown: str,
    selectors: tuple[str, ...],
    options: Options,
    now: dt.datetime | None = None,
) -> Report:
    started = time.perf_counter()
    gate = asyncio.Lock() if options.sequential else None
    lookup = Lookup(options.resolvers, options.dns_timeout, gate)
    mx_task = asyncio.ensure_future(mx.find(lookup, domain))
    jobs: dict[str, asyncio.Future[Any]] = {
        "mx": mx_task,
        "spf": asyncio.ensure_future(spf.walk(lookup, domain)),
        "dmarc": asyncio.ensure_future(dmarc.find(lookup, domain)),
        "dkim": asyncio.ensure_future(dkim.find_all(lookup, domain, selectors)),
        "sts": asyncio.ensure_future(mtasts.find(lookup, domain, options.sts, gate)),
        "tlsrpt": asyncio.ensure_future(reports.tlsrpt(lookup, domain)),
        "bimi": asyncio.ensure_future(reports.bimi(lookup, domain)),
        "starttls": asyncio.ensure_future(_starttls(lookup, mx_task, options, gate, now, started)),
    }
    try:
        await asyncio.wait(jobs.values(), timeout=options.deadline)
    finally:
        for job in jobs.values():
            job.cancel()
        lookup.close()
    results = {
        name: job.result() if job.done() and not job.cancelled() else None
        for name, job in jobs.items()
    }
    found_mx: mx.Found | None = results["mx"]
    if lookup.asked and not lookup.answered:
        # Not the domain's fault: say so once rather than once per check.
        reason = found_mx.error if found_mx and found_mx.error else "no resolver answered"
        raise ChatbotError(
            "I could not look up {name}'s mail records: {reason}.", name=shown, reason=reason
        )
    if found_mx is not None and found_mx.nxdomain:
        raise NotResolvable("{name} does not exist (the resolvers answer NXDOMAIN).", name=shown)
    queries = lookup.asked + lookup.validation_queries
    report = Report(domain, shown, _checks(results, options), queries=queries)
    report.milliseconds = (time.perf_counter() - started) * 1000
    return report


def _check(title: str, result: Any, seconds: float, judge: Callable[[Any], Check]) -> Check:
    return judge(result) if result is not None else _unfinished(title, seconds)


def _checks(results: dict[str, Any], options: Options) -> list[Check]:
    seconds = options.deadline
    found_mx: mx.Found | None = results["mx"]
    mx_hosts = [h.name for h in found_mx.hosts] if found_mx and not found_mx.implicit else []
    sts: mtasts.Found | None = results["sts"]
    enforce = bool(sts and sts.policy and sts.policy.mode == "enforce" and not sts.policy.errors)
    starttls: Starttls | None = results["starttls"]
    enforced = enforce or bool(starttls and any(d.required for d in starttls.danes.values()))
    null_mx = bool(found_mx and found_mx.null and not found_mx.hosts)
    checks = [
        _check(
            "MX",
            found_mx,
            seconds,
            lambda r: Check("MX", mx.findings(r, allow_private=options.allow_private), mx.facts(r)),
        ),
        _check(
            "SPF", results["spf"], seconds, lambda r: Check("SPF", spf.findings(r), spf.facts(r))
        ),
        _check(
            "DMARC",
            results["dmarc"],
            seconds,
            lambda r: Check("DMARC", dmarc.findings(r), dmarc.facts(r)),
        ),
        _check(
            "DKIM",
            results["dkim"],
            seconds,
            lambda r: Check("DKIM", dkim.findings(r), dkim.facts(r) or ["(no selector given)"]),
        ),
    ]
    if not null_mx:
        checks += [
            _check(
                "MTA-STS",
                sts,
                seconds,
                lambda r: Check("MTA-STS", mtasts.findings(r, mx_hosts), mtasts.facts(r, mx_hosts)),
            ),
            _check(
                "TLS-RPT",
                results["tlsrpt"],
                seconds,
                lambda r: Check(
                    "TLS-RPT", reports.tlsrpt_findings(r, enforced=enforced), reports.facts(r)
                ),
            ),
        ]
    checks.append(
        _check(
            "BIMI",
            results["bimi"],
            seconds,
            lambda r: Check("BIMI", reports.bimi_findings(r), reports.facts(r)),
        )
    )
    if not null_mx:
        checks.append(
            _check(
                "STARTTLS",
                starttls,
                seconds,
                lambda r: Check(
                    "STARTTLS and DANE",
                    smtp.findings(
                        r.sessions,
                        r.danes,
                        enforce=enforce,
                        enabled=options.smtp_checks,
                        timeout=options.smtp.timeout,
                    ),
                    smtp.facts(r.sessions, r.danes, enabled=options.smtp_checks)
                    or ["(no MX host to check)"],
                ),
            )
        )
    return checks
