"""Which `response_url`s we post to: parsed and compared part by part, never as strings.

A string prefix lets `https://hooks.slack.com.evil.example/` through a prefix
written without its slash, and `http://127.0.0.1:9100@192.0.0.9/` through the
development prefix `http://127.0.0.1:` (everything before the `@` is a user
name). So both the prefix and the URL are split into scheme, host, port and
path, and anything a parser could read two ways is refused outright: user
info, backslashes, control characters and spaces, anything not ASCII.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
# Printable ASCII but space and backslash: what a URL from Slack is made of.
_PLAIN = re.compile(r"[!-\[\]-~]+")
_AUTHORITY = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::([0-9]{0,5}))?")
_DOT_SEGMENTS = {".", "..", "%2e", "%2e%2e", ".%2e", "%2e."}


@dataclass(frozen=True)
class Place:
    """Where a URL points: scheme, host (lower case, no trailing dot), port and path."""

    scheme: str
    host: str
    port: int | None  # None only in a prefix: any port
    path: str


def _split(url: str, *, prefix: bool) -> Place | None:
    if not _PLAIN.fullmatch(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        return None
    authority = _AUTHORITY.fullmatch(parts.netloc)  # no match for user info (`@`)
    if authority is None:
        return None
    host = authority.group(1).lower()
    if host.endswith(".") and not host.startswith("["):
        host = host[:-1]
    if not host or host.startswith(".") or ".." in host:
        return None
    digits = authority.group(2)
    port: int | None
    if digits:
        port = int(digits)
        if not 0 < port < 65536:
            return None
    elif digits == "" and prefix:
        # The development prefix `http://127.0.0.1:` means any port of that host.
        port = None
    else:
        port = DEFAULT_PORTS[scheme]
    path = parts.path or "/"
    if any(segment.lower() in _DOT_SEGMENTS for segment in path.split("/")):
        return None
    return Place(scheme, host, port, path)


@lru_cache(maxsize=32)
def prefix(text: str) -> Place | None:
    """A configured prefix, parsed; None if it is not an http(s) URL we can compare with."""
    return _split(text, prefix=True)


def _under(path: str, base: str) -> bool:
    # Whole segments: a prefix of /commands covers /commands/T1/… but not /commandsx.
    return path == base or path.startswith(base if base.endswith("/") else base + "/")


def allowed(url: str, prefixes: Iterable[str]) -> bool:
    """True if `url` is plainly under one of `prefixes` (scheme, host, port, path)."""
    place = _split(url, prefix=False)
    if place is None:
        return False
    for text in prefixes:
        base = prefix(text)
        if (
            base is not None
            and place.scheme == base.scheme
            and place.host == base.host
            and base.port in (None, place.port)
            and _under(place.path, base.path)
        ):
            return True
    return False
