"""The /dig command: dig-style arguments in, a `Reply` out."""

from __future__ import annotations

import asyncio
import importlib
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import dns.rdatatype
import dns.reversename

from chatbot import arguments, policy
from chatbot.dns import render as rendering
from chatbot.dns.query import TYPES, Options, Query, Server, lookup, parse_server, to_name
from chatbot.errors import ChatbotError, UsageError
from chatbot.reply import Reply
from chatbot.settings import Settings

if TYPE_CHECKING:
    from chatbot.dns import validate


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
    flags |= dict.fromkeys(DEPTH, False)  # dnsdepth: +trace, +validate, +compare
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
                    "{word} is not an option I know "
                    "(try +short, +tcp, +dnssec, +trace, +validate, +compare).",
                    word=word,
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
    query = Query(name=name, shown=shown, types=unique, server=server, port=port, **flags)
    return checked_depth(query)


async def run(arguments: str, options: Options, depth: Depth | None = None) -> Reply:
    query = parse(arguments)
    if any(getattr(query, option) for option in DEPTH):
        return await run_depth(query, options, depth or default_depth())
    return rendering.render(query, await lookup(query, options))


# --- /dig in depth: +trace, +validate, +compare (helper dnsdepth) ---------------------------
# Kept in one block so that it moves onto the declared options as it is: three flags
# (above: `flags`, the unknown-option sentence), their checks, their options, their run.

DEPTH = ("trace", "validate", "compare")


@dataclass(frozen=True)
class Depth:
    """What +trace, +validate and +compare need beyond plain /dig's options."""

    roots: tuple[Server, ...]
    compare_resolvers: tuple[Server, ...]
    trust_anchors: str | None = None  # a file; None: IANA's root KSKs, built in
    deadline: float = 9.5


def depth_options(settings: Settings) -> Depth:
    deadline = settings.command_deadline_seconds
    return Depth(
        roots=tuple(parse_server(s) for s in settings.dns_root_servers),
        compare_resolvers=tuple(parse_server(s) for s in settings.dns_compare_resolvers),
        trust_anchors=settings.dnssec_trust_anchors,
        # Stop a little before the command's deadline, to answer with what was found.
        deadline=max(deadline - 0.5, deadline * 0.8),
    )


def default_depth() -> Depth:
    from chatbot.dns import compare, trace

    return Depth(
        roots=tuple(Server(address) for address in trace.ROOT_SERVERS),
        compare_resolvers=tuple(Server(address) for address in compare.PROVIDERS),
    )


def checked_depth(query: Query) -> Query:
    chosen = [option for option in DEPTH if getattr(query, option)]
    if not chosen:
        return query
    option = "+" + chosen[0]
    if len(chosen) > 1:
        raise UsageError("Use one of +trace, +validate and +compare at a time.")
    if query.server is not None:
        raise UsageError(
            "{option} chooses its servers itself (the root servers, the zone's servers, "
            "the configured resolvers), so it takes no @server.",
            option=option,
        )
    if len(query.types) > 1:
        raise UsageError("{option} takes one record type at a time.", option=option)
    if query.short:
        raise UsageError("+short does not combine with {option}.", option=option)
    return query


@lru_cache(maxsize=4)
def _anchors(path: str | None) -> validate.Anchors:
    from chatbot.dns import validate

    if path is None:
        return validate.BUILT_IN
    try:
        return validate.read_anchors(path)
    except ValueError as exc:
        raise ChatbotError(
            "The DNSSEC trust anchor file could not be read: {reason}", reason=exc
        ) from exc


async def run_depth(query: Query, options: Options, depth: Depth) -> Reply:
    from chatbot.dns import compare, render_compare, render_trace, trace

    # dns.dnssec pulls in cryptography: a tenth of a second not spent on the event loop.
    await asyncio.to_thread(importlib.import_module, "chatbot.dns.render_validate")
    from chatbot.dns import render_validate, validate

    # Referred servers are asked on the roots' port (53; a lab tree shares another),
    # or on -p's, as `dig +trace -p` does.
    port = query.port or (depth.roots[0].port if depth.roots else 53)
    roots = depth.roots
    if query.port is not None:
        roots = tuple(Server(r.address, query.port, r.label) for r in roots)
    walk = trace.Options(
        roots=roots,
        port=port,
        timeout=options.timeout,
        deadline=depth.deadline,
        allow_private=options.allow_private,
        tcp=query.tcp,
    )
    rdtype = query.types[0]
    if query.trace:
        found = await trace.trace(query.name, rdtype, walk)
        return render_trace.render(query.shown, found, dnssec=query.dnssec)
    if query.validate:
        anchors = _anchors(depth.trust_anchors)
        checked = await validate.validate(query.name, rdtype, validate.Options(walk, anchors))
        return render_validate.render(query.shown, checked)
    compared = await compare.compare(
        query.name, rdtype, compare.Options(depth.compare_resolvers, walk)
    )
    return render_compare.render(query.shown, compared, options.timeout)
