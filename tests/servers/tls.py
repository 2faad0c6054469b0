"""Real TLS servers on 127.0.0.1 (port 0), and a small CA to make their certificates.

`Authority` issues certificates with cryptography so a test can ask for exactly
the flaw it checks (dates, names, weak keys, SHA-1, an AIA URL). `TLSServer`
serves a chain with Python's ssl module; `mode` makes it misbehave on purpose:
"stall" accepts TCP and never answers the handshake, "http" answers like a
plain-HTTP server, "garbage" answers the ClientHello with bytes that are no
TLS, "close" accepts and closes at once (the ClientHello unread), "reset"
accepts and resets the connection at once. `after_first` makes every
connection after the first misbehave (a `+protocols` probe's): "reset" (RST
after the ClientHello), "stall" or "refuse" (the port closes).
`FileServer` is a plain HTTP server for AIA downloads.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import ipaddress
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    ExtensionOID,
    NameOID,
)
from OpenSSL import SSL

from tests.servers.threads import serving

Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
NOW = dt.datetime.now(dt.UTC)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "chatbot tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


@dataclass
class Issued:
    cert: x509.Certificate
    key: Key
    chain: list[x509.Certificate] = field(default_factory=list)  # intermediates to send

    def files(self, directory: Path, *, with_chain: bool = True) -> tuple[Path, Path]:
        cert_path, key_path = directory / "cert.pem", directory / "key.pem"
        sent = [self.cert, *(self.chain if with_chain else [])]
        cert_path.write_bytes(b"".join(_pem(c) for c in sent))
        key_path.write_bytes(
            self.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert_path, key_path


class Authority:
    """A root CA, or an intermediate under one (`parent`)."""

    def __init__(self, name: str = "Test Root CA", parent: Authority | None = None) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.parent = parent
        self.name = name
        signer = parent.key if parent else self.key
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(parent.name) if parent else _name(name))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=365))
            .not_valid_after(NOW + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
        )
        if parent:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(parent.key.public_key()),
                critical=False,
            )
        self.cert = builder.sign(signer, hashes.SHA256())

    @property
    def chain(self) -> list[x509.Certificate]:
        """Intermediates up to (not including) the root, nearest first."""
        if self.parent is None:
            return []
        return [self.cert, *self.parent.chain]

    def write_pem(self, path: Path) -> Path:
        path.write_bytes(_pem(self.cert))
        return path

    def issue(
        self,
        *names: str,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        key: Key | None = None,
        aia_url: str | None = None,
        san_critical: bool = False,
    ) -> Issued:
        key = key or ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(names[0]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or NOW - dt.timedelta(days=10))
            .not_valid_after(not_after or NOW + dt.timedelta(days=90))
            .add_extension(
                x509.SubjectAlternativeName([_san(n) for n in names]), critical=san_critical
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        if aia_url:
            builder = builder.add_extension(
                x509.AuthorityInformationAccess(
                    [
                        x509.AccessDescription(
                            AuthorityInformationAccessOID.CA_ISSUERS,
                            x509.UniformResourceIdentifier(aia_url),
                        )
                    ]
                ),
                critical=False,
            )
        cert = builder.sign(self.key, hashes.SHA256())
        return Issued(cert, key, self.chain)


def self_signed(name: str) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([_san(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert, key)


class TLSServer:
    """Serves `issued` (and its intermediates unless `send_chain=False`) on 127.0.0.1."""

    def __init__(
        self,
        issued: Issued | None = None,
        *,
        send_chain: bool = True,
        minimum: ssl.TLSVersion | None = None,
        maximum: ssl.TLSVersion | None = None,
        mode: str = "tls",
        staple: bytes | None = None,
        after_first: str = "",
        hold_seconds: float = 0.0,
    ) -> None:
        self.mode = mode
        self.after_first = after_first
        self.hold_seconds = hold_seconds  # before the handshake, so connections overlap
        self.active = 0  # connections open right now, and the most ever at once
        self.most = 0
        # Connections in the hold before the handshake, and the most at once: the
        # client cannot have closed one of these (it waits for our ServerHello), so
        # this counts the client's open connections exactly, where `most` can also
        # count one the client has closed and we have not finished with yet.
        self.holding = 0
        self.most_holding = 0
        self._count_lock = threading.Lock()
        self.context: ssl.SSLContext | None = None
        self.stapling: SSL.Context | None = None
        self._tmp = tempfile.TemporaryDirectory()
        if issued is not None:
            cert_path, key_path = issued.files(Path(self._tmp.name), with_chain=send_chain)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            # Weak keys and old versions are what some tests are about.
            context.set_ciphers("ALL:@SECLEVEL=0")
            context.load_cert_chain(cert_path, key_path)
            context.set_alpn_protocols(["h2", "http/1.1"])
            with warnings.catch_warnings():
                # Old versions are deprecated; a server that still offers them is the test.
                warnings.simplefilter("ignore", DeprecationWarning)
                if minimum:
                    context.minimum_version = minimum
                if maximum:
                    context.maximum_version = maximum
            self.context = context
            if staple is not None:
                # Python's ssl module cannot staple; pyOpenSSL can.
                stapling = SSL.Context(SSL.TLS_SERVER_METHOD)
                stapling.use_certificate_chain_file(str(cert_path))
                stapling.use_privatekey_file(str(key_path))
                stapling.set_ocsp_server_callback(lambda connection, data: staple)
                self.stapling = stapling
        self.connections = 0
        self._stop = threading.Event()
        self._held: list[socket.socket] = []
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(32)
        self.listener.settimeout(0.1)
        self.port: int = self.listener.getsockname()[1]

    def _serve(self, conn: socket.socket, number: int) -> None:
        with self._count_lock:
            self.active += 1
            self.most = max(self.most, self.active)
        try:
            self._answer(conn, number)
        finally:
            with self._count_lock:
                self.active -= 1

    def _answer(self, conn: socket.socket, number: int) -> None:
        conn.settimeout(5)
        with contextlib.suppress(OSError), conn:
            if self.mode == "close":
                return
            if self.mode == "reset":  # SO_LINGER 0: the close is a reset
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            if number > 1 and self.after_first == "reset":
                conn.recv(4096)  # the ClientHello, then a reset: SO_LINGER 0 sends RST
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            if self.mode == "stall" or (number > 1 and self.after_first == "stall"):
                self._held.append(conn)
                self._stop.wait()
                return
            if self.mode == "garbage":
                conn.recv(4096)
                conn.sendall(bytes(range(256)) * 4)
                return
            if self.hold_seconds:
                with self._count_lock:
                    self.holding += 1
                    self.most_holding = max(self.most_holding, self.holding)
                self._stop.wait(self.hold_seconds)
                with self._count_lock:
                    self.holding -= 1
            if self.mode == "http":
                conn.recv(4096)
                body = b"<html><body>400 Bad Request</body></html>"
                conn.sendall(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\n"
                    + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                    + body
                )
                return
            if self.stapling is not None:
                conn.setblocking(True)  # pyOpenSSL wants a plain blocking socket
                with contextlib.suppress(SSL.Error):
                    tls_connection = SSL.Connection(self.stapling, conn)
                    tls_connection.set_accept_state()
                    tls_connection.do_handshake()
                    tls_connection.recv(1)
                return
            assert self.context is not None
            # Hold the connection until the client closes it, as real servers do.
            with self.context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            if self.after_first == "refuse":
                self.listener.close()  # every later connection is refused
            threading.Thread(target=self._serve, args=(conn, self.connections), daemon=True).start()

    @contextmanager
    def running(self) -> Iterator[TLSServer]:
        thread = threading.Thread(target=self._loop, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(2)
            self.listener.close()
            self._tmp.cleanup()


class FileServer:
    """Plain HTTP on 127.0.0.1 serving `files` by path, as a CA's AIA host does."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append(self.path)
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/pkix-cert")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @contextmanager
    def running(self) -> Iterator[FileServer]:
        with serving(self.httpd):
            yield self


def refused_port() -> int:
    """A port on 127.0.0.1 that nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sha1_signed(authority: Authority, name: str, openssl: str) -> Issued:
    """A leaf signed with SHA-1 by `authority`.

    cryptography refuses to sign with SHA-1, so the openssl binary (a test
    peer anyway) does the signing.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder().subject_name(_name(name)).sign(key, hashes.SHA256())
    )
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "leaf.csr").write_bytes(request.public_bytes(serialization.Encoding.PEM))
        authority.write_pem(directory / "ca.pem")
        (directory / "ca.key").write_bytes(
            authority.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        (directory / "ext.cnf").write_text(f"subjectAltName=DNS:{name}\n")
        args = ["x509", "-req", "-sha1", "-days", "30", "-in", "leaf.csr", "-out", "leaf.pem"]
        args += ["-CA", "ca.pem", "-CAkey", "ca.key", "-extfile", "ext.cnf"]
        subprocess.run(
            [openssl, *args],
            cwd=directory,
            check=True,
            capture_output=True,
            timeout=20,
        )
        cert = x509.load_pem_x509_certificate((directory / "leaf.pem").read_bytes())
    return Issued(cert, key, authority.chain)


def ocsp_response(issued: Issued, authority: Authority) -> bytes:
    """A signed "good" OCSP response for `issued`: what a server staples.

    OpenSSL 4 sends only a well-formed response, so a placeholder will not do.
    """
    now = dt.datetime.now(dt.UTC)
    response = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=issued.cert,
            issuer=authority.cert,
            algorithm=hashes.SHA1(),
            cert_status=ocsp.OCSPCertStatus.GOOD,
            this_update=now,
            next_update=now + dt.timedelta(days=1),
            revocation_time=None,
            revocation_reason=None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, authority.cert)
        .sign(authority.key, hashes.SHA256())
    )
    return response.public_bytes(serialization.Encoding.DER)


@contextmanager
def unanswered_port() -> Iterator[int]:
    """A port whose SYNs go unanswered: a listener that never accepts, its queue full.

    Linux drops a SYN when the accept queue is full, so a connect to it times
    out, as one to a firewalled host does.
    """
    with socket.socket() as listener, contextlib.ExitStack() as stack:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = int(listener.getsockname()[1])
        for _ in range(3):
            filler = stack.enter_context(socket.socket())
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
        time.sleep(0.05)
        yield port


def broken_extension(authority: Authority, name: str) -> Issued:
    """A leaf whose Authority Information Access extension is malformed DER.

    OpenSSL loads and serves it (it does not parse AIA then); cryptography
    cannot parse the certificate's extensions at all.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(authority.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([_san(name)]), critical=False)
        .add_extension(
            # A SEQUENCE that claims 5 bytes of content and has none.
            x509.UnrecognizedExtension(ExtensionOID.AUTHORITY_INFORMATION_ACCESS, b"\x30\x05"),
            critical=False,
        )
        .sign(authority.key, hashes.SHA256())
    )
    return Issued(cert, key, authority.chain)


def long_chain(root: Authority, name: str, length: int) -> Issued:
    """A leaf under `length - 1` intermediates, each issued by the one above it."""
    authority = root
    for depth in range(length - 1):
        authority = Authority(f"Test Intermediate {depth + 1}", parent=authority)
    return authority.issue(name)


@dataclass
class Tampered(Issued):
    """An issued leaf served as `der`: bytes cryptography would not have written."""

    der: bytes = b""

    def files(self, directory: Path, *, with_chain: bool = True) -> tuple[Path, Path]:
        cert_path, key_path = super().files(directory, with_chain=with_chain)
        pem = ssl.DER_cert_to_PEM_cert(self.der).encode()
        rest = cert_path.read_bytes().split(b"-----END CERTIFICATE-----\n", 1)[1]
        cert_path.write_bytes(pem + rest)
        return cert_path, key_path


def bad_version(authority: Authority, name: str) -> Tampered:
    """A leaf claiming X.509 version 6, which OpenSSL serves and cryptography refuses
    to load at all (its signature no longer matches either)."""
    issued = authority.issue(name)
    der = bytearray(issued.cert.public_bytes(serialization.Encoding.DER))
    at = der.find(bytes([0xA0, 0x03, 0x02, 0x01, 0x02]))  # [0] EXPLICIT INTEGER 2 (v3)
    der[at + 4] = 0x05
    return Tampered(issued.cert, issued.key, issued.chain, bytes(der))
