"""The /mail command: `DOMAIN [dkim=SELECTOR[,SELECTOR...]]` in, one audit out."""

from __future__ import annotations

from urllib.parse import urlsplit

import idna

from chatbot import arguments, policy
from chatbot.dns.query import parse_server
from chatbot.errors import UsageError
from chatbot.mail import dkim, mtasts, smtp
from chatbot.mail.audit import Options, audit
from chatbot.mail.render import render
from chatbot.reply import Reply
from chatbot.settings import Settings

MAX_SELECTORS = 10


def options(settings: Settings) -> Options:
    resolver = policy.Resolver.from_specs(settings.target_resolvers, settings.dns_timeout_seconds)
    return Options(
        resolvers=tuple(parse_server(s) for s in settings.dns_resolvers),
        dns_timeout=settings.dns_timeout_seconds,
        allow_private=settings.allow_private_targets,
        sts=mtasts.Options(
            timeout=settings.tls_connect_timeout_seconds + settings.tls_handshake_timeout_seconds,
            allow_private=settings.allow_private_targets,
            resolver=resolver,
            ca_file=settings.tls_ca_file,
            port=settings.mail_https_port,
        ),
        smtp=smtp.Options(
            port=settings.smtp_port,
            timeout=settings.smtp_timeout_seconds,
            handshake_timeout=settings.tls_handshake_timeout_seconds,
            ca_file=settings.tls_ca_file,
            allow_private=settings.allow_private_targets,
        ),
        smtp_checks=settings.mail_smtp_checks,
        # Leave a moment of the command's deadline for the answer itself.
        deadline=max(settings.command_deadline_seconds - 0.5, 0.5),
    )


def domain(word: str) -> tuple[str, str]:
    """An A-label domain from user text (IDNA 2008), and how to show it.

    A mail address gives its domain and a URL its host. Kept small on purpose:
    the shared host-name parser (targets.py) can replace it.
    """
    word = word.strip()
    if "://" in word:
        word = urlsplit(word).hostname or ""
    if "@" in word:
        word = word.rsplit("@", 1)[1]
    word = word.rstrip(".")
    if not word or policy.parse_ip(word) is not None:
        raise UsageError("Give a domain name, such as example.com.")
    try:
        ascii_name = idna.encode(word, uts46=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError) as exc:
        raise UsageError("{word} is not a valid domain name.", word=word) from exc
    if "." not in ascii_name or len(ascii_name) > 253:
        raise UsageError("{word} is not a domain name I can audit.", word=word)
    if "xn--" in ascii_name:
        return ascii_name, f"{idna.decode(ascii_name)} ({ascii_name})"
    return ascii_name, ascii_name


def parse(text: str) -> tuple[str, str, tuple[str, ...]]:
    """The domain (A-label and shown) and the DKIM selectors."""
    names: list[str] = []
    selectors: list[str] = []
    for word in arguments.split(text):
        key, equals, value = word.partition("=")
        if equals and key.lower() in ("dkim", "selector", "selectors", "s"):
            for selector in filter(None, (s.strip() for s in value.split(","))):
                if not dkim.SELECTOR.fullmatch(selector):
                    raise UsageError("{selector} is not a DKIM selector.", selector=selector)
                selectors.append(selector)
            if not value.strip(","):
                raise UsageError("dkim= needs a selector, such as dkim=google.")
        elif equals or word.startswith(("-", "+")):
            raise UsageError("{word} is not an option I know (try dkim=SELECTOR).", word=word)
        else:
            names.append(word)
    if len(names) != 1:
        if not names:
            raise UsageError("Give one domain to audit.")
        raise UsageError(
            "Give one domain to audit, not {count} ({names}).",
            count=len(names),
            names=", ".join(names),
        )
    unique = tuple(dict.fromkeys(selectors))
    if len(unique) > MAX_SELECTORS:
        raise UsageError("Give at most {limit} DKIM selectors.", limit=MAX_SELECTORS)
    ascii_name, shown = domain(names[0])
    return ascii_name, shown, unique


async def run(text: str, options: Options) -> Reply:
    name, shown, selectors = parse(text)
    return render(await audit(name, shown, selectors, options))
