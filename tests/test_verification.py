"""The signature check on a clock of the test's: Slack's five minutes, to the second."""

from __future__ import annotations

import pytest
from slack_sdk.signature import Clock

from chatbot.verification import STALE_SECONDS, Verifier
from tests.slackreq import SECRET, form, headers

SIGNED_AT = 1_700_000_000


class FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


@pytest.mark.parametrize(
    ("offset", "problem"),
    [
        (0, None),
        (STALE_SECONDS, None),
        (STALE_SECONDS + 0.5, "stale timestamp"),
        (STALE_SECONDS + 1, "stale timestamp"),
        (-STALE_SECONDS, None),
        (-STALE_SECONDS - 1, "stale timestamp"),
    ],
)
def test_a_timestamp_is_good_for_five_minutes_either_way(
    offset: float, problem: str | None
) -> None:
    body = form("dig", "example.test")
    signed = headers(body, timestamp=SIGNED_AT)
    assert Verifier(SECRET, FixedClock(SIGNED_AT + offset)).problem(body, signed) == problem


def test_the_signature_covers_the_timestamp_and_the_body() -> None:
    body = form("dig", "example.test")
    signed = headers(body, timestamp=SIGNED_AT)
    verifier = Verifier(SECRET, FixedClock(SIGNED_AT))
    assert verifier.problem(body + b"&x=1", signed) == "wrong signature"
    moved = {**signed, "x-slack-request-timestamp": str(SIGNED_AT + 1)}
    assert verifier.problem(body, moved) == "wrong signature"
    assert Verifier("other-secret", FixedClock(SIGNED_AT)).problem(body, signed) == (
        "wrong signature"
    )
