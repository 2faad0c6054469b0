"""Deferred answers: the commands acknowledged at once and answered at `response_url` later.

`Jobs` holds what is pending, delivers each answer when its command finishes,
and on shutdown tells whoever is still waiting to run the command again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from chatbot import logs, slack
from chatbot.commands import Invocation
from chatbot.delivery import Delivery, url_host
from chatbot.reply import Reply

log = logging.getLogger(__name__)

# Of the shutdown grace, what is kept back for telling unfinished jobs to retry.
RESTART_NOTICE_SECONDS = 1


@dataclass(eq=False)
class Job:
    """A deferred answer on its way to a response_url."""

    command: str
    response_url: str
    task: asyncio.Task[Reply]
    invocation: Invocation
    trace: tuple[str, str] | None = None
    delivered: bool = False
    started: float = field(default_factory=time.monotonic)


def summary(
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


class Jobs:
    """The deferred answers of one process."""

    def __init__(self, response_type: str) -> None:
        self.response_type = response_type
        self.pending: set[Job] = set()

    def add(self, job: Job) -> None:
        self.pending.add(job)

    async def deliver(self, job: Job, delivery: Delivery) -> None:
        """Wait for the job's answer and post it; run as the request's background task."""
        logs.trace.set(job.trace)
        interrupted = False
        try:
            reply = await job.task
            message = slack.message(reply, self.response_type)
            job.delivered = await delivery.post(job.response_url, message)
            summary(
                job.command,
                job.invocation,
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
                self.pending.discard(job)

    async def notify_unfinished(self, delivery: Delivery) -> None:
        # Whatever the server's graceful wait could not finish is told to retry,
        # rather than left waiting for an answer that will never come.
        unfinished = [job for job in self.pending if not job.delivered]
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
