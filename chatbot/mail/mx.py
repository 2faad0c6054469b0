"""MX: where the domain's mail goes, each host's addresses, and what is wrong with them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from chatbot import policy
from chatbot.mail import findings as f
from chatbot.mail.lookup import Lookup, Result

CHECK = "MX"


@dataclass
class Host:
    preference: int
    name: str
    addresses: list[str] = field(default_factory=list)
    cname: str | None = None  # the name is an alias for this one
    literal: bool = False  # the exchange is an IP address written as a name
    error: str = ""

    @property
    def usable(self) -> bool:
        return bool(self.addresses) and not self.literal


@dataclass
class Found:
    domain: str
    hosts: list[Host] = field(default_factory=list)
    null: bool = False  # "0 ." (RFC 7505): no mail accepted
    implicit: bool = False  # no MX: the domain's own A/AAAA receive mail
    nxdomain: bool = False
    error: str = ""


def _merge(host: Host, results: list[Result]) -> Host:
    for result in results:
        host.addresses += [r.to_text() for r in result.rdatas]
        if result.cname:
            host.cname = result.cname
        if result.status == "error":
            host.error = result.problem()
    return host


async def _resolve(lookup: Lookup, host: Host) -> Host:
    if policy.parse_ip(host.name) is not None:
        host.literal = True
        return host
    results = await asyncio.gather(lookup.ask(host.name, "A"), lookup.ask(host.name, "AAAA"))
    return _merge(host, list(results))


async def find(lookup: Lookup, domain: str) -> Found:
    found = Found(domain)
    result = await lookup.ask(domain, "MX")
    if result.status == "error":
        found.error = result.problem()
        return found
    if result.status == "nxdomain":
        found.nxdomain = True
        return found
    records = sorted(
        (int(r.preference), r.exchange.to_text(omit_final_dot=True))  # type: ignore[attr-defined]
        for r in result.rdatas
    )
    if any(name in ("", ".") for _, name in records):
        found.null = True
        if len(records) == 1:
            return found
        records = [(p, n) for p, n in records if n not in ("", ".")]
    if not records:
        found.implicit = True
        own = await _resolve(lookup, Host(0, domain))
        if own.addresses:
            found.hosts = [own]
        found.error = own.error
        return found
    found.hosts = list(await asyncio.gather(*(_resolve(lookup, Host(p, n)) for p, n in records)))
    return found


def findings(found: Found, *, allow_private: bool) -> list[f.Finding]:
    domain = found.domain
    if found.error and not found.hosts:
        return [f.warning(CHECK, f"The MX check could not finish: {found.error}.")]
    if found.null and not found.hosts:
        return [f.info(CHECK, f"{domain} accepts no mail: it publishes a null MX (RFC 7505).")]
    if found.null:
        return [
            f.problem(
                CHECK,
                "A null MX (`0 .`) sits beside other MX records: senders may bounce all mail.",
                "Remove the null MX if the domain takes mail, else the other MX records.",
            )
        ]
    if found.implicit:
        if not found.hosts:
            return [
                f.problem(
                    CHECK,
                    f"{domain} has no MX record and no address: it cannot receive mail.",
                    "Publish MX records, or a null MX (`0 .`) to say it takes no mail.",
                )
            ]
        return [
            f.warning(
                CHECK,
                f"{domain} has no MX record: senders deliver to its own address (A/AAAA), "
                "which is rarely meant.",
                "Publish MX records, or a null MX (`0 .`) if it takes no mail.",
            )
        ]
    out: list[f.Finding] = []
    for host in found.hosts:
        if host.literal:
            out.append(
                f.problem(
                    CHECK,
                    f"MX {host.name} is an IP address, not a host name: senders look it up as "
                    "a name and fail.",
                    "Give the server a name with an A/AAAA record and point the MX at it.",
                )
            )
        elif host.cname:
            out.append(
                f.problem(
                    CHECK,
                    f"MX {host.name} is an alias (CNAME to {host.cname}); RFC 5321 §5.1 wants "
                    "the host's own name, and some senders refuse it.",
                    f"Point the MX at {host.cname} directly.",
                )
            )
        if host.error and not host.addresses:
            out.append(f.warning(CHECK, f"MX {host.name} could not be resolved: {host.error}."))
        elif not host.addresses and not host.literal:
            out.append(
                f.problem(
                    CHECK,
                    f"MX {host.name} does not resolve: mail for it cannot be delivered.",
                    "Add its A/AAAA records or remove the MX.",
                )
            )
        if not allow_private:
            for address in host.addresses:
                ip = policy.parse_ip(address)
                kind = policy.forbidden_kind(ip) if ip else None
                if kind:
                    out.append(
                        f.problem(
                            CHECK,
                            f"MX {host.name} resolves to {address}, a {kind} address "
                            "senders on the internet cannot reach.",
                            "Publish its public address.",
                        )
                    )
    return out


def facts(found: Found) -> list[str]:
    if found.null and not found.hosts:
        return ["0 .  (null MX: no mail accepted)"]
    if found.error and not found.hosts:
        return [f"lookup failed: {found.error}"]
    lines = []
    if found.implicit:
        lines.append("(no MX record: the domain's own address is used)")
    for host in found.hosts:
        if host.literal:
            where = "(an IP address, not a name)"
        elif host.addresses:
            where = ", ".join(host.addresses)
        else:
            where = "(does not resolve)"
        alias = f" (CNAME to {host.cname})" if host.cname else ""
        lines.append(f"{host.preference:>3} {host.name}{alias}  {where}")
    return lines
