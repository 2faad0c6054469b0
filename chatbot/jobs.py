"""Deferred answers: the commands acknowledged at once and answered at `response_url` later.

`Jobs` holds what is pending (at most `max_pending`), posts each answer when
its command finishes, and on shutdown gives the work in flight the grace, then
tells whoever is still waiting to run the command again, as many as there is
time left for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chatbot import logs, slack
from chatbot.commands import Invocation
from chatbot.delivery import Delivery, Outcome, url_host
from chatbot.errors import ChatbotError
from chatbot.reply import Reply

log = logging.getLogger(__name__)

# The end of the shutdown grace: restart notices get NOTICE_SECONDS, and the
# last EXIT_SECONDS are for closing connections and leaving the process.
NOTICE_SECONDS = 1.0
EXIT_SECONDS = 0.5

BUSY = "Busy right now, please try again in a minute."


@dataclass(frozen=True)
class Post:
    """One message for a response_url, and how many attempts it may take (None: Delivery's)."""

    payload: dict[str, Any]
    attempts: int | None = None


# What a finished command's reply becomes at the response_url: posts made in
# order, each only after the one before it arrived.
Render = Callable[[Reply], Sequence[Post]]


@dataclass(eq=False)
class Job:
    """A deferred answer on its way to a response_url."""

    command: str
    response_url: str
    task: asyncio.Task[Reply]
    invocation: Invocation
    trace: tuple[str, str] | None = None
    started: float = field(default_factory=time.monotonic)
    # The answer is with the delivery: the shutdown lets it finish, not notifies.
    posting: bool = False
    runner: asyncio.Task[None] | None = None
    # None: one post of the reply as a slash command's deferred answer.
    render: Render | None = None
    # Posted at once, before the answer is awaited ("Looking up …" in place of the
    # message clicked on): by the same runner, so it cannot overtake the answer.
    first: Post | None = None
    # "inline" for an answer ready within the budget that still goes by response_url
    # (an interaction's: Slack shows nothing of the HTTP answer to one).
    mode: str = "deferred"
    # More fields for the summary line (the button clicked, say).
    fields: dict[str, Any] = field(default_factory=dict)


def summary(
    command: str,
    invocation: Invocation,
    reply: Reply,
    mode: str,
    started: float,
    *,
    outcome: str | None = None,
    **extra: Any,
) -> None:
    """The one line per command that says what happened."""
    milliseconds = round((time.monotonic() - started) * 1000)
    if outcome is None:
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


def busy() -> Reply:
    return Reply.error(BUSY)


def _delivery_fields(job: Job, outcome: Outcome) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "delivered": outcome.delivered,
        "response_host": url_host(job.response_url),
    }
    if not outcome.delivered:
        fields["reason"] = outcome.reason
    return fields


class Jobs:
    """The deferred answers of one process."""

    def __init__(self, response_type: str, max_pending: int = 100, grace: float = 8) -> None:
        self.response_type = response_type
        self.max_pending = max_pending
        self.grace = grace
        self.pending: set[Job] = set()
        # time.monotonic() when the shutdown began (SIGTERM); None while serving.
        self.stopping_since: float | None = None

    def full(self) -> bool:
        return self.stopping_since is not None or len(self.pending) >= self.max_pending

    def stop(self) -> None:
        """Take no more work; the shutdown's clock starts now. Safe in a signal handler."""
        if self.stopping_since is None:
            self.stopping_since = time.monotonic()

    def start(self, job: Job, delivery: Delivery) -> None:
        """Deliver the job's answer when its command finishes, apart from any request."""
        self.pending.add(job)
        job.runner = asyncio.create_task(self._run(job, delivery))

    async def _run(self, job: Job, delivery: Delivery) -> None:
        logs.trace.set(job.trace)
        if job.first is not None:
            await delivery.post(job.response_url, job.first.payload, attempts=job.first.attempts)
        await asyncio.wait({job.task})
        if job.task.cancelled():
            return  # by the shutdown, which tells the user to retry
        try:
            reply = job.task.result()
        except Exception:
            log.exception("/%s failed", job.command)
            reply = Reply.error(ChatbotError().message)
        job.posting = True
        # What the summary says if the shutdown cuts the delivery off.
        outcome = Outcome(False, "cut off by the shutdown")
        if job.render is None:
            posts: Sequence[Post] = (Post(slack.message(reply, self.response_type)),)
        else:
            posts = job.render(reply)
        if not posts:
            outcome = Outcome(False, "nothing to post")
        try:
            for post in posts:
                outcome = await delivery.post(
                    job.response_url, post.payload, attempts=post.attempts
                )
                if not outcome.delivered:
                    break
        finally:
            self.pending.discard(job)
            summary(
                job.command,
                job.invocation,
                reply,
                job.mode,
                job.started,
                **job.fields,
                **_delivery_fields(job, outcome),
            )

    async def shutdown(self, delivery: Delivery) -> None:
        """Finish what can be finished within the grace; tell the rest to retry."""
        loop = asyncio.get_running_loop()
        self.stop()
        assert self.stopping_since is not None
        # In loop time, counted from the signal rather than from now: the server
        # may have spent part of the grace on requests still in flight.
        end = self.stopping_since + (loop.time() - time.monotonic()) + self.grace - EXIT_SECONDS
        notices_from = end - NOTICE_SECONDS
        runners = {job.runner for job in self.pending if job.runner is not None}
        if runners:
            await asyncio.wait(runners, timeout=max(notices_from - loop.time(), 0))
        unfinished = [job for job in self.pending if not job.posting]
        for job in unfinished:
            job.task.cancel()
            self.pending.discard(job)
        # Answers already on their way may use the time left, and no more.
        delivery.stop_by(end)
        if unfinished:
            await self._notify(unfinished, delivery, end)
        posting = {job.runner for job in self.pending if job.runner is not None}
        if posting:
            await asyncio.wait(posting, timeout=max(end - loop.time(), 0))
            for runner in posting:
                runner.cancel()

    async def _notify(self, jobs: list[Job], delivery: Delivery, end: float) -> None:
        loop = asyncio.get_running_loop()
        waiting = deque(jobs)
        notified = 0

        async def notifier() -> None:
            nonlocal notified
            # Only a notice expected to arrive before the end is started: one cut
            # off halfway would have cost a slot and told nobody.
            while waiting and loop.time() + delivery.expected_seconds() < end:
                job = waiting.popleft()
                notice = restart_notice(job.command)
                message = slack.message(notice, "ephemeral")
                outcome = await delivery.post(job.response_url, message, attempts=1, deadline=end)
                notified += outcome.delivered
                summary(
                    job.command,
                    job.invocation,
                    notice,
                    "deferred",
                    job.started,
                    outcome="interrupted",
                    notified=outcome.delivered,
                    **_delivery_fields(job, outcome),
                )

        log.warning("shutting down with %d unfinished answers", len(jobs))
        await asyncio.gather(*(notifier() for _ in range(min(delivery.concurrency, len(jobs)))))
        for job in waiting:
            summary(
                job.command,
                job.invocation,
                restart_notice(job.command),
                "deferred",
                job.started,
                outcome="interrupted",
                notified=False,
                reason="no time left before the shutdown deadline",
            )
        missed = len(jobs) - notified
        level = logging.ERROR if missed else logging.WARNING
        log.log(
            level,
            "restart notices: %d sent, %d not notified",
            notified,
            missed,
            extra={"fields": {"notified": notified, "not_notified": missed}},
        )
