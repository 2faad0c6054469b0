"""The /tls command: `host[:port]`, a URL or `[v6]:port`, `--sni`, `+protocols`."""

from __future__ import annotations

import urllib.parse

import idna

from chatbot import policy
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


def _hostname(word: str) -> tuple[str, str]:
    """An A-label host name from user text (IDNA 2008), and how to show it."""
    word = word.strip().rstrip(".")
    if not word:
        raise UsageError("Give a host name or address to check.")
    try:
        ascii_name = idna.encode(word, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        # Host names with underscores are not IDNA-valid but do exist.
        labels = word.split(".")
        if word.isascii() and all(
            label and len(label) < 64 and label.replace("-", "").replace("_", "").isalnum()
            for label in labels
        ):
            return word.lower(), word.lower()
        raise UsageError("{word} is not a valid host name ({exc}).", word=word, exc=exc) from exc
    if "xn--" in ascii_name:
        return ascii_name, f"{idna.decode(ascii_name)} ({ascii_name})"
    return ascii_name, ascii_name


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UsageError("{text} is not a port number.", text=text)
    return int(text)


def _split_target(word: str) -> tuple[str, int]:
    """host and port from `host`, `host:port`, `[v6]:port`, a bare IPv6 literal or a URL."""
    if word.startswith("<") and word.endswith(">"):  # a Slack link the edge did not unwrap
        word = word[1:-1].split("|", 1)[0]
    if "://" in word:
        url = urllib.parse.urlsplit(word)
        if url.scheme.lower() not in SCHEMES:
            raise UsageError(
                "{scheme}:// is not a TLS URL I can check (use https://).", scheme=url.scheme
            )
        try:
            port = url.port or SCHEMES[url.scheme.lower()]
        except ValueError as exc:
            raise UsageError("{word} has an invalid port.", word=word) from exc
        if not url.hostname:
            raise UsageError("{word} has no host.", word=word)
        return url.hostname, port
    if word.startswith("["):
        host, _, rest = word[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise UsageError("{word} is not host, host:port or [IPv6]:port.", word=word)
        return host, _port(rest[1:]) if rest else 443
    if word.count(":") > 1:
        return word, 443
    host, _, port_text = word.partition(":")
    return host, _port(port_text) if port_text else 443


def parse(arguments: str) -> Target:
    """`host[:port]`, `https://host[:port]/...`, `[v6]:port`, `--sni NAME`, `+protocols`."""
    # Chat clients turn "--" into an em or en dash.
    words = iter(arguments.replace("\u2014", "--").replace("\u2013", "--").split())
    targets: list[str] = []
    sni: str | None = None
    protocols = False
    for word in words:
        if word in ("--sni", "-sni", "-servername"):
            value = next(words, None)
            if value is None:
                raise UsageError("{word} needs a name.", word=word)
            sni = value
        elif word.startswith("--sni="):
            sni = word.removeprefix("--sni=")
        elif word.startswith("+"):
            if word.lower() != "+protocols":
                raise UsageError("{word} is not an option I know (try +protocols).", word=word)
            protocols = True
        elif word.startswith("-"):
            raise UsageError("{word} is not an option I know (try --sni NAME).", word=word)
        else:
            targets.append(word)
    if len(targets) != 1:
        if not targets:
            raise UsageError("Give one host to check.")
        raise UsageError(
            "Give one host to check, not {count} ({hosts}).",
            count=len(targets),
            hosts=", ".join(targets),
        )
    host, port = _split_target(targets[0])
    literal = policy.parse_ip(host)
    if literal is not None:
        host = shown = str(literal)
        default_sni = None
    elif ":" in host:
        raise UsageError("{host} is not an IP address.", host=host)
    else:
        host, shown = _hostname(host)
        default_sni = host
    if sni is not None:
        if policy.parse_ip(sni) is not None:
            raise UsageError("--sni takes a host name; SNI cannot carry an IP address.")
        sni, _ = _hostname(sni)
    return Target(host=host, port=port, shown=shown, sni=sni or default_sni, protocols=protocols)


async def run(arguments: str, options: Options) -> Reply:
    target = parse(arguments)
    return render(await check(target, options))
