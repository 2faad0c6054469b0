"""A real DNS server on 127.0.0.1, UDP and TCP on one port-0 port, built on dnspython.

Names under `test.` answer from `records`; a few special names misbehave on
purpose: `servfail.test.`, `refused.test.`, `drop.test.` (never answers),
`slow.test.` (answers after `slow_seconds`), `big.test.` (too big for UDP).
Hostile ones (HOSTILE) send what no resolver should: a malformed message, a
wrong query ID, an answer for another name, a 64 KB answer over TCP, or one
byte a second. Over TCP, `closed.test.` is read and the connection closed
without an answer; with `tcp_closes_at_once` every TCP connection is closed
as soon as it is accepted, the question unread (the kernel answers the
question's bytes with a reset).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

ZONE = dns.name.from_text("test.")
SOA = "ns1.test. hostmaster.test. 2024010101 7200 3600 1209600 300"

RECORDS: dict[tuple[str, str], list[str]] = {
    ("example.test.", "A"): ["192.0.2.10"],
    ("example.test.", "AAAA"): ["2001:db8::10"],
    ("example.test.", "MX"): ["10 mail.example.test.", "20 backup.example.test."],
    ("example.test.", "TXT"): ['"v=spf1 -all"'],
    ("www.example.test.", "CNAME"): ["example.test."],
    ("xn--wgv71a119e.test.", "A"): ["192.0.2.20"],
    ("10.2.0.192.in-addr.arpa.", "PTR"): ["example.test."],
    (
        "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
        "PTR",
    ): ["example.test."],
    ("big.test.", "TXT"): [f'"record {i:03d} {"x" * 40}"' for i in range(300)],
    # 245 strings of 255 bytes: a TCP answer of 65,442 bytes, just under the 64 KB a
    # DNS message can be.
    ("huge.test.", "TXT"): [f'"{i:03d} {"x" * 250}"' for i in range(245)],
}

HOSTILE = {
    "malformed.test.": "a reply whose header is cut off after 5 bytes",
    "junk.test.": "the right ID, then bytes that are no DNS message",
    "wrongid.test.": "a well-formed answer with another query ID",
    "othername.test.": "a well-formed answer to a question about another name",
    "huge.test.": "a 64 KB answer (truncated over UDP, whole over TCP)",
    "trickle.test.": "truncated over UDP, then over TCP one byte a second",
    "closed.test.": "over TCP, the question read and the connection closed without an answer",
}


class DNSServer:
    def __init__(self, records: dict[tuple[str, str], list[str]] | None = None) -> None:
        self.records = RECORDS if records is None else records
        self.slow_seconds = 3.0
        self.trickle_seconds = 1.0  # between the bytes of trickle.test.'s TCP answer
        self.tcp_closes_at_once = False  # accept each TCP connection, then close it unread
        self.queries: list[tuple[str, str, str]] = []  # (transport, name, type)
        self._stop = threading.Event()
        self.udp, self.tcp = self._bind_pair()
        self.port = self.udp.getsockname()[1]
        self.tcp.listen(16)
        self.udp.settimeout(0.1)
        self.tcp.settimeout(0.1)

    @staticmethod
    def _bind_pair(attempts: int = 50) -> tuple[socket.socket, socket.socket]:
        # The port the kernel picks for UDP may be taken for TCP (a client's
        # ephemeral port, a docker-proxy listener): then try another.
        for _ in range(attempts):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind(("127.0.0.1", 0))
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind(("127.0.0.1", udp.getsockname()[1]))
            except OSError:
                udp.close()
                tcp.close()
                continue
            return udp, tcp
        raise OSError(f"no port free for both UDP and TCP in {attempts} attempts")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def answer(self, query: dns.message.Message) -> dns.message.Message | None:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        question = query.question[0]
        name = question.name.to_text()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        if name == "servfail.test.":
            response.set_rcode(dns.rcode.SERVFAIL)
        elif name == "refused.test.":
            response.set_rcode(dns.rcode.REFUSED)
        elif name == "drop.test.":
            return None
        elif name == "slow.test.":
            time.sleep(self.slow_seconds)
            response.answer.append(dns.rrset.from_text(name, 60, "IN", "A", "192.0.2.99"))
        elif (name, rdtype) in self.records:
            values = self.records[(name, rdtype)]
            response.answer.append(dns.rrset.from_text_list(name, 300, "IN", rdtype, values))
        elif (name, "CNAME") in self.records:
            target = self.records[(name, "CNAME")][0]
            response.answer.append(dns.rrset.from_text(name, 300, "IN", "CNAME", target))
            for value in self.records.get((target, rdtype), []):
                response.answer.append(dns.rrset.from_text(target, 300, "IN", rdtype, value))
        else:
            known = any(n == name for n, _ in self.records)
            if not known:
                response.set_rcode(dns.rcode.NXDOMAIN)
            response.authority.append(dns.rrset.from_text("test.", 300, "IN", "SOA", SOA))
        return response

    def _serve_udp(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self.udp.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            # One thread a query, so a slow answer does not hold up the others.
            threading.Thread(target=self._udp_reply, args=(wire, peer), daemon=True).start()

    def hostile(self, query: dns.message.Message, transport: str) -> bytes | None:
        """The wire bytes a HOSTILE name gets instead of an answer; None for the others."""
        name = query.question[0].name.to_text()
        good = dns.message.make_response(query)
        good.flags |= dns.flags.RA
        good.answer.append(dns.rrset.from_text(name, 60, "IN", "A", "192.0.2.66"))
        if name == "malformed.test.":
            return good.to_wire()[:5]
        if name == "junk.test.":
            return good.to_wire()[:2] + bytes(range(256)) * 2
        if name == "wrongid.test.":
            good.id = (query.id + 1) % 65536
            return good.to_wire()
        if name == "othername.test.":
            other = dns.message.make_query("example.test.", query.question[0].rdtype)
            other.id = query.id
            response = dns.message.make_response(other)
            response.answer.append(
                dns.rrset.from_text("example.test.", 60, "IN", "A", "192.0.2.10")
            )
            return response.to_wire()
        if name == "trickle.test." and transport == "udp":
            truncated = dns.message.make_response(query)
            truncated.flags |= dns.flags.TC | dns.flags.RA
            return truncated.to_wire()
        return None

    def _udp_reply(self, wire: bytes, peer: tuple[str, int]) -> None:
        query = dns.message.from_wire(wire)
        self._record("udp", query)
        hostile = self.hostile(query, "udp")
        if hostile is not None:
            with contextlib.suppress(OSError):
                self.udp.sendto(hostile, peer)
            return
        response = self.answer(query)
        if response is None:
            return
        limit = query.payload if query.edns >= 0 else 512
        try:
            out = response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            truncated = dns.message.make_response(query)
            truncated.flags |= dns.flags.TC | dns.flags.RA
            out = truncated.to_wire()
        with contextlib.suppress(OSError):
            self.udp.sendto(out, peer)

    def _serve_tcp(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.tcp.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._tcp_client, args=(conn,), daemon=True).start()

    def _tcp_client(self, conn: socket.socket) -> None:
        with conn:
            if self.tcp_closes_at_once:
                return
            conn.settimeout(5)
            try:
                (length,) = struct.unpack("!H", _read(conn, 2))
                query = dns.message.from_wire(_read(conn, length))
            except (OSError, struct.error):
                return
            self._record("tcp", query)
            if query.question[0].name.to_text() == "trickle.test.":
                self._trickle(conn, query)
                return
            if query.question[0].name.to_text() == "closed.test.":
                return
            hostile = self.hostile(query, "tcp")
            if hostile is not None:
                conn.sendall(struct.pack("!H", len(hostile)) + hostile)
                return
            response = self.answer(query)
            if response is None:
                return
            wire = response.to_wire()
            conn.sendall(struct.pack("!H", len(wire)) + wire)

    def _trickle(self, conn: socket.socket, query: dns.message.Message) -> None:
        response = dns.message.make_response(query)
        response.answer.append(dns.rrset.from_text("trickle.test.", 60, "IN", "A", "192.0.2.77"))
        wire = response.to_wire()
        with contextlib.suppress(OSError):
            for byte in struct.pack("!H", len(wire)) + wire:
                conn.sendall(bytes([byte]))
                if self._stop.wait(self.trickle_seconds):
                    return

    def _record(self, transport: str, query: dns.message.Message) -> None:
        question = query.question[0]
        self.queries.append(
            (transport, question.name.to_text(), dns.rdatatype.to_text(question.rdtype))
        )

    @contextmanager
    def running(self) -> Iterator[DNSServer]:
        threads = [
            threading.Thread(target=self._serve_udp, daemon=True),
            threading.Thread(target=self._serve_tcp, daemon=True),
        ]
        for thread in threads:
            thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            for thread in threads:
                thread.join(timeout=2)
            self.udp.close()
            self.tcp.close()


def _read(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise OSError("closed")
        data += chunk
    return data
