"""HTTPS servers for MTA-STS policies: by Host header, on loopback addresses sharing a port.

A policy lives at `https://mta-sts.DOMAIN/.well-known/mta-sts.txt`, and the
audit uses one port for every domain (`CHATBOT_MAIL_HTTPS_PORT` in tests), so
a certificate that is wrong for a name is served from another loopback
address on the same port, which that name resolves to.
"""

from __future__ import annotations

import http.server
import socket
import ssl
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.servers.smtp import same_port
from tests.servers.threads import serving
from tests.servers.tls import Issued

PATH = "/.well-known/mta-sts.txt"


@dataclass
class Page:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/plain"})


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, sock: socket.socket, context: ssl.SSLContext, pages: dict[str, Page]):
        super().__init__(sock.getsockname(), _Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock
        self.context = context
        self.pages = pages
        self.requests: list[str] = []

    def get_request(self) -> tuple[Any, Any]:
        conn, peer = self.socket.accept()
        return self.context.wrap_socket(conn, server_side=True), peer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that refuse our certificate are part of the tests


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        self.server.requests.append(f"{host}{self.path}")
        page = self.server.pages.get(host) if self.path == PATH else None
        if page is None:
            self.send_error(404)
            return
        self.send_response(page.status)
        for name, value in page.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(page.body)))
        self.end_headers()
        self.wfile.write(page.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class PolicyServers:
    """One HTTPS server per (address, certificate), all on one port, pages by host."""

    def __init__(self, sites: list[tuple[str, Issued]], pages: dict[str, Page]) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        sockets = same_port([address for address, _ in sites])
        self.port: int = sockets[0].getsockname()[1]
        self.servers = []
        for index, ((_, issued), sock) in enumerate(zip(sites, sockets, strict=True)):
            directory = Path(self._tmp.name) / str(index)
            directory.mkdir()
            cert, key = issued.files(directory)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            self.servers.append(_Server(sock, context, pages))

    @property
    def requests(self) -> list[str]:
        return [r for server in self.servers for r in server.requests]

    @contextmanager
    def running(self) -> Iterator[PolicyServers]:
        with ExitStack() as stack:
            for server in self.servers:
                stack.enter_context(serving(server))
            try:
                yield self
            finally:
                self._tmp.cleanup()
