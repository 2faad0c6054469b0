"""The web service: one verified POST route per command in the registry."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
from fastapi import BackgroundTasks, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from slack_sdk.signature import Clock, SignatureVerifier

from chatbot import __version__, logs, slack
from chatbot.commands import COMMANDS, Command, Invocation, execute
from chatbot.delivery import Delivery, url_host
from chatbot.reply import Reply
from chatbot.settings import Settings, get_settings

log = logging.getLogger(__name__)

STALE_SECONDS = 60 * 5
# Of the shutdown grace, what is kept back for telling unfinished jobs to retry.
RESTART_NOTICE_SECONDS = 1


class MissingSecret(RuntimeError):
    message = "SLACK_SIGNING_SECRET is not set: refusing to start without it."


@dataclass(eq=False)
class Job:
    """A deferred answer on its way to a response_url."""

    command: str
    response_url: str
    task: asyncio.Task[Reply]
    delivered: bool = False
    started: float = field(default_factory=time.monotonic)


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


def _summary(
    command: str, invocation: Invocation, reply: Reply, mode: str, started: float, **extra: Any
) -> None:
    """The one line per command that says what happened."""
    milliseconds = round((time.monotonic() - started) * 1000)
    outcome = "usage" if reply.is_usage else "error" if reply.is_error else "answer"
    log.info(
        "/%s %s %s in %d ms",
        command,
        outcome,
        mode,
        milliseconds,
        extra={
            "fields": {
                "command": command,
                "team_id": invocation.team_id,
                "user_id": invocation.user_id,
                "outcome": outcome,
                "mode": mode,
                "duration_ms": milliseconds,
                **extra,
            }
        },
    )


def restart_notice(command: str) -> Reply:
    return Reply.error(
        f"The service restarted before your /{command} answer was ready. "
        "Please run the command again."
    )


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or get_settings()
    secret = settings.slack_signing_secret.get_secret_value()
    if not secret.strip():
        raise MissingSecret(MissingSecret.message)
    clock = clock or Clock()
    verifier = SignatureVerifier(secret, clock=clock)
    pending: set[Job] = set()

    async def notify_unfinished(delivery: Delivery) -> None:
        # Whatever the server's graceful wait could not finish is told to retry,
        # rather than left waiting for an answer that will never come.
        unfinished = [job for job in pending if not job.delivered]
        for job in unfinished:
            job.task.cancel()
        if not unfinished:
            return
        log.warning("shutting down with %d unfinished answers", len(unfinished))
        notices = (
            delivery.post(job.response_url, slack.message(restart_notice(job.command), "ephemeral"))
            for job in unfinished
        )
        try:
            async with asyncio.timeout(RESTART_NOTICE_SECONDS):
                await asyncio.gather(*notices)
        except TimeoutError:
            log.error("could not send every restart notice in time")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
            delivery = Delivery(client, settings.response_url_prefixes)
            app.state.delivery = delivery
            yield
            notice = Delivery(client, settings.response_url_prefixes, attempts=1)
            await notify_unfinished(notice)

    app = FastAPI(
        title="chatbot", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.settings = settings
    app.state.pending = pending

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

    async def deliver(job: Job, invocation: Invocation, trace: tuple[str, str] | None) -> None:
        logs.trace.set(trace)
        interrupted = False
        try:
            reply = await job.task
            message = slack.message(reply, settings.response_type)
            job.delivered = await app.state.delivery.post(job.response_url, message)
            _summary(
                job.command,
                invocation,
                reply,
                "deferred",
                job.started,
                delivered=job.delivered,
                response_host=url_host(job.response_url),
            )
        except asyncio.CancelledError:
            # The server's graceful wait ran out and it is tearing requests down.
            # The job stays pending so the shutdown tells its user to retry; the
            # error is not re-raised because the server would log it as a crash.
            interrupted = True
            log.warning("/%s interrupted by shutdown", job.command)
        finally:
            if not interrupted:
                pending.discard(job)

    def route(command: Command) -> Any:
        async def handle(request: Request, background: BackgroundTasks) -> Response:
            started = time.monotonic()
            trace = logs.parse_trace(request.headers)
            logs.trace.set(trace)
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
                reply = task.result()
                _summary(command.name, invocation, reply, "inline", started)
                return JSONResponse(slack.message(reply, settings.response_type))
            response_url = form.get("response_url", "")
            if not app.state.delivery.allowed(response_url):
                task.cancel()
                log.warning("/%s: response_url missing or not allowed", command.name)
                refusal = Reply.error("This request has no usable response_url.")
                return JSONResponse(slack.message(refusal, "ephemeral"))
            job = Job(command.name, response_url, task, started=started)
            pending.add(job)
            background.add_task(deliver, job, invocation, trace)
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
