"""The one registry of slash commands.

Routes, help text, the CLI and the Slack app manifest are all made from
`COMMANDS`. A command's runner imports its network code when first used so
that starting the service stays cheap.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from chatbot.arguments import Option
from chatbot.errors import ChatbotError, Timeout, UsageError
from chatbot.reply import Reply, code, text
from chatbot.settings import Settings

log = logging.getLogger(__name__)

HELP_WORDS = frozenset({"", "help", "-h", "--help", "?"})


@dataclass(frozen=True)
class Invocation:
    """One use of a command: what was typed, and by whom."""

    text: str
    user_id: str = ""
    user_name: str = ""
    team_id: str = ""
    channel_id: str = ""


Runner = Callable[[Invocation, Settings], Awaitable[Reply]]


@dataclass(frozen=True)
class Command:
    name: str
    description: str
    operands: str  # what the command works on, e.g. "name [type ...]"; options come from `options`
    examples: tuple[str, ...]
    run: Runner
    # /hello echoes empty text; lookups answer empty text with their usage.
    needs_help_without_text: bool = True
    # Declared once: the parser reads by them, the usage, manifest and CLI help show them.
    options: tuple[Option, ...] = ()

    @property
    def usage_hint(self) -> str:
        return " ".join([self.operands, *(option.usage for option in self.options)]).strip()

    @property
    def usage(self) -> Reply:
        lines = [f"/{self.name} {example}" for example in self.examples]
        return Reply(
            summary=f"Usage: /{self.name} {self.usage_hint}",
            parts=(
                text(f"*/{self.name}*: {self.description}"),
                text(f"Usage: `/{self.name} {self.usage_hint}`"),
                code(lines),
            ),
            # Help, not an answer: the Slack edge puts no buttons on it.
            is_usage=True,
        )

    def acknowledgement(self, invocation: Invocation) -> Reply:
        target = invocation.text.strip()
        return Reply(summary=f"Looking up {target}, the answer follows.")


async def _hello(invocation: Invocation, settings: Settings) -> Reply:
    who = invocation.user_name or invocation.user_id or "there"
    message = f"Hello {who}, I received `{invocation.text}`"
    return Reply(summary=message, parts=(text(message),))


async def _imported(name: str) -> None:
    """Import a command family's network code in a thread the first time: importing
    dnspython, httpx or cryptography takes 150 to 250 ms that the event loop, serving
    everyone else meanwhile, must not spend. After that the import below is a lookup."""
    if name not in sys.modules:
        await asyncio.to_thread(importlib.import_module, name)


T = TypeVar("T")
# (id of the Settings, the function) -> (the Settings, what it made). The Settings
# is kept with its options so that its id cannot be reused while they are kept.
_made: dict[tuple[int, Any], tuple[Settings, Any]] = {}
_MADE_KEPT = 32


def _once(make: Callable[[Settings], T], settings: Settings) -> T:
    """`make(settings)`, made once per Settings (frozen) and function, not per command.

    A family's options are read from settings, servers parsed and all: /dig's
    depth options alone (two dozen root and public servers) took 55 us a
    command. The options are frozen dataclasses, shared safely.
    """
    key = (id(settings), make)
    kept = _made.get(key)
    if kept is None:
        kept = (settings, make(settings))
        if len(_made) >= _MADE_KEPT:  # tests make many Settings; a service, one
            del _made[next(iter(_made))]
        _made[key] = kept
    made: T = kept[1]
    return made


async def _dig(invocation: Invocation, settings: Settings) -> Reply:
    await _imported("chatbot.dns.command")
    from chatbot.dns import command

    return await command.run(
        invocation.text, _once(command.options, settings), _once(command.depth_options, settings)
    )


async def _whois(invocation: Invocation, settings: Settings) -> Reply:
    await _imported("chatbot.registration.command")
    from chatbot.registration import command

    return await command.run(invocation.text, _once(command.Options.from_settings, settings))


async def _tls(invocation: Invocation, settings: Settings) -> Reply:
    await _imported("chatbot.tls.command")
    from chatbot.tls import command

    return await command.run(invocation.text, _once(command.options, settings))


async def _mail(invocation: Invocation, settings: Settings) -> Reply:
    await _imported("chatbot.mail.command")
    from chatbot.mail import command

    return await command.run(invocation.text, _once(command.options, settings))


# Each command's options, declared once (see chatbot.arguments). A new option is
# one line here and its handling in the command's parser.
DIG_OPTIONS = (
    Option("@", "ask this server instead of the configured resolvers", "server", joined=True),
    Option("-p", "the port of @server (default 53)", "port"),
    Option("-x", "reverse lookup: the name of an address", "address"),
    Option("-t", "a record type, the same as writing the type alone", "type"),
    Option("+short", "only the record data"),
    Option("+tcp", "ask over TCP instead of UDP"),
    Option("+dnssec", "ask for DNSSEC records too (sets the DO bit)"),
    Option("+trace", "follow the delegations from the root servers down, like dig +trace"),
    Option("+validate", "check the DNSSEC chain from the root trust anchor down"),
    Option("+compare", "ask many public resolvers and every authoritative server"),
)
WHOIS_OPTIONS = (Option("+raw", "add the registry's own text (first lines)"),)
TLS_OPTIONS = (
    Option(
        "--sni",
        "the name to send as SNI and check the certificate against",
        "name",
        aliases=("-sni", "-servername"),
    ),
    Option("+protocols", "also try each TLS version from 1.0 to 1.3"),
)
MAIL_OPTIONS = (
    Option(
        "dkim=",
        "DKIM selectors to check (DNS cannot list them)",
        "selector[,selector...]",
        joined=True,
    ),
)

COMMANDS: dict[str, Command] = {
    command.name: command
    for command in (
        Command(
            name="hello",
            description="Say hello and echo what you typed.",
            operands="[anything]",
            examples=("world",),
            run=_hello,
            needs_help_without_text=False,
        ),
        Command(
            name="dig",
            description="DNS lookup, like BIND's dig.",
            operands="name [type ...]",
            options=DIG_OPTIONS,
            examples=(
                "example.com",
                "example.com MX",
                "example.com A AAAA @1.1.1.1",
                "-x 8.8.8.8",
                "_sip._tcp.example.com SRV +short",
                "日本語.jp NS +tcp",
                "www.example.com +trace",
                "example.com MX +validate",
                "example.com A +compare",
            ),
            run=_dig,
        ),
        Command(
            name="whois",
            description="Who registered a domain, IP network or AS number (RDAP, then WHOIS).",
            operands="domain | address[/prefix] | AS number",
            options=WHOIS_OPTIONS,
            examples=(
                "example.com",
                "www.example.co.uk",
                "日本語.jp",
                "8.8.8.8",
                "2001:db8::/32",
                "AS15169",
                "example.com +raw",
            ),
            run=_whois,
        ),
        Command(
            name="tls",
            description="Check a server's TLS certificate, like openssl s_client, and say why.",
            operands="host[:port] | https://url | [ipv6]:port",
            options=TLS_OPTIONS,
            examples=(
                "example.com",
                "example.com:8443",
                "https://example.com/login",
                "[2001:db8::1]:443 --sni example.com",
                "bücher.example +protocols",
            ),
            run=_tls,
        ),
        Command(
            name="mail",
            description="Audit a domain's mail setup: MX, SPF, DMARC, DKIM, MTA-STS, "
            "TLS-RPT, BIMI, STARTTLS and DANE, worst problems first.",
            operands="domain",
            options=MAIL_OPTIONS,
            examples=(
                "example.com",
                "example.com dkim=google,selector1",
                "someone@example.com",
            ),
            run=_mail,
        ),
    )
}


async def execute(command: Command, invocation: Invocation, settings: Settings) -> Reply:
    """Run a command to a reply: errors become one friendly sentence, never a traceback."""
    typed = invocation.text.strip().lower()
    # Every command answers `help`; only empty text is /hello's to echo.
    if typed in HELP_WORDS and (typed or command.needs_help_without_text):
        return command.usage
    deadline = settings.command_deadline_seconds
    try:
        async with asyncio.timeout(deadline):
            return await command.run(invocation, settings)
    except UsageError as exc:
        usage = command.usage
        return Reply.error(exc.message, *usage.parts[1:], usage=True)
    except ChatbotError as exc:
        return Reply.error(exc.message)
    except TimeoutError:
        return Reply.error(
            Timeout(
                "/{name} did not finish within {seconds:g} s.", name=command.name, seconds=deadline
            ).message
        )
    except Exception:
        log.exception("command /%s failed", command.name)
        return Reply.error(ChatbotError().message)
