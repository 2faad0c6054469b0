"""A command's answer: inline within the budget, or acknowledged and posted later.

The one implementation behind every route that runs a command: a slash
command, and the buttons of /slack/interactions ("Run again", "Share in
channel", the Check hosts shortcut). The command starts at once; if it
finishes within CHATBOT_INLINE_BUDGET_SECONDS its reply is the answer, else
it becomes a `Job` that posts the answer to the response_url when it is
ready, as long as fewer than CHATBOT_MAX_PENDING are waiting already.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal

from chatbot.commands import Invocation
from chatbot.delivery import Delivery
from chatbot.jobs import Job, Jobs, Post, Render, busy, summary
from chatbot.reply import Reply
from chatbot.settings import Settings

log = logging.getLogger(__name__)

NO_RESPONSE_URL = "This request has no usable response_url."

Mode = Literal["inline", "deferred", "busy", "unusable"]


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


@dataclass(frozen=True)
class Answered:
    """What the request itself answers: the reply (inline), the acknowledgement
    (deferred) or the refusal (busy, unusable response_url)."""

    mode: Mode
    reply: Reply


async def answer(
    name: str,
    work: Coroutine[Any, Any, Reply],
    invocation: Invocation,
    response_url: str,
    *,
    settings: Settings,
    jobs: Jobs,
    delivery: Callable[[], Delivery],
    render: Render,
    started: float,
    trace: tuple[str, str] | None,
    acknowledgement: Reply | None = None,
    first: Post | None = None,
    by_response_url: bool = False,
    **fields: Any,
) -> Answered:
    """Run `work` as command `name`; `render` makes its reply the posts of a deferred answer.

    `by_response_url`: even an answer ready within the budget goes to the
    response_url (an interaction's: Slack shows nothing of its HTTP answer);
    `first` is then posted at once when the answer is deferred. `delivery` is
    asked for only when something is to be posted (the lifespan makes it).
    """
    task = started_task(work)
    budget = settings.inline_budget_seconds
    if budget > 0 and not task.done():
        await asyncio.wait({task}, timeout=budget)
    # A budget of 0 defers every answer, even one the eager start finished.
    if budget > 0 and task.done() and not by_response_url:
        reply = task.result()
        summary(name, invocation, reply, "inline", started, **fields)
        return Answered("inline", reply)
    posting = delivery()
    if not posting.allowed(response_url):
        task.cancel()
        log.warning("/%s: response_url missing or not allowed", name)
        return Answered("unusable", Reply.error(NO_RESPONSE_URL))
    # The pile of pending answers is bounded here, when a command is about
    # to outlive its request, not at the door: work inside a request is
    # already bounded by the platform's request concurrency and the inline
    # budget, and a command that can answer inline should, even while a
    # DNS server that never answers has filled the pile.
    if not task.done() and jobs.full():
        task.cancel()
        reply = busy()
        summary(name, invocation, reply, "inline", started, outcome="busy", **fields)
        return Answered("busy", reply)
    ready = task.done() and (budget > 0 or by_response_url)
    job = Job(
        name,
        response_url,
        task,
        invocation,
        trace,
        started=started,
        render=render,
        first=None if ready else first,
        mode="inline" if ready else "deferred",
        fields=fields,
    )
    jobs.start(job, posting)
    return Answered("inline" if ready else "deferred", acknowledgement or Reply(summary=""))
