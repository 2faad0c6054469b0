"""Is this request from Slack? The signing-secret check every request passes before any work."""

from __future__ import annotations

from typing import Any

from slack_sdk.signature import Clock, SignatureVerifier

# Slack's advice: refuse timestamps more than five minutes from our clock (replays).
STALE_SECONDS = 60 * 5


def signature_problem(
    verifier: SignatureVerifier, clock: Clock, body: bytes, headers: Any
) -> str | None:
    """Why a request is not from Slack, or None if it is."""
    timestamp = headers.get("x-slack-request-timestamp")
    signature = headers.get("x-slack-signature")
    if not timestamp or not signature:
        return "missing signature headers"
    if not timestamp.isdigit() or not signature.startswith("v0="):
        return "malformed signature headers"
    if abs(clock.now() - int(timestamp)) > STALE_SECONDS:
        return "stale timestamp"
    if not verifier.is_valid(body=body, timestamp=timestamp, signature=signature):
        return "wrong signature"
    return None
