"""/dig written the way Bolt for Python's docs show, for bench/load.py to compare us with.

    uvicorn bolt_app:api --app-dir bench

An `AsyncApp` behind Bolt's FastAPI adapter (`AsyncSlackRequestHandler`), as in
Bolt's examples/fastapi/async_app.py. The `/dig` listener acknowledges first
(`await ack()`, the docs' advice: Slack waits 3 s at most), then looks the name
up with dnspython and posts the answer with `await respond(...)` to the
request's `response_url`, as the docs' slash-command example does. With
BENCH_BOLT_LAZY=1 it is written as a lazy listener instead (`ack=` plus
`lazy=[...]`, the docs' form for FaaS hosts such as Cloud Run).

Environment: SLACK_SIGNING_SECRET; BENCH_DNS_SERVER (`ip:port` of the DNS server
to ask); BENCH_SLACK_API (the base URL standing in for https://slack.com: a
single-workspace Bolt app calls auth.test once, with its bot token, before its
first listener runs).
"""

from __future__ import annotations

import os
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.rdatatype
from fastapi import FastAPI, Request
from fastapi.responses import Response
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

_host, _, _port = os.environ.get("BENCH_DNS_SERVER", "127.0.0.1:53").rpartition(":")
resolver = dns.asyncresolver.Resolver(configure=False)
resolver.nameservers = [_host]
resolver.port = int(_port)
resolver.lifetime = 2.0

app = AsyncApp(
    signing_secret=os.environ["SLACK_SIGNING_SECRET"],
    client=AsyncWebClient(
        token="xoxb-bench",  # a stand-in token for the stand-in Slack API
        base_url=os.environ.get("BENCH_SLACK_API", "https://slack.com") + "/api/",
    ),
)
handler = AsyncSlackRequestHandler(app)


async def lookup(text: str) -> dict[str, Any]:
    """The Block Kit answer to `/dig name [type]`."""
    words = text.split()
    if not words:
        return {"response_type": "ephemeral", "text": "Usage: /dig name [type]"}
    name = words[0]
    rdtype = words[1].upper() if len(words) > 1 else "A"
    try:
        answer = await resolver.resolve(name, dns.rdatatype.from_text(rdtype))
    except dns.exception.DNSException as exc:
        return {"response_type": "ephemeral", "text": f"{name} {rdtype}: {exc}"}
    assert answer.rrset is not None
    records = answer.rrset.to_text()
    return {
        "response_type": "ephemeral",
        "text": f"{name} {rdtype}: NOERROR",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{name}* {rdtype}"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"```\n{records}\n```"}},
        ],
    }


if os.environ.get("BENCH_BOLT_LAZY") == "1":

    async def acknowledge(ack: AsyncAck) -> None:
        await ack()

    async def answer_later(command: dict[str, Any], respond: AsyncRespond) -> None:
        await respond(**await lookup(command.get("text", "")))

    app.command("/dig")(ack=acknowledge, lazy=[answer_later])
else:

    @app.command("/dig")
    async def dig(ack: AsyncAck, respond: AsyncRespond, command: dict[str, Any]) -> None:
        await ack()
        await respond(**await lookup(command.get("text", "")))


api = FastAPI()


@api.post("/slack/events")
async def endpoint(request: Request) -> Response:
    return await handler.handle(request)
