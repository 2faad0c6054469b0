"""Is this request from Slack? The signing-secret check every request passes before any work.

slack_sdk's `SignatureVerifier` computes and compares the HMAC. What this adds
is reading what an anonymous sender chose strictly first, so that nothing in it
can raise: the timestamp only as a few ASCII digits (`int()` accepts `²` and
thousands of digits, then fails), the signature only as `v0=` and 64 hex
digits, and the body only if it is UTF-8 (the SDK decodes it, and a `\\xff`
made that a 500). Slack's bodies are URL-encoded ASCII: one that is not UTF-8
is not from Slack.
"""

from __future__ import annotations

import re
from typing import Any

from slack_sdk.signature import Clock, SignatureVerifier

__all__ = ["STALE_SECONDS", "Clock", "Verifier"]

# Slack's advice: refuse timestamps more than five minutes from our clock (replays).
STALE_SECONDS = 60 * 5
# Unix seconds have 10 digits until the year 2286; 12 leaves room and stays far
# below anything int() or float() could choke on.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


class Verifier:
    """Slack's v0 request signature: HMAC-SHA256 of `v0:{timestamp}:{body}` with the secret."""

    def __init__(self, secret: str, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self._sdk = SignatureVerifier(secret, clock=self.clock)

    def problem(self, body: bytes, headers: Any) -> str | None:
        """Why a request is not from Slack, or None if it is."""
        timestamp = headers.get("x-slack-request-timestamp")
        signature = headers.get("x-slack-signature")
        if not timestamp or not signature:
            return "missing signature headers"
        if not _TIMESTAMP.fullmatch(timestamp) or not _SIGNATURE.fullmatch(signature):
            return "malformed signature headers"
        if abs(self.clock.now() - int(timestamp)) > STALE_SECONDS:
            return "stale timestamp"
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return "body is not UTF-8"
        if not self._sdk.is_valid(body=text, timestamp=timestamp, signature=signature):
            return "wrong signature"
        return None
