"""Raw HTTP/1.1 over a socket, for requests no polite client sends: endless, slow, silent."""

from __future__ import annotations

import contextlib
import select
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass

FORM_TYPE = "application/x-www-form-urlencoded"


def connect(url: str, timeout: float = 10.0) -> socket.socket:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=timeout)


def head(path: str, *lines: str, method: str = "POST") -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: test\r\n"
        + "".join(f"{line}\r\n" for line in lines)
        + "\r\n"
    ).encode()


def read_response(sock: socket.socket, limit: int = 65536) -> bytes:
    """Everything the server sends until it closes (or `limit` bytes, or the timeout)."""
    data = b""
    while len(data) < limit:
        try:
            chunk = sock.recv(limit - len(data))
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        data += chunk
    return data


def read_one(sock: socket.socket) -> bytes:
    """One response on a kept-alive connection: its head and its Content-Length of body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else 0


@dataclass
class Streamed:
    sent: int  # body bytes the server let us write
    response: bytes


def stream_chunked(
    sock: socket.socket,
    request_head: bytes,
    chunks: Iterable[bytes],
    *,
    check: Callable[[int], None] = lambda sent: None,
) -> Streamed:
    """Send a chunked body until the chunks run out or the server answers or closes.

    `check(sent)` runs between chunks; a test raises from it to stop early (a
    server whose memory grows without bound, say).
    """
    sock.sendall(request_head)
    sent = 0
    for chunk in chunks:
        readable, _, _ = select.select([sock], [], [], 0)
        if readable:
            break  # the server answered (or closed) before the body was done
        try:
            sock.sendall(b"%x\r\n%b\r\n" % (len(chunk), chunk))
        except (BrokenPipeError, ConnectionResetError):
            break
        sent += len(chunk)
        check(sent)
    else:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(b"0\r\n\r\n")
    return Streamed(sent, read_response(sock))
