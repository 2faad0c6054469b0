"""The web service: one verified POST route per command in the registry."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from chatbot import __version__, logs, slack
from chatbot.admission import Admission, BodyLimit, Turned
from chatbot.commands import COMMANDS, Command, Invocation, execute
from chatbot.delivery import Delivery
from chatbot.jobs import Job, Jobs, busy, summary
from chatbot.ratelimit import RateLimits
from chatbot.reply import Reply
from chatbot.settings import Settings, get_settings
from chatbot.verification import Clock

log = logging.getLogger(__name__)


def started_task(coroutine: Coroutine[Any, Any, Reply]) -> asyncio.Task[Reply]:
    """The command as a task of its own, already run up to its first wait (Python 3.12+).

    A command that needs no wait (/hello, help, a usage error) is then done
    before the handler looks, and one that does (a lookup) has sent its first
    query: neither costs a turn of the event loop to start. On 3.11 a task
    starts at the loop's next turn, as before.
    """
    if sys.version_info >= (3, 12):
        return asyncio.Task(coroutine, loop=asyncio.get_running_loop(), eager_start=True)
    return asyncio.create_task(coroutine)


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
    jobs = Jobs(settings.response_type, settings.max_pending, settings.shutdown_grace_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with Delivery(
            settings.response_url_prefixes,
            concurrency=settings.delivery_concurrency,
            deadline=settings.delivery_deadline_seconds,
            unready_after=settings.unready_after_seconds,
        ) as delivery:
            app.state.delivery = delivery
            yield
            await jobs.shutdown(delivery)
        await admission.limits.aclose()

    app = FastAPI(
        title="chatbot",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        # No OpenTelemetry here (traces reach Cloud Logging through our log lines):
        # FastAPI would otherwise ask the global providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
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

    # /health says the process is alive and its loop turning; /ready says whether
    # it can do its job: not shutting down, and deliveries not failing on our side.
    @app.get("/ready", response_model=None)
    async def ready() -> Response:
        if jobs.stopping_since is not None:
            problem: str | None = "shutting down"
        else:
            problem = app.state.delivery.trouble.problem()
        if problem is not None:
            return JSONResponse({"status": "unready", "reason": problem}, status_code=503)
        return JSONResponse({"status": "ready"})

    def route(command: Command) -> Any:
        async def handle(request: Request) -> Response:
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
            task = started_task(execute(command, invocation, settings))
            budget = settings.inline_budget_seconds
            if budget > 0 and not task.done():
                await asyncio.wait({task}, timeout=budget)
            # A budget of 0 defers every answer, even one the eager start finished.
            if budget > 0 and task.done():
                reply = task.result()
                summary(command.name, invocation, reply, "inline", started)
                return JSONResponse(slack.message(reply, settings.response_type))
            response_url = form.get("response_url", "")
            if not app.state.delivery.allowed(response_url):
                task.cancel()
                log.warning("/%s: response_url missing or not allowed", command.name)
                refusal = Reply.error("This request has no usable response_url.")
                return JSONResponse(slack.message(refusal, "ephemeral"))
            # The pile of pending answers is bounded here, when a command is about
            # to outlive its request, not at the door: work inside a request is
            # already bounded by the platform's request concurrency and the inline
            # budget, and a command that can answer inline should, even while a
            # DNS server that never answers has filled the pile.
            if jobs.full():
                task.cancel()
                reply = busy()
                summary(command.name, invocation, reply, "inline", started, outcome="busy")
                return JSONResponse(slack.message(reply, "ephemeral"))
            job = Job(command.name, response_url, task, invocation, trace, started=started)
            jobs.start(job, app.state.delivery)
            return JSONResponse(slack.message(command.acknowledgement(invocation), "ephemeral"))

        handle.__name__ = f"slash_{command.name}"
        return handle

    for command in COMMANDS.values():
        # A plain Starlette route: the handler takes the request and returns a
        # response, so FastAPI's per-request dependency solving (a tenth of a
        # signed /hello's cost) would find nothing to do. Not in the OpenAPI
        # schema, which is not served.
        app.add_route(
            f"/slash-commands/{command.name}",
            route(command),
            methods=["POST"],
            include_in_schema=False,
        )
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
