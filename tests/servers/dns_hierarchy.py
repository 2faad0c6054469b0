"""A whole DNS tree on loopback: a root, the TLD `test.`, and zones under it.

Each name server has its own address (127.0.0.1 is the root, 127.0.0.2 and
up the others) and they all listen on one port, UDP and TCP, so that a walk
from "root at 127.0.0.1:P" reaches every server a referral names at the same
port P, as `dig +trace -p P` does. Built like tests/servers/dns.py: dnspython
messages, real sockets, the port chosen by the kernel.

Zones are signed here with dnspython (`dns.dnssec.sign_zone`): the root with
an RSASHA256 key, the others with ECDSAP256SHA256 key pairs (KSK and ZSK);
`anchor_file()` writes the root's DS as a trust anchor. Each scenario of
/dig's +trace, +validate and +compare has its own zone:

  secure.test.     a signed zone under a signed delegation; `chain` CNAMEs
                   on through glueless.test. and back
  glueless.test.   delegated to ns.secure.test., with no glue in test.
  unsigned.test.   not signed; test.'s NSEC proves there is no DS
  oldalgo.test.    its only DS is GOST (algorithm 12): validators treat it as unsigned
  hashed.test.     signed with NSEC3 (the chain built here; dnspython makes NSEC
                   only); sub.hashed.test. is an unsigned child
  expired.test.    www's RRSIG expired yesterday
  mismatch.test.   the DS in test. is the digest of a key the zone lacks
  baddigest.test.  the DS names the zone's KSK but its digest is wrong
  nosig.test.      www's A has no RRSIG
  tampered.test.   www's A was changed after signing
  lame.test.       ns1 answers REFUSED, ns2 answers without AA, ns3 works
  dead.test.       ns1 never answers, ns2 works
  loop.test.       its server refers back up to test.
  deep.test.       its server refers one label deeper, forever
  cycle-a.test. and cycle-b.test.  each served by a name in the other
  serials.test.    ns1 to ns3 serve serial 2026112801, ns4 the older
                   2026112701, with another address for www
  signed.lab.      under the TLD lab., whose name servers are named by their
                   addresses (127.0.0.2.): `dig +trace` looks every server name
                   up with the system's resolver, never in the glue
and recursive resolvers that answer from the whole tree without AA: 127.0.0.20
to .23 (.23 answers www.secure.test. differently; delv uses .20), .24 never
answers, .25 names the root by its address for `dig +trace @127.0.0.25 -p P`.

Other families' tests add zones of their own under test. (`Extra`): /mail's
DANE tests put TLSA records in signed, unsigned and tampered zones.
"""

from __future__ import annotations

import base64
import contextlib
import selectors
import socket
import struct
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.dnssec
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.node
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.DNSKEY
import dns.rdtypes.ANY.NSEC
import dns.rrset
import dns.zone
from dns.dnssecalgs.ecdsa import PrivateECDSAP256SHA256
from dns.dnssecalgs.rsa import PrivateRSASHA256

IN = dns.rdataclass.IN
DAY = 86400
SERIAL_NEW = 2026112801
SERIAL_OLD = 2026112701

Key = tuple[Any, dns.rdtypes.ANY.DNSKEY.DNSKEY]


@dataclass(frozen=True)
class Extra:
    """A zone under test. for another family's tests, delegated from test.

    `body`: its records, names relative to `origin`. Signed (its DS in test.)
    unless `signed` is false, when test.'s NSEC proves it has no DS.
    `changed`: records put in after signing, as when someone edits a signed
    zone and does not re-sign it (their RRSIGs no longer verify).
    """

    origin: str  # "example.test."
    body: str
    signed: bool = True
    changed: str = ""

    @property
    def server(self) -> str:
        return "127.0.0.4" if self.signed else "127.0.0.5"


@dataclass
class Nameserver:
    """One server at one address.

    `mode`: "authoritative" answers from `zones` (REFUSED outside them);
    "refuse" answers REFUSED; "drop" never answers; "recursive" answers
    from the whole tree with RA and without AA; "upward" answers everything
    with a referral to test.; "deeper" refers one label further down.
    """

    name: str
    address: str
    zones: list[dns.zone.Zone] = field(default_factory=list)
    mode: str = "authoritative"
    delay: float = 0.0
    overrides: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    referrals: dict[dns.name.Name, int] = field(default_factory=dict)
    queries: list[tuple[str, str]] = field(default_factory=list)


def _key(algorithm: str, flags: int) -> Key:
    if algorithm == "RSASHA256":
        private: Any = PrivateRSASHA256.generate(key_size=2048)
    else:
        private = PrivateECDSAP256SHA256.generate()
    return private, dns.dnssec.make_dnskey(private.public_key(), algorithm, flags=flags)


def _zone(origin: str, body: str, serial: int = SERIAL_NEW) -> dns.zone.Zone:
    ns = "a.root-servers.test." if origin == "." else f"ns1.{origin}"
    text = f"$TTL 300\n@ SOA {ns} hostmaster.test. {serial} 7200 3600 1209600 300\n{body}"
    return dns.zone.from_text(text, origin=origin, relativize=False)


def _sign(zone: dns.zone.Zone, keys: list[Key], **when: Any) -> None:
    now = int(time.time())
    times = {"inception": now - DAY, "expiration": now + 30 * DAY} | when
    dns.dnssec.sign_zone(zone, keys=keys, **times)


def _ds(origin: str, key: Key) -> str:
    return f"{origin} DS {dns.dnssec.make_ds(origin, key[1], 'SHA256')}"


class Hierarchy:
    """Build the zones and servers; `running()` serves them on 127.0.0.x:port."""

    def __init__(self, extra: tuple[Extra, ...] = ()) -> None:
        self.extra = extra
        self.now = int(time.time())
        self.keys: dict[str, list[Key]] = {}
        self.root_key = _key("RSASHA256", 257)
        self.servers: dict[str, Nameserver] = {}
        self.zones: dict[dns.name.Name, dns.zone.Zone] = {}
        self._build()
        self.port = 0
        self._sockets: list[socket.socket] = []
        self._owner: dict[socket.socket, Nameserver] = {}
        self._stop = threading.Event()

    # --- the zones -----------------------------------------------------------

    def _pair(self, origin: str) -> list[Key]:
        self.keys[origin] = [_key("ECDSAP256SHA256", 257), _key("ECDSAP256SHA256", 256)]
        return self.keys[origin]

    def _build(self) -> None:
        signed = [
            "secure.test.",
            "glueless.test.",
            "expired.test.",
            "nosig.test.",
            "tampered.test.",
            "hashed.test.",
        ]
        for origin in [*signed, "mismatch.test.", "test.", "lab.", "signed.lab."]:
            self._pair(origin)
        # mismatch.test.'s parent publishes the DS of a key the zone never had.
        wrong = _key("ECDSAP256SHA256", 257)
        self.keys["wrong"] = [wrong]
        ds = [_ds(o, self.keys[o][0]) for o in signed] + [_ds("mismatch.test.", wrong)]
        # oldalgo.test.'s only DS uses GOST (algorithm 12, digest 3), which validators
        # may not use (RFC 8624): they treat the zone as unsigned.
        ds.append("oldalgo.test. DS 4242 12 3 " + "ab" * 32)
        # baddigest.test.'s DS names its real KSK (tag, algorithm) with a wrong digest.
        self._pair("baddigest.test.")
        ds.append(f"baddigest.test. DS {self.key_tag('baddigest.test.')} 13 2 " + "00" * 32)
        for extra in self.extra:
            assert extra.origin.endswith(".test.") and extra.origin.count(".") == 2, extra
            if extra.signed:
                ds.append(_ds(extra.origin, self._pair(extra.origin)[0]))

        root = _zone(
            ".",
            "@ NS a.root-servers.test.\n"
            "a.root-servers.test. A 127.0.0.1\n"
            "test. NS ns1.test.\ntest. NS ns2.test.\n"
            "ns1.test. A 127.0.0.2\nns2.test. A 127.0.0.3\n"
            + _ds("test.", self.keys["test."][0])
            # lab. is for `dig +trace`, which looks up every server name with the
            # system's resolver: there, each server's name is its address.
            + "\nlab. NS 127.0.0.2.\n"
            + "127.0.0.2. A 127.0.0.2\n127.0.0.4. A 127.0.0.4\n"
            + _ds("lab.", self.keys["lab."][0]),
        )
        _sign(root, [self.root_key])
        tld = _zone(
            "test.",
            "@ NS ns1.test.\n@ NS ns2.test.\n"
            "ns1 A 127.0.0.2\nns2 A 127.0.0.3\n"
            "a.root-servers A 127.0.0.1\n"
            "secure NS ns1.secure.test.\nns1.secure A 127.0.0.4\n"
            "glueless NS ns.secure.test.\n"
            "unsigned NS ns1.unsigned.test.\nns1.unsigned A 127.0.0.5\n"
            "oldalgo NS ns1.oldalgo.test.\nns1.oldalgo A 127.0.0.5\n"
            "hashed NS ns1.hashed.test.\nns1.hashed A 127.0.0.4\n"
            + "".join(
                f"{z} NS ns1.{z}.test.\nns1.{z} A 127.0.0.6\n"
                for z in ("expired", "mismatch", "nosig", "tampered", "baddigest")
            )
            + "lame NS ns1.lame.test.\nlame NS ns2.lame.test.\nlame NS ns3.lame.test.\n"
            "ns1.lame A 127.0.0.7\nns2.lame A 127.0.0.8\nns3.lame A 127.0.0.9\n"
            "loop NS ns1.loop.test.\nns1.loop A 127.0.0.10\n"
            "dead NS ns1.dead.test.\ndead NS ns2.dead.test.\n"
            "ns1.dead A 127.0.0.11\nns2.dead A 127.0.0.12\n"
            "deep NS ns1.deep.test.\nns1.deep A 127.0.0.17\n"
            "cycle-a NS ns.cycle-b.test.\ncycle-b NS ns.cycle-a.test.\n"
            + "".join(
                f"{x.origin} NS ns1.{x.origin}\nns1.{x.origin} A {x.server}\n" for x in self.extra
            )
            + "".join(
                f"serials NS ns{i}.serials.test.\nns{i}.serials A 127.0.0.{12 + i}\n"
                for i in range(1, 5)
            )
            + "\n".join(ds)
            + "\n",
        )
        _sign(tld, self.keys["test."])

        secure = _zone(
            "secure.test.",
            "@ NS ns1.secure.test.\nns1 A 127.0.0.4\nns A 127.0.0.4\n"
            "www A 192.0.2.1\n@ MX 10 mail.secure.test.\nmail A 192.0.2.25\n"
            "chain CNAME www.glueless.test.\n",
        )
        _sign(secure, self.keys["secure.test."])
        lab = _zone(
            "lab.",
            "@ NS 127.0.0.2.\nsigned NS 127.0.0.4.\n"
            + _ds("signed.lab.", self.keys["signed.lab."][0]),
        )
        _sign(lab, self.keys["lab."])
        signed_lab = _zone("signed.lab.", "@ NS 127.0.0.4.\nwww A 192.0.2.7\n")
        _sign(signed_lab, self.keys["signed.lab."])
        glueless = _zone(
            "glueless.test.",
            "@ NS ns.secure.test.\nwww CNAME www.secure.test.\nhost A 192.0.2.2\n",
        )
        _sign(glueless, self.keys["glueless.test."])
        unsigned = _zone("unsigned.test.", "@ NS ns1.unsigned.test.\nwww A 192.0.2.3\n")
        oldalgo = _zone("oldalgo.test.", "@ NS ns1.oldalgo.test.\nwww A 192.0.2.8\n")
        hashed = _zone(
            "hashed.test.",
            "@ NS ns1.hashed.test.\nns1 A 127.0.0.4\nwww A 192.0.2.9\na.b A 192.0.2.11\n"
            "sub NS ns1.sub.hashed.test.\nns1.sub A 127.0.0.5\n",
        )
        sign_nsec3(hashed, self.keys["hashed.test."], self.now)
        sub = _zone("sub.hashed.test.", "@ NS ns1.sub.hashed.test.\nwww A 192.0.2.10\n")

        def bogus(origin: str, keys: list[Key], **when: Any) -> dns.zone.Zone:
            zone = _zone(origin, f"@ NS ns1.{origin}\nwww A 192.0.2.4\n")
            _sign(zone, keys, **when)
            return zone

        expired = bogus("expired.test.", self.keys["expired.test."])
        www = dns.name.from_text("www.expired.test.")
        with expired.writer() as txn:
            txn.delete(www, dns.rdatatype.RRSIG, dns.rdatatype.A)
            rrset = dns.rrset.from_text(www, 300, IN, "A", "192.0.2.4")
            zsk = self.keys["expired.test."][1]
            txn.add(
                www,
                300,
                dns.dnssec.sign(
                    rrset,
                    zsk[0],
                    dns.name.from_text("expired.test."),
                    zsk[1],
                    inception=self.now - 31 * DAY,
                    expiration=self.now - DAY,
                ),
            )
        mismatch = bogus("mismatch.test.", self.keys["mismatch.test."])
        baddigest = bogus("baddigest.test.", self.keys["baddigest.test."])
        nosig = bogus("nosig.test.", self.keys["nosig.test."])
        with nosig.writer() as txn:
            txn.delete(dns.name.from_text("www.nosig.test."), dns.rdatatype.RRSIG, dns.rdatatype.A)
        tampered = bogus("tampered.test.", self.keys["tampered.test."])
        with tampered.writer() as txn:
            name = dns.name.from_text("www.tampered.test.")
            txn.replace(dns.rrset.from_text(name, 300, IN, "A", "192.0.2.66"))

        lame = _zone(
            "lame.test.",
            "@ NS ns1.lame.test.\n@ NS ns2.lame.test.\n@ NS ns3.lame.test.\n"
            "ns1 A 127.0.0.7\nns2 A 127.0.0.8\nns3 A 127.0.0.9\nwww A 192.0.2.5\n",
        )
        dead = _zone(
            "dead.test.",
            "@ NS ns1.dead.test.\n@ NS ns2.dead.test.\n"
            "ns1 A 127.0.0.11\nns2 A 127.0.0.12\nwww A 192.0.2.6\n",
        )
        ns_lines = "".join(
            f"@ NS ns{i}.serials.test.\nns{i} A 127.0.0.{12 + i}\n" for i in range(1, 5)
        )
        serials_new = _zone("serials.test.", ns_lines + "www A 192.0.2.81\n", SERIAL_NEW)
        serials_old = _zone("serials.test.", ns_lines + "www A 192.0.2.80\n", SERIAL_OLD)

        extras = [self._extra(extra) for extra in self.extra]
        for zone in (
            *extras,
            root,
            tld,
            lab,
            signed_lab,
            secure,
            glueless,
            unsigned,
            oldalgo,
            hashed,
            sub,
            expired,
            mismatch,
            baddigest,
            nosig,
            tampered,
            lame,
            dead,
            serials_new,
        ):
            assert zone.origin is not None
            self.zones[zone.origin] = zone

        add = self.add
        add("a.root-servers.test.", "127.0.0.1", [root])
        add("ns1.test.", "127.0.0.2", [tld, lab])
        add("ns2.test.", "127.0.0.3", [tld])
        served = {
            address: [z for z, x in zip(extras, self.extra, strict=True) if x.server == address]
            for address in ("127.0.0.4", "127.0.0.5")
        }
        add(
            "ns1.secure.test.",
            "127.0.0.4",
            [secure, glueless, signed_lab, hashed, *served["127.0.0.4"]],
        )
        add("ns1.unsigned.test.", "127.0.0.5", [unsigned, oldalgo, sub, *served["127.0.0.5"]])
        add("ns1.expired.test.", "127.0.0.6", [expired, mismatch, nosig, tampered, baddigest])
        add("ns1.lame.test.", "127.0.0.7", [], "refuse")
        add("ns2.lame.test.", "127.0.0.8", [], "recursive")
        add("ns3.lame.test.", "127.0.0.9", [lame])
        add("ns1.loop.test.", "127.0.0.10", [], "upward")
        add("ns1.dead.test.", "127.0.0.11", [], "drop")
        add("ns2.dead.test.", "127.0.0.12", [dead])
        for i in range(1, 4):
            add(f"ns{i}.serials.test.", f"127.0.0.{12 + i}", [serials_new])
        add("ns4.serials.test.", "127.0.0.16", [serials_old])
        add("ns1.deep.test.", "127.0.0.17", [], "deeper")
        # Resolvers for +compare (and for delv, which needs a recursive server).
        for i in range(20, 24):
            add(f"resolver{i}", f"127.0.0.{i}", [], "recursive")
        self.servers["127.0.0.23"].overrides[("www.secure.test.", "A")] = ["192.0.2.99"]
        add("resolver24", "127.0.0.24", [], "drop")
        # dig +trace looks up the root servers' names with the system's resolver
        # (getaddrinfo), never in the answer: this one names the root by address.
        add("hints", "127.0.0.25", [], "recursive", overrides={(".", "NS"): ["127.0.0.1."]})

    def _extra(self, extra: Extra) -> dns.zone.Zone:
        zone = _zone(extra.origin, f"@ NS ns1\nns1 A {extra.server}\n{extra.body}")
        if extra.signed:
            _sign(zone, self.keys[extra.origin])
        if extra.changed:
            edits = dns.zone.from_text(
                f"$TTL 300\n{extra.changed}", origin=extra.origin, check_origin=False
            )
            with zone.writer() as txn:
                for name, rdataset in edits.iterate_rdatasets():
                    txn.replace(name.derelativize(zone.origin), rdataset)
        return zone

    # --- what the tests use --------------------------------------------------

    def add(
        self,
        name: str,
        address: str,
        zones: list[dns.zone.Zone],
        mode: str = "authoritative",
        **kw: Any,
    ) -> Nameserver:
        """Another server (before `running()`): say a slow resolver for a benchmark."""
        self.servers[address] = Nameserver(name, address, zones, mode, **kw)
        return self.servers[address]

    @property
    def root(self) -> str:
        return f"127.0.0.1:{self.port}"

    def resolvers(self, *numbers: int) -> tuple[str, ...]:
        return tuple(f"127.0.0.{n}:{self.port}" for n in numbers)

    def root_ds(self) -> dns.rrset.RRset:
        ds = dns.dnssec.make_ds(dns.name.root, self.root_key[1], "SHA256")
        return dns.rrset.from_rdata(dns.name.root, 172800, ds)

    def anchor_file(self, path: Path, kind: str = "DS") -> Path:
        """The root's trust anchor in zone file format, as IANA publishes it."""
        if kind == "DS":
            path.write_text(self.root_ds().to_text() + "\n")
        else:
            key = dns.rrset.from_rdata(dns.name.root, 172800, self.root_key[1])
            path.write_text(key.to_text() + "\n")
        return path

    def bind_anchor_file(self, path: Path) -> Path:
        """The same anchor as BIND's delv reads it (`-a`)."""
        ds = self.root_ds()[0]
        digest = ds.digest.hex().upper()
        path.write_text(
            "trust-anchors {\n"
            f'  . static-ds {ds.key_tag} {ds.algorithm} {ds.digest_type} "{digest}";\n'
            "};\n"
        )
        return path

    def hints_file(self, path: Path) -> Path:
        path.write_text(
            ". 3600000 NS a.root-servers.test.\na.root-servers.test. 3600000 A 127.0.0.1\n"
        )
        return path

    def key_tag(self, origin: str, index: int = 0) -> int:
        return dns.dnssec.key_id(self.keys[origin][index][1])

    @property
    def root_key_tag(self) -> int:
        return dns.dnssec.key_id(self.root_key[1])

    # --- answering -----------------------------------------------------------

    def answer(self, server: Nameserver, query: dns.message.Message) -> dns.message.Message | None:
        question = query.question[0]
        server.queries.append((question.name.to_text(), dns.rdatatype.to_text(question.rdtype)))
        if server.mode == "drop":
            return None
        if server.delay:
            time.sleep(server.delay)
        response = dns.message.make_response(query)
        want_dnssec = bool(query.ednsflags & dns.flags.DO)
        if server.mode == "refuse":
            response.set_rcode(dns.rcode.REFUSED)
        elif server.mode == "recursive":
            self._recursive(server, question.name, question.rdtype, want_dnssec, response)
        elif server.mode == "upward":
            root = self.zones[dns.name.root]
            _referral(dns.name.from_text("test."), root, dns.name.root, want_dnssec, response)
        elif server.mode == "deeper":
            self._deeper(server, question.name, response)
        else:
            zone = _zone_for(server.zones, question.name, question.rdtype)
            if zone is None:
                response.set_rcode(dns.rcode.REFUSED)
            else:
                authoritative(zone, question.name, question.rdtype, want_dnssec, response)
        return response

    def _deeper(
        self, server: Nameserver, name: dns.name.Name, response: dns.message.Message
    ) -> None:
        top = dns.name.from_text("deep.test.")
        if not name.is_subdomain(top) or name == top:
            response.set_rcode(dns.rcode.REFUSED)
            return
        # Each query for the same name is referred one label further down.
        below = len(name) - len(top)
        step = server.referrals.get(name, 0) % below + 1
        server.referrals[name] = step
        child = dns.name.Name(name.labels[-(len(top) + step) :])
        server_name = dns.name.from_text("ns", child)
        response.authority.append(dns.rrset.from_text(child, 300, IN, "NS", server_name.to_text()))
        response.additional.append(dns.rrset.from_text(server_name, 300, IN, "A", "127.0.0.17"))

    def _recursive(
        self,
        server: Nameserver,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        want_dnssec: bool,
        response: dns.message.Message,
    ) -> None:
        response.flags |= dns.flags.RA
        override = server.overrides.get((name.to_text(), dns.rdatatype.to_text(rdtype)))
        if override:
            response.answer.append(dns.rrset.from_text_list(name, 300, IN, rdtype, override))
            return
        for _ in range(8):
            zone = _zone_for(list(self.zones.values()), name, rdtype)
            if zone is None:
                response.set_rcode(dns.rcode.SERVFAIL)
                return
            part = dns.message.make_response(dns.message.make_query(name, rdtype))
            authoritative(zone, name, rdtype, want_dnssec, part)
            if not part.flags & dns.flags.AA:  # a referral to a zone nobody here serves
                response.set_rcode(dns.rcode.SERVFAIL)
                return
            response.answer.extend(part.answer)
            last = part.answer[-1] if part.answer else None
            if last is not None and last.rdtype == dns.rdatatype.CNAME and rdtype != last.rdtype:
                name = last[0].target
                continue
            response.authority.extend(part.authority)
            response.set_rcode(part.rcode())
            return
        response.set_rcode(dns.rcode.SERVFAIL)

    # --- sockets ---------------------------------------------------------------

    def _bind(self, attempts: int = 50) -> None:
        addresses = list(self.servers)
        for _ in range(attempts):
            opened: list[tuple[socket.socket, Nameserver]] = []
            port = 0
            try:
                for address in addresses:
                    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    opened.append((udp, self.servers[address]))
                    udp.bind((address, port))
                    port = udp.getsockname()[1]
                    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    opened.append((tcp, self.servers[address]))
                    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    tcp.bind((address, port))
                    tcp.listen(16)
            except OSError:
                # The port the kernel picked for the first address is taken on
                # another one (a client's ephemeral port): start again.
                for sock, _ in opened:
                    sock.close()
                continue
            self.port = port
            self._sockets = [sock for sock, _ in opened]
            self._owner = dict(opened)
            return
        raise OSError(f"no port free on all {len(addresses)} addresses in {attempts} attempts")

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            for sock in self._sockets:
                sock.setblocking(False)
                selector.register(sock, selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in selector.select(timeout=0.1):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    server = self._owner[sock]
                    if sock.type == socket.SOCK_DGRAM:
                        try:
                            wire, peer = sock.recvfrom(65535)
                        except OSError:
                            continue
                        if server.delay:
                            threading.Thread(
                                target=self._udp, args=(sock, server, wire, peer), daemon=True
                            ).start()
                        else:
                            self._udp(sock, server, wire, peer)
                    else:
                        try:
                            conn, _ = sock.accept()
                        except OSError:
                            continue
                        threading.Thread(target=self._tcp, args=(conn, server), daemon=True).start()

    def _udp(
        self, sock: socket.socket, server: Nameserver, wire: bytes, peer: tuple[str, int]
    ) -> None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return
        try:
            response = self.answer(server, query)
        except Exception:  # a bug here must not stop every other server
            traceback.print_exc()
            return
        if response is None:
            return
        limit = query.payload if query.edns >= 0 else 512
        try:
            out = response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            truncated = dns.message.make_response(query)
            truncated.flags |= dns.flags.TC
            out = truncated.to_wire()
        with contextlib.suppress(OSError):
            sock.sendto(out, peer)

    def _tcp(self, conn: socket.socket, server: Nameserver) -> None:
        with conn:
            conn.setblocking(True)
            conn.settimeout(5)
            try:
                (length,) = struct.unpack("!H", _read(conn, 2))
                query = dns.message.from_wire(_read(conn, length))
            except (OSError, struct.error, dns.exception.DNSException):
                return
            response = self.answer(server, query)
            if response is None:
                return
            wire = response.to_wire()
            with contextlib.suppress(OSError):
                conn.sendall(struct.pack("!H", len(wire)) + wire)

    @contextmanager
    def running(self) -> Iterator[Hierarchy]:
        self._bind()
        self._stop.clear()
        thread = threading.Thread(target=self._serve, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(timeout=2)
            for sock in self._sockets:
                sock.close()


def _zone_for(
    zones: list[dns.zone.Zone], name: dns.name.Name, rdtype: dns.rdatatype.RdataType
) -> dns.zone.Zone | None:
    """The deepest zone holding `name`; a DS is the parent's, as RFC 4035 says."""
    best: dns.zone.Zone | None = None
    for zone in zones:
        origin = zone.origin
        assert origin is not None
        if not name.is_subdomain(origin):
            continue
        if rdtype == dns.rdatatype.DS and name == origin and origin != dns.name.root:
            continue
        if best is None or len(origin) > len(best.origin or dns.name.root):
            best = zone
    return best


def _with_signatures(
    zone: dns.zone.Zone, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, dnssec: bool
) -> list[dns.rrset.RRset]:
    node = zone.get_node(name)
    if node is None:
        return []
    rdataset = node.get_rdataset(IN, rdtype)
    if rdataset is None:
        return []
    out = [dns.rrset.from_rdata_list(name, rdataset.ttl, list(rdataset))]
    if dnssec:
        sigs = node.get_rdataset(IN, dns.rdatatype.RRSIG, rdtype)
        if sigs is not None:
            out.append(dns.rrset.from_rdata_list(name, sigs.ttl, list(sigs)))
    return out


def _cut(zone: dns.zone.Zone, name: dns.name.Name) -> dns.name.Name | None:
    """The highest delegation point between the zone's apex and `name`, if any."""
    origin = zone.origin
    assert origin is not None
    labels = len(name) - len(origin)
    for depth in range(1, labels + 1):
        candidate = dns.name.Name(name.labels[-(len(origin) + depth) :])
        node = zone.get_node(candidate)
        if node is not None and node.get_rdataset(IN, dns.rdatatype.NS) is not None:
            return candidate
    return None


def _referral(
    child: dns.name.Name,
    zone: dns.zone.Zone,
    bailiwick: dns.name.Name,
    dnssec: bool,
    response: dns.message.Message,
) -> None:
    """A referral to `child` as `zone`'s servers give it, with in-bailiwick glue."""
    ns = _with_signatures(zone, child, dns.rdatatype.NS, False)
    response.authority.extend(ns)
    if dnssec:
        ds = _with_signatures(zone, child, dns.rdatatype.DS, True)
        if not ds and _nsec3_param(zone) is not None:
            ds = _nsec3_denial(zone, child, True)
        response.authority.extend(ds or _with_signatures(zone, child, dns.rdatatype.NSEC, True))
    for rdata in ns[0] if ns else []:
        if rdata.target.is_subdomain(bailiwick):
            response.additional.extend(_addresses(zone, rdata.target))


def _addresses(zone: dns.zone.Zone, name: dns.name.Name) -> list[dns.rrset.RRset]:
    return [
        *_with_signatures(zone, name, dns.rdatatype.A, False),
        *_with_signatures(zone, name, dns.rdatatype.AAAA, False),
    ]


def _covering(zone: dns.zone.Zone, name: dns.name.Name) -> dns.name.Name | None:
    """Owner of the NSEC whose span covers `name` (owner < name < next)."""
    for owner, node in zone.nodes.items():
        nsec = node.get_rdataset(IN, dns.rdatatype.NSEC)
        if nsec is None:
            continue
        nxt = nsec[0].next
        if owner < name and (name < nxt or nxt == zone.origin):
            return owner
    return None


def authoritative(
    zone: dns.zone.Zone,
    name: dns.name.Name,
    rdtype: dns.rdatatype.RdataType,
    dnssec: bool,
    response: dns.message.Message,
) -> None:
    """Answer as the zone's primary would: a referral, the data, or a signed denial."""
    origin = zone.origin
    assert origin is not None
    cut = _cut(zone, name)
    if cut is not None and not (rdtype == dns.rdatatype.DS and name == cut):
        _referral(cut, zone, origin, dnssec, response)
        return
    response.flags |= dns.flags.AA
    seen: set[dns.name.Name] = set()
    while name not in seen:
        seen.add(name)
        found = _with_signatures(zone, name, rdtype, dnssec)
        if found:
            response.answer.extend(found)
            if rdtype == dns.rdatatype.NS:  # addresses of the servers, as BIND adds them
                for rdata in found[0]:
                    response.additional.extend(_addresses(zone, rdata.target))
            return
        cname = _with_signatures(zone, name, dns.rdatatype.CNAME, dnssec)
        if cname and rdtype != dns.rdatatype.CNAME:
            response.answer.extend(cname)
            target = cname[0][0].target
            if not target.is_subdomain(origin) or _cut(zone, target) is not None:
                return
            name = target
            continue
        break
    soa = _with_signatures(zone, origin, dns.rdatatype.SOA, dnssec)
    response.authority.extend(soa)
    exists = _exists(zone, name)
    if not exists:
        response.set_rcode(dns.rcode.NXDOMAIN)
    if dnssec and not response.answer:
        if _nsec3_param(zone) is not None:
            response.authority.extend(_nsec3_denial(zone, name, exists))
            return
        owners = [name] if zone.get_node(name) is not None else [_covering(zone, name)]
        if not exists:
            encloser = name.parent()
            while not _exists(zone, encloser):
                encloser = encloser.parent()
            owners.append(_covering(zone, dns.name.Name((b"*", *encloser.labels))))
        for owner in dict.fromkeys(o for o in owners if o is not None):
            response.authority.extend(_with_signatures(zone, owner, dns.rdatatype.NSEC, True))


def _exists(zone: dns.zone.Zone, name: dns.name.Name) -> bool:
    """A name with data, or an empty non-terminal (NSEC3 owners do not count)."""
    if zone.get_node(name) is not None:
        return True
    return any(
        n.is_subdomain(name) and node.get_rdataset(IN, dns.rdatatype.NSEC3) is None
        for n, node in zone.nodes.items()
    )


def _nsec3_param(zone: dns.zone.Zone) -> Any:
    assert zone.origin is not None
    rdataset = zone.get_rdataset(zone.origin, dns.rdatatype.NSEC3PARAM)
    return rdataset[0] if rdataset else None


def _hashed(zone: dns.zone.Zone, name: dns.name.Name) -> str:
    param = _nsec3_param(zone)
    return dns.dnssec.nsec3_hash(name, param.salt, param.iterations, param.algorithm)


def _nsec3_owner(zone: dns.zone.Zone, digest: str) -> dns.name.Name:
    assert zone.origin is not None
    return dns.name.Name((digest.lower().encode(), *zone.origin.labels))


def _nsec3_covering(zone: dns.zone.Zone, name: dns.name.Name) -> dns.name.Name:
    digest = _hashed(zone, name)
    for owner, node in zone.nodes.items():
        rdataset = node.get_rdataset(IN, dns.rdatatype.NSEC3)
        if rdataset is None:
            continue
        start = owner.labels[0].decode().upper()
        end = base64.b32hexencode(rdataset[0].next).decode()
        if (start < digest < end) if start < end else (digest > start or digest < end):
            return owner
    raise LookupError(f"no NSEC3 covers {name}")


def _nsec3_denial(zone: dns.zone.Zone, name: dns.name.Name, exists: bool) -> list[dns.rrset.RRset]:
    """RFC 5155 §7.2: the matching NSEC3, or the closest encloser proof."""
    if exists:
        owners = [_nsec3_owner(zone, _hashed(zone, name))]
    else:
        encloser = name.parent()
        while not _exists(zone, encloser):
            encloser = encloser.parent()
        closer = dns.name.Name(name.labels[-(len(encloser) + 1) :])
        owners = [
            _nsec3_owner(zone, _hashed(zone, encloser)),
            _nsec3_covering(zone, closer),
            _nsec3_covering(zone, dns.name.Name((b"*", *encloser.labels))),
        ]
    return [
        rrset
        for owner in dict.fromkeys(owners)
        for rrset in _with_signatures(zone, owner, dns.rdatatype.NSEC3, True)
    ]


def sign_nsec3(zone: dns.zone.Zone, keys: list[Key], now: int) -> None:
    """Sign with an NSEC3 chain (no salt, no extra iterations, as RFC 9276 advises).

    dnspython's sign_zone makes NSEC chains only, so the chain is built here
    and every RRset signed with `dns.dnssec.sign`.
    """
    origin = zone.origin
    assert origin is not None
    (ksk, ksk_key), (zsk, zsk_key) = keys
    with zone.writer() as txn:
        txn.add(origin, 300, ksk_key)
        txn.add(origin, 300, zsk_key)
        txn.add(origin, 0, dns.rdata.from_text(IN, dns.rdatatype.NSEC3PARAM, "1 0 0 -"))
    cuts = {
        n
        for n, node in zone.nodes.items()
        if n != origin and node.get_rdataset(IN, dns.rdatatype.NS)
    }

    def occluded(name: dns.name.Name) -> bool:
        return any(name != cut and name.is_subdomain(cut) for cut in cuts)

    names: set[dns.name.Name] = set()
    for name in list(zone.nodes):
        while not occluded(name) and name not in names:
            names.add(name)
            if name == origin:
                break
            name = name.parent()
    chain = sorted((dns.dnssec.nsec3_hash(n, None, 0, 1), n) for n in names)
    with zone.writer() as txn:
        for index, (digest, name) in enumerate(chain):
            node = zone.get_node(name)
            types = {r.rdtype for r in node.rdatasets} if node is not None else set()
            if types and (name not in cuts or dns.rdatatype.DS in types):
                types.add(dns.rdatatype.RRSIG)
            following = chain[(index + 1) % len(chain)][0]
            words = " ".join(sorted(dns.rdatatype.to_text(t) for t in types))
            rdata = dns.rdata.from_text(IN, dns.rdatatype.NSEC3, f"1 0 0 - {following} {words}")
            txn.add(_nsec3_owner(zone, digest), 300, rdata)
    with zone.writer() as txn:
        for name, node in list(zone.nodes.items()):
            if occluded(name):
                continue
            for rdataset in list(node.rdatasets):
                if rdataset.rdtype == dns.rdatatype.RRSIG:
                    continue
                if name in cuts and rdataset.rdtype != dns.rdatatype.DS:
                    continue
                private, key = (
                    (ksk, ksk_key) if rdataset.rdtype == dns.rdatatype.DNSKEY else (zsk, zsk_key)
                )
                rrset = dns.rrset.from_rdata_list(name, rdataset.ttl, list(rdataset))
                rrsig = dns.dnssec.sign(
                    rrset, private, origin, key, inception=now - DAY, expiration=now + 30 * DAY
                )
                txn.add(name, rdataset.ttl, rrsig)


def _read(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise OSError("closed")
        data += chunk
    return data
