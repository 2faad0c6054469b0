"""Is this request from Slack? The signing-secret check every request passes before any work.

Everything here reads text an anonymous sender chose, so nothing may raise:
the timestamp is taken only as a few ASCII digits (`int()` accepts `²` and
thousands of digits, then fails), and the HMAC is computed over the body's
bytes (slack_sdk's verifier decodes them as UTF-8 first, and a `\\xff` in
the body made that a 500).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from typing import Any

# Slack's advice: refuse timestamps more than five minutes from our clock (replays).
STALE_SECONDS = 60 * 5
# Unix seconds have 10 digits until the year 2286; 12 leaves room and stays far
# below anything int() or float() could choke on.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


class Clock:
    """Seconds since the epoch, as slack_sdk's Clock gives them: tests pin it."""

    def now(self) -> float:
        return time.time()


class Verifier:
    """Slack's v0 request signature: HMAC-SHA256 of `v0:{timestamp}:{body}` with the secret."""

    def __init__(self, secret: str, clock: Clock | None = None) -> None:
        self._key = secret.encode()
        self.clock = clock or Clock()

    def signature(self, timestamp: str, body: bytes) -> str:
        base = b"v0:" + timestamp.encode("ascii") + b":" + body
        return "v0=" + hmac.new(self._key, base, hashlib.sha256).hexdigest()

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
        if not hmac.compare_digest(self.signature(timestamp, body), signature):
            return "wrong signature"
        return None
