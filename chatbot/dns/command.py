"""The /dig command: dig-style arguments in, a `Reply` out."""

from __future__ import annotations

import asyncio

import dns.rdatatype
import dns.reversename

from chatbot import arguments, policy
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


def parse(text: str) -> Query:
    """dig-style arguments in any order; see the usage text for the grammar."""
    names: list[str] = []
    types: list[dns.rdatatype.RdataType] = []
    server: str | None = None
    port: int | None = None
    reverse: str | None = None
    flags = {"short": False, "tcp": False, "dnssec": False}
    words = iter(arguments.split(text))
    for word in words:
        upper = word.upper()
        if word.startswith("@") and len(word) > 1:
            server = word[1:]
        elif word in ("-p", "-x", "-t"):
            value = next(words, None)
            if value is None:
                raise UsageError("{word} needs a value.", word=word)
            if word == "-p":
                if not value.isdigit() or not 0 < int(value) < 65536:
                    raise UsageError("{value} is not a port number.", value=value)
                port = int(value)
            elif word == "-x":
                reverse = value
            elif value.upper() in TYPES:
                types.append(dns.rdatatype.from_text(value.upper()))
            else:
                raise UsageError("{value} is not a record type I can look up.", value=value)
        elif word.startswith("+"):
            option = word[1:].lower()
            if option not in flags:
                raise UsageError(
                    "{word} is not an option I know (try +short, +tcp, +dnssec).", word=word
                )
            flags[option] = True
        elif word.startswith("-"):
            raise UsageError("{word} is not an option I know.", word=word)
        elif upper in TYPES:
            types.append(dns.rdatatype.from_text(upper))
        else:
            names.append(word)
    if reverse is not None:
        if names:
            raise UsageError("Give either a name or -x address, not both.")
        address = policy.parse_ip(reverse)
        if address is None:
            raise UsageError("{reverse} is not an IP address.", reverse=reverse)
        name = dns.reversename.from_address(str(address))
        shown = f"{reverse} ({name.to_text(omit_final_dot=True)})"
        types = types or [dns.rdatatype.PTR]
    elif len(names) != 1:
        if not names:
            raise UsageError("Give one name to look up.")
        raise UsageError(
            "Give one name to look up, not {count} ({names}).",
            count=len(names),
            names=", ".join(names),
        )
    else:
        name, shown = to_name(names[0])
    unique = tuple(dict.fromkeys(types or [dns.rdatatype.A]))
    return Query(name=name, shown=shown, types=unique, server=server, port=port, **flags)


async def run(arguments: str, options: Options) -> Reply:
    query = parse(arguments)
    answers = await lookup(query, options)
    # Hundreds of records take milliseconds to write out as text: not on the event loop.
    return await asyncio.to_thread(rendering.render, query, answers)
