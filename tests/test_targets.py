"""One parser of targets: the same word means the same host in /dig, /whois and /tls."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from chatbot import arguments, policy, targets
from chatbot.dns import command as dig
from chatbot.dns.query import parse_server
from chatbot.errors import UsageError
from chatbot.registration import command as whois
from chatbot.settings import Settings
from chatbot.slack import normalize_text
from chatbot.tls import command as tls


@pytest.mark.parametrize(
    ("word", "name", "shown", "port", "scheme"),
    [
        ("example.com", "example.com", "example.com", None, ""),
        ("Example.COM.", "Example.COM", "Example.COM", None, ""),
        ("example.com:8443", "example.com", "example.com", 8443, ""),
        ("日本語.jp", "xn--wgv71a119e.jp", "日本語.jp (xn--wgv71a119e.jp)", None, ""),
        ("www.XN--wgv71a119e.jp", "www.XN--wgv71a119e.jp", "www.日本語.jp (www.XN--wgv71a119e.jp)",
         None, ""),
        ("_dmarc.bücher.example", "_dmarc.xn--bcher-kva.example",
         "_dmarc.bücher.example (_dmarc.xn--bcher-kva.example)", None, ""),
        ("_sip._tcp.example.com", "_sip._tcp.example.com", "_sip._tcp.example.com", None, ""),
        # UTS 46 maps fullwidth letters and the ideographic full stop.
        ("ＥＸＡＭＰＬＥ。com", "example.com", "example.com", None, ""),  # noqa: RUF001
        ("192.0.2.1", "192.0.2.1", "192.0.2.1", None, ""),
        ("192.0.2.1:993", "192.0.2.1", "192.0.2.1", 993, ""),
        ("2001:DB8::1", "2001:db8::1", "2001:db8::1", None, ""),
        ("[2001:db8::1]", "2001:db8::1", "2001:db8::1", None, ""),
        ("[2001:db8::1]:8443", "2001:db8::1", "2001:db8::1", 8443, ""),
        ("https://example.com", "example.com", "example.com", None, "https"),
        ("HTTPS://user:secret@example.com:8443/a?b#c", "example.com", "example.com", 8443, "https"),
        ("https://[2001:db8::1]:444/", "2001:db8::1", "2001:db8::1", 444, "https"),
        ("example.com/login?next=/", "example.com", "example.com", None, ""),
        ("<https://example.com/a|example.com/a>", "example.com", "example.com", None, ""),
        ("<https://example.com/a>", "example.com", "example.com", None, "https"),
        ("mailto:ada@example.org", "example.org", "example.org", None, ""),
    ],
)  # fmt: skip
def test_parse(word: str, name: str, shown: str, port: int | None, scheme: str) -> None:
    target = targets.parse(word)
    assert (target.host.name, target.host.shown, target.port, target.scheme) == (
        name,
        shown,
        port,
        scheme,
    )


def test_a_mail_address_names_its_domain() -> None:
    target = targets.parse("ada@mail.example.org")
    assert (target.host.name, target.mail) == ("mail.example.org", True)
    assert not targets.parse("https://ada@example.org/").mail


def test_wildcard_only_where_asked() -> None:
    assert targets.parse("*.example.com", wildcard=True).host.name == "*.example.com"
    with pytest.raises(UsageError, match=r"\* cannot be part of a name"):
        targets.parse("*.example.com")
    with pytest.raises(UsageError):
        targets.parse("a.*.example.com", wildcard=True)


@pytest.mark.parametrize(
    ("word", "sentence"),
    [
        ("", "Give a host name or address."),
        ("a..b", "a..b is not a valid domain name: it has an empty label"),
        (".example", "has an empty label"),
        ("exa{mple", "exa{mple is not a valid domain name: { cannot be part of a name."),
        ("{0}", "{0} is not a valid domain name"),
        ("%s.com", "%s.com is not a valid domain name: % cannot be part of a name."),
        ("a\x00b.com", "aU+0000b.com is not a valid domain name: U+0000 cannot be"),
        ("\u202eexample.com", "U+202Eexample.com is not a valid internationalised name"),
        ("a\u200db.com", "aU+200Db.com is not a valid internationalised name"),
        ("😀.com", "is not a valid internationalised name"),
        ("xn--", "xn-- is not a valid A-label (punycode)"),
        ("xn--zz.com", "xn--zz is not a valid A-label (punycode)"),
        ("-x.com", "the label -x starts or ends with -"),
        ("a" * 64 + ".com", "has a label of 64 octets; DNS allows at most 63."),
        (".".join(["a" * 63] * 4) + ".com", "is 259 octets long; a DNS name is at most 253."),
        ("é" * 600, "is 600 characters long; a DNS name is at most 253 octets."),
        ("8.8", "8.8 is neither a domain name nor an IP address."),
        ("1.2.3.4.5", "is neither a domain name nor an IP address."),
        ("example.com:", "example.com: has a : with no port after it."),
        ("example.com:0", "0 is not a port number (1 to 65535)."),
        ("example.com:-1", "-1 is not a port number"),
        ("example.com:65536", "65536 is not a port number"),
        ("example.com:99999999999", "99999999999 is not a port number"),
        ("example.com:²", "² is not a port number"),
        ("example.com:４４３", "４４３ is not a port number"),  # noqa: RUF001
        ("example.com:https", "https is not a port number"),
        ("[::1", "[::1 opens a [ that is never closed; write [IPv6] or [IPv6]:port."),
        ("https://[::1", "https://[::1 opens a [ that is never closed"),
        ("::1]", "::1] closes a ] that was never opened."),
        ("[example.com]:443", "example.com in brackets is not an IP address."),
        ("[::1]x", "[::1]x is not host, host:port or [IPv6]:port."),
        ("1:2:3", "1:2:3 is not an IP address; write [IPv6]:port for an address with a port."),
        ("fe80::1%eth0", "fe80::1%eth0 has an IPv6 zone id (%eth0), which only means something"),
        ("[fe80::1%25eth0]:443", "has an IPv6 zone id (%25eth0)"),
        ("ada@", "ada@ has nothing after the @."),
        ("://example.com", "://example.com is not a URL I can read."),
        ("https://", "https:// names no host."),
        ("https://:443/", "names no host"),
    ],
)
def test_refusals_are_one_sentence(word: str, sentence: str) -> None:
    with pytest.raises(UsageError) as caught:
        targets.parse(word)
    assert sentence in caught.value.message


def test_a_long_word_is_quoted_short() -> None:
    with pytest.raises(UsageError) as caught:
        targets.parse("x" * 3000 + "{")
    assert len(caught.value.message) < 200


@pytest.mark.parametrize(
    ("text", "value"),
    [("1", 1), ("443", 443), ("00443", 443), ("65535", 65535)],
)
def test_port(text: str, value: int) -> None:
    assert targets.port(text) == value


@pytest.mark.parametrize(
    "text",
    ["", "0", "65536", "-1", "+1", " 1", "1.0", "²", "１", "٣", "9" * 4301, "99999999999"],  # noqa: RUF001
)
def test_port_refuses(text: str) -> None:
    with pytest.raises(UsageError, match="is not a port number"):
        targets.port(text)


def test_numbers_are_checked_before_conversion() -> None:
    """A 4,301-digit number raised ValueError from int() (Python's conversion limit)."""
    assert targets.number("9" * 4301, 2**32) is None
    assert targets.number("4294967296", 2**32 - 1) is None
    assert targets.number("4294967295", 2**32 - 1) == 2**32 - 1
    assert targets.number("²", 9) is None
    assert targets.number("", 9) is None


# --- the one splitter -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a b  c", ["a", "b", "c"]),
        ('"a b" c', ["a b", "c"]),
        ("\u201ca b\u201d c", ["a b", "c"]),
        ("it's", ["it's"]),  # unbalanced: kept as typed
        ("\u2014sni x", ["--sni", "x"]),
        ("\u2013sni x", ["--sni", "x"]),
        ("", []),
    ],
)
def test_split(text: str, words: list[str]) -> None:
    assert arguments.split(text) == words


def test_split_refuses_a_paste_gone_wrong() -> None:
    with pytest.raises(UsageError, match="That is 100000 characters; a command takes at most"):
        arguments.split("x" * 100_000)


# --- the same word, the same host, in every command --------------------------------

SAME = [
    "example.com",
    "Example.COM.",
    "www.example.com:8443",
    "https://www.example.com:8443/login",
    "ada@www.example.com",
    "<https://www.example.com|www.example.com>",
    "bücher.example",
    "xn--bcher-kva.example",
    "_dmarc.example.com",
    "ＥＸＡＭＰＬＥ。com",  # noqa: RUF001
]


@pytest.mark.parametrize("word", SAME)
def test_every_command_reads_a_word_as_the_same_host(word: str) -> None:
    host = targets.parse(normalize_text(word)).host.name.lower()
    assert dig.parse(word).name.to_text(omit_final_dot=True).lower() == host
    assert tls.parse(word).host == host
    # /whois asks about the registrable domain under that host.
    assert host.endswith(whois.parse(word).query)


REFUSED = [
    "exa{mple.com",
    "xn--zz.example",
    "a" * 64 + ".example",
    "fe80::1%eth0",
    "https://[::1",
    "example.com:²",
    "8.8",
    "a..b.example",
    "x-.example",
]


@pytest.mark.parametrize("word", REFUSED)
def test_every_command_refuses_the_same_word_the_same_way(word: str) -> None:
    sentences = set()
    for parse in (dig.parse, tls.parse, whois.parse):
        with pytest.raises(UsageError) as caught:
            parse(word)  # type: ignore[operator]
        sentences.add(caught.value.message)
    assert len(sentences) == 1, sentences


# --- servers as operators configure them (CHATBOT_DNS_RESOLVERS and kin) ----------------

SERVER_SPECS = [
    ("8.8.8.8", ("8.8.8.8", 53)),
    ("127.0.0.1:5353", ("127.0.0.1", 5353)),
    ("[2001:db8::1]:5353", ("2001:db8::1", 5353)),
    ("[2001:db8::1]", ("2001:db8::1", 53)),
    ("2001:db8::1", ("2001:db8::1", 53)),
    ("dns.google", "dns.google is not an IP address (give ip, ip:port or [ipv6]:port)"),
    ("8.8.8.8:0", "0 is not a port from 1 to 65535"),
    ("8.8.8.8:99999", "99999 is not a port from 1 to 65535"),
    ("8.8.8.8:5\u00b3", "5\u00b3 is not a port from 1 to 65535"),
    ("127.0.0.1:", "(empty) is not a port from 1 to 65535"),
    ("[::1]x", "[::1]x is not ip, ip:port or [ipv6]:port"),
    ("", "(empty) is not an IP address (give ip, ip:port or [ipv6]:port)"),
]


@pytest.mark.parametrize(("spec", "expected"), SERVER_SPECS)
def test_server_address_is_read_one_way_everywhere(
    spec: str, expected: tuple[str, int] | str
) -> None:
    """The settings, /dig's servers and the policy's resolver read a spec alike."""

    def dig_server() -> tuple[str, int]:
        server = parse_server(spec)
        return server.address, server.port

    readers = [
        lambda: targets.server_address(spec),
        dig_server,
        lambda: policy.Resolver.from_specs([spec], timeout=1).nameservers[0],
    ]
    for read in readers:
        if isinstance(expected, str):
            with pytest.raises(ValueError) as caught:
                read()
            assert str(caught.value) == expected
        else:
            assert read() == expected
    if isinstance(expected, str):
        with pytest.raises(ValidationError, match=re.escape(expected)):
            Settings(dns_resolvers=(spec,))
    else:
        assert Settings(dns_resolvers=(spec,)).dns_resolvers == (spec,)
