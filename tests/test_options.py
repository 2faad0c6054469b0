"""Options are declared once: what the parsers accept is what usage, manifest and CLI help say.

Fails on drift in either direction: an option handled but not declared (or
not shown), or declared and shown but not handled.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path

import pytest

import chatbot
from chatbot import arguments, manifest
from chatbot.cli import command_help
from chatbot.commands import COMMANDS, Command
from chatbot.dns import command as dig
from chatbot.errors import UsageError
from chatbot.mail import command as mail
from chatbot.registration import command as whois
from chatbot.reply import plain
from chatbot.tls import command as tls

# The parser of each command that has options. A new command with options
# must be added here, or test_every_command_with_options_has_a_parser fails.
PARSERS: dict[str, Callable[[str], object]] = {
    "dig": dig.parse,
    "whois": whois.parse,
    "tls": tls.parse,
    "mail": mail.parse,
}
# A value for each kind of option value (Option.value), used to try each option.
SAMPLES = {
    "server": "192.0.2.53",
    "port": "5353",
    "address": "192.0.2.1",
    "type": "MX",
    "name": "sni.example",
    "selector[,selector...]": "google,selector1",
}
# What an option looks like in a usage line or in code: +word, -w, --word, @word.
OPTION_LIKE = re.compile(
    r"(?<![\w/])(\+[a-z][a-z0-9]*|--?[a-z][a-z0-9-]*|@[a-z]+|(?<![\w=])[a-z]+=(?=[a-z]))"
)

WITH_OPTIONS = [c for c in COMMANDS.values() if c.options]


def _manifest_hints() -> dict[str, str]:
    built = manifest.build(COMMANDS.values(), "https://chatbot.example.com")
    return {c["command"][1:]: c["usage_hint"] for c in built["features"]["slash_commands"]}


def _shown(command: Command) -> dict[str, str]:
    """Every place a person reads a command's options."""
    return {
        "usage hint": command.usage_hint,
        "usage reply": plain(command.usage),
        "manifest": _manifest_hints()[command.name],
        "CLI help": command_help(command),
    }


def test_every_command_with_options_has_a_parser() -> None:
    assert {c.name for c in WITH_OPTIONS} <= set(PARSERS)
    assert WITH_OPTIONS, "no command declares options: the tests below would prove nothing"


@pytest.mark.parametrize("command", COMMANDS.values(), ids=list(COMMANDS))
def test_every_declared_option_is_shown_everywhere(command: Command) -> None:
    for where, text in _shown(command).items():
        for option in command.options:
            assert option.synopsis in text, f"/{command.name} {where} lacks {option.synopsis}"


@pytest.mark.parametrize("command", COMMANDS.values(), ids=list(COMMANDS))
def test_nothing_is_shown_that_is_not_declared(command: Command) -> None:
    declared = {s for o in command.options for s in o.spellings} | {
        o.name + o.value for o in command.options if o.joined
    }
    hint = command.usage_hint
    for where, text in {**_shown(command), "CLI help": command_help(command)}.items():
        usage_line = text if where != "CLI help" else text.splitlines()[0]
        if where == "usage reply":
            usage_line = next(line for line in text.splitlines() if line.startswith("Usage:"))
        shown = set(OPTION_LIKE.findall(usage_line))
        assert shown <= declared, f"/{command.name} {where} shows undeclared {shown - declared}"
    # The hint shows each option once, as its usage writes it (no aliases).
    assert set(OPTION_LIKE.findall(hint)) == {
        form for o in command.options for form in OPTION_LIKE.findall(o.usage)
    }


def _try(parse: Callable[[str], object], text: str) -> object:
    """What the parser makes of `text`: its result, or the sentence it refused it with."""
    try:
        return parse(text)
    except UsageError as exc:
        return exc.message


def _with(option: arguments.Option, spelling: str) -> str:
    if not option.value:
        return spelling
    assert option.value in SAMPLES, f"add a sample {option.value!r} to SAMPLES in this test"
    sample = SAMPLES[option.value]
    return f"{spelling}{sample}" if option.joined else f"{spelling} {sample}"


@pytest.mark.parametrize("command", WITH_OPTIONS, ids=[c.name for c in WITH_OPTIONS])
def test_every_declared_option_is_handled(command: Command) -> None:
    """An option the parser reads but nothing acts on changes nothing: that is drift."""
    parse = PARSERS[command.name]
    base = command.examples[0]
    plain_result = _try(parse, base)
    assert not isinstance(plain_result, str), plain_result
    for option in command.options:
        outcome = _try(parse, f"{base} {_with(option, option.name)}")
        if isinstance(outcome, str):
            # Refused for what it means (-p without @server, -x with a name), not as unknown.
            assert "not an option I know" not in outcome and "needs a value" not in outcome
        else:
            assert outcome != plain_result, f"/{command.name} {option.name} changes nothing"
        for alias in option.aliases:
            assert _try(parse, f"{base} {_with(option, alias)}") == outcome


@pytest.mark.parametrize("command", WITH_OPTIONS, ids=[c.name for c in WITH_OPTIONS])
def test_an_undeclared_option_is_refused_with_the_declared_ones(command: Command) -> None:
    parse = PARSERS[command.name]
    outcome = _try(parse, f"{command.examples[0]} +frobnicate")
    assert isinstance(outcome, str) and "+frobnicate is not an option I know (try" in outcome
    assert all(o.synopsis in outcome for o in command.options if o.name.startswith("+"))


def _option_literals(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and OPTION_LIKE.fullmatch(node.value)
    }


FAMILY_PARSERS = sorted(Path(chatbot.__file__).parent.glob("*/command.py"))


@pytest.mark.parametrize("path", FAMILY_PARSERS, ids=[p.parent.name for p in FAMILY_PARSERS])
def test_parsers_handle_only_declared_options(path: Path) -> None:
    """An option spelled out in a parser's code must be declared (and so shown)."""
    declared = {s for c in COMMANDS.values() for o in c.options for s in o.spellings}
    assert _option_literals(path) <= declared


def test_the_scan_sees_the_parsers() -> None:
    # A scan that finds nothing would pass for the wrong reason.
    assert len(FAMILY_PARSERS) >= 3
    assert "+short" in _option_literals(Path(dig.__file__))


def test_dig_usage_names_every_option() -> None:
    """Issue 16: the usage and the manifest hint left out -t and +dnssec, though both work."""
    for text in (COMMANDS["dig"].usage_hint, _manifest_hints()["dig"]):
        for option in ("@server", "-p port", "-x address", "-t type", "+short", "+tcp", "+dnssec"):
            assert option in text
