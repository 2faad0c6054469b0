"""Slack's interactivity request URL, POST /slack/interactions: the buttons on answers
("Share in channel", "Run again", "Run /tls") and the "Check hosts" message shortcut.

A request passes the same doors as a slash command (`Admission.admit`: body
cap, signature, workspace, rate limit) and its command runs through the same
inline-or-deferred logic (`answers.answer`). Slack shows nothing of the HTTP
answer to an interaction, so every message, a refusal or "busy" included,
goes to the payload's `response_url`, and the HTTP answer is an empty 200;
a payload that is not what Slack sends is a 400, an unsigned request a 401.

Slack takes at most five posts to one response_url within 30 minutes
(docs.slack.dev, "Handling user interaction"). Every attempt is counted as a
post here, a retry included (Slack may have counted the one that failed), and
the attempts of all the posts one click can cause add up to five at most:

    Run again   "Looking up…" in place of the ephemeral original (1), the answer (4)
    Share       the answer in the channel (3), then deleting the original (2)
    Run /tls, Check hosts, an error, a refusal: one post (4 at most)

A shutdown's restart notice (one attempt) replaces a deferred answer's posts,
which then never start. Each click brings a response_url of its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from chatbot import answers, hosts, logs, slack
from chatbot.admission import INTERACTIONS, Admission, Turned
from chatbot.arguments import clip
from chatbot.commands import COMMANDS, Command, Invocation, execute
from chatbot.delivery import Delivery, url_host
from chatbot.jobs import Jobs, Post, Render
from chatbot.manifest import INTERACTIONS_PATH, SHORTCUT_CALLBACK_ID
from chatbot.reply import Reply
from chatbot.settings import Settings

log = logging.getLogger(__name__)

CHECK_HOSTS = SHORTCUT_CALLBACK_ID

POSTS_PER_RESPONSE_URL = 5
ANSWER_ATTEMPTS = 4
SHARE_ATTEMPTS = 3
DELETE_ATTEMPTS = 2
NOTICE_ATTEMPTS = 1
ACTIONS = (slack.SHARE, slack.RUN_AGAIN, slack.RUN)


class Malformed(ValueError):
    """The payload is not what Slack sends for a button or a message shortcut."""


@dataclass(frozen=True)
class Click:
    """A button of ours clicked: which, the command line it carries, and where to answer."""

    action_id: str
    command: Command
    text: str
    response_url: str
    ephemeral: bool  # the message clicked on is ephemeral
    invocation: Invocation

    @property
    def line(self) -> str:
        return slack.command_line(self.command.name, self.text)


@dataclass(frozen=True)
class Shortcut:
    """ "Check hosts" used on a message: its text (as Slack sends it) and where to answer."""

    message: str
    response_url: str
    invocation: Invocation


@dataclass(frozen=True)
class Ignored:
    """A payload type, action or shortcut that is not ours: answered 200 and logged."""

    what: str


def _object(container: dict[str, Any], key: str) -> dict[str, Any]:
    value = container.get(key)
    if not isinstance(value, dict):
        raise Malformed(f"{key} is not an object")
    return value


def _string(container: dict[str, Any], key: str, *, required: bool = False) -> str:
    value = container.get(key)
    if isinstance(value, str):
        return value
    if required or value is not None:
        raise Malformed(f"{key} is not a string")
    return ""


def _invocation(payload: dict[str, Any], text: str) -> Invocation:
    user = _object(payload, "user")
    team = payload.get("team")
    channel = payload.get("channel")
    team_id = _string(team, "id") if isinstance(team, dict) else ""
    return Invocation(
        text=text,
        user_id=_string(user, "id", required=True),
        user_name=_string(user, "username") or _string(user, "name"),
        team_id=team_id or _string(user, "team_id"),
        channel_id=_string(channel, "id") if isinstance(channel, dict) else "",
    )


def _command(value: str) -> tuple[Command, str]:
    """A button's value, `/dig example.com MX`, as the command and its text."""
    name, _, text = value.partition(" ")
    command = COMMANDS.get(name.removeprefix("/")) if name.startswith("/") else None
    if command is None:
        raise Malformed("the button's value names no command of ours")
    return command, text


def read(payload: dict[str, Any] | None) -> Click | Shortcut | Ignored:
    """What an interaction payload asks for; raises Malformed when it is not Slack's shape."""
    if payload is None:
        raise Malformed("no payload, or one that is not a JSON object")
    kind = _string(payload, "type", required=True)
    if kind == "block_actions":
        actions = payload.get("actions")
        if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
            raise Malformed("actions is not a list of objects")
        action = actions[0]
        action_id = _string(action, "action_id", required=True)
        if action_id not in ACTIONS:
            return Ignored(f"action {clip(action_id)}")
        command, text = _command(_string(action, "value", required=True))
        container = payload.get("container")
        ephemeral = isinstance(container, dict) and container.get("is_ephemeral") is True
        return Click(
            action_id,
            command,
            text,
            _string(payload, "response_url", required=True),
            ephemeral,
            _invocation(payload, text),
        )
    if kind == "message_action":
        callback = _string(payload, "callback_id", required=True)
        if callback != CHECK_HOSTS:
            return Ignored(f"message shortcut {clip(callback)}")
        message = _string(_object(payload, "message"), "text")
        return Shortcut(
            message,
            _string(payload, "response_url", required=True),
            _invocation(payload, message),
        )
    return Ignored(f"payload type {clip(kind)}")


# --- what a reply becomes at the response_url -----------------------------------------


def _new(message: dict[str, Any], attempts: int = ANSWER_ATTEMPTS) -> Post:
    return Post({**message, "replace_original": False}, attempts)


def _replacing(message: dict[str, Any], attempts: int = ANSWER_ATTEMPTS) -> Post:
    return Post({**message, "replace_original": True}, attempts)


def share(line: str, user_id: str) -> Render:
    """The answer in the channel with who shared it, then the ephemeral original removed.

    Slack sends no copy of an ephemeral message with the click, so the answer
    shared is the command run again. One that fails goes to the clicker alone,
    and the original stays.
    """

    def render(reply: Reply) -> list[Post]:
        if reply.is_error:
            return [_new(slack.message(reply, "ephemeral"))]
        note = slack.shared_note(user_id, line)
        shared = slack.message(reply, "in_channel", rerun=line, note=note)
        # Deleted only once the shared answer is there (Jobs posts in order).
        return [_new(shared, SHARE_ATTEMPTS), Post({"delete_original": True}, DELETE_ATTEMPTS)]

    return render


def again(line: str, user_id: str, ephemeral: bool) -> Render:
    """The answer in place of the message clicked on, saying when it ran."""
    response_type = "ephemeral" if ephemeral else "in_channel"

    def render(reply: Reply) -> list[Post]:
        if reply.is_error and not ephemeral:
            # The channel keeps the answer it had; the failure is the clicker's alone.
            return [_new(slack.message(reply, "ephemeral"))]
        note = "" if reply.is_error else slack.rerun_note(user_id, line)
        return [_replacing(slack.message(reply, response_type, rerun=line, note=note))]

    return render


def again_first(acknowledgement: Reply, ephemeral: bool) -> Post | None:
    """ "Looking up…" in place of an ephemeral original while the answer is on its way.

    A shared answer is left as it is until the new one replaces it: the
    channel need not see the wait.
    """
    if not ephemeral:
        return None
    return _replacing(slack.message(acknowledgement, "ephemeral"), NOTICE_ATTEMPTS)


def run(line: str) -> Render:
    """A new ephemeral answer (a summary's "Run /tls"): the summary stays."""

    def render(reply: Reply) -> list[Post]:
        return [_new(slack.message(reply, "ephemeral", rerun=line))]

    return render


def summary(lines: list[str]) -> Render:
    """Check hosts: the summary, a "Run /tls" or "Run /dig" button on each host."""

    def render(reply: Reply) -> list[Post]:
        # A shortcut's response_url has no message of ours to replace.
        return [Post(slack.summary_message(reply, lines), ANSWER_ATTEMPTS)]

    return render


# --- the route ---------------------------------------------------------------------------


def register(app: FastAPI, settings: Settings, admission: Admission, jobs: Jobs) -> None:
    """Add POST /slack/interactions to `app` (whose lifespan sets `app.state.delivery`)."""
    # Refusals on their way to a response_url, kept so they are not collected mid-post.
    told: set[asyncio.Task[Any]] = set()

    def tell(delivery: Delivery, response_url: str, reply: Reply) -> None:
        """Post a refusal or "busy" to the clicker, apart from the request."""
        if not delivery.allowed(response_url):
            log.info("not told: response_url on %s not allowed", url_host(response_url))
            return
        post = _new(slack.message(reply, "ephemeral"), NOTICE_ATTEMPTS)
        task = asyncio.create_task(
            delivery.post(response_url, post.payload, attempts=post.attempts)
        )
        told.add(task)
        task.add_done_callback(told.discard)

    async def act(
        event: Click | Shortcut, delivery: Delivery, started: float, trace: Any
    ) -> answers.Answered:
        common: dict[str, Any] = {
            "settings": settings,
            "jobs": jobs,
            "delivery": lambda: delivery,
            "started": started,
            "trace": trace,
            "by_response_url": True,
        }
        if isinstance(event, Shortcut):
            found = hosts.find(slack.normalize_text(event.message))
            return await answers.answer(
                CHECK_HOSTS,
                hosts.check(found, settings),
                event.invocation,
                event.response_url,
                render=summary([item.line for item in found]),
                action=CHECK_HOSTS,
                **common,
            )
        user = event.invocation.user_id
        first = None
        if event.action_id == slack.SHARE:
            render = share(event.line, user)
        elif event.action_id == slack.RUN_AGAIN:
            render = again(event.line, user, event.ephemeral)
            first = again_first(event.command.acknowledgement(event.invocation), event.ephemeral)
        else:
            render = run(event.line)
        return await answers.answer(
            event.command.name,
            execute(event.command, event.invocation, settings),
            event.invocation,
            event.response_url,
            render=render,
            first=first,
            action=event.action_id,
            **common,
        )

    async def interactions(request: Request) -> Response:
        started = time.monotonic()
        trace = logs.parse_trace(request.headers)
        logs.trace.set(trace)
        delivery: Delivery = request.app.state.delivery
        verdict = await admission.admit(request, INTERACTIONS, started)
        if isinstance(verdict, Turned):
            if verdict.reply is None:
                return verdict.response  # unsigned (401), or Slack's ssl_check
            payload = verdict.payload or {}
            response_url = payload.get("response_url")
            if isinstance(response_url, str):
                tell(delivery, response_url, verdict.reply)
            return Response(status_code=200)
        try:
            event = read(verdict.payload)
        except Malformed as exc:
            log.warning("%s: malformed payload: %s", INTERACTIONS_PATH, exc)
            return JSONResponse({"error": "malformed payload"}, status_code=400)
        if isinstance(event, Ignored):
            log.info("%s: ignored %s", INTERACTIONS_PATH, event.what)
            return Response(status_code=200)
        if not delivery.allowed(event.response_url):
            # Nothing could reach the user: the command is not run at all.
            log.warning(
                "%s: response_url on %s not allowed",
                INTERACTIONS_PATH,
                url_host(event.response_url),
            )
            return Response(status_code=200)
        answered = await act(event, delivery, started, trace)
        if answered.mode == "busy":
            tell(delivery, event.response_url, answered.reply)
        return Response(status_code=200)

    app.add_route(INTERACTIONS_PATH, interactions, methods=["POST"])
