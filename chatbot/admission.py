"""Who gets in, before any work: body cap, signature, workspace, rate limit.

A request goes edge -> body cap -> signature -> workspace -> rate limit ->
command. The body cap is ASGI middleware below every route, so no route (a
later `/slack/interactions` included) can read more than the cap; the rest
is `Admission.admit`, the one implementation every Slack route calls. Each
refusal writes one log line whose `outcome` says which door closed.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from chatbot import slack
from chatbot.manifest import INTERACTIONS_PATH
from chatbot.ratelimit import RateLimits
from chatbot.reply import Reply
from chatbot.settings import Settings
from chatbot.verification import Clock, Verifier

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Slack posts slash commands and interactions as forms, nothing else.
FORM = "application/x-www-form-urlencoded"
_LENGTH = re.compile(rb"[0-9]{1,18}")
_COMMAND_PATH = re.compile(r"/slash-commands/([a-z0-9_-]{1,32})")
# The name refusals at Slack's interactivity request URL are logged under.
INTERACTIONS = "interactions"


def refused(
    command: str,
    outcome: str,
    started: float,
    reason: str,
    *,
    team_id: str = "",
    user_id: str = "",
    level: int = logging.WARNING,
) -> None:
    """The one line a refused request writes, shaped like a command's summary line."""
    milliseconds = round((time.monotonic() - started) * 1000)
    path = INTERACTIONS_PATH if command == INTERACTIONS else f"/slash-commands/{command}"
    log.log(
        level,
        "rejected %s: %s" if outcome == "bad_signature" else "/%s refused: %s",
        path if outcome == "bad_signature" else command,
        reason,
        extra={
            "fields": {
                "command": command,
                "team_id": team_id,
                "user_id": user_id,
                "outcome": outcome,
                "mode": "refused",
                "duration_ms": milliseconds,
            }
        },
    )


class BodyLimit:
    """Pure ASGI middleware: every request body is read here, at most `max_bytes` of it.

    A declared `Content-Length` over the cap is answered 413 before a byte of
    the body is read; a chunked body is counted as it arrives and cut at the
    cap. A POST that is not a form is answered 415. The app below gets the body
    whole, replayed from memory, so what an unsigned request costs is the cap.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None and (not _LENGTH.fullmatch(length) or int(length) > self.max_bytes):
            await self._refuse(scope, send, started, 413, "too_large", "body over the cap")
            return
        media = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
        if scope["method"] == "POST" and media != FORM.encode():
            await self._refuse(scope, send, started, 415, "unsupported_type", "not a form")
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, send, started, 413, "too_large", "body over the cap")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(
        self, scope: Scope, send: Send, started: float, status: int, outcome: str, reason: str
    ) -> None:
        path = str(scope.get("path", ""))
        match = _COMMAND_PATH.fullmatch(path)
        name = INTERACTIONS if path == INTERACTIONS_PATH else path
        refused(match.group(1) if match else name, outcome, started, reason)
        payload = json.dumps({"error": reason}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    # The rest of the body is never read, so the connection cannot be reused.
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def form_fields(body: bytes) -> dict[str, str]:
    """A form's fields, the last of a repeated name winning.

    What `dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))`
    gives (tests/test_admission.py checks it on generated forms), in two thirds
    of its time: a field is unquoted only when it holds a `+` or a `%`.
    """
    fields: dict[str, str] = {}
    for field in body.decode("utf-8", "replace").split("&"):
        if not field:
            continue
        name, _, value = field.partition("=")
        if "+" in name or "%" in name:
            name = unquote_plus(name, errors="replace")
        if "+" in value or "%" in value:
            value = unquote_plus(value, errors="replace")
        fields[name] = value
    return fields


@dataclass(frozen=True)
class Identity:
    """Who sent a signed request: workspace, Enterprise Grid organisation, user."""

    team_id: str = ""
    enterprise_id: str = ""
    user_id: str = ""

    @classmethod
    def of(cls, form: dict[str, str], payload: dict[str, Any] | None = None) -> Identity:
        """From a slash command's fields, or an interaction's `payload` (see `interaction`)."""
        if "payload" not in form:
            return cls(
                form.get("team_id", ""), form.get("enterprise_id", ""), form.get("user_id", "")
            )
        if payload is None:
            payload = interaction(form)
        if payload is None:
            return cls()

        def field(name: str) -> str:
            value = payload.get(name)
            found = value.get("id") if isinstance(value, dict) else None
            return found if isinstance(found, str) else ""

        return cls(field("team"), field("enterprise"), field("user"))


def interaction(form: dict[str, str]) -> dict[str, Any] | None:
    """An interaction's `payload` field as the JSON object it should be, else None."""
    try:
        payload = json.loads(form.get("payload", ""))
    except (ValueError, RecursionError):
        return None
    return payload if isinstance(payload, dict) else None


@dataclass(frozen=True)
class Admitted:
    """A signed request from an allowed workspace, within its limits: the form to act on."""

    form: dict[str, str]
    identity: Identity
    # An interaction's payload, parsed (None for a slash command, or one that is no object).
    payload: dict[str, Any] | None = None


@dataclass(frozen=True)
class Turned:
    """A request answered at the door: a refusal, or Slack's `ssl_check`."""

    response: Response
    outcome: str
    # The refusal as a reply, for a route whose HTTP answer Slack does not show
    # (an interaction's goes to its response_url), and the payload it came with.
    reply: Reply | None = None
    payload: dict[str, Any] | None = None


def _ephemeral(reply: Reply) -> Response:
    return JSONResponse(slack.message(reply, "ephemeral"))


class Admission:
    """Signature, then workspace, then rate limit: the check every Slack route runs first."""

    def __init__(
        self, settings: Settings, clock: Clock | None = None, limits: RateLimits | None = None
    ) -> None:
        self.verifier = Verifier(settings.slack_signing_secret.get_secret_value(), clock)
        self.teams = frozenset(settings.allowed_team_ids)
        self.limits = limits or RateLimits(
            settings.rate_limit_user, settings.rate_limit_team, settings.rate_limit_storage
        )

    def workspace_allowed(self, who: Identity) -> bool:
        return not self.teams or bool({who.team_id, who.enterprise_id} & self.teams)

    async def admit(self, request: Request, name: str, started: float) -> Admitted | Turned:
        # The signature covers the raw bytes, so read them before any form parsing.
        body = await request.body()
        problem = self.verifier.problem(body, request.headers)
        if problem is not None:
            refused(name, "bad_signature", started, problem)
            return Turned(
                JSONResponse({"error": "invalid signature"}, status_code=401), "bad_signature"
            )
        form = form_fields(body)
        if form.get("ssl_check") == "1":
            return Turned(Response(status_code=200), "ssl_check")
        payload = interaction(form) if "payload" in form else None
        who = Identity.of(form, payload)
        if not self.workspace_allowed(who):
            refused(
                name,
                "not_allowed",
                started,
                f"workspace {who.team_id or '?'} ({who.enterprise_id or 'no enterprise'}) "
                "is not in CHATBOT_ALLOWED_TEAM_IDS",
                team_id=who.team_id,
                user_id=who.user_id,
            )
            reply = Reply.error("This app is not enabled for this workspace.")
            return Turned(_ephemeral(reply), "not_allowed", reply, payload)
        exceeded = await self.limits.check(who.team_id, who.user_id)
        if exceeded is not None:
            refused(
                name,
                "rate_limited",
                started,
                f"{exceeded.scope} limit of {exceeded.amount} per {exceeded.window}",
                team_id=who.team_id,
                user_id=who.user_id,
                level=logging.INFO,
            )
            reply = Reply.error(exceeded.sentence())
            return Turned(_ephemeral(reply), "rate_limited", reply, payload)
        return Admitted(form, who, payload)
