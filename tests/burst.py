"""Many signed slash commands at once, as a burst of Slack users would send them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import httpx

from tests.slackreq import form, headers


def commands(command: str, text: str, response_urls: Sequence[str]) -> list[bytes]:
    return [form(command, text, response_url=url) for url in response_urls]


async def post_all(
    url: str, bodies: Sequence[bytes], concurrency: int = 50, timeout: float = 30
) -> list[httpx.Response | Exception]:
    """POST each body (signed) with at most `concurrency` in flight; errors are returned."""
    # The client's pool is larger than the number in flight, so no request ever
    # waits on it (see chatbot/delivery.py for why that matters); idle connections
    # are dropped well before uvicorn closes them (5 s), so none is reused just
    # as the server closes it.
    limits = httpx.Limits(max_connections=2 * concurrency, keepalive_expiry=1)
    slots = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=timeout, trust_env=False) as client:

        async def one(body: bytes) -> httpx.Response | Exception:
            async with slots:
                try:
                    return await client.post(url, content=body, headers=headers(body))
                except httpx.HTTPError as exc:
                    return exc

        return await asyncio.gather(*(one(body) for body in bodies))
