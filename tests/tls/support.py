"""Helpers the /tls tests share (their fixtures are in conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from chatbot.tls import check as tls
from tests.servers.tls import TLSServer

Serve = Callable[..., TLSServer]  # the `serve` fixture: start a TLSServer for the test


def options(ca_file: Path, **overrides: Any) -> tls.Options:
    """/tls options trusting only the test CA, with short timeouts, private targets allowed."""
    values: dict[str, Any] = {
        "ca_file": str(ca_file),
        "connect_timeout": 1.0,
        "handshake_timeout": 1.0,
        "deadline": 8.0,
        "allow_private": True,
    }
    values.update(overrides)
    return tls.Options(**values)
