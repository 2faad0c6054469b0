"""TLS-RPT (RFC 8460) and BIMI: two small records, read and judged."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from chatbot.mail import findings as f
from chatbot.mail import tags as tag_list
from chatbot.mail.lookup import Lookup


@dataclass
class Found:
    name: str  # where it was looked up
    records: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    error: str = ""  # the lookup failed


async def _find(lookup: Lookup, name: str, version: str) -> Found:
    found = Found(name)
    result = await lookup.ask(name, "TXT")
    if result.status == "error":
        found.error = result.problem()
        return found
    pattern = re.compile(rf"v={version}\s*(;|$)")
    found.records = [t for t in result.texts() if pattern.match(t)]
    if len(found.records) == 1:
        found.tags = tag_list.read(found.records[0])
    return found


def parse_tlsrpt(found: Found) -> Found:
    rua = found.tags.get("rua", "")
    if not rua:
        found.errors.append("it has no rua= (where reports go)")
    for uri in filter(None, (u.strip() for u in rua.split(","))):
        if not uri.lower().startswith(("mailto:", "https://")):
            found.errors.append(f"rua {uri} is neither mailto: nor https:")
    return found


async def tlsrpt(lookup: Lookup, domain: str) -> Found:
    found = await _find(lookup, f"_smtp._tls.{domain}", "TLSRPTv1")
    return parse_tlsrpt(found) if found.tags else found


async def bimi(lookup: Lookup, domain: str) -> Found:
    return await _find(lookup, f"default._bimi.{domain}", "BIMI1")


def tlsrpt_findings(found: Found, *, enforced: bool) -> list[f.Finding]:
    check = "TLS-RPT"
    if found.error:
        return [f.warning(check, f"The TLS-RPT check could not finish: {found.error}.")]
    if not found.records:
        todo = f"Publish `v=TLSRPTv1; rua=mailto:...` at {found.name}."
        what = "No TLS-RPT record: you hear of no failed TLS deliveries to you."
        # With MTA-STS or DANE in force, failures bounce mail: not hearing of them hurts.
        return [f.warning(check, what, todo) if enforced else f.info(check, what, todo)]
    if len(found.records) > 1:
        return [
            f.problem(
                check,
                f"{found.name} has {len(found.records)} TLS-RPT records.",
                "Keep exactly one.",
            )
        ]
    return [
        f.problem(check, f"The TLS-RPT record is invalid: {error}.", "Correct the record.")
        for error in found.errors
    ]


def bimi_findings(found: Found) -> list[f.Finding]:
    if found.error:
        return [f.info("BIMI", f"The BIMI record could not be looked up: {found.error}.")]
    return []


def facts(found: Found) -> list[str]:
    if found.error:
        return [f"{found.name}  lookup failed: {found.error}"]
    if not found.records:
        return [f"{found.name}  (no record)"]
    return [f"{found.name}  {text}" for text in found.records]
