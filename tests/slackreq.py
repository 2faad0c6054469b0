"""Signed slash-command requests, built the way Slack builds them."""

from __future__ import annotations

import time
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
