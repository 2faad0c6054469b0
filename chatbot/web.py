"""The web service: one verified POST route per command in the registry."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import BackgroundTasks, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from slack_sdk.signature import Clock

from chatbot import __version__, logs, slack
from chatbot.admission import Admission, BodyLimit, Turned
from chatbot.commands import COMMANDS, Command, Invocation, execute
from chatbot.delivery import Delivery
from chatbot.jobs import Job, Jobs, summary
from chatbot.ratelimit import RateLimits
from chatbot.reply import Reply
from chatbot.settings import Settings, get_settings

log = logging.getLogger(__name__)


class MissingSecret(RuntimeError):
    message = "SLACK_SIGNING_SECRET is not set: refusing to start without it."


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    limits: RateLimits | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    secret = settings.slack_signing_secret.get_secret_value()
    if not secret.strip():
        raise MissingSecret(MissingSecret.message)
    admission = Admission(settings, clock, limits)
    jobs = Jobs(settings.response_type)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
            delivery = Delivery(client, settings.response_url_prefixes)
            app.state.delivery = delivery
            yield
            notice = Delivery(client, settings.response_url_prefixes, attempts=1)
            await jobs.notify_unfinished(notice)
        await admission.limits.aclose()

    app = FastAPI(
        title="chatbot", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.settings = settings
    app.state.jobs = jobs
    # Below every route, present and future: no handler can read more than the cap.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)

    # No response models: they would make FastAPI build validators (and import
    # pydantic.v1 to rule out v1 models) at start-up for two fixed-shape answers.
    @app.get("/", response_model=None)
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

    @app.get("/health", response_model=None)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    def route(command: Command) -> Any:
        async def handle(request: Request, background: BackgroundTasks) -> Response:
            started = time.monotonic()
            trace = logs.parse_trace(request.headers)
            logs.trace.set(trace)
            verdict = await admission.admit(request, command.name, started)
            if isinstance(verdict, Turned):
                return verdict.response
            form = verdict.form
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
                reply = task.result()
                summary(command.name, invocation, reply, "inline", started)
                return JSONResponse(slack.message(reply, settings.response_type))
            response_url = form.get("response_url", "")
            if not app.state.delivery.allowed(response_url):
                task.cancel()
                log.warning("/%s: response_url missing or not allowed", command.name)
                refusal = Reply.error("This request has no usable response_url.")
                return JSONResponse(slack.message(refusal, "ephemeral"))
            job = Job(command.name, response_url, task, invocation, trace, started=started)
            jobs.add(job)
            background.add_task(jobs.deliver, job, app.state.delivery)
            return JSONResponse(slack.message(command.acknowledgement(invocation), "ephemeral"))

        handle.__name__ = f"slash_{command.name}"
        return handle

    for command in COMMANDS.values():
        app.post(f"/slash-commands/{command.name}")(route(command))
    return app


def app_from_environment() -> FastAPI:
    settings = get_settings()
    logs.configure(
        project=settings.google_cloud_project,
        secrets=(settings.slack_signing_secret.get_secret_value(),),
    )
    try:
        return create_app(settings)
    except MissingSecret as exc:
        print(f"chatbot: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
