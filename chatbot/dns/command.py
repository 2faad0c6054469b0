"""The /dig command: dig-style arguments in, a `Reply` out."""

from __future__ import annotations

import asyncio
import re

import dns.rdatatype
import dns.reversename

from chatbot import arguments, policy, targets
from chatbot.commands import DIG_OPTIONS
from chatbot.dns import render as rendering
from chatbot.dns.query import TYPES, Options, Query, lookup, parse_server, to_name
from chatbot.errors import UsageError
from chatbot.reply import Reply
from chatbot.settings import Settings


def options(settings: Settings) -> Options:
    return Options(
        resolvers=tuple(parse_server(s) for s in settings.dns_resolvers),
        timeout=settings.dns_timeout_seconds,
        allow_private=settings.allow_private_targets,
        resolver=policy.Resolver.from_specs(
            settings.target_resolvers, settings.dns_timeout_seconds
        ),
    )


# One /dig sends one query per type: a cap keeps one command from becoming a flood.
MAX_TYPES = 6
# What a record type looks like when typed: a word of letters and digits, no dot.
_TYPE_LIKE = re.compile(r"[A-Za-z][A-Za-z0-9]*", re.ASCII)


def _rdtype(word: str) -> dns.rdatatype.RdataType:
    upper = word.upper()
    if upper in TYPES:
        return dns.rdatatype.from_text(upper)
    if _TYPE_LIKE.fullmatch(word) and len(word) <= 12:
        try:
            known = dns.rdatatype.from_text(upper)
        except dns.rdatatype.UnknownRdatatype:
            pass
        else:
            if dns.rdatatype.is_metatype(known):
                raise UsageError(
                    "{word} is a record type I do not look up; public resolvers refuse or "
                    "trim meta types such as ANY and AXFR.",
                    word=upper,
                )
            raise UsageError("{word} is a record type I do not look up.", word=upper)
    raise UsageError("{word} is not a record type I know.", word=arguments.clip(word))


def parse(text: str) -> Query:
    """dig-style arguments in any order; see the usage text for the grammar."""
    parsed = arguments.read(text, DIG_OPTIONS)
    types = [_rdtype(value) for value in parsed.values.get("-t", [])]
    names: list[str] = []
    for word in parsed.words:
        if word.upper() in TYPES:
            types.append(dns.rdatatype.from_text(word.upper()))
        else:
            names.append(word)
    if len(names) > 1:
        # `example.com MXX`: the word with a dot is the name, a type-like word is a typo'd type.
        first = next((n for n in names if "." in n), names[0])
        for other in names:
            if other is not first and _TYPE_LIKE.fullmatch(other):
                _rdtype(other)
    server, port = _server(parsed.value("@"), parsed.value("-p"))
    reverse = parsed.value("-x")
    if reverse is not None:
        if names:
            raise UsageError("Give either a name or -x address, not both.")
        address = targets.address(reverse)
        if address is None:
            raise UsageError("{reverse} is not an IP address.", reverse=arguments.clip(reverse))
        name = dns.reversename.from_address(str(address))
        shown = f"{address} ({name.to_text(omit_final_dot=True)})"
        types = types or [dns.rdatatype.PTR]
    elif len(names) != 1:
        if not names:
            raise UsageError("Give one name to look up.")
        raise UsageError(
            "Give one name to look up, not {count} ({names}).",
            count=len(names),
            names=arguments.clip(", ".join(names), 120),
        )
    else:
        name, shown = to_name(names[0])
    unique = tuple(dict.fromkeys(types or [dns.rdatatype.A]))
    if len(unique) > MAX_TYPES:
        raise UsageError(
            "That is {count} record types; one /dig asks for at most {limit}.",
            count=len(unique),
            limit=MAX_TYPES,
        )
    return Query(
        name=name,
        shown=shown,
        types=unique,
        server=server,
        port=port,
        short=parsed.flag("+short"),
        tcp=parsed.flag("+tcp"),
        dnssec=parsed.flag("+dnssec"),
    )


def _server(spec: str | None, port_text: str | None) -> tuple[str | None, int | None]:
    """The user's @server (a name or address, with or without :port) and its port."""
    port = targets.port(port_text) if port_text is not None else None
    if spec is None:
        if port is not None:
            # The configured resolvers are the operator's: their host is not for
            # users to probe on other ports.
            raise UsageError("-p applies only to a server you name with @server.")
        return None, None
    target = targets.parse(spec)
    if target.scheme or target.mail:
        raise UsageError("@{spec} is not a server name or address.", spec=arguments.clip(spec))
    if target.port is not None:
        if port is not None and port != target.port:
            raise UsageError("Give the port of @server once (@server -p port).")
        port = target.port
    return target.host.name, port


async def run(arguments: str, options: Options) -> Reply:
    query = parse(arguments)
    answers = await lookup(query, options)
    # Hundreds of records take milliseconds to write out as text: not on the event loop.
    return await asyncio.to_thread(rendering.render, query, answers)
