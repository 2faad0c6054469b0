"""The one registry of slash commands.

Routes, help text, the CLI and the Slack app manifest are all made from
`COMMANDS`. A command's runner imports its network code when first used so
that starting the service stays cheap.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

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
    usage_hint: str
    examples: tuple[str, ...]
    run: Runner
    # /hello echoes empty text; lookups answer empty text with their usage.
    needs_help_without_text: bool = True

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
        )

    def acknowledgement(self, invocation: Invocation) -> Reply:
        target = invocation.text.strip()
        return Reply(summary=f"Looking up {target}, the answer follows.")


async def _hello(invocation: Invocation, settings: Settings) -> Reply:
    who = invocation.user_name or invocation.user_id or "there"
    message = f"Hello {who}, I received `{invocation.text}`"
    return Reply(summary=message, parts=(text(message),))


async def _dig(invocation: Invocation, settings: Settings) -> Reply:
    from chatbot.dns import command

    return await command.run(invocation.text, command.options(settings))


async def _whois(invocation: Invocation, settings: Settings) -> Reply:
    from chatbot.registration import command

    return await command.run(invocation.text, command.Options.from_settings(settings))


async def _tls(invocation: Invocation, settings: Settings) -> Reply:
    from chatbot.tls import command

    return await command.run(invocation.text, command.options(settings))


async def _mail(invocation: Invocation, settings: Settings) -> Reply:
    from chatbot.mail import command

    return await command.run(invocation.text, command.options(settings))


COMMANDS: dict[str, Command] = {
    command.name: command
    for command in (
        Command(
            name="hello",
            description="Say hello and echo what you typed.",
            usage_hint="[anything]",
            examples=("world",),
            run=_hello,
            needs_help_without_text=False,
        ),
        Command(
            name="dig",
            description="DNS lookup, like BIND's dig.",
            usage_hint="name [type ...] [@server] [-p port] [-x address] [+short] [+tcp]",
            examples=(
                "example.com",
                "example.com MX",
                "example.com A AAAA @1.1.1.1",
                "-x 8.8.8.8",
                "_sip._tcp.example.com SRV +short",
                "日本語.jp NS +tcp",
            ),
            run=_dig,
        ),
        Command(
            name="whois",
            description="Who registered a domain, IP network or AS number (RDAP, then WHOIS).",
            usage_hint="domain | address[/prefix] | AS number [+raw]",
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
            usage_hint="host[:port] | https://url | [ipv6]:port [--sni name] [+protocols]",
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
            usage_hint="domain [dkim=selector[,selector...]]",
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
    if command.needs_help_without_text and invocation.text.strip().lower() in HELP_WORDS:
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
