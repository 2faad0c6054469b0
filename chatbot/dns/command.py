"""The /dig command: dig-style arguments in, a `Reply` out."""

from __future__ import annotations

import asyncio
import importlib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import dns.rdatatype
import dns.reversename

from chatbot import arguments, policy, targets
from chatbot.commands import DIG_OPTIONS
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
    else:
        name, shown = to_name(arguments.one(names, "name to look up"))
    unique = tuple(dict.fromkeys(types or [dns.rdatatype.A]))
    if len(unique) > MAX_TYPES:
        raise UsageError(
            "That is {count} record types; one /dig asks for at most {limit}.",
            count=len(unique),
            limit=MAX_TYPES,
        )
    query = Query(
        name=name,
        shown=shown,
        types=unique,
        server=server,
        port=port,
        short=parsed.flag("+short"),
        tcp=parsed.flag("+tcp"),
        dnssec=parsed.flag("+dnssec"),
        **{option: parsed.flag("+" + option) for option in DEPTH},
    )
    return checked_depth(query)


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


async def run(arguments: str, options: Options, depth: Depth | None = None) -> Reply:
    query = parse(arguments)
    if any(getattr(query, option) for option in DEPTH):
        return await run_depth(query, options, depth or default_depth())
    answers = await lookup(query, options)
    # Hundreds of records take milliseconds to write out as text: not on the event loop.
    return await asyncio.to_thread(rendering.render, query, answers)


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
def load_anchors(path: str | None) -> validate.Anchors:
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

    # Referred servers are asked on the roots' port (53; a lab tree shares another).
    roots = depth.roots
    port = roots[0].port if roots else 53
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
        anchors = load_anchors(depth.trust_anchors)
        checked = await validate.validate(query.name, rdtype, validate.Options(walk, anchors))
        return render_validate.render(query.shown, checked)
    compared = await compare.compare(
        query.name, rdtype, compare.Options(depth.compare_resolvers, walk)
    )
    return render_compare.render(query.shown, compared, options.timeout)
