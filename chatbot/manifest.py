"""The Slack app manifest, made from the command registry.

Limits are Slack's (docs.slack.dev/reference/app-manifest). They are checked
here, when the manifest is built, because Slack's "create from a manifest"
page rejects a violation with a message about a JSON pointer, not about our
registry.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from chatbot.commands import Command

APP_NAME = "chatbot"
APP_DESCRIPTION = "Network lookups (DNS, whois, TLS) as Slack slash commands."
BACKGROUND_COLOR = "#1d3557"

MAX_APP_NAME = 35
MAX_APP_DESCRIPTION = 140
MAX_COMMANDS = 50
MAX_COMMAND = 32  # including the leading "/"
MAX_DESCRIPTION = 2000
MAX_USAGE_HINT = 1000
MAX_REQUEST_URL = 3500  # interactivity.request_url
MAX_SHORTCUT_NAME = 24
MAX_SHORTCUT_DESCRIPTION = 150
MAX_CALLBACK_ID = 255

# The message shortcut (the "…" menu of a message); chatbot.interactions answers it.
SHORTCUT_NAME = "Check hosts"
SHORTCUT_CALLBACK_ID = "check_hosts"
SHORTCUT_DESCRIPTION = (
    "Addresses and the TLS verdict of the hosts, URLs, IP addresses and mail domains in "
    "this message (up to 3)."
)
INTERACTIONS_PATH = "/slack/interactions"

# Lowercase letters, digits, "-" and "_" only: a name that needs capitals,
# spaces or punctuation is one users mistype, and Slack's autocomplete lists
# commands by this exact name.
_COMMAND_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_HEX_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")


class ManifestError(ValueError):
    """The registry or the arguments break one of Slack's manifest rules."""


def base_url(url: str) -> str:
    """The service's public base URL, without a trailing slash; refuses non-HTTP(S)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ManifestError(f"{url!r} is not an http(s) URL such as https://chatbot.example.com")
    if parts.query or parts.fragment:
        raise ManifestError(f"{url!r} has a query or fragment; give the service's base URL")
    return url.strip().rstrip("/")


def problems(commands: Iterable[Command]) -> list[str]:
    """Every way the registry breaks Slack's limits (empty when it does not)."""
    found: list[str] = []
    commands = list(commands)
    if not commands:
        # Slack rejects an empty slash_commands list.
        found.append("the registry has no commands")
    if len(commands) > MAX_COMMANDS:
        found.append(f"{len(commands)} commands, Slack allows at most {MAX_COMMANDS}")
    for command in commands:
        slash = f"/{command.name}"
        if not _COMMAND_NAME.fullmatch(command.name):
            found.append(f"{slash}: a name must be lowercase letters, digits, '-' or '_'")
        if len(slash) > MAX_COMMAND:
            found.append(f"{slash}: {len(slash)} characters, Slack allows {MAX_COMMAND}")
        if not command.description.strip():
            found.append(f"{slash}: the description is empty, Slack requires one")
        if len(command.description) > MAX_DESCRIPTION:
            found.append(
                f"{slash}: description of {len(command.description)} characters, "
                f"Slack allows {MAX_DESCRIPTION}"
            )
        if len(command.usage_hint) > MAX_USAGE_HINT:
            found.append(
                f"{slash}: usage hint of {len(command.usage_hint)} characters, "
                f"Slack allows {MAX_USAGE_HINT}"
            )
    return found


def _shortcut_problems(name: str, callback_id: str, description: str) -> list[str]:
    found: list[str] = []
    if not 0 < len(name) <= MAX_SHORTCUT_NAME:
        found.append(f"shortcut name {name!r}: 1 to {MAX_SHORTCUT_NAME} characters")
    if not 0 < len(callback_id) <= MAX_CALLBACK_ID:
        found.append(f"shortcut callback_id: 1 to {MAX_CALLBACK_ID} characters")
    if not 0 < len(description) <= MAX_SHORTCUT_DESCRIPTION:
        found.append(
            f"shortcut description: {len(description)} characters, "
            f"Slack allows 1 to {MAX_SHORTCUT_DESCRIPTION}"
        )
    return found


def build(
    commands: Iterable[Command],
    url: str,
    *,
    name: str = APP_NAME,
    description: str = APP_DESCRIPTION,
    background_color: str = BACKGROUND_COLOR,
) -> dict[str, Any]:
    """The manifest as a dict; raises ManifestError listing every violation."""
    commands = list(commands)
    base = base_url(url)
    found = problems(commands)
    if not name.strip() or len(name) > MAX_APP_NAME:
        found.append(f"app name {name!r}: 1 to {MAX_APP_NAME} characters")
    if len(description) > MAX_APP_DESCRIPTION:
        found.append(
            f"app description: {len(description)} characters, Slack allows {MAX_APP_DESCRIPTION}"
        )
    if not _HEX_COLOR.fullmatch(background_color):
        found.append(f"background color {background_color!r}: use #rgb or #rrggbb")
    request_url = f"{base}{INTERACTIONS_PATH}"
    if len(request_url) > MAX_REQUEST_URL:
        found.append(
            f"interactivity request URL: {len(request_url)} characters, "
            f"Slack allows {MAX_REQUEST_URL}"
        )
    found += _shortcut_problems(SHORTCUT_NAME, SHORTCUT_CALLBACK_ID, SHORTCUT_DESCRIPTION)
    if found:
        raise ManifestError("; ".join(found))
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": name,
            "description": description,
            "background_color": background_color,
        },
        # No bot_user: slash commands need only the `commands` scope, and a bot
        # user would add a member to the workspace that never says anything.
        "features": {
            "slash_commands": [
                {
                    "command": f"/{command.name}",
                    "url": f"{base}/slash-commands/{command.name}",
                    "description": command.description,
                    "usage_hint": command.usage_hint,
                    # We undo Slack's link wrapping ourselves (slack.normalize_text);
                    # escaping would turn typed names into user and channel ids.
                    "should_escape": False,
                }
                for command in commands
            ],
            # Message shortcuts need only the `commands` scope, as slash commands do.
            "shortcuts": [
                {
                    "name": SHORTCUT_NAME,
                    "type": "message",
                    "callback_id": SHORTCUT_CALLBACK_ID,
                    "description": SHORTCUT_DESCRIPTION,
                }
            ],
        },
        "oauth_config": {"scopes": {"bot": ["commands"]}},
        "settings": {
            # Buttons on answers and the shortcut post to one request URL.
            "interactivity": {"is_enabled": True, "request_url": request_url},
            "org_deploy_enabled": False,
            "socket_mode_enabled": False,
            "token_rotation_enabled": False,
        },
    }


def dump(manifest: dict[str, Any]) -> str:
    """YAML as Slack's manifest editor shows it: keys in our order, Unicode kept."""
    import yaml

    return yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True, width=1000)
