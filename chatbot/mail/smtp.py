"""STARTTLS on each MX: banner, EHLO, STARTTLS, the handshake, the certificate judged.

One plain TCP connection per MX address (an address the address policy
allows, never resolved again here), the SMTP dialogue on the event loop,
then the same pyOpenSSL handshake as /tls (`tls.handshake.run`) on the
upgraded socket and the same verdict (`tls.certificate.assess`) for the MX
host name. Findings are judged in `findings`, which also knows whether
MTA-STS enforce or DANE makes a bad certificate a problem.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import errno
import re
import socket
from dataclasses import dataclass, field

from cryptography import x509
from OpenSSL import SSL

from chatbot import policy
from chatbot.mail import dane
from chatbot.mail import findings as f
from chatbot.mail.lookup import Validated
from chatbot.tls import certificate, handshake
from chatbot.tls.check import verify_result

CHECK = "STARTTLS"
EHLO_NAME = "mail-audit.invalid"
MAX_REPLY_BYTES = 64 * 1024
MAX_SESSIONS, PER_HOST = 8, 2
BLOCKED = "STARTTLS not checked (outbound port 25 is blocked on Google Cloud)."
_FINAL = re.compile(rb"^(\d{3})(?: .*)?$", re.M)
_UNREACHABLE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT}


@dataclass(frozen=True)
class Options:
    port: int = 25
    timeout: float = 4.0  # connect, and each reply of the server
    handshake_timeout: float = 4.0
    ca_file: str | None = None
    allow_private: bool = False

    @property
    def trust_store(self) -> str:
        return policy.ca_bundle(self.ca_file)

    @property
    def store_name(self) -> str:
        return policy.ca_bundle_name(self.ca_file)


@dataclass
class Session:
    host: str
    address: str
    banner: str = ""
    starttls: bool | None = None  # offered in the EHLO reply
    version: str = ""
    cipher: str = ""
    chain: list[x509.Certificate] = field(default_factory=list)
    verdict: certificate.Verdict | None = None
    error: str = ""
    timed_out: bool = False
    skipped: str = ""  # why this address was not contacted


class SMTPError(Exception):
    """The server said or did something that ends the dialogue; args[0] says what."""


class SMTPClosed(SMTPError):
    """The server closed the connection in the middle of the dialogue."""


def _closed(found: Session) -> str:
    return "closed the connection" if found.banner else "closed the connection without a greeting"


async def _reply(sock: socket.socket, timeout: float) -> tuple[int, str]:
    """One (possibly multi-line) SMTP reply: its code and text."""
    loop = asyncio.get_running_loop()
    data = b""
    async with asyncio.timeout(timeout):
        while True:
            chunk = await loop.sock_recv(sock, 4096)
            if not chunk:
                raise SMTPClosed("closed the connection")
            data += chunk
            if len(data) > MAX_REPLY_BYTES:
                raise SMTPError("sent a reply too long to be SMTP")
            if data.endswith(b"\n"):
                last = data.rstrip(b"\r\n").rsplit(b"\n", 1)[-1].rstrip(b"\r")
                final = _FINAL.match(last)
                if final:
                    return int(final.group(1)), data.decode("utf-8", "replace")
                if not re.match(rb"^\d{3}-", last):
                    raise SMTPError("answered with something that is not SMTP")


async def _send(sock: socket.socket, line: str) -> None:
    await asyncio.get_running_loop().sock_sendall(sock, line.encode("ascii") + b"\r\n")


async def _connect(address: str, options: Options) -> socket.socket:
    loop = asyncio.get_running_loop()
    ip = policy.parse_ip(address)
    family = socket.AF_INET6 if ip is not None and ip.version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        async with asyncio.timeout(options.timeout):
            await loop.sock_connect(sock, (address, options.port))
    except BaseException:
        sock.close()
        raise
    return sock


async def _trust(options: Options) -> SSL.Context:
    trust = handshake.loaded(options.trust_store)
    if trust is None:
        trust = await asyncio.to_thread(handshake.context, options.trust_store)
    return trust


async def session(
    host: str,
    address: str,
    options: Options,
    now: dt.datetime | None = None,
    gate: asyncio.Lock | None = None,
) -> Session:
    """The STARTTLS dialogue with one MX address, and what its certificate is worth."""
    found = Session(host, address)
    ip = policy.parse_ip(address)
    kind = policy.forbidden_kind(ip) if ip is not None else "unparseable"
    if kind and not options.allow_private:
        found.skipped = f"{address} is a {kind} address, which I may not contact"
        return found
    where = f"port {options.port}"
    async with gate or contextlib.nullcontext():
        try:
            trust = await _trust(options)
        except handshake.BadTrustStore:
            found.error = f"the trust store {options.trust_store} cannot be read"
            return found
        try:
            sock = await _connect(address, options)
        except TimeoutError:
            found.timed_out = True
            found.error = f"no answer on {where} within {options.timeout:g} s"
            return found
        except OSError as exc:
            if exc.errno in _UNREACHABLE:
                found.skipped = f"{address} is unreachable from here ({exc.strerror})"
            elif isinstance(exc, ConnectionRefusedError):
                found.error = f"refused the connection on {where}"
            elif isinstance(exc, ConnectionResetError):
                # A refusal is ECONNREFUSED: a reset means it accepted, then closed at once.
                found.error = _closed(found)
            else:
                found.error = f"could not connect on {where}: {exc.strerror or exc}"
            return found
        try:
            await _dialogue(found, sock, options)
        except TimeoutError:
            sock.close()
            found.timed_out = not found.banner
            stage = "greeting" if not found.banner else "reply"
            found.error = f"sent no {stage} within {options.timeout:g} s"
            return found
        except (SMTPClosed, ConnectionResetError, BrokenPipeError):
            sock.close()
            found.error = _closed(found)
            return found
        except (SMTPError, OSError) as exc:
            sock.close()
            found.error = str(exc.args[0]) if isinstance(exc, SMTPError) else str(exc)
            return found
        except BaseException:
            sock.close()  # cancelled (the audit's deadline): leave no socket behind
            raise
        if not found.starttls:
            return found  # _dialogue closed the socket
        try:
            done = await handshake.run(sock, host, trust, options.handshake_timeout)
        except handshake.HandshakeTimeout:
            found.error = (
                f"did not complete the TLS handshake within {options.handshake_timeout:g} s"
            )
            return found
        except handshake.Refused as exc:
            found.error = f"failed the TLS handshake: {exc.args[0]}"
            return found
        except (handshake.NotTLS, handshake.Closed):
            found.error = "accepted STARTTLS but did not speak TLS"
            return found
    found.version, found.cipher, found.chain = done.version, done.cipher, list(done.chain)
    if not done.chain:
        found.error = "sent no certificate"
        return found
    found.verdict = certificate.assess(
        done.chain,
        host,
        verify_result(done.verify_errors),
        now=now or dt.datetime.now(dt.UTC),
        store_name=options.store_name,
    )
    return found


async def _dialogue(found: Session, sock: socket.socket, options: Options) -> None:
    code, text = await _reply(sock, options.timeout)
    found.banner = text.splitlines()[0][:120]
    if code != 220:
        raise SMTPError(f"greeted with {found.banner}")
    await _send(sock, f"EHLO {EHLO_NAME}")
    code, text = await _reply(sock, options.timeout)
    if code != 250:
        raise SMTPError(f"refused EHLO: {text.splitlines()[0][:120]}")
    keywords = {line[4:].split(" ", 1)[0].upper() for line in text.splitlines()}
    found.starttls = "STARTTLS" in keywords
    if not found.starttls:
        with contextlib.suppress(OSError, TimeoutError, SMTPError):
            await _send(sock, "QUIT")
            await _reply(sock, 1.0)
        sock.close()
        return
    await _send(sock, "STARTTLS")
    code, text = await _reply(sock, options.timeout)
    if code != 220:
        raise SMTPError(f"refused STARTTLS: {text.splitlines()[0][:120]}")


def targets(hosts: list[tuple[str, list[str]]]) -> list[tuple[str, str]]:
    """(host, address) pairs to try: a few per host, a few in all."""
    pairs = [(host, a) for host, addresses in hosts for a in addresses[:PER_HOST]]
    return pairs[:MAX_SESSIONS]


@dataclass
class Dane:
    """TLSA records of one MX host and what they say about its sessions."""

    host: str
    records: list[dane.TLSA] = field(default_factory=list)
    dnssec: Validated | None = None  # our own validation of the TLSA RRset
    error: str = ""

    @property
    def validated(self) -> bool:
        return self.dnssec is not None and self.dnssec.secure

    @property
    def checked(self) -> str:
        """Whether and how the TLSA answer was DNSSEC-validated, in a few words."""
        return self.dnssec.said if self.dnssec is not None else "not validated"

    @property
    def required(self) -> bool:
        """DANE senders insist on a match: validated, usable records exist."""
        return self.validated and any(r.usable for r in self.records)


def findings(
    sessions: list[Session],
    danes: dict[str, Dane],
    *,
    enforce: bool,
    enabled: bool,
    timeout: float,
) -> list[f.Finding]:
    out: list[f.Finding] = []
    if not enabled:
        out.append(f.info(CHECK, BLOCKED))
    for record in danes.values():
        name = f"_25._tcp.{record.host}"
        status = record.dnssec.status if record.dnssec is not None else None
        if record.dnssec is not None and record.dnssec.status == "bogus":
            out.append(
                f.problem(
                    "DANE",
                    f"The TLSA records at {name} fail DNSSEC validation (bogus): DANE senders "
                    f"treat MX {record.host} as unusable and defer mail to it (RFC 7672 §2.2).",
                    record.dnssec.reason,
                )
            )
        elif record.error:
            out.append(f.warning("DANE", f"The TLSA lookup of {name} failed: {record.error}."))
        elif record.records and status == "indeterminate":
            out.append(
                f.warning(
                    "DANE",
                    f"The TLSA records at {name} could not be DNSSEC-validated from here "
                    f"({record.checked}).",
                )
            )
        elif record.records and not record.validated:
            out.append(
                f.warning(
                    "DANE",
                    f"TLSA records at {name} are not DNSSEC-validated ({record.checked}): "
                    "DANE senders ignore them.",
                    "Sign the zone with DNSSEC, or remove the TLSA records.",
                )
            )
        elif record.records and not any(r.usable for r in record.records):
            out.append(
                f.warning(
                    "DANE",
                    f"TLSA records at {name} use only PKIX usages (0/1), which SMTP ignores "
                    "(RFC 7672 §3.1.3).",
                    "Publish usage 3 (DANE-EE) or 2 (DANE-TA) records.",
                )
            )
    if not enabled:
        return out
    contacted = [s for s in sessions if not s.skipped]
    if contacted and all(s.timed_out for s in contacted):
        out.append(
            f.info(
                CHECK,
                f"No MX answered on port 25 within {timeout:g} s: outbound port 25 looks blocked "
                "from here (many clouds and ISPs block it), so STARTTLS was not checked.",
            )
        )
        return out
    for found in sessions:
        where = f"MX {found.host} ({found.address})"
        tlsa = danes.get(found.host)
        if found.skipped:
            out.append(f.info(CHECK, f"{where} not checked: {found.skipped}."))
        elif found.error:
            severity = f.warning if found.timed_out else f.problem
            out.append(severity(CHECK, f"{where} {found.error}.", "Check the mail server."))
        elif found.starttls is False:
            out.append(
                f.problem(
                    CHECK,
                    f"{where} does not offer STARTTLS: mail to it travels unencrypted.",
                    f"Enable STARTTLS with a certificate for {found.host}.",
                )
            )
        elif found.verdict is not None:
            matched = tlsa is not None and bool(dane.matching(tlsa.records, found.chain))
            required = tlsa is not None and tlsa.required
            if required and not matched:
                out.append(
                    f.problem(
                        "DANE",
                        f"The TLSA records at _25._tcp.{found.host} do not match the "
                        f"certificate {where} presents: DANE senders will not deliver.",
                        "Publish TLSA records for the current certificate (keep the old ones "
                        "until it rolls over).",
                    )
                )
            if not found.verdict.valid:
                needed = enforce or (required and not matched)
                reasons = " ".join(found.verdict.reasons)
                if needed:
                    why = "MTA-STS enforce" if enforce else "DANE"
                    out.append(
                        f.problem(
                            CHECK,
                            f"The certificate of {where} is not valid, and {why} requires a "
                            f"valid one: {reasons}",
                            f"Install a certificate for {found.host} from a public CA.",
                        )
                    )
                else:
                    out.append(
                        f.warning(
                            CHECK,
                            f"The certificate of {where} is not valid: {reasons} Senders "
                            "using opportunistic TLS still deliver.",
                            f"Install a certificate for {found.host} from a public CA.",
                        )
                    )
    return out


def facts(sessions: list[Session], danes: dict[str, Dane], *, enabled: bool) -> list[str]:
    lines = [] if enabled else [BLOCKED]
    for found in sessions if enabled else []:
        head = f"{found.host} {found.address}"
        if found.skipped:
            lines.append(f"{head}  not checked: {found.skipped}")
        elif found.error:
            lines.append(f"{head}  {found.error}")
        elif found.starttls is False:
            lines.append(f"{head}  no STARTTLS · {found.banner[:60]}")
        elif found.verdict is not None:
            state = "certificate valid" if found.verdict.valid else "certificate NOT valid"
            lines.append(f"{head}  STARTTLS · {found.version} · {state}, {found.verdict.expiry}")
    for record in danes.values():
        if not record.records:
            continue
        # A bogus verdict's reason is a finding of its own, above the facts.
        bogus = record.dnssec is not None and record.dnssec.status == "bogus"
        checked = "bogus, see the DANE finding" if bogus else record.checked
        lines.append(f"_25._tcp.{record.host} TLSA (DNSSEC: {checked})")
        chains = [s.chain for s in sessions if s.host == record.host and s.chain]
        for tlsa in record.records:
            if not enabled or not chains:
                state = "not matched (no certificate seen)"
            else:
                state = "match" if any(dane.matches(tlsa, c) for c in chains) else "no match"
            lines.append(f"  {tlsa}  {dane.describe(tlsa)}: {state}")
    return lines
