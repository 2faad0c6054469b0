"""The /mail command: `DOMAIN [dkim=SELECTOR[,SELECTOR...]]` in, one audit out."""

from __future__ import annotations

from chatbot import arguments, policy, targets
from chatbot.commands import MAIL_OPTIONS
from chatbot.dns.command import depth_options, load_anchors
from chatbot.dns.query import parse_server
from chatbot.errors import UsageError
from chatbot.mail import dkim, mtasts, smtp
from chatbot.mail.audit import Options, audit
from chatbot.mail.lookup import Dnssec
from chatbot.mail.render import render
from chatbot.reply import Reply
from chatbot.settings import Settings

MAX_SELECTORS = 10


def options(settings: Settings) -> Options:
    resolver = policy.Resolver.from_specs(settings.target_resolvers, settings.dns_timeout_seconds)
    depth = depth_options(settings)  # /dig +validate's roots and trust anchor
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
        dnssec=Dnssec(
            roots=depth.roots,
            anchors=load_anchors(depth.trust_anchors),
            timeout=settings.dns_timeout_seconds,
            allow_private=settings.allow_private_targets,
        ),
        # Leave a moment of the command's deadline for the answer itself.
        deadline=max(settings.command_deadline_seconds - 0.5, 0.5),
    )


def domain(word: str) -> tuple[str, str]:
    """An A-label domain from user text, and how to show it: targets.py reads it the way
    /dig, /whois and /tls do (a mail address gives its domain, a URL its host)."""
    host = targets.parse(word).host
    if host.address is not None:
        raise UsageError("Give a domain name, such as example.com.")
    name = host.name.lower().rstrip(".")
    if "." not in name:
        raise UsageError("{word} is not a domain name I can audit.", word=arguments.clip(word))
    return name, host.shown.lower() if host.shown == host.name else host.shown


def parse(text: str) -> tuple[str, str, tuple[str, ...]]:
    """The domain (A-label and shown) and the DKIM selectors."""
    parsed = arguments.read(text, MAIL_OPTIONS)
    selectors: list[str] = []
    for value in parsed.values.get("dkim=", []):
        for selector in filter(None, (s.strip() for s in value.split(","))):
            if not dkim.SELECTOR.fullmatch(selector):
                raise UsageError(
                    "{selector} is not a DKIM selector.", selector=arguments.clip(selector)
                )
            selectors.append(selector)
        if not value.strip(","):
            raise UsageError("dkim= needs a selector, such as dkim=google.")
    word = arguments.one(parsed.words, "domain to audit")
    unique = tuple(dict.fromkeys(selectors))
    if len(unique) > MAX_SELECTORS:
        raise UsageError("Give at most {limit} DKIM selectors.", limit=MAX_SELECTORS)
    ascii_name, shown = domain(word)
    return ascii_name, shown, unique


async def run(text: str, options: Options) -> Reply:
    name, shown, selectors = parse(text)
    return render(await audit(name, shown, selectors, options))
