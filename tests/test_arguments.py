"""Reading options by their declaration."""

from __future__ import annotations

import importlib

import pytest

from chatbot.arguments import Option, clip, read
from chatbot.errors import UsageError

DECLARED = (
    Option("@", "a server", "server", joined=True),
    Option("-p", "a port", "port"),
    Option("--sni", "a name", "name", aliases=("-servername",)),
    Option("+short", "short"),
)


def test_read_takes_out_declared_options_in_any_order() -> None:
    parsed = read("+SHORT a @b -p 1 c --sni=d -servername e", DECLARED)
    assert parsed.words == ["a", "c"]
    assert parsed.flag("+short")
    assert (parsed.value("@"), parsed.value("-p"), parsed.value("--sni")) == ("b", "1", "e")
    assert parsed.values["--sni"] == ["d", "e"]  # the last one counts
    assert not read("a", DECLARED).flag("+short")
    assert read("a", DECLARED).value("-p") is None


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("a -p", "-p needs a value: -p port."),
        ("a @", "@ needs a value: @server."),
        ("a --sni", "--sni needs a value: --sni name."),
        ("a +long", "+long is not an option I know (try +short)."),
        ("a -q", "-q is not an option I know (try -p port, --sni name)."),
        ("a -{0}", "-{0} is not an option I know"),
        ("a +" + "x" * 5000, "That is 5003 characters; a command takes at most 4096."),
        ("a -\x00", "-U+0000 is not an option I know"),
    ],
)
def test_read_refuses_with_a_sentence(text: str, sentence: str) -> None:
    with pytest.raises(UsageError) as caught:
        read(text, DECLARED)
    assert caught.value.message.startswith(sentence)


def test_lone_option_characters_are_words() -> None:
    assert read("- + a", DECLARED).words == ["-", "+", "a"]


def test_clip() -> None:
    assert clip("short") == "short"
    assert clip("x" * 100) == "x" * 59 + "…"
    assert clip("a\u202eb\x00") == "aU+202EbU+0000"


@pytest.mark.parametrize(
    ("parse", "what"),
    [
        ("chatbot.dns.command", "name to look up"),
        ("chatbot.registration.command", "domain, address or AS number"),
        ("chatbot.tls.command", "host to check"),
        ("chatbot.mail.command", "domain to audit"),
    ],
)
def test_every_command_asks_for_its_one_operand_alike(parse: str, what: str) -> None:
    """One sentence for none and for several, naming what was given, in every command."""
    module = importlib.import_module(parse)
    with pytest.raises(UsageError) as caught:
        module.parse("")
    assert caught.value.message == f"Give one {what}."
    with pytest.raises(UsageError) as caught:
        module.parse("example.com example.org")
    assert caught.value.message == f"Give one {what}, not 2 (example.com, example.org)."
