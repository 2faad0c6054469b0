"""Real SMTP servers (aiosmtpd) on loopback, several addresses sharing one port.

An MX is an address, and senders use one port (25, `CHATBOT_SMTP_PORT` in
tests) for all of them, so each scenario gets its own loopback address
(127.0.0.2, 127.0.0.3, ...) on a port common to all: `Farm` binds them, then
serves each with aiosmtpd's SMTP protocol on one event loop in a thread.
Scenarios: STARTTLS with any certificate (`tls`), no STARTTLS (`plain`), a
server that accepts TCP and never says a word (`silent`), and one that accepts
and closes at once, or, with `linger=0`, resets the connection (`close`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aiosmtpd.smtp import SMTP

from tests.servers.tls import Issued


@dataclass(frozen=True)
class Scenario:
    address: str  # 127.0.0.N
    kind: str  # "tls", "plain", "silent", "close"
    issued: Issued | None = None


def same_port(addresses: list[str], attempts: int = 50) -> list[socket.socket]:
    """Listening TCP sockets, one per address, all on one port the kernel picked."""
    for _ in range(attempts):
        first = socket.socket()
        first.bind((addresses[0], 0))
        port = first.getsockname()[1]
        sockets = [first]
        try:
            for address in addresses[1:]:
                other = socket.socket()
                sockets.append(other)
                other.bind((address, port))
        except OSError:
            for sock in sockets:
                sock.close()
            continue
        for sock in sockets:
            sock.listen(16)
        return sockets
    raise OSError(f"no port free on all of {addresses} in {attempts} attempts")


class _Handler:
    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        return "250 OK"


class Farm:
    def __init__(self, scenarios: list[Scenario]) -> None:
        self.scenarios = scenarios
        self._sockets = same_port([s.address for s in scenarios])
        self.port: int = self._sockets[0].getsockname()[1]
        self._tmp = tempfile.TemporaryDirectory()
        self._loop = asyncio.new_event_loop()
        self._held: list[socket.socket] = []
        self.reset = False  # `close` scenarios reset the connection instead of closing it

    def _context(self, issued: Issued, index: int) -> ssl.SSLContext:
        directory = Path(self._tmp.name) / str(index)
        directory.mkdir()
        cert, key = issued.files(directory)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        return context

    async def _start(self) -> list[asyncio.Server]:
        servers = []
        for index, (scenario, sock) in enumerate(zip(self.scenarios, self._sockets, strict=True)):
            if scenario.kind == "silent":
                servers.append(await asyncio.start_server(self._silent, sock=sock))
                continue
            if scenario.kind == "close":
                servers.append(await asyncio.start_server(self._close, sock=sock))
                continue
            context = None
            if scenario.kind == "tls":
                assert scenario.issued is not None
                context = self._context(scenario.issued, index)

            def factory(context: ssl.SSLContext | None = context) -> SMTP:
                return SMTP(_Handler(), hostname="mx.test", ident="test", tls_context=context)

            servers.append(await self._loop.create_server(factory, sock=sock))
        return servers

    async def _silent(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            await reader.read()  # until the client gives up
        writer.close()

    async def _close(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.reset:  # SO_LINGER 0: the close is a reset
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()

    @contextmanager
    def running(self) -> Iterator[Farm]:
        ready = threading.Event()
        servers: list[asyncio.Server] = []

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            servers.extend(self._loop.run_until_complete(self._start()))
            ready.set()
            self._loop.run_forever()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        ready.wait(5)
        try:
            yield self
        finally:

            async def stop() -> None:
                for server in servers:
                    server.close()
                tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            thread.join(5)
            self._loop.close()
            self._tmp.cleanup()
