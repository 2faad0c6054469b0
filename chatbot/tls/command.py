"""The /tls command: `host[:port]`, a URL or `[v6]:port`, `--sni`, `+protocols`."""

from __future__ import annotations

from chatbot import arguments, policy, targets
from chatbot.commands import TLS_OPTIONS
from chatbot.errors import UsageError
from chatbot.reply import Reply
from chatbot.settings import Settings
from chatbot.tls.check import SCHEMES, Options, Target, check
from chatbot.tls.render import render


def options(settings: Settings) -> Options:
    return Options(
        ca_file=settings.tls_ca_file,
        connect_timeout=settings.tls_connect_timeout_seconds,
        handshake_timeout=settings.tls_handshake_timeout_seconds,
        # Leave a moment of the command's deadline for our own, more specific message.
        deadline=max(settings.command_deadline_seconds - 0.5, 0.5),
        allow_private=settings.allow_private_targets,
        resolver=policy.Resolver.from_specs(
            settings.target_resolvers, settings.dns_timeout_seconds
        ),
        max_per_server=settings.max_per_server,
    )


def parse(text: str) -> Target:
    """`host[:port]`, `https://host[:port]/...`, `[v6]:port`, `--sni NAME`, `+protocols`."""
    parsed = arguments.read(text, TLS_OPTIONS)
    target = targets.parse(arguments.one(parsed.words, "host to check"))
    if target.scheme and target.scheme not in SCHEMES:
        raise UsageError(
            "{scheme}:// is not a TLS URL I can check (use https://).",
            scheme=arguments.clip(target.scheme),
        )
    port = target.port or SCHEMES.get(target.scheme, 443)
    found = target.host
    if found.address is not None:
        host = shown = str(found.address)
        default_sni = None
    else:
        host, shown = found.name.lower(), found.shown.lower()
        default_sni = host
    sni = parsed.value("--sni")
    if sni is not None:
        named = targets.host(sni)
        if named.address is not None:
            raise UsageError("--sni takes a host name; SNI cannot carry an IP address.")
        sni = named.name.lower()
    return Target(
        host=host,
        port=port,
        shown=shown,
        sni=sni or default_sni,
        protocols=parsed.flag("+protocols"),
    )


async def run(arguments: str, options: Options) -> Reply:
    target = parse(arguments)
    return render(await check(target, options))
