"""The web service: one verified POST route per command in the registry."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl

import httpx
from fastapi import BackgroundTasks, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from slack_sdk.signature import Clock, SignatureVerifier

from chatbot import __version__, slack
from chatbot.commands import COMMANDS, Command, Invocation, execute
from chatbot.delivery import Delivery
from chatbot.reply import Reply
from chatbot.settings import Settings, get_settings

log = logging.getLogger(__name__)

STALE_SECONDS = 60 * 5


class MissingSecret(RuntimeError):
    message = "SLACK_SIGNING_SECRET is not set: refusing to start without it."


def _signature_problem(
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


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or get_settings()
    secret = settings.slack_signing_secret.get_secret_value()
    if not secret.strip():
        raise MissingSecret(MissingSecret.message)
    clock = clock or Clock()
    verifier = SignatureVerifier(secret, clock=clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
            app.state.delivery = Delivery(client, settings.response_url_prefixes)
            yield

    app = FastAPI(
        title="chatbot", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.settings = settings

    @app.get("/")
    async def index() -> dict[str, Any]:
        return {
            "service": "chatbot",
            "version": __version__,
            "commands": [
                {
                    "command": f"/{c.name}",
                    "url": f"/slash-commands/{c.name}",
                    "description": c.description,
                    "usage": c.usage_hint,
                }
                for c in COMMANDS.values()
            ],
        }

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    async def deliver(task: asyncio.Task[Reply], response_url: str) -> None:
        reply = await task
        await app.state.delivery.post(response_url, slack.message(reply, settings.response_type))

    def route(command: Command) -> Any:
        async def handle(request: Request, background: BackgroundTasks) -> Response:
            # The signature covers the raw bytes, so read them before any form parsing.
            body = await request.body()
            problem = _signature_problem(verifier, clock, body, request.headers)
            if problem is not None:
                log.warning("rejected /slash-commands/%s: %s", command.name, problem)
                return JSONResponse({"error": "invalid signature"}, status_code=401)
            form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            if form.get("ssl_check") == "1":
                return Response(status_code=200)
            invocation = Invocation(
                text=slack.normalize_text(form.get("text", "")),
                user_id=form.get("user_id", ""),
                user_name=form.get("user_name", ""),
                team_id=form.get("team_id", ""),
                channel_id=form.get("channel_id", ""),
            )
            task = asyncio.create_task(execute(command, invocation, settings))
            if settings.inline_budget_seconds > 0:
                await asyncio.wait({task}, timeout=settings.inline_budget_seconds)
            if task.done():
                return JSONResponse(slack.message(task.result(), settings.response_type))
            response_url = form.get("response_url", "")
            if not app.state.delivery.allowed(response_url):
                task.cancel()
                log.warning("/%s: response_url missing or not allowed", command.name)
                return JSONResponse(
                    slack.message(
                        Reply.error("This request has no usable response_url."), "ephemeral"
                    )
                )
            background.add_task(deliver, task, response_url)
            return JSONResponse(slack.message(command.acknowledgement(invocation), "ephemeral"))

        handle.__name__ = f"slash_{command.name}"
        return handle

    for command in COMMANDS.values():
        app.post(f"/slash-commands/{command.name}", include_in_schema=True)(route(command))
    return app


def app_from_environment() -> FastAPI:
    try:
        return create_app()
    except MissingSecret as exc:
        print(f"chatbot: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
