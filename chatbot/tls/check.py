"""TLS checks the way `openssl s_client` does them, with the verdict explained.

The network core of /tls, knowing nothing of Slack or settings: `check`
connects (to the address the policy approved, never a second resolution) and
asks OpenSSL to verify; `command` parses what the user typed and `render`
turns the `Report` into a neutral `Reply`.

One handshake (`handshake.run`, pyOpenSSL driven by the event loop) completes
whatever the certificate, while OpenSSL verifies the chain against the trust store and
reports every error; `certificate.assess` turns those, and its own checks of
dates, name, key and signature, into one sentence per reason. A missing
intermediate is fetched from the leaf's AIA URL through the address policy,
and the chain checked again, to tell "incomplete" from "untrusted".
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import errno
import importlib
import logging
import math
import socket
import ssl
import warnings
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from functools import lru_cache

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7

from chatbot import policy, politeness
from chatbot.errors import ChatbotError, Closed, ConnectFailed, ProtocolError, Timeout
from chatbot.tls import certificate, handshake

log = logging.getLogger(__name__)

# httpx's connection layer imports anyio's asyncio backend at its first connection:
# some 100 ms of imports that would run on the event loop. Imported with this module
# instead, which commands.py imports in a thread; a future anyio without it costs
# only that stall again.
with contextlib.suppress(ImportError):
    importlib.import_module("anyio._backends._asyncio")

VERSIONS = (
    ("TLS 1.0", ssl.TLSVersion.TLSv1),
    ("TLS 1.1", ssl.TLSVersion.TLSv1_1),
    ("TLS 1.2", ssl.TLSVersion.TLSv1_2),
    ("TLS 1.3", ssl.TLSVersion.TLSv1_3),
)
OLD_VERSIONS = frozenset({"TLS 1.0", "TLS 1.1"})
MAX_ISSUER_BYTES = 64 * 1024
SCHEMES = {"https": 443}


class HandshakeClosed(Closed):
    """It accepted the connection, then closed or reset it before or during the handshake."""

    template = "{server} closed the connection during the TLS handshake."


@dataclass(frozen=True)
class Target:
    host: str  # what is resolved: an A-label name or an IP literal
    port: int
    shown: str  # how the user should read it (U-label and A-label for IDNs)
    sni: str | None = None  # sent as SNI and checked against the certificate
    protocols: bool = False

    @property
    def check_name(self) -> str:
        """The name the certificate must be valid for: the SNI, else the IP literal."""
        return self.sni or self.host

    def server(self, address: policy.IPAddress | None = None) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        where = f"{host}:{self.port}"
        if address is not None and str(address) != self.host:
            where += f" ({address})"
        return where


@dataclass(frozen=True)
class Options:
    ca_file: str | None = None  # None: certifi's Mozilla bundle
    connect_timeout: float = 3.0
    handshake_timeout: float = 5.0
    deadline: float = 9.0
    allow_private: bool = False
    resolver: policy.Resolver = policy.SYSTEM
    max_per_server: int = politeness.DEFAULT_LIMIT

    @property
    def trust_store(self) -> str:
        return policy.ca_bundle(self.ca_file)

    @property
    def store_name(self) -> str:
        return policy.ca_bundle_name(self.ca_file)


@lru_cache(maxsize=8)
def _version_context(version: ssl.TLSVersion) -> ssl.SSLContext:
    """A client offering exactly one TLS version, accepting any certificate.

    Made once per version: every probe shares it. No trust store is loaded (the
    probe verifies nothing); loading the system's, as create_default_context()
    does, cost about 50 ms of event-loop time per probe.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    # To learn whether a server accepts an old protocol we must be willing to speak it.
    context.set_ciphers("ALL:@SECLEVEL=0")
    with warnings.catch_warnings():
        # TLS 1.0 and 1.1 are deprecated, which is exactly what the probe reports.
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = context.maximum_version = version
    return context


@lru_cache(maxsize=8)
def can_offer(version: ssl.TLSVersion) -> bool:
    """Whether the local OpenSSL can send a ClientHello for this version at all."""
    try:
        probe = _version_context(version).wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO())
        probe.do_handshake()
    except ssl.SSLWantReadError:
        return True
    except (ssl.SSLError, ValueError):
        return False
    return True


@dataclass
class Session:
    """What one handshake showed."""

    address: policy.IPAddress
    chain: list[x509.Certificate]
    version: str
    cipher: str
    alpn: str | None
    openssl: certificate.OpenSSLResult
    milliseconds: float
    ocsp_stapled: bool | None = None


async def _connect(target: Target, address: policy.IPAddress, options: Options) -> socket.socket:
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        async with asyncio.timeout(options.connect_timeout):
            await loop.sock_connect(sock, (str(address), target.port))
    except TimeoutError as exc:
        sock.close()
        raise Timeout(
            "Could not connect to {server} within {seconds:g} s.",
            server=target.server(address),
            seconds=options.connect_timeout,
        ) from exc
    except ConnectionResetError as exc:
        # Refused would be ECONNREFUSED: a reset means it accepted, then closed at once.
        sock.close()
        raise HandshakeClosed(server=target.server(address)) from exc
    except OSError as exc:
        sock.close()
        reason = "connection refused" if isinstance(exc, ConnectionRefusedError) else None
        raise ConnectFailed(
            server=target.server(address), reason=reason or exc.strerror or str(exc)
        ) from exc
    except BaseException:
        # Cancelled by the check's deadline (or the shutdown) mid-connect: the
        # socket is ours to close, or it lingers until the garbage collector.
        sock.close()
        raise
    return sock


def _slot(target: Target, options: Options) -> AbstractAsyncContextManager[None]:
    """One of the few connections this instance may have open to the target at once."""
    return politeness.slot(politeness.key(target.host, target.port), options.max_per_server)


async def _probe_handshake(
    target: Target,
    address: policy.IPAddress,
    context: ssl.SSLContext,
    options: Options,
    timeout: float,
) -> None:
    """One asyncio handshake with `context`, then closed: does the server accept it?

    The answer is known once the handshake is done; the connection then closes in
    the background, still holding its slot, so the server never sees more of our
    connections at once than `max_per_server`, and a peer slow to answer our
    close_notify does not hold up the result.
    """
    slot = contextlib.AsyncExitStack()
    await slot.enter_async_context(_slot(target, options))
    try:
        sock = await _connect(target, address, options)
        try:
            async with asyncio.timeout(timeout):
                _, writer = await asyncio.open_connection(
                    sock=sock, ssl=context, server_hostname=target.check_name
                )
        except BaseException:
            sock.close()
            raise
    except BaseException:
        await slot.aclose()
        raise
    _close(writer, slot)


_closing: set[asyncio.Task[None]] = set()


async def _finish_close(writer: asyncio.StreamWriter, slot: contextlib.AsyncExitStack) -> None:
    try:
        async with asyncio.timeout(2):
            await writer.wait_closed()
    except (OSError, TimeoutError, ssl.SSLError):
        writer.transport.abort()  # the answer is already in hand; a rude peer changes nothing
    except asyncio.CancelledError:
        writer.transport.abort()  # the loop is ending (CLI): leave no transport half-open
        raise
    finally:
        await slot.aclose()


def _close(writer: asyncio.StreamWriter, slot: contextlib.AsyncExitStack) -> None:
    """Send close_notify, as s_client does, without waiting for the peer's to answer;
    the connection's slot is given back once it is closed."""
    writer.close()
    task = asyncio.get_running_loop().create_task(_finish_close(writer, slot))
    _closing.add(task)
    task.add_done_callback(_closing.discard)


async def settle() -> None:
    """Wait for connections still closing in the background (tests, shutdown)."""
    await asyncio.gather(*_closing, return_exceptions=True)


async def _speaks_http(target: Target, address: policy.IPAddress, options: Options) -> bool:
    """Whether the port answers a plain HTTP request, to name the usual mistake."""
    async with _slot(target, options):
        try:
            sock = await _connect(target, address, options)
        except ChatbotError:
            return False
        try:
            reader, writer = await asyncio.open_connection(sock=sock)
        except OSError:
            sock.close()
            return False
        try:
            async with asyncio.timeout(options.handshake_timeout):
                writer.write(f"HEAD / HTTP/1.0\r\nHost: {target.check_name}\r\n\r\n".encode())
                await writer.drain()
                first = await reader.read(5)
        except (OSError, TimeoutError):
            return False
        finally:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                async with asyncio.timeout(2):
                    await writer.wait_closed()
    return first == b"HTTP/"


def _verify_result(errors: list[tuple[int, int]]) -> certificate.OpenSSLResult:
    return certificate.OpenSSLResult(
        tuple(
            (code, handshake.VERIFY_MESSAGES.get(code, f"verification error {code}"))
            for code in dict.fromkeys(code for code, _ in errors)
        )
    )


def verify_result(errors: list[tuple[int, int]]) -> certificate.OpenSSLResult:
    """OpenSSL's verify errors from `handshake.run` as `certificate.assess` takes them.

    Public for handshakes made elsewhere on a socket of their own (/mail's STARTTLS).
    """
    return _verify_result(errors)


async def connect_and_handshake(
    target: Target, address: policy.IPAddress, options: Options
) -> Session:
    """One handshake that completes whatever the certificate, with OpenSSL's verify result."""
    server = target.server(address)
    try:
        # Loading a CA bundle is file I/O: a thread does it, once per file version.
        trust = handshake.loaded(options.trust_store)
        if trust is None:
            trust = await asyncio.to_thread(handshake.context, options.trust_store)
    except handshake.BadTrustStore as exc:
        raise ChatbotError(
            "I cannot read certificates from the trust store {path} (CHATBOT_TLS_CA_FILE).",
            path=options.trust_store,
        ) from exc
    not_tls: handshake.NotTLS | None = None
    async with _slot(target, options):
        sock = await _connect(target, address, options)
        try:
            done = await handshake.run(
                sock, target.sni, trust, min(options.handshake_timeout, options.deadline)
            )
        except handshake.HandshakeTimeout as exc:
            raise Timeout(
                "{server} accepted the connection but did not answer the TLS handshake "
                "within {seconds:g} s.",
                server=server,
                seconds=options.handshake_timeout,
            ) from exc
        except handshake.NotTLS as exc:
            not_tls = exc  # asked about below, once this connection's slot is free again
        except handshake.Closed as exc:
            raise HandshakeClosed(server=server) from exc
        except handshake.Refused as exc:
            raise ProtocolError(
                "{server} did not complete TLS: {reason}.", server=server, reason=exc.args[0]
            ) from exc
        except handshake.Unreadable as exc:
            raise ProtocolError(
                "{server} sent a certificate I could not read: {reason}.",
                server=server,
                reason=exc.args[0],
            ) from exc
    if not_tls is not None:
        if await _speaks_http(target, address, options):
            raise ProtocolError(
                "{server} speaks plain HTTP on this port, not TLS.", server=server
            ) from not_tls
        raise ProtocolError("{server} answered, but not with TLS.", server=server) from not_tls
    return Session(
        address=address,
        chain=done.chain,
        version=done.version,
        cipher=done.cipher,
        alpn=done.alpn,
        openssl=_verify_result(done.verify_errors),
        milliseconds=done.milliseconds,
        ocsp_stapled=done.ocsp_stapled,
    )


class NotFetched(Exception):
    """The issuer at an AIA URL could not be had; args[0] says why, as a clause."""


def _load_issuer(body: bytes) -> x509.Certificate:
    loaders = (
        x509.load_der_x509_certificate,
        x509.load_pem_x509_certificate,
        lambda data: pkcs7.load_der_pkcs7_certificates(data)[0],
        lambda data: pkcs7.load_pem_pkcs7_certificates(data)[0],
    )
    for load in loaders:
        try:
            return load(body)
        except (ValueError, IndexError):
            continue
    raise NotFetched("what it serves is not a certificate")


async def download_issuer(url: str, options: Options, timeout: float) -> x509.Certificate:
    """The issuer certificate at an AIA caIssuers URL (DER, PEM or PKCS#7), via the policy;
    NotFetched says why not."""
    if not url.lower().startswith(("http://", "https://")):
        raise NotFetched("it is not an http:// URL")
    body = b""
    try:
        async with asyncio.timeout(timeout):
            # Made in a thread: its TLS context loads a CA bundle, some 15 ms of CPU.
            client = await asyncio.to_thread(
                policy.guarded_client,
                allow_private=options.allow_private,
                timeout=options.connect_timeout,
                resolver=options.resolver,
            )
            async with client, client.stream("GET", url, follow_redirects=True) as response:
                if response.status_code != 200:
                    raise NotFetched(f"HTTP {response.status_code}")
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_ISSUER_BYTES:  # a certificate is a few KB; stop reading
                        raise NotFetched(f"it serves more than {MAX_ISSUER_BYTES // 1024} KB")
    except NotFetched:
        raise
    except ChatbotError as exc:
        raise NotFetched(exc.message.rstrip(".")) from exc
    except TimeoutError as exc:
        raise NotFetched(f"no answer within {timeout:g} s") from exc
    except (httpx.HTTPError, OSError) as exc:
        raise NotFetched(str(exc).rstrip(".") or type(exc).__name__) from exc
    except Exception as exc:
        # httpx.InvalidURL for a URL it cannot parse, and whatever else a hostile
        # certificate's URL provokes: the optional step failed, the verdict stands.
        log.warning("AIA fetch of %s failed", url, exc_info=True)
        raise NotFetched(type(exc).__name__) from exc
    if not body:
        raise NotFetched("it serves nothing")
    return _load_issuer(body)


async def fetch_issuer(url: str, options: Options) -> x509.Certificate | None:
    """The issuer certificate at an AIA caIssuers URL, or None when it cannot be had."""
    try:
        return await download_issuer(url, options, options.connect_timeout * 2)
    except NotFetched:
        return None


async def _probe(
    target: Target,
    address: policy.IPAddress,
    version: ssl.TLSVersion,
    options: Options,
    timeout: float,
) -> str:
    """One version's result: accepted, not accepted, no answer, or not tested: why."""
    try:
        await _probe_handshake(target, address, _version_context(version), options, timeout)
    except (TimeoutError, Timeout):
        return "no answer"  # a stalled handshake or connect is no verdict on the version
    except Closed:
        return "not tested: the connection was reset"
    except ConnectFailed as exc:
        return f"not tested: {exc.fields.get('reason', 'could not connect')}"
    except ssl.SSLError:
        return "not accepted"  # an alert, or the connection closed at our ClientHello
    except ConnectionResetError as exc:
        if exc.errno == errno.ECONNRESET:
            return "not tested: the connection was reset"
        return "not accepted"  # asyncio's "connection lost": closed without an alert
    except (EOFError, ConnectionAbortedError):
        return "not accepted"
    except OSError as exc:
        return f"not tested: {exc.strerror or type(exc).__name__}"
    except Exception:
        log.warning("TLS probe of %s failed", target.server(address), exc_info=True)
        return "not tested: an error of ours"
    return "accepted"


async def probe_protocols(
    target: Target,
    address: policy.IPAddress,
    options: Options,
    *,
    used: str | None = None,
    until: float | None = None,
) -> dict[str, str]:
    """Each TLS version tried on its own connection.

    `used` is the version the check's own handshake negotiated: accepted, and
    not asked again. Every probe ends by `until` (event-loop time): one that
    fails never costs the check its verdict, and each says why it has no result.
    """
    loop = asyncio.get_running_loop()
    until = loop.time() + options.deadline if until is None else until
    results: dict[str, str] = {}
    asked: list[tuple[str, ssl.TLSVersion]] = []
    for name, version in VERSIONS:
        if name == used:
            results[name] = "accepted"
        elif not can_offer(version):
            results[name] = "not tested: this OpenSSL cannot offer it"
        else:
            asked.append((name, version))
    # Probes queue for the target's few slots: give each round an equal share of
    # the time left, so a server that stalls them all still lets every one finish.
    rounds = math.ceil(len(asked) / max(options.max_per_server, 1)) or 1
    each = min(options.handshake_timeout, max((until - loop.time()) / rounds, 0.05))
    tasks = {
        name: asyncio.create_task(_probe(target, address, version, options, each))
        for name, version in asked
    }
    if tasks:
        done, pending = await asyncio.wait(tasks.values(), timeout=max(until - loop.time(), 0))
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for name, task in tasks.items():
            results[name] = task.result() if task in done else "not tested: out of time"
    return {name: results[name] for name, _ in VERSIONS}


@dataclass
class Report:
    target: Target
    session: Session
    verdict: certificate.Verdict
    store_name: str
    issuer_url: str | None = None
    protocols: dict[str, str] = field(default_factory=dict)
    # Optional steps that failed, one sentence each; the verdict stands without them.
    notes: list[str] = field(default_factory=list)


# Time kept back from the deadline for the steps after the probes (rendering).
MARGIN_SECONDS = 0.25


async def check(target: Target, options: Options, now: dt.datetime | None = None) -> Report:
    until = asyncio.get_running_loop().time() + options.deadline - MARGIN_SECONDS
    try:
        async with asyncio.timeout(options.deadline):
            return await _check(target, options, now, until)
    except TimeoutError as exc:
        raise Timeout(
            "The TLS check of {server} did not finish within {seconds:g} s.",
            server=target.server(),
            seconds=options.deadline,
        ) from exc


def _assess(
    session: Session,
    target: Target,
    options: Options,
    now: dt.datetime,
    fetched: x509.Certificate | None,
    url: str | None,
    trusted: tuple[x509.Certificate, ...],
) -> certificate.Verdict:
    return certificate.assess(
        session.chain,
        target.check_name,
        session.openssl,
        now=now,
        fetched_issuer=fetched,
        fetched_from=url,
        trusted=trusted,
        store_name=options.store_name,
    )


async def _check(target: Target, options: Options, now: dt.datetime | None, until: float) -> Report:
    loop = asyncio.get_running_loop()
    addresses = await policy.resolve_checked(
        target.host, target.port, allow_private=options.allow_private, resolver=options.resolver
    )
    session: Session | None = None
    for index, address in enumerate(addresses[:3]):
        try:
            session = await connect_and_handshake(target, address, options)
            break
        except (ConnectFailed, Timeout):
            # Another address of the same name may answer; the last failure is the one told.
            if index == len(addresses[:3]) - 1:
                raise
    assert session is not None
    server = target.server(session.address)
    if not session.chain:
        raise ProtocolError(
            "{server} completed the handshake without sending a certificate.", server=server
        )
    now = now or dt.datetime.now(dt.UTC)
    notes: list[str] = []
    fetched: x509.Certificate | None = None
    url: str | None = None
    trusted: tuple[x509.Certificate, ...] = ()
    try:
        if session.openssl.codes & certificate.MISSING_ISSUER_CODES:
            top = certificate.path(session.chain)[-1]
            url = certificate.issuer_url(top)
            if url:
                # Bounded by what is left of the deadline: the verdict must not wait for it.
                budget = min(options.connect_timeout * 2, max(until - loop.time() - 0.5, 0.1))
                try:
                    fetched = await download_issuer(url, options, budget)
                except NotFetched as exc:
                    notes.append(f"The missing issuer was not fetched from {url}: {exc.args[0]}.")
            if fetched is not None:
                # Parsing a whole bundle is file I/O and some milliseconds: a thread does it.
                trusted = await asyncio.to_thread(certificate.roots, options.trust_store)
        # Checking signatures along a long chain is CPU work: off the event loop.
        verdict = await asyncio.to_thread(
            _assess, session, target, options, now, fetched, url, trusted
        )
    except ChatbotError:
        raise
    except Exception as exc:
        log.warning("certificates from %s not read", server, exc_info=True)
        raise ProtocolError("{server} sent a certificate I could not read.", server=server) from exc
    protocols = (
        await probe_protocols(target, session.address, options, used=session.version, until=until)
        if target.protocols
        else {}
    )
    return Report(target, session, verdict, options.store_name, url, protocols, notes)
