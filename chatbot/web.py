"""The web service: one verified POST route per command in the registry."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from chatbot import __version__, answers, interactions, logs, slack
from chatbot.admission import Admission, BodyLimit, Turned
from chatbot.commands import COMMANDS, Command, Invocation, execute
from chatbot.delivery import Delivery
from chatbot.jobs import Jobs, Post
from chatbot.ratelimit import RateLimits
from chatbot.reply import Reply
from chatbot.settings import Settings, get_settings
from chatbot.verification import Clock

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

    def delivery() -> Delivery:
        # Made by the lifespan: a request answered inline never needs it.
        delivery: Delivery = app.state.delivery
        return delivery

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
            line = slack.command_line(command.name, invocation.text)

            def render(reply: Reply) -> list[Post]:
                return [Post(slack.message(reply, settings.response_type, rerun=line))]

            answered = await answers.answer(
                command.name,
                execute(command, invocation, settings),
                invocation,
                form.get("response_url", ""),
                settings=settings,
                jobs=jobs,
                delivery=delivery,
                render=render,
                started=started,
                trace=trace,
                acknowledgement=command.acknowledgement(invocation),
            )
            if answered.mode == "inline":
                return JSONResponse(render(answered.reply)[0].payload)
            return JSONResponse(slack.message(answered.reply, "ephemeral"))

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
    interactions.register(app, settings, admission, jobs)
    return app


def app_from_environment() -> FastAPI:
    from chatbot import config_errors

    settings = config_errors.load_or_complain(get_settings)
    if settings is None:
        raise SystemExit(2)
    logs.configure(
        project=settings.google_cloud_project,
        secrets=(settings.slack_signing_secret.get_secret_value(),),
    )
    try:
        return create_app(settings)
    except MissingSecret as exc:
        print(f"chatbot: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
