"""Check hosts: the host names, URLs, IP addresses and mail domains in a message, in brief.

`find` reads them out of a message's text (pure, no lookups), at most three;
`check` answers a short text part per host: for a URL or host name its
addresses (A and AAAA, as /dig asks the configured resolvers) and the /tls
verdict in one line; for an IP address its name (PTR); for a mail domain its
MX. Each `Found` also names the command that gives the full answer, which the
Slack edge turns into a button. Nothing here knows of Slack.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from chatbot import targets
from chatbot.errors import ChatbotError, UsageError
from chatbot.reply import Reply, text
from chatbot.settings import Settings

if TYPE_CHECKING:
    from chatbot.dns.query import Options as DigOptions
    from chatbot.tls.check import Options as TLSOptions

log = logging.getLogger(__name__)

MAX_HOSTS = 3
# Addresses shown per host before "and N more".
MAX_ADDRESSES = 4
# Longer than any URL worth checking: refused before it is parsed.
MAX_WORD = 2000
NOTHING_FOUND = (
    "I found no host names, URLs, IP addresses or mail addresses in that message to check."
)

Kind = Literal["url", "host", "address", "mail"]

# Punctuation around a word that is not part of it: "(see https://x.example/)."
# Brackets are left to `_trim`: [2001:db8::1]:8443 keeps its own.
_LEADING = "({<\"'*_~`"
_TRAILING = ")}>\"',.;:!?*_~`"


@dataclass(frozen=True)
class Found:
    """A host named in the text, what kind of word named it, and where its full answer is."""

    kind: Kind
    target: targets.Target

    @property
    def shown(self) -> str:
        return _with_port(self.target.host.shown, self.target.port)

    @property
    def command(self) -> str:
        return "tls" if self.kind in ("url", "host") else "dig"

    @property
    def text(self) -> str:
        """The text of the command that gives the full answer."""
        host = self.target.host
        if self.kind == "address":
            return f"-x {host.name}"
        if self.kind == "mail":
            return f"{host.name} MX"
        # http://host:8080 serves no TLS on 8080: its host's is checked on 443.
        return _with_port(host.name, None if self.target.scheme == "http" else self.target.port)

    @property
    def line(self) -> str:
        return f"/{self.command} {self.text}"


def _with_port(name: str, port: int | None) -> str:
    if port is None:
        return name
    return f"[{name}]:{port}" if ":" in name else f"{name}:{port}"


def _domain_like(name: str) -> bool:
    """A name with a dot and a top-level domain of letters: not "e.g", "v1.2" or "README"."""
    labels = name.split(".")
    top = labels[-1].lower()
    return len(labels) > 1 and (top.startswith("xn--") or (len(top) > 1 and top.isalpha()))


def _kind(target: targets.Target) -> Kind | None:
    address = target.host.address is not None
    if not address and not _domain_like(target.host.name):
        return None  # "intranet", "localhost", "e.g": nothing a public resolver answers for
    if target.scheme:
        return "url" if target.scheme in ("http", "https") else None
    if target.mail:
        return None if address else "mail"
    return "address" if address else "host"


def _trim(word: str) -> str:
    """A word without the punctuation around it, brackets unless they hold an IP address."""
    while True:
        before = word
        word = word.lstrip(_LEADING).rstrip(_TRAILING)
        if word.startswith("[") and (
            "]" not in word or (word.endswith("]") and targets.address(word) is None)
        ):
            word = word[1:]
        if word.endswith("]") and "[" not in word:
            word = word[:-1]
        if word == before:
            return word


def find(message: str, limit: int = MAX_HOSTS) -> list[Found]:
    """The first `limit` distinct hosts named in `message` (Slack's link markup undone already)."""
    found: list[Found] = []
    seen: set[tuple[str, str, int | None]] = set()
    for raw in message.split():
        word = _trim(raw)
        if not word or len(word) > MAX_WORD or not any(c in word for c in ".:@"):
            continue
        try:
            target = targets.parse(word)
        except UsageError:
            continue
        kind = _kind(target)
        if kind is None:
            continue
        item = Found(kind, target)
        key = (item.command, target.host.name.lower(), target.port)
        if key in seen:
            continue
        seen.add(key)
        found.append(item)
        if len(found) == limit:
            break
    return found


async def _imported(name: str) -> None:
    # As commands.py does: dnspython and cryptography are imported off the event loop.
    if name not in sys.modules:
        await asyncio.to_thread(importlib.import_module, name)


def _listed(items: Sequence[str], limit: int = MAX_ADDRESSES) -> str:
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown} and {len(items) - limit} more"


async def _records(name: str, types: tuple[str, ...], options: DigOptions) -> str:
    """The data of the records of `types`, listed; or the one sentence why there are none."""
    import dns.name
    import dns.rcode
    import dns.rdatatype

    from chatbot.dns.query import Query, lookup

    rdtypes = tuple(dns.rdatatype.from_text(t) for t in types)
    query = Query(dns.name.from_text(name), name, rdtypes)
    answers = await lookup(query, options)
    data: list[str] = []
    for answer in answers:
        if answer.response is None:
            continue
        if answer.response.rcode() == dns.rcode.NXDOMAIN:
            return "does not exist (NXDOMAIN)"
        found = [
            rdata
            for rrset in answer.response.answer
            if rrset.rdtype == answer.rdtype
            for rdata in rrset
        ]
        # A record set has no order; MX is read by preference.
        found.sort(key=lambda rdata: (getattr(rdata, "preference", 0), rdata.to_text()))
        data += [rdata.to_text() for rdata in found]
    if data:
        return _listed(data)
    failed = [a.error for a in answers if a.response is None and a.error]
    if len(failed) == len(answers) and failed:
        return failed[0]
    return f"no {' or '.join(types)} records"


async def _tls(target: str, options: TLSOptions) -> str:
    from chatbot.tls.check import check
    from chatbot.tls.command import parse

    try:
        verdict = (await check(parse(target), options)).verdict
    except ChatbotError as exc:
        return f":warning: TLS: {exc.message}"
    if verdict.valid:
        return f":white_check_mark: TLS: certificate valid, {verdict.expiry}"
    return f":x: TLS: certificate not valid: {verdict.reasons[0]}"


async def _one(found: Found, dig: DigOptions, tls: TLSOptions, seconds: float) -> str:
    """One host's lines: what it is named, then a fact a line."""
    host = found.target.host
    try:
        async with asyncio.timeout(seconds):
            if found.kind == "address":
                import dns.reversename

                name = dns.reversename.from_address(host.name).to_text()
                lines = [f"name: {await _records(name, ('PTR',), dig)}"]
            elif found.kind == "mail":
                lines = [f"mail domain · MX: {await _records(host.name, ('MX',), dig)}"]
            else:
                addresses, verdict = await asyncio.gather(
                    _records(host.name, ("A", "AAAA"), dig), _tls(found.text, tls)
                )
                lines = [f"addresses: {addresses}", verdict]
    except ChatbotError as exc:
        lines = [exc.message]
    except TimeoutError:
        lines = [f"no answer within {seconds:g} s"]
    return "\n".join([f"*{found.shown}*", *lines])


async def check(found: Sequence[Found], settings: Settings) -> Reply:
    """A text part per host, in the order found (the Slack edge adds a button to each)."""
    if not found:
        return Reply(summary=NOTHING_FOUND, parts=(text(NOTHING_FOUND),))
    await _imported("chatbot.dns.command")
    await _imported("chatbot.tls.command")
    from chatbot.dns import command as dig
    from chatbot.tls import command as tls

    # Within the command deadline, with a moment left to post the summary.
    seconds = max(settings.command_deadline_seconds - 0.25, 0.25)
    lines = await asyncio.gather(
        *(_one(item, dig.options(settings), tls.options(settings), seconds) for item in found)
    )
    shown = ", ".join(item.shown for item in found)
    return Reply(summary=f"Checked {shown}", parts=tuple(text(line) for line in lines))
