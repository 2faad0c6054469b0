"""Posting deferred answers to Slack's `response_url`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from chatbot import allowlist

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def url_host(url: str) -> str:
    """What may be logged of a response_url: it is a credential, so only its host."""
    return urlsplit(url).hostname or "?"


class Delivery:
    """JSON POSTs to response URLs, with bounded retries and a prefix allow-list."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        prefixes: Sequence[str],
        *,
        attempts: int = 4,
        backoff: float = 0.5,
        max_wait: float = 10.0,
    ) -> None:
        self.client = client
        self.prefixes = tuple(prefixes)
        self.attempts = attempts
        self.backoff = backoff
        self.max_wait = max_wait

    def allowed(self, url: str) -> bool:
        return allowlist.allowed(url, self.prefixes)

    def _wait(self, attempt: int, response: httpx.Response | None) -> float:
        retry_after = response.headers.get("retry-after") if response is not None else None
        if retry_after is not None and retry_after.strip().isdigit():
            return min(float(retry_after), self.max_wait)
        return min(self.backoff * 2.0**attempt, self.max_wait)

    async def post(self, url: str, payload: dict[str, Any]) -> bool:
        """True once Slack took the message; False (and a log line why) otherwise."""
        host = url_host(url)
        if not self.allowed(url):
            log.warning("refused to post to response_url on %s: not an allowed prefix", host)
            return False
        reason = ""
        for attempt in range(self.attempts):
            response: httpx.Response | None = None
            try:
                response = await self.client.post(url, json=payload)
            except httpx.HTTPError as exc:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if response.is_success:
                    return True
                reason = f"HTTP {response.status_code}"
                if response.status_code not in RETRY_STATUSES:
                    break
            if attempt + 1 < self.attempts:
                await asyncio.sleep(self._wait(attempt, response))
        log.error("could not deliver to response_url on %s: %s", host, reason)
        return False
