"""The /whois command: one target in, RDAP first, port-43 WHOIS where RDAP has no
service or fails, one `Reply` out.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import threading
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING

import idna

from chatbot import arguments, policy, targets
from chatbot.arguments import clip
from chatbot.commands import WHOIS_OPTIONS
from chatbot.errors import ChatbotError, ProtocolError, Timeout, UsageError
from chatbot.registration import rdap, whois
from chatbot.registration.records import Record, Target
from chatbot.registration.render import render
from chatbot.reply import Reply

if TYPE_CHECKING:
    from publicsuffixlist import PublicSuffixList

    from chatbot.settings import Settings

log = logging.getLogger(__name__)

# --- input ------------------------------------------------------------------

_ASN = re.compile(r"(?i)(?:as)?([0-9]+)", re.ASCII)
MAX_ASN = 2**32 - 1


@lru_cache(maxsize=1)
def _suffixes() -> PublicSuffixList:
    from publicsuffixlist import PublicSuffixList

    # ICANN section only: registries know github.io, not user.github.io.
    return PublicSuffixList(only_icann=True)


def _domain(host: targets.Host, word: str, raw: bool) -> Target:
    # Host labels such as _dmarc are fine: only the registrable part must be a name.
    ascii_name = host.name.lower()
    if "." not in ascii_name:
        raise UsageError("{word} is not a domain name, address or AS number.", word=clip(word))
    registrable = _suffixes().privatesuffix(ascii_name)
    if registrable is None:
        raise UsageError(
            "{ascii_name} is a public suffix; give a domain registered under it.",
            ascii_name=clip(ascii_name),
        )
    try:
        idna.encode(registrable)  # IDNA 2008: also rejects "exa_mple.com" and friends
    except (idna.IDNAError, UnicodeError) as exc:
        raise UsageError(
            "{word} is not a domain name, address or AS number.", word=clip(word)
        ) from exc
    unicode_name = idna.decode(registrable)
    shown = registrable if unicode_name == registrable else f"{unicode_name} ({registrable})"
    return Target("domain", registrable, shown, raw)


def parse(text: str) -> Target:
    """One target (domain, host, mail address, URL, address, CIDR or AS number) and `+raw`."""
    parsed = arguments.read(text, WHOIS_OPTIONS)
    raw = parsed.flag("+raw")
    word = arguments.one(parsed.words, "domain, address or AS number")
    asn = _ASN.fullmatch(word)
    if asn:
        number = targets.number(asn.group(1), MAX_ASN)
        if number is None:
            raise UsageError(
                "{word} is not an AS number (they end at 4294967295).", word=clip(word)
            )
        return Target("asn", str(number), f"AS{number}", raw)
    base_text, slash, length_text = word.partition("/")
    base = targets.address(base_text) if slash and "://" not in word else None
    if base is not None:
        length = targets.number(length_text, base.max_prefixlen)
        if length is None:
            raise UsageError("{word} is not an address block.", word=clip(word))
        network = ipaddress.ip_network(f"{base}/{length}", strict=False)
        return Target("ip", str(network), str(network), raw)
    host = targets.parse(word).host
    if host.address is not None:
        return Target("ip", str(host.address), str(host.address), raw)
    return _domain(host, word, raw)


# --- asking ------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    rdap: rdap.Options
    whois: whois.Options
    deadline: float = 9.5  # both protocols together, inside the command's deadline

    @classmethod
    def from_settings(cls, settings: Settings) -> Options:
        resolver = policy.Resolver.from_specs(
            settings.target_resolvers, settings.dns_timeout_seconds
        )
        return cls(
            rdap=rdap.Options(
                bootstrap_url=settings.rdap_bootstrap_url,
                timeout=settings.rdap_timeout_seconds,
                allow_private=settings.allow_private_targets,
                resolver=resolver,
                max_per_server=settings.max_per_server,
            ),
            whois=whois.Options(
                server=settings.whois_server,
                port=settings.whois_port,
                timeout=settings.whois_timeout_seconds,
                deadline=settings.whois_deadline_seconds,
                allow_private=settings.allow_private_targets,
                resolver=resolver,
                max_per_server=settings.max_per_server,
            ),
            # Leave the command room to render an answer before its own deadline.
            deadline=max(settings.command_deadline_seconds - 0.5, 0.5),
        )


async def lookup(target: Target, options: Options) -> Record:
    """RDAP where the bootstrap names a service; port-43 WHOIS where it does not or fails."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    # RDAP may use most of the time, but WHOIS must keep a chance to answer.
    rdap_budget = options.deadline * 0.6
    rdap_error: ChatbotError | None = None
    try:
        async with asyncio.timeout(rdap_budget):
            # The registrar step gives up a moment early so the registry's answer is kept.
            return await rdap.lookup(target, options.rdap, deadline=started + rdap_budget * 0.95)
    except rdap.NoService:
        pass
    except ChatbotError as exc:
        rdap_error = exc
    except TimeoutError:
        rdap_error = Timeout(server="RDAP", seconds=rdap_budget)
    except Exception:
        # rdap makes every answer's failure a ChatbotError; this is the last line
        # that keeps one hostile registry from costing the user the WHOIS answer.
        log.exception("RDAP lookup of %s failed unexpectedly", target.query)
        rdap_error = ProtocolError(server="RDAP", reason="an error of ours")
    left = options.deadline - (loop.time() - started)
    whois_options = replace(options.whois, deadline=max(min(options.whois.deadline, left), 0.1))
    try:
        record = await whois.lookup(target, whois_options)
    except ChatbotError as exc:
        if rdap_error is None:
            raise
        raise type(exc)(
            "RDAP: {first} Port-43 WHOIS: {second}", first=rdap_error.message, second=exc.message
        ) from exc
    if rdap_error is not None:
        record.notes.insert(0, f"RDAP failed, answered by port-43 WHOIS: {rdap_error.message}")
    return record


_building = threading.Lock()


def _build_suffixes() -> None:
    with _building:  # two first requests at once build it once
        _suffixes()


async def suffixes_ready() -> None:
    """Build the Public Suffix List in a thread the first time: reading its ~10,000
    rules takes tens of milliseconds (190 ms measured on a busy machine), which the
    event loop must not spend while other users wait."""
    if _suffixes.cache_info().currsize == 0:
        await asyncio.to_thread(_build_suffixes)


async def run(arguments: str, options: Options) -> Reply:
    await suffixes_ready()
    target = parse(arguments)
    record = await lookup(target, options)
    return render(target, record)
