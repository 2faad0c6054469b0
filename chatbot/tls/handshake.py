"""One TLS handshake that completes whatever the certificate, and records what OpenSSL thought.

Runs on a socket `tls` has already connected to an address the policy
approved, pyOpenSSL driven by the event loop. pyOpenSSL rather than the ssl
module because only it can (a) let OpenSSL verify the chain while letting the
handshake finish, collecting every verify error instead of stopping at the
first, (b) ask for a stapled OCSP response (status_request), and (c) hand
over the chain as sent on every Python version, without private attributes.
So a check costs one handshake, valid certificate or not.

The name check is not OpenSSL's here (pyOpenSSL has no public API for it);
`certificate.matches` does it, and the tests hold both to `openssl s_client`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from dataclasses import dataclass, field

from cryptography import x509
from OpenSSL import SSL

ALPN = [b"h2", b"http/1.1"]
# Reasons OpenSSL gives when what came back was not a TLS record at all.
NOT_TLS = frozenset(
    {
        "wrong version number",
        "record layer failure",
        "packet length too long",
        "http request",
        "unknown protocol",
    }
)
# X509_verify_cert_error_string for the codes a server certificate meets;
# pyOpenSSL exposes the numbers, not the strings.
VERIFY_MESSAGES = {
    2: "unable to get issuer certificate",
    4: "unable to decrypt certificate's signature",
    6: "unable to decode issuer public key",
    7: "certificate signature failure",
    9: "certificate is not yet valid",
    10: "certificate has expired",
    13: "format error in certificate's notBefore field",
    14: "format error in certificate's notAfter field",
    18: "self-signed certificate",
    19: "self-signed certificate in certificate chain",
    20: "unable to get local issuer certificate",
    21: "unable to verify the first certificate",
    22: "certificate chain too long",
    24: "invalid CA certificate",
    25: "path length constraint exceeded",
    26: "unsupported certificate purpose",
    27: "certificate not trusted",
    28: "certificate rejected",
    47: "permitted subtree violation",
    48: "excluded subtree violation",
    66: "EE certificate key too weak",
    67: "CA certificate key too weak",
    68: "CA signature digest algorithm too weak",
}


class HandshakeTimeout(Exception):
    """The server accepted TCP but did not finish the handshake in time."""


class NotTLS(Exception):
    """The bytes that came back were not TLS."""


class Closed(Exception):
    """The server closed or reset the connection during the handshake."""


class BadTrustStore(Exception):
    """The CA file could not be loaded."""


class Unreadable(Exception):
    """A certificate the server sent cannot be loaded at all; args[0] says why."""


class Refused(Exception):
    """The handshake failed (an alert, no common protocol or cipher); args[0] says how."""


@dataclass
class Handshake:
    chain: list[x509.Certificate]
    version: str
    cipher: str
    alpn: str | None
    ocsp_stapled: bool | None
    # (code, depth) of every error OpenSSL's verification met, in its order.
    verify_errors: list[tuple[int, int]] = field(default_factory=list)
    milliseconds: float = 0.0


@dataclass
class _State:
    errors: list[tuple[int, int]] = field(default_factory=list)
    stapled: bool | None = None


def _on_verify(connection: SSL.Connection, cert: object, code: int, depth: int, ok: int) -> bool:
    if not ok:
        state: _State = connection.get_app_data()
        state.errors.append((code, depth))
    return True  # let the handshake finish: the verdict is given afterwards, with reasons


def _on_status(connection: SSL.Connection, response: bytes, data: object) -> bool:
    state: _State = connection.get_app_data()
    state.stapled = bool(response)
    return True  # a staple's presence is the fact; judging it is a revocation check


_contexts: dict[tuple[str, float], SSL.Context] = {}


def _mtime(ca_file: str) -> float:
    try:
        return os.stat(ca_file).st_mtime
    except OSError as exc:
        raise BadTrustStore(ca_file) from exc


def loaded(ca_file: str) -> SSL.Context | None:
    """The context for this CA file if it is already loaded (costs one stat)."""
    return _contexts.get((ca_file, _mtime(ca_file)))


def context(ca_file: str) -> SSL.Context:
    """Loading a CA bundle takes milliseconds of file I/O, so once per file version."""
    key = (ca_file, _mtime(ca_file))
    if key in _contexts:
        return _contexts[key]
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    try:
        context.load_verify_locations(ca_file)
    except SSL.Error as exc:
        raise BadTrustStore(ca_file) from exc
    context.set_verify(SSL.VERIFY_PEER, _on_verify)
    context.set_ocsp_client_callback(_on_status)
    context.set_alpn_protos(ALPN)
    # Security level 0 so a weak key or SHA-1 signature still shows its
    # certificate; `certificate.assess` judges those itself.
    context.set_cipher_list(b"DEFAULT:@SECLEVEL=0")
    _contexts.clear()  # only the current version of a file is worth keeping
    _contexts[key] = context
    return context


def _reason(error: SSL.Error) -> str:
    details = error.args[0] if error.args else []
    if isinstance(details, list) and details and isinstance(details[-1], tuple):
        return str(details[-1][-1])
    return str(error)


def _version_name(openssl_name: str) -> str:
    """ "TLSv1.3" -> "TLS 1.3"; OpenSSL calls TLS 1.0 just "TLSv1"."""
    name = openssl_name.replace("TLSv", "TLS ")
    return "TLS 1.0" if name == "TLS 1" else name


async def _ready(sock: socket.socket, *, write: bool) -> None:
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not waiter.done():
            waiter.set_result(None)

    fd = sock.fileno()
    if write:
        loop.add_writer(fd, wake)
    else:
        loop.add_reader(fd, wake)
    try:
        await waiter
    finally:
        if write:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


async def run(
    sock: socket.socket, sni: str | None, context: SSL.Context, timeout: float
) -> Handshake:
    """Handshake on a connected non-blocking socket (which this closes) within `timeout` s.

    pyOpenSSL on a non-blocking socket, driven by the event loop: OpenSSL
    says what it is waiting for, the loop says when the socket is ready.
    """
    started = time.perf_counter()
    state = _State()
    with sock:
        connection = SSL.Connection(context, sock)
        connection.set_app_data(state)
        if sni:
            connection.set_tlsext_host_name(sni.encode("ascii"))
        connection.request_ocsp()
        connection.set_connect_state()
        try:
            async with asyncio.timeout(timeout):
                while True:
                    try:
                        connection.do_handshake()
                        break
                    except SSL.WantReadError:
                        await _ready(sock, write=False)
                    except SSL.WantWriteError:
                        await _ready(sock, write=True)
        except TimeoutError as exc:
            raise HandshakeTimeout() from exc
        except (SSL.SysCallError, SSL.ZeroReturnError) as exc:
            raise Closed() from exc
        except SSL.Error as exc:
            reason = _reason(exc)
            if reason.lower() in NOT_TLS:
                raise NotTLS(reason) from exc
            if "unexpected eof" in reason.lower():
                raise Closed() from exc
            raise Refused(reason) from exc
        elapsed = (time.perf_counter() - started) * 1000
        try:
            chain = connection.get_peer_cert_chain(as_cryptography=True) or []
        except Exception as exc:  # cryptography refuses what OpenSSL took (a bad version...)
            raise Unreadable(str(exc).rstrip(".") or type(exc).__name__) from exc
        alpn = connection.get_alpn_proto_negotiated()
        result = Handshake(
            chain=list(chain),
            version=_version_name(connection.get_protocol_version_name()),
            cipher=connection.get_cipher_name() or "?",
            alpn=alpn.decode("ascii", "replace") if alpn else None,
            ocsp_stapled=state.stapled,
            verify_errors=state.errors,
            milliseconds=elapsed,
        )
        with contextlib.suppress(SSL.Error):
            connection.shutdown()  # close_notify, as s_client sends it; the reply is not awaited
    return result
