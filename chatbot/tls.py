"""TLS checks the way `openssl s_client` does them, with the verdict explained.

Knows nothing of Slack: `parse` reads the target, `check` connects (to the
address the policy approved, never a second resolution) and asks OpenSSL to
verify, `render` turns the result into a neutral `Reply`.

One handshake (`handshake.run`, pyOpenSSL driven by the event loop) completes
whatever the certificate, while OpenSSL verifies the chain against the trust store and
reports every error; `certificate.assess` turns those, and its own checks of
dates, name, key and signature, into one sentence per reason. A missing
intermediate is fetched from the leaf's AIA URL through the address policy,
and the chain checked again, to tell "incomplete" from "untrusted".
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
import urllib.parse
import warnings
from dataclasses import dataclass, field
from functools import lru_cache

import certifi
import httpx
import idna
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7

from chatbot import certificate, handshake, policy
from chatbot.errors import ChatbotError, ConnectFailed, ProtocolError, Timeout, UsageError
from chatbot.reply import Part, Reply, code, context, text
from chatbot.settings import Settings

VERSIONS = (
    ("TLS 1.0", ssl.TLSVersion.TLSv1),
    ("TLS 1.1", ssl.TLSVersion.TLSv1_1),
    ("TLS 1.2", ssl.TLSVersion.TLSv1_2),
    ("TLS 1.3", ssl.TLSVersion.TLSv1_3),
)
OLD_VERSIONS = frozenset({"TLS 1.0", "TLS 1.1"})
MAX_ISSUER_BYTES = 64 * 1024
SCHEMES = {"https": 443}


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

    @classmethod
    def from_settings(cls, settings: Settings) -> Options:
        return cls(
            ca_file=settings.tls_ca_file,
            connect_timeout=settings.tls_connect_timeout_seconds,
            handshake_timeout=settings.tls_handshake_timeout_seconds,
            # Leave a moment of the command's deadline for our own, more specific message.
            deadline=max(settings.command_deadline_seconds - 0.5, 0.5),
            allow_private=settings.allow_private_targets,
        )

    @property
    def trust_store(self) -> str:
        return self.ca_file or certifi.where()

    @property
    def store_name(self) -> str:
        return f"the trust store {self.ca_file}" if self.ca_file else "the Mozilla trust store"


def _hostname(word: str) -> tuple[str, str]:
    """An A-label host name from user text (IDNA 2008), and how to show it."""
    word = word.strip().rstrip(".")
    if not word:
        raise UsageError("Give a host name or address to check.")
    try:
        ascii_name = idna.encode(word, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        # Host names with underscores are not IDNA-valid but do exist.
        labels = word.split(".")
        if word.isascii() and all(
            label and len(label) < 64 and label.replace("-", "").replace("_", "").isalnum()
            for label in labels
        ):
            return word.lower(), word.lower()
        raise UsageError(f"{word} is not a valid host name ({exc}).") from exc
    if "xn--" in ascii_name:
        return ascii_name, f"{idna.decode(ascii_name)} ({ascii_name})"
    return ascii_name, ascii_name


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UsageError(f"{text} is not a port number.")
    return int(text)


def _split_target(word: str) -> tuple[str, int]:
    """host and port from `host`, `host:port`, `[v6]:port`, a bare IPv6 literal or a URL."""
    if word.startswith("<") and word.endswith(">"):  # a Slack link the edge did not unwrap
        word = word[1:-1].split("|", 1)[0]
    if "://" in word:
        url = urllib.parse.urlsplit(word)
        if url.scheme.lower() not in SCHEMES:
            raise UsageError(f"{url.scheme}:// is not a TLS URL I can check (use https://).")
        try:
            port = url.port or SCHEMES[url.scheme.lower()]
        except ValueError as exc:
            raise UsageError(f"{word} has an invalid port.") from exc
        if not url.hostname:
            raise UsageError(f"{word} has no host.")
        return url.hostname, port
    if word.startswith("["):
        host, _, rest = word[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise UsageError(f"{word} is not host, host:port or [IPv6]:port.")
        return host, _port(rest[1:]) if rest else 443
    if word.count(":") > 1:
        return word, 443
    host, _, port_text = word.partition(":")
    return host, _port(port_text) if port_text else 443


def parse(arguments: str) -> Target:
    """`host[:port]`, `https://host[:port]/...`, `[v6]:port`, `--sni NAME`, `+protocols`."""
    # Chat clients turn "--" into an em or en dash.
    words = iter(arguments.replace("\u2014", "--").replace("\u2013", "--").split())
    targets: list[str] = []
    sni: str | None = None
    protocols = False
    for word in words:
        if word in ("--sni", "-sni", "-servername"):
            value = next(words, None)
            if value is None:
                raise UsageError(f"{word} needs a name.")
            sni = value
        elif word.startswith("--sni="):
            sni = word.removeprefix("--sni=")
        elif word.startswith("+"):
            if word.lower() != "+protocols":
                raise UsageError(f"{word} is not an option I know (try +protocols).")
            protocols = True
        elif word.startswith("-"):
            raise UsageError(f"{word} is not an option I know (try --sni NAME).")
        else:
            targets.append(word)
    if len(targets) != 1:
        raise UsageError(
            "Give one host to check."
            if not targets
            else f"Give one host to check, not {len(targets)} ({', '.join(targets)})."
        )
    host, port = _split_target(targets[0])
    literal = policy.parse_ip(host)
    if literal is not None:
        host = shown = str(literal)
        default_sni = None
    elif ":" in host:
        raise UsageError(f"{host} is not an IP address.")
    else:
        host, shown = _hostname(host)
        default_sni = host
    if sni is not None:
        if policy.parse_ip(sni) is not None:
            raise UsageError("--sni takes a host name; SNI cannot carry an IP address.")
        sni, _ = _hostname(sni)
    return Target(host=host, port=port, shown=shown, sni=sni or default_sni, protocols=protocols)


def _version_context(version: ssl.TLSVersion) -> ssl.SSLContext:
    """A client offering exactly one TLS version, accepting any certificate."""
    context = ssl.create_default_context()
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
    except OSError as exc:
        sock.close()
        reason = "connection refused" if isinstance(exc, ConnectionRefusedError) else None
        raise ConnectFailed(
            server=target.server(address), reason=reason or exc.strerror or str(exc)
        ) from exc
    return sock


async def _probe_handshake(
    target: Target, address: policy.IPAddress, context: ssl.SSLContext, options: Options
) -> None:
    """One asyncio handshake with `context`, closed at once: does the server accept it?"""
    sock = await _connect(target, address, options)
    try:
        async with asyncio.timeout(options.handshake_timeout):
            _, writer = await asyncio.open_connection(
                sock=sock, ssl=context, server_hostname=target.check_name
            )
    except BaseException:
        sock.close()
        raise
    _close(writer)


_closing: set[asyncio.Task[None]] = set()


async def _finish_close(writer: asyncio.StreamWriter) -> None:
    try:
        async with asyncio.timeout(2):
            await writer.wait_closed()
    except (OSError, TimeoutError, ssl.SSLError):
        writer.transport.abort()  # the answer is already in hand; a rude peer changes nothing
    except asyncio.CancelledError:
        writer.transport.abort()  # the loop is ending (CLI): leave no transport half-open
        raise


def _close(writer: asyncio.StreamWriter) -> None:
    """Send close_notify, as s_client does, without waiting for the peer's to answer."""
    writer.close()
    task = asyncio.get_running_loop().create_task(_finish_close(writer))
    _closing.add(task)
    task.add_done_callback(_closing.discard)


async def settle() -> None:
    """Wait for connections still closing in the background (tests, shutdown)."""
    await asyncio.gather(*_closing, return_exceptions=True)


async def _speaks_http(target: Target, address: policy.IPAddress, options: Options) -> bool:
    """Whether the port answers a plain HTTP request, to name the usual mistake."""
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
        _close(writer)
    return first == b"HTTP/"


def _verify_result(errors: list[tuple[int, int]]) -> certificate.OpenSSLResult:
    return certificate.OpenSSLResult(
        tuple(
            (code, handshake.VERIFY_MESSAGES.get(code, f"verification error {code}"))
            for code in dict.fromkeys(code for code, _ in errors)
        )
    )


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
        if await _speaks_http(target, address, options):
            raise ProtocolError(
                "{server} speaks plain HTTP on this port, not TLS.", server=server
            ) from exc
        raise ProtocolError("{server} answered, but not with TLS.", server=server) from exc
    except handshake.Closed as exc:
        raise ProtocolError(
            "{server} closed the connection during the TLS handshake.", server=server
        ) from exc
    except handshake.Refused as exc:
        raise ProtocolError(
            "{server} did not complete TLS: {reason}.", server=server, reason=exc.args[0]
        ) from exc
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


async def fetch_issuer(url: str, options: Options) -> x509.Certificate | None:
    """The issuer certificate at an AIA caIssuers URL (DER, PEM or PKCS#7), via the policy."""
    if not url.lower().startswith(("http://", "https://")):
        return None
    body = b""
    try:
        async with (
            asyncio.timeout(options.connect_timeout * 2),
            policy.guarded_client(
                allow_private=options.allow_private, timeout=options.connect_timeout
            ) as client,
            client.stream("GET", url, follow_redirects=True) as response,
        ):
            if response.status_code != 200:
                return None
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_ISSUER_BYTES:  # a certificate is a few KB; stop reading
                    return None
    except (httpx.HTTPError, ChatbotError, OSError, TimeoutError):
        return None
    if not body:
        return None
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
    return None


async def probe_protocols(
    target: Target, address: policy.IPAddress, options: Options
) -> dict[str, str]:
    """Each TLS version tried on its own connection: accepted, not accepted or not tested."""

    async def one(version: ssl.TLSVersion) -> str:
        if not can_offer(version):
            return "not tested"
        try:
            await _probe_handshake(target, address, _version_context(version), options)
        except (ssl.SSLError, ConnectionResetError, EOFError, TimeoutError, Timeout):
            return "not accepted"
        return "accepted"

    results = await asyncio.gather(*(one(version) for _, version in VERSIONS))
    return {name: result for (name, _), result in zip(VERSIONS, results, strict=True)}


@dataclass
class Report:
    target: Target
    session: Session
    verdict: certificate.Verdict
    store_name: str
    issuer_url: str | None = None
    protocols: dict[str, str] = field(default_factory=dict)


async def check(target: Target, options: Options, now: dt.datetime | None = None) -> Report:
    try:
        async with asyncio.timeout(options.deadline):
            return await _check(target, options, now)
    except TimeoutError as exc:
        raise Timeout(
            "The TLS check of {server} did not finish within {seconds:g} s.",
            server=target.server(),
            seconds=options.deadline,
        ) from exc


async def _check(target: Target, options: Options, now: dt.datetime | None) -> Report:
    addresses = await policy.resolve_checked(
        target.host, target.port, allow_private=options.allow_private
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
    if not session.chain:
        raise ProtocolError(
            "{server} completed the handshake without sending a certificate.",
            server=target.server(session.address),
        )
    now = now or dt.datetime.now(dt.UTC)
    fetched: x509.Certificate | None = None
    url: str | None = None
    trusted: tuple[x509.Certificate, ...] = ()
    if session.openssl.codes & certificate.MISSING_ISSUER_CODES:
        top = certificate.path(session.chain)[-1]
        url = certificate.issuer_url(top)
        if url:
            fetched = await fetch_issuer(url, options)
        if fetched is not None:
            # Parsing a whole bundle is file I/O and some milliseconds: a thread does it.
            trusted = await asyncio.to_thread(certificate.roots, options.trust_store)
    verdict = certificate.assess(
        session.chain,
        target.check_name,
        session.openssl,
        now=now,
        fetched_issuer=fetched,
        fetched_from=url,
        trusted=trusted,
        store_name=options.store_name,
    )
    protocols = await probe_protocols(target, session.address, options) if target.protocols else {}
    return Report(target, session, verdict, options.store_name, url, protocols)


def _date(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _facts(report: Report) -> list[str]:
    session, leaf = report.session, report.session.chain[0]
    expiry = report.verdict.expiry
    alpn = f" · ALPN {session.alpn}" if session.alpn else " · no ALPN"
    return [
        f"subject    {leaf.subject.rfc4514_string() or '(empty)'}",
        f"names      {certificate.shown_names(leaf)}",
        f"issuer     {leaf.issuer.rfc4514_string() or '(empty)'}",
        f"valid      {_date(leaf.not_valid_before_utc)} -> "
        f"{_date(leaf.not_valid_after_utc)} ({expiry})",
        f"key        {certificate.key_description(leaf)}",
        f"signature  {certificate.signature_name(leaf)}",
        f"protocol   {session.version} · {session.cipher}{alpn}",
        f"OCSP       {_STAPLING[session.ocsp_stapled]}",
    ]


_STAPLING = {True: "response stapled", False: "no response stapled", None: "stapling unknown"}


def _chain_lines(report: Report) -> list[str]:
    return [
        f"{index} {certificate.cn(cert.subject)} -> {certificate.cn(cert.issuer)} · "
        f"expires {cert.not_valid_after_utc:%Y-%m-%d}"
        for index, cert in enumerate(report.session.chain)
    ]


def _protocol_parts(protocols: dict[str, str]) -> list[Part]:
    if not protocols:
        return []
    lines = [f"{name}  {result}" for name, result in protocols.items()]
    parts: list[Part] = [
        text("*Protocol versions, each tried on its own*"),
        code(lines, "versions"),
    ]
    old = [name for name in OLD_VERSIONS if protocols.get(name) == "accepted"]
    if old:
        parts.append(
            text(
                f":warning: The server still accepts {' and '.join(sorted(old))}, deprecated "
                "since 2021 (RFC 8996); turn them off."
            )
        )
    return parts


def render(report: Report) -> Reply:
    target, session, verdict = report.target, report.session, report.verdict
    where = target.server(session.address)
    name = target.shown
    if target.sni and target.sni != target.host:
        where += f" · SNI {target.sni}"
        name = f"{target.sni} on {target.shown}"
    if verdict.valid:
        headline = f":white_check_mark: *{name}*: the certificate is valid"
        summary = f"{name}: certificate valid, {verdict.expiry}"
    else:
        headline = f":x: *{name}*: the certificate is *not valid*"
        summary = f"{name}: certificate not valid: {verdict.reasons[0]}"
    parts: list[Part] = [text(headline), context(where)]
    parts += [text(f"• {reason}") for reason in verdict.reasons]
    warning_icon = ":rotating_light:" if 0 <= verdict.days_left <= 7 else ":warning:"
    parts += [text(f"{warning_icon} {warning}") for warning in verdict.warnings]
    if session.version in OLD_VERSIONS:
        parts.append(
            text(
                f":warning: The connection used {session.version}, deprecated since 2021 "
                "(RFC 8996): the server offers nothing newer."
            )
        )
    parts.append(code(_facts(report), unit="lines"))
    parts.append(text("*Chain as sent by the server*"))
    parts.append(code(_chain_lines(report), unit="certificates"))
    parts += _protocol_parts(report.protocols)
    openssl = session.openssl
    said = str(openssl)
    parts.append(
        context(
            f"verified against {report.store_name} · OpenSSL: {said} · "
            f"handshake {session.milliseconds:.0f} ms"
        )
    )
    return Reply(summary=summary, parts=tuple(parts))


async def run(arguments: str, options: Options) -> Reply:
    target = parse(arguments)
    return render(await check(target, options))
