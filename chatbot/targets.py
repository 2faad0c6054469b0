"""Targets as people type them: host names, IP literals, `host:port`, URLs, mail addresses.

The one parser behind /dig, /whois and /tls, so that one input means the same
thing in each. Pure: no sockets, no lookups. What it refuses, it refuses with
one sentence (a `UsageError`), never an exception of the standard library.

Host names follow DNS, not only the host-name rules: labels of letters,
digits, `-` and `_` (`_dmarc`, `_sip._tcp` exist), at most 63 octets each and
253 for the name. Non-ASCII labels are mapped with UTS 46 and checked with
IDNA 2008; A-labels (`xn--`) must decode. Numbers the user types are ASCII
digits and are bounded before they are converted.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

import idna

from chatbot.arguments import clip
from chatbot.errors import UsageError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_LABEL = 63
MAX_NAME = 253  # octets of the text form without the final dot: 255 on the wire
MAX_PORT = 65535

# UTS 46 treats these as the label separator too (ideographic and fullwidth full stops).
_DOTS = re.compile("[.\u3002\uff0e\uff61]")
_LABEL = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_END_OF_AUTHORITY = re.compile(r"[/?#]")


def number(text: str, largest: int) -> int | None:
    """`text` as a whole number from 0 to `largest`, if it is only ASCII digits; else None.

    `str.isdigit` is true of "²" (U+00B2) and `int` takes fullwidth digits (U+FF11);
    neither is a number a user means here. The length is checked before `int`
    so that a 5,000-digit word costs nothing (and never meets Python's limit).
    """
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(largest)):
        return None
    value = int(text)
    return value if value <= largest else None


def port(text: str) -> int:
    value = number(text, MAX_PORT)
    if value is None or value == 0:
        raise UsageError("{text} is not a port number (1 to 65535).", text=clip(text))
    return value


def server_address(spec: str) -> tuple[str, int]:
    """A server as operators configure one: `ip`, `ip:port` or `[ipv6]:port` (53 by default).

    The one reading of CHATBOT_DNS_RESOLVERS and its kin: the settings check
    every spec with it at start (the ValueError says what is wrong, for the
    operator), and /dig, /mail and the address policy's resolver read the same
    spec the same way. The address is returned as written, without brackets.
    """
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise ValueError(f"{spec} is not ip, ip:port or [ipv6]:port")
        port_text = rest[1:] if rest else "53"
    elif spec.count(":") == 1:
        host, port_text = spec.split(":")
    else:
        host, port_text = spec, "53"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"{host or spec or '(empty)'} is not an IP address (give ip, ip:port or [ipv6]:port)"
        ) from None
    value = number(port_text, MAX_PORT)
    if not value:
        raise ValueError(f"{port_text or '(empty)'} is not a port from 1 to 65535")
    return host, value


@dataclass(frozen=True)
class Host:
    """A host name or an IP address, as it is asked for and as it is shown."""

    name: str  # A-labels, case as typed, no final dot; or the address in its usual form
    unicode: str  # the same with U-labels: what a person reads
    address: IPAddress | None = None

    @property
    def shown(self) -> str:
        """Both forms for an internationalised name, else the name itself."""
        if self.unicode.lower() != self.name.lower():
            return f"{self.unicode} ({self.name})"
        return self.name


@dataclass(frozen=True)
class Target:
    """What one word names: a host, and the port and scheme that came with it."""

    host: Host
    port: int | None = None
    scheme: str = ""  # lowercase, "" unless the word was a URL
    mail: bool = False  # the host came from a mail address (user@domain)


def address(text: str) -> IPAddress | None:
    """An IP literal (brackets allowed), or None if `text` is not one.

    An IPv6 zone id (`fe80::1%eth0`) names an interface of one machine: it is
    refused with a sentence rather than silently dropped.
    """
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if not text.isascii() or not text or len(text) > 100:
        return None
    try:
        parsed = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.scope_id is not None:
        raise UsageError(
            "{text} has an IPv6 zone id (%{zone}), which only means something on one "
            "machine; give the address without it.",
            text=clip(text),
            zone=clip(parsed.scope_id, 20),
        )
    return parsed


def _invalid(text: str, reason: str) -> UsageError:
    return UsageError(
        "{text} is not a valid domain name: {reason}.", text=clip(text), reason=reason
    )


def _label(label: str, index: int, name: str, wildcard: bool) -> tuple[str, str]:
    """One label as an A-label (case kept) and as a U-label; refuses what DNS names cannot be."""
    if not label:
        raise _invalid(name, "it has an empty label (two dots in a row, or a dot at the start)")
    if label == "*" and index == 0 and wildcard:
        return label, label
    if label.isascii():
        bad = next((c for c in label if not _LABEL.fullmatch(c)), None)
        if bad is not None:
            raise _invalid(name, f"{clip(bad)} cannot be part of a name")
        ascii_label, unicode_label = label, label
        if label[:4].lower() == "xn--":
            try:
                unicode_label = idna.ulabel(label.lower())
                valid = idna.alabel(unicode_label).decode("ascii") == label.lower()
            except (idna.IDNAError, UnicodeError, ValueError):
                valid = False
            if not valid:
                raise _invalid(name, f"{clip(label)} is not a valid A-label (punycode)")
        if label.startswith("-") or label.endswith("-"):
            raise _invalid(name, f"the label {clip(label)} starts or ends with -")
    else:
        try:
            mapped = idna.uts46_remap(label, std3_rules=True, transitional=False)
            ascii_label = idna.alabel(mapped).decode("ascii")
            unicode_label = mapped
        except (idna.IDNAError, UnicodeError, ValueError) as exc:
            raise UsageError(
                "{text} is not a valid internationalised name ({reason}).",
                text=clip(name),
                reason=clip(str(exc), 120),
            ) from exc
    if len(ascii_label) > MAX_LABEL:
        raise UsageError(
            "{text} has a label of {count} octets; DNS allows at most 63.",
            text=clip(name),
            count=len(ascii_label),
        )
    return ascii_label, unicode_label


def host(text: str, *, wildcard: bool = False) -> Host:
    """A host name or IP literal; `wildcard` allows a first label `*` (DNS queries only)."""
    text = text.strip()
    literal = address(text)
    if literal is not None:
        return Host(str(literal), str(literal), literal)
    if not text:
        raise UsageError("Give a host name or address.")
    if text.startswith("[") or text.endswith("]"):
        raise UsageError("{text} in brackets is not an IP address.", text=clip(text))
    name = text[:-1] if _DOTS.fullmatch(text[-1]) else text
    # Longer than any name can be even in U-labels: refuse before mapping megabytes.
    if len(name) > MAX_NAME * 2:
        raise UsageError(
            "{text} is {count} characters long; a DNS name is at most 253 octets.",
            text=clip(name),
            count=len(name),
        )
    labels = [_label(label, i, name, wildcard) for i, label in enumerate(_DOTS.split(name))]
    ascii_name = ".".join(a for a, _ in labels)
    if len(ascii_name) > MAX_NAME:
        raise UsageError(
            "{text} is {count} octets long; a DNS name is at most 253.",
            text=clip(name),
            count=len(ascii_name),
        )
    if ascii_name.rsplit(".", 1)[-1].isdigit():
        # 8.8 or 1.2.3.4.5: no top-level domain is all digits, and resolvers
        # would read some of these as addresses.
        raise UsageError("{text} is neither a domain name nor an IP address.", text=clip(text))
    return Host(ascii_name, ".".join(u for _, u in labels))


def _unwrap(word: str) -> str:
    """A link or mail address as Slack wraps it, when the Slack edge did not unwrap it."""
    if word.startswith("<") and word.endswith(">") and len(word) > 2:
        target, _, label = word[1:-1].partition("|")
        word = label or target
    return word.removeprefix("mailto:")


def parse(word: str, *, wildcard: bool = False) -> Target:
    """One word: `host`, `host:port`, `[v6]`, `[v6]:port`, a bare IPv6 address, a URL
    (`scheme://[user@]host[:port]/path`), a mail address (its domain) or `host/path`."""
    original = word.strip()
    if not original:
        raise UsageError("Give a host name or address.")
    word = _unwrap(original)
    scheme = ""
    match = _SCHEME.match(word)
    if match:
        scheme = match.group(1).lower()
        word = word[match.end() :]
    elif "://" in word:
        raise UsageError("{word} is not a URL I can read.", word=clip(original))
    authority = _END_OF_AUTHORITY.split(word, maxsplit=1)[0]
    mail = False
    if "@" in authority:
        if not scheme:
            mail = True
        # A URL's user information is dropped; a mail address's domain is the host.
        authority = authority.rsplit("@", 1)[1]
        if not authority:
            raise UsageError("{word} has nothing after the @.", word=clip(original))
    host_text, port_text = _host_and_port(authority, original)
    if not host_text:
        raise UsageError("{word} names no host.", word=clip(original))
    found = host(host_text, wildcard=wildcard)
    if port_text == "":
        raise UsageError("{word} has a : with no port after it.", word=clip(original))
    return Target(found, port(port_text) if port_text is not None else None, scheme, mail)


def _host_and_port(authority: str, original: str) -> tuple[str, str | None]:
    if authority.startswith("["):
        inside, closed, rest = authority[1:].partition("]")
        if not closed:
            raise UsageError(
                "{word} opens a [ that is never closed; write [IPv6] or [IPv6]:port.",
                word=clip(original),
            )
        if address(inside) is None:
            raise UsageError("{text} in brackets is not an IP address.", text=clip(inside))
        if not rest:
            return inside, None
        if not rest.startswith(":"):
            raise UsageError("{word} is not host, host:port or [IPv6]:port.", word=clip(original))
        return inside, rest[1:]
    if "]" in authority:
        raise UsageError("{word} closes a ] that was never opened.", word=clip(original))
    if authority.count(":") > 1:
        # A bare IPv6 literal: its last group cannot be told from a port.
        if address(authority) is None:
            raise UsageError(
                "{word} is not an IP address; write [IPv6]:port for an address with a port.",
                word=clip(original),
            )
        return authority, None
    host_text, colon, port_text = authority.partition(":")
    return host_text, port_text if colon else None
