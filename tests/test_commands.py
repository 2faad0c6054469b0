from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from chatbot.commands import COMMANDS, Command, Invocation, execute
from chatbot.errors import ConnectFailed, UsageError
from chatbot.reply import Reply, plain
from chatbot.settings import Settings


def _command(run: Callable[..., object]) -> Command:
    return Command(name="t", description="test", operands="x", examples=("x",), run=run)  # type: ignore[arg-type]


async def test_registry_names_are_slack_command_names() -> None:
    for name, command in COMMANDS.items():
        assert name == command.name and name.islower() and len(name) <= 32
        assert command.description and command.examples


async def test_unexpected_errors_become_one_friendly_sentence(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def boom(invocation: Invocation, settings: Settings) -> Reply:
        raise KeyError("internal detail")

    reply = await execute(_command(boom), Invocation("x"), Settings())
    assert reply.is_error
    assert plain(reply) == "Something went wrong on our side. Please try again."
    assert "internal detail" in caplog.text  # logged for us, not shown to them


async def test_known_errors_show_their_sentence() -> None:
    async def refused(invocation: Invocation, settings: Settings) -> Reply:
        raise ConnectFailed(server="192.0.2.1", reason="connection refused")

    reply = await execute(_command(refused), Invocation("x"), Settings())
    assert plain(reply) == "Could not connect to 192.0.2.1: connection refused."


async def test_usage_errors_are_marked_and_carry_the_usage() -> None:
    async def confused(invocation: Invocation, settings: Settings) -> Reply:
        raise UsageError("That is not a name.")

    reply = await execute(_command(confused), Invocation("x"), Settings())
    assert reply.is_error and reply.is_usage
    assert plain(reply).splitlines()[:2] == ["That is not a name.", "Usage: `/t x`"]

    async def refused(invocation: Invocation, settings: Settings) -> Reply:
        raise ConnectFailed(server="192.0.2.1", reason="connection refused")

    assert not (await execute(_command(refused), Invocation("x"), Settings())).is_usage


async def test_overall_deadline() -> None:
    async def slow(invocation: Invocation, settings: Settings) -> Reply:
        await asyncio.sleep(5)
        return Reply("never")

    reply = await execute(_command(slow), Invocation("x"), Settings(command_deadline_seconds=0.1))
    assert plain(reply) == "/t did not finish within 0.1 s."


async def test_hello_echoes_even_empty_text() -> None:
    reply = await execute(COMMANDS["hello"], Invocation("", user_name="ada"), Settings())
    assert plain(reply) == "Hello ada, I received ``"


@pytest.mark.parametrize("name", list(COMMANDS))
@pytest.mark.parametrize("word", ["help", "HELP", "--help", "-h", "?", " help "])
async def test_every_command_answers_help_with_its_usage(name: str, word: str) -> None:
    """Issue 16: `/hello help` echoed "help" while every other command answered its usage."""
    command = COMMANDS[name]
    reply = await execute(command, Invocation(word, user_name="ada"), Settings())
    assert reply == command.usage
    assert f"Usage: `/{name} {command.usage_hint}`" in plain(reply)


@pytest.mark.parametrize(
    ("name", "text", "said"),
    [
        ("dig", "example.com +{", "+{ is not an option I know"),
        ("dig", "example.com -{0}", "-{0} is not an option I know"),
        ("whois", "exa{mple", "exa{mple is not a valid domain name"),
        ("tls", "example.com -{0}", "-{0} is not an option I know"),
    ],
)
async def test_braces_typed_into_a_command_are_quoted_back(name: str, text: str, said: str) -> None:
    """Issue 9: user text was read as a str.format template and became an internal error."""
    reply = await execute(COMMANDS[name], Invocation(text), Settings())
    assert reply.is_usage
    assert plain(reply).startswith(said)


def test_options_are_made_once_per_settings() -> None:
    from chatbot import commands

    made: list[Settings] = []

    def make(settings: Settings) -> tuple[str, ...]:
        made.append(settings)
        return settings.dns_resolvers

    one, two = Settings(dns_resolvers=("192.0.2.1",)), Settings(dns_resolvers=("192.0.2.2",))
    for _ in range(3):
        assert commands._once(make, one) == ("192.0.2.1",)
        assert commands._once(make, two) == ("192.0.2.2",)
    assert made == [one, two]
    # Kept for a bounded number of Settings, each kept alive while its options are.
    for n in range(2 * commands._MADE_KEPT):
        commands._once(make, Settings(dns_timeout_seconds=1 + n / 1000))
    assert len(commands._made) <= commands._MADE_KEPT
