from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
import yaml

from chatbot import manifest
from chatbot.commands import COMMANDS, Command, Invocation
from chatbot.manifest import ManifestError
from chatbot.reply import Reply
from chatbot.settings import Settings

URL = "https://chatbot.example.com"


async def _nothing(invocation: Invocation, settings: Settings) -> Reply:
    return Reply(summary="")


def fake(name: str = "fake", description: str = "A fake.", usage_hint: str = "[x]") -> Command:
    return Command(
        name=name, description=description, operands=usage_hint, examples=(), run=_nothing
    )


def parsed(url: str = URL, commands: Any = None) -> dict[str, Any]:
    commands = COMMANDS.values() if commands is None else commands
    loaded = yaml.safe_load(manifest.dump(manifest.build(commands, url)))
    assert isinstance(loaded, dict)
    return loaded


def test_every_registry_command_is_in_the_manifest_with_its_url() -> None:
    slash = {c["command"]: c for c in parsed()["features"]["slash_commands"]}
    assert set(slash) == {f"/{name}" for name in COMMANDS}
    for name, command in COMMANDS.items():
        entry = slash[f"/{name}"]
        assert entry == {
            "command": f"/{name}",
            "url": f"{URL}/slash-commands/{name}",
            "description": command.description,
            "usage_hint": command.usage_hint,
            "should_escape": False,
        }


def test_the_rest_of_the_manifest_is_what_slack_expects() -> None:
    loaded = parsed()
    info = loaded["display_information"]
    assert 0 < len(info["name"]) <= 35
    assert 0 < len(info["description"]) <= 140
    assert info["background_color"].startswith("#")
    assert loaded["oauth_config"] == {"scopes": {"bot": ["commands"]}}
    # Slash commands and message shortcuts need no bot user.
    assert set(loaded["features"]) == {"slash_commands", "shortcuts"}
    assert loaded["settings"] == {
        "interactivity": {"is_enabled": True, "request_url": f"{URL}/slack/interactions"},
        "org_deploy_enabled": False,
        "socket_mode_enabled": False,
        "token_rotation_enabled": False,
    }


def test_the_check_hosts_message_shortcut() -> None:
    (shortcut,) = parsed()["features"]["shortcuts"]
    assert shortcut == {
        "name": "Check hosts",
        "type": "message",
        "callback_id": "check_hosts",
        "description": manifest.SHORTCUT_DESCRIPTION,
    }
    # Slack's schema (slackapi/manifest-schema): name 1-24, description 1-150, callback_id 1-255.
    assert 0 < len(shortcut["name"]) <= 24
    assert 0 < len(shortcut["description"]) <= 150


@pytest.mark.parametrize(
    ("name", "callback_id", "description", "problem"),
    [
        ("n" * 25, "c", "d", "shortcut name"),
        ("", "c", "d", "shortcut name"),
        ("n", "c" * 256, "d", "callback_id"),
        ("n", "", "d", "callback_id"),
        ("n", "c", "d" * 151, "151 characters, Slack allows 1 to 150"),
        ("n", "c", "", "shortcut description"),
    ],
)
def test_shortcut_limits(name: str, callback_id: str, description: str, problem: str) -> None:
    (found,) = manifest._shortcut_problems(name, callback_id, description)
    assert problem in found
    assert manifest._shortcut_problems("n" * 24, "c" * 255, "d" * 150) == []


def test_an_interactivity_url_over_3500_characters_is_refused() -> None:
    path = "/slack/interactions"
    longest = "https://x.example/" + "p" * (3500 - len("https://x.example/") - len(path))
    assert parsed(longest)["settings"]["interactivity"]["request_url"] == longest + path
    with pytest.raises(ManifestError, match="3501 characters, Slack allows 3500"):
        manifest.build(COMMANDS.values(), longest + "p")


def test_every_url_is_a_route_of_the_app() -> None:
    from chatbot.web import create_app

    app = create_app(Settings(slack_signing_secret="x"))
    routes = {getattr(route, "path", "") for route in app.routes}
    loaded = parsed("https://x.example")
    for entry in loaded["features"]["slash_commands"]:
        assert entry["url"].removeprefix("https://x.example") in routes
    request_url = loaded["settings"]["interactivity"]["request_url"]
    assert request_url.removeprefix("https://x.example") in routes


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("https://chatbot.example.com/", "https://chatbot.example.com"),
        ("https://chatbot.example.com///", "https://chatbot.example.com"),
        ("  https://chatbot.example.com  ", "https://chatbot.example.com"),
        ("https://example.com/chatbot/", "https://example.com/chatbot"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ],
)
def test_base_url_strips_trailing_slashes(url: str, base: str) -> None:
    assert manifest.base_url(url) == base
    assert parsed(url)["features"]["slash_commands"][0]["url"].startswith(f"{base}/slash-commands/")


@pytest.mark.parametrize(
    "url",
    [
        "",
        "chatbot.example.com",
        "ftp://chatbot.example.com",
        "javascript:alert(1)",
        "https://",
        "https:///path",
        "https://chatbot.example.com/?a=1",
        "https://chatbot.example.com/#top",
    ],
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(ManifestError):
        manifest.build(COMMANDS.values(), url)


def test_a_32_character_command_is_allowed_and_33_is_not() -> None:
    longest = "x" * 31  # "/" + 31 = 32 characters
    assert parsed(commands=[fake(longest)])["features"]["slash_commands"][0]["command"] == (
        f"/{longest}"
    )
    with pytest.raises(ManifestError, match=f"/{longest}x: 33 characters, Slack allows 32"):
        manifest.build([*COMMANDS.values(), fake(longest + "x")], URL)


@pytest.mark.parametrize(
    ("command", "problem"),
    [
        (fake("Dig"), "lowercase"),
        (fake("dig me"), "lowercase"),
        (fake("dig/x"), "lowercase"),
        (fake(""), "lowercase"),
        (fake(description=""), "description is empty"),
        (fake(description="   "), "description is empty"),
        (fake(description="d" * 2001), "description of 2001 characters, Slack allows 2000"),
        (fake(usage_hint="u" * 1001), "usage hint of 1001 characters, Slack allows 1000"),
    ],
)
def test_slack_limits_are_enforced(command: Command, problem: str) -> None:
    with pytest.raises(ManifestError, match=problem):
        manifest.build([command], URL)


def test_limits_at_the_boundary_pass() -> None:
    command = fake("a-b_1", description="d" * 2000, usage_hint="u" * 1000)
    assert manifest.problems([command]) == []


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ManifestError) as caught:
        manifest.build([fake("Bad", "")], URL)
    assert "lowercase" in str(caught.value) and "description is empty" in str(caught.value)


def test_command_count_limits() -> None:
    assert manifest.problems([]) == ["the registry has no commands"]
    many = [fake(f"c{i}") for i in range(51)]
    assert manifest.problems(many) == ["51 commands, Slack allows at most 50"]
    assert manifest.problems(many[:50]) == []


@pytest.mark.parametrize(
    ("option", "value"),
    [("name", "n" * 36), ("name", " "), ("description", "d" * 141), ("background_color", "blue")],
)
def test_display_information_limits(option: str, value: str) -> None:
    with pytest.raises(ManifestError):
        manifest.build(COMMANDS.values(), URL, **{option: value})


def test_the_registry_passes_slacks_limits() -> None:
    assert manifest.problems(COMMANDS.values()) == []


def test_yaml_keeps_unicode_and_order() -> None:
    text = manifest.dump(manifest.build([fake(description="Résolution DNS")], URL))
    assert "Résolution DNS" in text
    assert text.index("display_information") < text.index("features") < text.index("settings")


# --- the command line ----------------------------------------------------------


def chatbot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatbot.cli", *args],
        env={**os.environ, "SLACK_SIGNING_SECRET": ""},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_cli_prints_the_manifest() -> None:
    done = chatbot("manifest", "--url", "https://chatbot.example.com/")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    loaded = yaml.safe_load(done.stdout)
    assert loaded == parsed("https://chatbot.example.com")


def test_cli_takes_an_app_name() -> None:
    done = chatbot("manifest", "--url", URL, "--name", "chatbot (staging)")
    assert yaml.safe_load(done.stdout)["display_information"]["name"] == "chatbot (staging)"


def test_cli_refuses_a_bad_url_in_one_line() -> None:
    done = chatbot("manifest", "--url", "ftp://chatbot.example.com")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert "not an http(s) URL" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_warns_about_plain_http() -> None:
    done = chatbot("manifest", "--url", "http://127.0.0.1:8080")
    assert done.returncode == 0
    assert "Slack only calls https request URLs" in done.stderr
    assert yaml.safe_load(done.stdout)["features"]["slash_commands"]


def test_cli_needs_a_url() -> None:
    done = chatbot("manifest")
    assert done.returncode == 2
    assert "--url" in done.stderr
