"""Signed slash-command and interaction requests, built the way Slack builds them."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

SECRET = "test-signing-secret"


def form(command: str, text: str, response_url: str = "", **extra: str) -> bytes:
    fields = {
        "token": "legacy-token",
        "team_id": "T0001",
        "team_domain": "example",
        "channel_id": "C0001",
        "channel_name": "general",
        "user_id": "U0001",
        "user_name": "ada",
        "command": f"/{command}",
        "text": text,
        "response_url": response_url,
        "trigger_id": "1.2.3",
        **extra,
    }
    return urlencode(fields).encode()


def headers(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    assert signature is not None
    return {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": stamp,
        "x-slack-signature": signature,
    }


# --- interactions, as Slack documents their payloads ---------------------------------
# docs.slack.dev/reference/interaction-payloads/block_actions-payload and the shortcuts
# payload; the shapes follow Slack's examples (and Bolt's test fixtures of them).


def block_actions(
    action_id: str,
    value: str,
    response_url: str,
    *,
    ephemeral: bool = True,
    user_id: str = "U0001",
    team_id: str = "T0001",
    label: str = "Run again",
) -> dict[str, Any]:
    """The payload of a button clicked on a message (an ephemeral one has no `message`)."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user_id, "username": "ada", "name": "ada", "team_id": team_id},
        "api_app_id": "A0001",
        "token": "legacy-token",
        "container": {
            "type": "message",
            "message_ts": "1700000000.000100",
            "channel_id": "C0001",
            "is_ephemeral": ephemeral,
        },
        "trigger_id": "1.2.3",
        "team": {"id": team_id, "domain": "example"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": "C0001", "name": "general"},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": "Xy1z",
                "text": {"type": "plain_text", "text": label, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": "1700000001.000200",
            }
        ],
    }
    if not ephemeral:
        payload["message"] = {
            "type": "message",
            "subtype": "bot_message",
            "text": "an answer",
            "ts": "1700000000.000100",
            "bot_id": "B0001",
            "blocks": [],
        }
    return payload


def message_action(
    text: str,
    response_url: str,
    *,
    callback_id: str = "check_hosts",
    user_id: str = "U0001",
    team_id: str = "T0001",
) -> dict[str, Any]:
    """The payload of a message shortcut used on a message that says `text`."""
    return {
        "type": "message_action",
        "token": "legacy-token",
        "action_ts": "1700000002.000300",
        "team": {"id": team_id, "domain": "example"},
        "user": {"id": user_id, "username": "ada", "name": "ada", "team_id": team_id},
        "channel": {"id": "C0001", "name": "general"},
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": "1.2.4",
        "response_url": response_url,
        "message_ts": "1700000000.000400",
        "message": {
            "type": "message",
            "user": "U0002",
            "ts": "1700000000.000400",
            "text": text,
        },
    }


def interaction(payload: dict[str, Any] | str) -> bytes:
    """The form Slack posts: one field, `payload`, holding the JSON."""
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return urlencode({"payload": data}).encode()
