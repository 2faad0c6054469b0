"""What the /tls tests share: a test CA, its PEM file, TLS servers, settled connections."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from chatbot.tls import check as tls
from tests.servers.tls import Authority, Issued, TLSServer
from tests.tls.support import Serve


@pytest.fixture(scope="module")
def root() -> Authority:
    return Authority()


@pytest.fixture
def ca_file(root: Authority, tmp_path: Path) -> Path:
    return root.write_pem(tmp_path / "ca.pem")


@pytest.fixture(autouse=True)
async def settled() -> AsyncIterator[None]:
    """Connections close in the background (close_notify sent, the peer's not awaited)."""
    yield
    await tls.settle()


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start a TLSServer for the test; stopped when the test ends."""
    with contextlib.ExitStack() as stack:

        def start(issued: Issued | None = None, **kwargs: Any) -> TLSServer:
            return stack.enter_context(TLSServer(issued, **kwargs).running())

        yield start
