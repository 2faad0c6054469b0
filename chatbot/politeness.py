"""At most N connections at a time from this instance to any one server.

WHOIS registries ban source addresses that ask too often, and `/tls
+protocols` opens several connections to someone's server: each such
connection takes a slot keyed by the server (a WHOIS or RDAP host, a /tls
host:port) and waits its turn when the server's slots are taken. Waiting
happens inside the caller's deadline, so a long queue ends as that caller's
timeout, never as a hang.

Slots live per event loop (a loop's semaphores cannot be used from another)
and a key's semaphore is dropped once nobody holds or waits for it, so the
table stays as small as the set of servers being talked to right now.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

DEFAULT_LIMIT = 2


@dataclass
class _Slots:
    semaphore: asyncio.Semaphore
    users: int = 0  # holding or waiting


_tables: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Slots]] = (
    weakref.WeakKeyDictionary()
)


def _table() -> dict[str, _Slots]:
    loop = asyncio.get_running_loop()
    table = _tables.get(loop)
    if table is None:
        table = _tables[loop] = {}
    return table


def key(host: str, port: int | None = None) -> str:
    """One server's key: host names compare case-insensitively and without a final dot."""
    name = host.strip("[]").lower().rstrip(".")
    return name if port is None else f"{name}:{port}"


@asynccontextmanager
async def slot(server: str, limit: int = DEFAULT_LIMIT) -> AsyncIterator[None]:
    """Hold one of `limit` connections to `server` (a `key`) for the block."""
    table = _table()
    slots = table.get(server)
    if slots is None:
        # The first caller's limit holds until the key is idle again; every
        # caller passes the same configured value anyway.
        slots = table[server] = _Slots(asyncio.Semaphore(max(limit, 1)))
    slots.users += 1
    try:
        async with slots.semaphore:
            yield
    finally:
        slots.users -= 1
        if slots.users == 0 and table.get(server) is slots:
            del table[server]


def busy() -> dict[str, int]:
    """Keys with holders or waiters, and how many (tests, diagnostics)."""
    return {name: slots.users for name, slots in _table().items()}
