"""MTA-STS (RFC 8461): the `_mta-sts` record, the policy fetched over verified HTTPS.

The policy comes from `https://mta-sts.DOMAIN/.well-known/mta-sts.txt` through
the address policy's guarded client: https only, the certificate verified
against the same trust store as /tls (`CHATBOT_TLS_CA_FILE` when set),
redirects refused (RFC 8461 §3.3), the body capped, one timeout for it all.
`parse_policy`, `covers` and `findings` are pure.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from dataclasses import dataclass, field

import httpx

from chatbot import policy
from chatbot.errors import ChatbotError
from chatbot.mail import findings as f
from chatbot.mail import tags as tag_list
from chatbot.mail.lookup import Lookup

CHECK = "MTA-STS"
MAX_POLICY_BYTES = 64 * 1024  # a policy is a few lines
MAX_AGE_LIMIT = 31_557_600  # one year, RFC 8461 §3.2
SHORT_AGE = 86_400
_ID = re.compile(r"[A-Za-z0-9]{1,32}")


@dataclass(frozen=True)
class Options:
    timeout: float = 4.0
    allow_private: bool = False
    resolver: policy.Resolver = policy.SYSTEM
    ca_file: str | None = None  # None: certifi's Mozilla bundle, as /tls
    port: int = 443  # tests serve the policy on a local port

    @property
    def trust_store(self) -> str:
        return policy.ca_bundle(self.ca_file)


@dataclass
class Policy:
    text: str
    fields: dict[str, str] = field(default_factory=dict)
    mx: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def mode(self) -> str:
        return self.fields.get("mode", "")

    @property
    def max_age(self) -> int | None:
        value = self.fields.get("max_age", "")
        return int(value) if value.isdigit() else None


@dataclass
class Found:
    domain: str
    records: list[str] = field(default_factory=list)
    record_id: str = ""
    record_error: str = ""
    url: str = ""
    policy: Policy | None = None
    fetch_error: str = ""
    content_type: str = ""
    error: str = ""  # the TXT lookup failed


def is_sts(text: str) -> bool:
    return re.match(r"v=STSv1\s*(;|$)", text) is not None


def parse_record(text: str) -> tuple[str, str]:
    """The record's id, and the error in it ('' when none)."""
    tags = tag_list.read(text, fold_names=False)
    record_id = tags.get("id", "")
    if not record_id:
        return "", "it has no id="
    if not _ID.fullmatch(record_id):
        return record_id, f"id={record_id} is not 1 to 32 letters and digits"
    return record_id, ""


def parse_policy(text: str) -> Policy:
    found = Policy(text)
    for line in text.splitlines():
        if not line.strip():
            continue
        key, colon, value = line.partition(":")
        if not colon:
            found.errors.append(f"`{line.strip()[:40]}` is not key: value")
            continue
        key, value = key.strip(), value.strip()
        if key == "mx":
            found.mx.append(value.lower().rstrip("."))
        else:
            found.fields.setdefault(key, value)
    if found.fields.get("version") != "STSv1":
        found.errors.append("version: STSv1 is missing")
    if found.mode not in ("enforce", "testing", "none"):
        found.errors.append(f"mode: {found.mode or '(missing)'} is not enforce, testing or none")
    age = found.max_age
    if age is None or age > MAX_AGE_LIMIT:
        found.errors.append("max_age is missing or not 0 to 31557600 seconds")
    if not found.mx and found.mode != "none":
        found.errors.append("it lists no mx: patterns")
    return found


def covers(pattern: str, host: str) -> bool:
    """RFC 8461 §4.1: exact, or `*.example.com` for exactly one more label."""
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return host == pattern


def _cause(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
        if isinstance(exc, ssl.SSLCertVerificationError):
            break
    return exc


async def fetch(found: Found, options: Options, gate: asyncio.Lock | None = None) -> None:
    host = f"mta-sts.{found.domain}"
    port = "" if options.port == 443 else f":{options.port}"
    found.url = url = f"https://{host}{port}/.well-known/mta-sts.txt"
    try:
        # Loading a CA bundle is file I/O and milliseconds of parsing: a thread does it,
        # once per file version (policy caches it), before the client needs it.
        await asyncio.to_thread(policy.trust_store, options.ca_file)
    except (OSError, ssl.SSLError):
        found.fetch_error = f"the trust store {options.trust_store} cannot be read"
        return
    body = b""
    try:
        async with (
            gate or contextlib.nullcontext(),
            asyncio.timeout(options.timeout),
            policy.guarded_client(
                allow_private=options.allow_private,
                timeout=options.timeout,
                resolver=options.resolver,
                ca_file=options.ca_file,
            ) as client,
            client.stream("GET", url, follow_redirects=False) as response,
        ):
            if response.is_redirect:
                where = response.headers.get("location", "elsewhere")
                found.fetch_error = (
                    f"{url} redirects to {where}, and RFC 8461 §3.3 forbids following it"
                )
                return
            if response.status_code != 200:
                found.fetch_error = f"{url} answered HTTP {response.status_code}"
                return
            found.content_type = response.headers.get("content-type", "")
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_POLICY_BYTES:
                    found.fetch_error = f"{url} sent more than {MAX_POLICY_BYTES // 1024} KB"
                    return
    except ChatbotError as exc:
        found.fetch_error = exc.message.rstrip(".")
        return
    except TimeoutError:
        found.fetch_error = f"{url} did not answer within {options.timeout:g} s"
        return
    except httpx.HTTPError as exc:
        cause = _cause(exc)
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = cause.verify_message or "verification failed"
            found.fetch_error = f"the certificate of {host} is not valid ({reason})"
        elif isinstance(exc, httpx.TimeoutException):
            found.fetch_error = f"{url} did not answer within {options.timeout:g} s"
        else:
            found.fetch_error = f"{url} could not be fetched ({cause or type(exc).__name__})"
        return
    found.policy = parse_policy(body.decode("utf-8", "replace"))


async def find(
    lookup: Lookup, domain: str, options: Options, gate: asyncio.Lock | None = None
) -> Found:
    found = Found(domain)
    result = await lookup.ask(f"_mta-sts.{domain}", "TXT")
    if result.status == "error":
        found.error = result.problem()
        return found
    found.records = [t for t in result.texts() if is_sts(t)]
    if len(found.records) != 1:
        return found
    found.record_id, found.record_error = parse_record(found.records[0])
    await fetch(found, options, gate)
    return found


def uncovered(found: Found, hosts: list[str]) -> list[str]:
    if found.policy is None:
        return []
    return [h for h in hosts if not any(covers(p, h) for p in found.policy.mx)]


def findings(found: Found, mx_hosts: list[str]) -> list[f.Finding]:
    domain = found.domain
    if found.error:
        return [f.warning(CHECK, f"The MTA-STS check could not finish: {found.error}.")]
    if not found.records:
        return [
            f.info(
                CHECK,
                "No MTA-STS: senders fall back to unverified TLS, which an attacker can strip.",
                f"Publish a policy at https://mta-sts.{domain}/.well-known/mta-sts.txt and "
                f"`v=STSv1; id=...` at _mta-sts.{domain}.",
            )
        ]
    if len(found.records) > 1:
        return [
            f.problem(
                CHECK,
                f"_mta-sts.{domain} has {len(found.records)} STSv1 records: senders ignore "
                "MTA-STS.",
                "Keep exactly one.",
            )
        ]
    out: list[f.Finding] = []
    if found.record_error:
        out.append(
            f.problem(
                CHECK,
                f"The _mta-sts record is invalid: {found.record_error}.",
                "Give it an id= of 1 to 32 letters and digits, changed with each policy.",
            )
        )
    if found.fetch_error or found.policy is None:
        out.append(
            f.problem(
                CHECK,
                f"The MTA-STS policy cannot be fetched: {found.fetch_error}. Senders ignore "
                "MTA-STS (or keep an old policy).",
                f"Serve it at https://mta-sts.{domain}/.well-known/mta-sts.txt with a valid "
                "certificate, status 200 and no redirect.",
            )
        )
        return out
    pol = found.policy
    for error in pol.errors:
        out.append(
            f.problem(CHECK, f"The MTA-STS policy is invalid: {error}.", "Correct the policy.")
        )
    if found.content_type and not found.content_type.lower().startswith("text/plain"):
        out.append(
            f.warning(
                CHECK,
                f"The policy is served as {found.content_type}; RFC 8461 wants text/plain.",
                "Serve it as text/plain.",
            )
        )
    if pol.mode == "testing":
        out.append(
            f.warning(
                CHECK,
                "MTA-STS mode is testing: failures are only reported, mail is still delivered "
                "over unverified TLS.",
                "Switch to mode: enforce once the TLS reports are clean.",
            )
        )
    elif pol.mode == "none":
        out.append(f.info(CHECK, "MTA-STS mode is none: the policy is being withdrawn."))
    age = pol.max_age
    if age is not None and age < SHORT_AGE and pol.mode != "none":
        out.append(
            f.warning(
                CHECK,
                f"max_age is {age} s: senders forget the policy within a day.",
                "Use weeks (e.g. 604800 or more).",
            )
        )
    for host in uncovered(found, mx_hosts):
        if pol.mode == "enforce":
            out.append(
                f.problem(
                    CHECK,
                    f"MX {host} is not covered by the policy's mx patterns: senders that "
                    "enforce MTA-STS refuse to deliver to it.",
                    f"Add `mx: {host}` to the policy (and change the record's id).",
                )
            )
        elif pol.mode == "testing":
            out.append(
                f.warning(
                    CHECK,
                    f"MX {host} is not covered by the policy's mx patterns: with mode enforce, "
                    "mail to it would fail.",
                    f"Add `mx: {host}` to the policy (and change the record's id).",
                )
            )
    return out


def facts(found: Found, mx_hosts: list[str]) -> list[str]:
    if found.error:
        return [f"lookup failed: {found.error}"]
    if not found.records:
        return [f"_mta-sts.{found.domain}  (no record)"]
    lines = [f"_mta-sts.{found.domain}  {text}" for text in found.records]
    if found.url:
        lines.append(f"policy  {found.url}")
    if found.fetch_error:
        lines.append(f"  not fetched: {found.fetch_error}")
    if found.policy:
        pol = found.policy
        lines.append(f"  mode {pol.mode or '?'} · max_age {pol.fields.get('max_age', '?')}")
        lines += [f"  mx: {pattern}" for pattern in pol.mx]
        missing = set(uncovered(found, mx_hosts))
        for host in mx_hosts:
            lines.append(f"  {host}  {'NOT covered' if host in missing else 'covered'}")
    return lines
