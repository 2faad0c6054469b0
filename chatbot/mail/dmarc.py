"""DMARC (RFC 7489): the policy record, found at the domain or its organisational domain.

`parse`, `findings` are pure; `find` asks through the audit's `Lookup`. Not
checkdmarc, for the reasons in `spf`'s docstring; the tag list is small.

The organisational domain comes from the Public Suffix List (publicsuffixlist,
the list it ships). Building it parses the whole list, about 190 ms of CPU, so
it is built once, in a thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from chatbot.mail import findings as f
from chatbot.mail.lookup import Lookup

if TYPE_CHECKING:
    from publicsuffixlist import PublicSuffixList

CHECK = "DMARC"
POLICIES = ("none", "quarantine", "reject")
_TAG = re.compile(r"\s*([A-Za-z][A-Za-z0-9_]*)\s*=\s*(.*?)\s*")


@lru_cache(maxsize=1)
def _suffixes() -> PublicSuffixList:
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


async def organisational_domain(name: str) -> str:
    """The registrable domain of `name` (RFC 7489 §3.2), the PSL built off the loop once."""
    suffixes = await asyncio.to_thread(_suffixes)
    return str(suffixes.privatesuffix(name.lower().rstrip(".")) or name.lower().rstrip("."))


def is_dmarc(text: str) -> bool:
    return re.match(r"v\s*=\s*DMARC1\s*(;|$)", text, re.I) is not None


@dataclass
class Record:
    text: str
    tags: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def policy(self) -> str:
        return self.tags.get("p", "").lower()

    @property
    def subdomain_policy(self) -> str:
        return self.tags.get("sp", "").lower() or self.policy

    @property
    def pct(self) -> int:
        value = self.tags.get("pct", "100")
        return int(value) if value.isdigit() else 100

    def destinations(self, tag: str) -> list[str]:
        """Addresses of a rua/ruf list: `mailto:a@b.example!10m` -> `a@b.example`."""
        out = []
        for uri in self.tags.get(tag, "").split(","):
            uri = uri.strip()
            if uri.lower().startswith("mailto:"):
                out.append(uri[7:].split("!", 1)[0])
        return out


def parse(text: str) -> Record:
    record = Record(text)
    parts = [p for p in text.split(";") if p.strip()]
    for index, part in enumerate(parts):
        match = _TAG.fullmatch(part)
        if match is None:
            record.errors.append(f"`{part.strip()}` is not a tag=value pair")
            continue
        name, value = match.group(1).lower(), match.group(2)
        if index == 0 and (name != "v" or value != "DMARC1"):
            record.errors.append("it must start with v=DMARC1")
        if name in record.tags:
            record.errors.append(f"{name}= appears twice")
        record.tags.setdefault(name, value)
    if "p" not in record.tags:
        record.errors.append("the required p= tag is missing")
    for tag in ("p", "sp"):
        if tag in record.tags and record.tags[tag].lower() not in POLICIES:
            record.errors.append(f"{tag}={record.tags[tag]} is not none, quarantine or reject")
    if "pct" in record.tags:
        value = record.tags["pct"]
        if not value.isdigit() or int(value) > 100:
            record.errors.append(f"pct={value} is not a number from 0 to 100")
    for tag in ("adkim", "aspf"):
        if tag in record.tags and record.tags[tag].lower() not in ("r", "s"):
            record.errors.append(f"{tag}={record.tags[tag]} is not r or s")
    for tag in ("rua", "ruf"):
        for uri in filter(None, (u.strip() for u in record.tags.get(tag, "").split(","))):
            scheme = uri.split(":", 1)[0].lower()
            if scheme == "mailto" and "@" not in uri:
                record.errors.append(f"{tag}: {uri} has no address")
            elif scheme not in ("mailto", "https", "http"):
                record.errors.append(f"{tag}: {uri} is not a mailto: URI")
    return record


@dataclass
class Authorisation:
    """Whether another domain agreed to receive reports (RFC 7489 §7.1)."""

    tag: str
    address: str
    domain: str
    asked: str  # DOMAIN._report._dmarc.OTHER
    authorised: bool | None  # None: the lookup failed


@dataclass
class Found:
    domain: str  # the domain audited
    at: str = ""  # where the record was found (the domain or its organisational domain)
    organisational: str = ""
    records: list[str] = field(default_factory=list)
    record: Record | None = None
    error: str = ""
    authorisations: list[Authorisation] = field(default_factory=list)

    @property
    def fallback(self) -> bool:
        return bool(self.at) and self.at != self.domain


async def find(lookup: Lookup, domain: str) -> Found:
    found = Found(domain)
    organisational, result = await asyncio.gather(
        organisational_domain(domain), lookup.ask(f"_dmarc.{domain}", "TXT")
    )
    found.organisational = organisational
    texts = [t for t in result.texts() if is_dmarc(t)]
    at = domain
    if result.status == "error":
        found.error = result.problem()
        return found
    if not texts and organisational != domain.lower():
        at = organisational
        result = await lookup.ask(f"_dmarc.{organisational}", "TXT")
        if result.status == "error":
            found.error = result.problem()
            return found
        texts = [t for t in result.texts() if is_dmarc(t)]
    if not texts:
        return found
    found.at, found.records = at, texts
    if len(texts) > 1:
        return found
    found.record = record = parse(texts[0])

    async def authorised(tag: str, address: str) -> Authorisation | None:
        other = address.rsplit("@", 1)[-1].lower().rstrip(".")
        if not other or await organisational_domain(other) == organisational:
            return None
        asked = f"{at}._report._dmarc.{other}"
        answer = await lookup.ask(asked, "TXT")
        if answer.status == "error":
            return Authorisation(tag, address, other, asked, None)
        return Authorisation(tag, address, other, asked, any(is_dmarc(t) for t in answer.texts()))

    checks = [(tag, a) for tag in ("rua", "ruf") for a in record.destinations(tag)]
    results = await asyncio.gather(*(authorised(tag, a) for tag, a in checks))
    found.authorisations = [a for a in results if a is not None]
    return found


def findings(found: Found) -> list[f.Finding]:
    domain = found.domain
    if found.error:
        return [f.warning(CHECK, f"The DMARC check could not finish: {found.error}.")]
    if not found.records:
        where = f"_dmarc.{domain}"
        if found.organisational != domain:
            where += f" or _dmarc.{found.organisational}"
        return [
            f.problem(
                CHECK,
                f"No DMARC record at {where}: spoofed mail is delivered and you get no reports.",
                f"Publish `v=DMARC1; p=none; rua=mailto:dmarc@{found.organisational}`, "
                "read the reports, then move to p=quarantine and p=reject.",
            )
        ]
    if len(found.records) > 1:
        return [
            f.problem(
                CHECK,
                f"_dmarc.{found.at} has {len(found.records)} DMARC records: receivers apply none.",
                "Keep exactly one.",
            )
        ]
    record = found.record
    assert record is not None
    out: list[f.Finding] = []
    if found.fallback:
        out.append(
            f.info(
                CHECK,
                f"No record at _dmarc.{domain}: the one of the organisational domain "
                f"{found.at} applies (its sp= for subdomains).",
            )
        )
    for error in record.errors:
        out.append(
            f.problem(
                CHECK,
                f"The DMARC record is invalid: {error}.",
                "Correct it; receivers may ignore the whole record.",
            )
        )
    policy = record.subdomain_policy if found.fallback else record.policy
    if policy == "none":
        out.append(
            f.warning(
                CHECK,
                f"p=none is monitoring only: spoofed mail claiming to be from {domain} is still "
                "delivered.",
                "Once the reports show your own mail passing, move to p=quarantine, then p=reject.",
            )
        )
    elif not found.fallback and record.policy != "none" and record.tags.get("sp") == "none":
        out.append(
            f.warning(
                CHECK,
                "sp=none: subdomains are not protected, spoofed mail from them is delivered.",
                "Remove sp= or set it to quarantine or reject.",
            )
        )
    if record.pct < 100 and policy != "none":
        out.append(
            f.warning(
                CHECK,
                f"pct={record.pct}: the policy applies to only {record.pct}% of failing mail.",
                "Raise pct to 100 (or remove it).",
            )
        )
    if not record.destinations("rua"):
        out.append(
            f.info(
                CHECK,
                "No rua=: you get no aggregate reports of who sends mail as you.",
                "Add `rua=mailto:...` with an address that collects them.",
            )
        )
    for auth in found.authorisations:
        if auth.authorised is False:
            out.append(
                f.warning(
                    CHECK,
                    f"{auth.tag} sends reports to {auth.address}, but {auth.domain} has not "
                    f"agreed to receive them ({auth.asked} has no v=DMARC1 record): they are "
                    "not sent.",
                    f"Ask {auth.domain} to publish `v=DMARC1` at {auth.asked}.",
                )
            )
        elif auth.authorised is None:
            out.append(
                f.warning(CHECK, f"Could not check that {auth.domain} accepts {auth.tag} reports.")
            )
    return out


def facts(found: Found) -> list[str]:
    if found.error:
        return [f"lookup failed: {found.error}"]
    if not found.records:
        return [f"_dmarc.{found.domain}  (no record)"]
    lines = [f"_dmarc.{found.at}  {text}" for text in found.records]
    record = found.record
    if record is not None and not record.errors:
        tags = record.tags
        lines.append(
            f"p={record.policy} sp={tags.get('sp', '(as p)')} pct={record.pct} "
            f"adkim={tags.get('adkim', 'r')} aspf={tags.get('aspf', 'r')}"
        )
    for auth in found.authorisations:
        state = {True: "authorised", False: "NOT authorised", None: "unknown"}[auth.authorised]
        lines.append(f"{auth.tag} {auth.address}: {state} ({auth.asked})")
    return lines
