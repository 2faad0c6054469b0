"""DNSSEC validation from the root trust anchor down, naming the link that breaks.

The data comes from the zones' authoritative servers, found by +trace's walk:
each referral carries the child's DS records (or the parent's signed proof
that there are none), each zone's servers give its DNSKEY set. The judging
is pure (`judge`) and runs in a thread, since checking a chain of RSA and
ECDSA signatures takes milliseconds of CPU. Every signature is checked by
dnspython's `dns.dnssec` (with `cryptography`); this module only decides
which key should have signed what, and says so in a sentence.
"""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import dns.dnssec
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.DNSKEY
import dns.rdtypes.ANY.DS
import dns.rdtypes.ANY.NSEC
import dns.rdtypes.ANY.NSEC3
import dns.rdtypes.ANY.RRSIG
import dns.rrset
import dns.zone
from dns.dnssectypes import DSDigest
from dns.exception import DeniedByPolicy, UnsupportedAlgorithm, ValidationFailure
from dns.rdtypes.dnskeybase import Flag

from chatbot.dns import trace
from chatbot.dns.trace import said as _n

IN = dns.rdataclass.IN
DNSKEY = dns.rdtypes.ANY.DNSKEY.DNSKEY
DS = dns.rdtypes.ANY.DS.DS
RRSIG = dns.rdtypes.ANY.RRSIG.RRSIG
NSEC = dns.rdtypes.ANY.NSEC.NSEC
NSEC3 = dns.rdtypes.ANY.NSEC3.NSEC3
Status = Literal["secure", "insecure", "bogus", "indeterminate"]

# IANA's root zone trust anchors, from https://data.iana.org/root-anchors/root-anchors.xml:
# KSK-2017 and KSK-2024.
IANA_ROOT_ANCHORS = """\
. 172800 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D
. 172800 IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16
"""

# What dnspython can verify and RFC 8624 lets a validator use.
ALGORITHMS = frozenset({5, 7, 8, 10, 13, 14, 15, 16})
DIGESTS = {1: "SHA-1", 2: "SHA-256", 4: "SHA-384"}


@dataclass(frozen=True)
class Anchors:
    """The root's trust anchors: DS records, DNSKEYs, or both."""

    ds: tuple[DS, ...]
    keys: tuple[DNSKEY, ...]
    source: str

    def tags(self) -> str:
        found = [d.key_tag for d in self.ds] + [dns.dnssec.key_id(k) for k in self.keys]
        return ", ".join(str(tag) for tag in dict.fromkeys(found))

    def matches(self, key: DNSKEY) -> bool:
        if any(k.algorithm == key.algorithm and k.key == key.key for k in self.keys):
            return True
        for ds in self.ds:
            if ds.key_tag != dns.dnssec.key_id(key) or ds.algorithm != key.algorithm:
                continue
            if ds.digest_type in DIGESTS and _ds_of(dns.name.root, key, ds.digest_type) == ds:
                return True
        return False


def parse_anchors(text: str, source: str) -> Anchors:
    """Root DS or DNSKEY records in zone file format (comments and parentheses allowed)."""
    try:
        zone = dns.zone.from_text(
            "$TTL 0\n" + text, origin=dns.name.root, relativize=False, check_origin=False
        )
    except dns.exception.DNSException as exc:
        raise ValueError(f"{source}: {exc}") from exc
    ds: list[DS] = []
    keys: list[DNSKEY] = []
    for name, node in zone.nodes.items():
        for rdataset in node.rdatasets:
            if rdataset.rdtype not in (dns.rdatatype.DS, dns.rdatatype.DNSKEY):
                continue
            if name != dns.name.root:
                raise ValueError(
                    f"{source}: trust anchors must be for the root zone, not {_n(name)}"
                )
            if rdataset.rdtype == dns.rdatatype.DS:
                ds.extend(r for r in rdataset if isinstance(r, DS))
            else:
                keys.extend(r for r in rdataset if isinstance(r, DNSKEY))
    if not ds and not keys:
        raise ValueError(f"{source}: no DS or DNSKEY record for the root zone")
    return Anchors(tuple(ds), tuple(keys), source)


def read_anchors(path: str | Path) -> Anchors:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror or exc}") from exc
    return parse_anchors(text, str(path))


BUILT_IN = parse_anchors(IANA_ROOT_ANCHORS, "IANA's root KSKs")


@dataclass(frozen=True)
class Options:
    walk: trace.Options
    anchors: Anchors = BUILT_IN
    now: float | None = None  # tests judge signatures at another time


@dataclass
class Verdict:
    status: Status
    chain: list[str] = field(default_factory=list)
    reason: str | None = None
    signatures: int = 0
    # Insecure only: where the chain of trust ends, in a few words ("no DS at example.com").
    ends: str | None = None


@dataclass
class Evidence:
    """What the servers said, gathered before judging: DNSKEY sets and DS (or denial) answers."""

    keys: dict[dns.name.Name, dns.message.Message | None] = field(default_factory=dict)
    # The message holding the zone's DS records or their denial, and the zone that sent it.
    delegations: dict[dns.name.Name, tuple[dns.message.Message | None, dns.name.Name | None]] = (
        field(default_factory=dict)
    )


@dataclass
class Validation:
    trace: trace.Trace
    verdict: Verdict
    anchors: Anchors
    source: str = "the zones' authoritative servers"
    milliseconds: float = 0.0
    queries: int = 0  # the trace's and the DNSKEY and DS look-ups after it


async def validate(
    name: dns.name.Name, rdtype: dns.rdatatype.RdataType, options: Options
) -> Validation:
    started = time.perf_counter()
    walker = trace.Walker(options.walk)
    result = await trace.trace(name, rdtype, options.walk, walker)
    evidence = Evidence()
    if result.response is None or result.problem:
        problems = [w.problem for w in result.walks if w.problem] + [result.problem]
        why = next((p for p in problems if p), "the trace did not reach an answer.")
        verdict = Verdict("indeterminate", reason=f"I could not validate: {why}")
    else:
        remaining = options.walk.deadline - (time.perf_counter() - started)
        try:
            async with asyncio.timeout(max(remaining, 0.01)):
                await gather(walker, result, evidence)
        except TimeoutError:
            verdict = Verdict(
                "indeterminate",
                reason=f"I could not fetch every DNSKEY and DS record within "
                f"{options.walk.deadline:g} s, so there is no verdict.",
            )
        else:
            now = time.time() if options.now is None else options.now
            verdict = await asyncio.to_thread(judge, result, evidence, options.anchors, now)
    elapsed = (time.perf_counter() - started) * 1000
    return Validation(
        result, verdict, options.anchors, milliseconds=elapsed, queries=walker.queries
    )


# --- gathering ------------------------------------------------------------------


def _signers(response: dns.message.Message) -> set[dns.name.Name]:
    return {
        rdata.signer
        for rrset in [*response.answer, *response.authority]
        if rrset.rdtype == dns.rdatatype.RRSIG
        for rdata in rrset
    }


def _cut_chain(walker: trace.Walker, zone: dns.name.Name | None) -> set[dns.name.Name]:
    found: set[dns.name.Name] = set()
    while zone is not None and zone not in found:
        found.add(zone)
        delegation = walker.cuts.get(zone)
        zone = delegation.parent if delegation is not None else None
    return found


async def gather(walker: trace.Walker, result: trace.Trace, evidence: Evidence) -> None:
    """Fetch the DNSKEY set of every zone in play, and its DS records where no referral had them."""
    wanted: set[dns.name.Name] = {dns.name.root}
    for walk in result.walks:
        if walk.response is not None:
            wanted |= _cut_chain(walker, walk.zone) | _signers(walk.response)
    for _ in range(64):  # each round adds parents; names have at most 127 labels
        pending = sorted(wanted - set(evidence.keys))
        if not pending:
            return
        await asyncio.gather(*(_fetch(walker, zone, evidence) for zone in pending))
        for zone in pending:
            message, parent = evidence.delegations.get(zone, (None, None))
            wanted |= _cut_chain(walker, parent)
            if message is not None:
                wanted |= {s for s in _signers(message) if zone.is_subdomain(s) and s != zone}


async def _fetch(walker: trace.Walker, zone: dns.name.Name, evidence: Evidence) -> None:
    known = walker.cuts.get(zone)
    evidence.keys[zone] = None
    if known is not None:
        step = await walker.ask(known, zone, dns.rdatatype.DNSKEY)
        evidence.keys[zone] = step.response
    else:
        walk = await walker.walk(zone, dns.rdatatype.DNSKEY)
        evidence.keys[zone] = walk.response
    if zone == dns.name.root:
        return
    if known is not None and known.referral is not None:
        evidence.delegations[zone] = (known.referral, known.parent)
    else:  # the cut was not on the walk (one server serves parent and child): ask for the DS
        walk = await walker.walk(zone, dns.rdatatype.DS)
        evidence.delegations[zone] = (walk.response, walk.zone)


# --- judging ---------------------------------------------------------------------


def _ds_of(name: dns.name.Name, key: DNSKEY, digest_type: int) -> DS | None:
    try:
        return dns.dnssec.make_ds(name, key, DSDigest(digest_type), validating=True)
    except (UnsupportedAlgorithm, DeniedByPolicy, ValueError):
        return None


def _algorithm(number: int) -> str:
    return dns.dnssec.algorithm_to_text(number)


def _day(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


def _moment(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _type(rdtype: int) -> str:
    return dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rdtype))


def _find(
    message: dns.message.Message, name: dns.name.Name, rdtype: int
) -> tuple[dns.rrset.RRset | None, list[RRSIG]]:
    for section in (message.answer, message.authority):
        for rrset in section:
            if rrset.name == name and rrset.rdtype == rdtype and rrset.rdclass == IN:
                return rrset, _sigs(message, name, rdtype)
    return None, []


def _sigs(message: dns.message.Message, name: dns.name.Name, rdtype: int) -> list[RRSIG]:
    return [
        rdata
        for section in (message.answer, message.authority)
        for rrset in section
        if rrset.name == name and rrset.rdtype == dns.rdatatype.RRSIG
        for rdata in rrset
        if isinstance(rdata, RRSIG) and rdata.type_covered == rdtype
    ]


def _role(key: DNSKEY) -> str:
    return "KSK" if key.flags & Flag.SEP else "ZSK"


def _covers(owner: dns.name.Name, nxt: dns.name.Name, name: dns.name.Name) -> bool:
    """Whether the NSEC span owner..next covers `name`; the last NSEC wraps to the apex."""
    if owner < nxt:
        return bool(owner < name < nxt)
    return bool(name > owner or name < nxt)


@dataclass
class _State:
    status: Status
    keys: list[DNSKEY] = field(default_factory=list)
    reason: str | None = None
    ends: str | None = None


class _Judge:
    def __init__(self, evidence: Evidence, anchors: Anchors, now: float) -> None:
        self.evidence = evidence
        self.anchors = anchors
        self.now = now
        self.states: dict[dns.name.Name, _State] = {}
        self.chain: list[str] = []
        self.signatures = 0

    # The signature check itself, and the sentence when it fails.
    def verify(
        self,
        rrset: dns.rrset.RRset,
        sigs: list[RRSIG],
        zone: dns.name.Name,
        keys: list[DNSKEY],
        missing: str,
    ) -> tuple[RRSIG | None, str]:
        what = f"{_n(rrset.name)} {_type(rrset.rdtype)}"
        if not sigs:
            return None, missing
        by_tag = {(dns.dnssec.key_id(k), k.algorithm): k for k in keys}
        reasons: list[tuple[int, str]] = []  # (priority, sentence): the most telling one wins
        for sig in sigs:
            signed = f"The RRSIG over {what} by key {sig.key_tag} ({_algorithm(sig.algorithm)})"
            key = by_tag.get((sig.key_tag, sig.algorithm))
            if sig.signer != zone:
                reasons.append(
                    (
                        1,
                        f"{what} is signed by {_n(sig.signer)}, "
                        f"not by {_n(zone)}, the zone it is in.",
                    )
                )
                continue
            if sig.algorithm not in ALGORITHMS:
                reasons.append(
                    (2, f"{signed} uses an algorithm I cannot check (RFC 8624 forbids it).")
                )
                continue
            if key is None:
                reasons.append(
                    (
                        3,
                        f"{what} is signed by key {sig.key_tag} ({_algorithm(sig.algorithm)}), "
                        f"which is not in the trusted DNSKEY set of {_n(zone)}: publish that key, "
                        "or re-sign with a key that is published.",
                    )
                )
                continue
            if sig.expiration < self.now:
                reasons.append(
                    (
                        5,
                        f"{signed} of {_n(zone)} expired on {_moment(sig.expiration)} "
                        f"(it was valid from {_moment(sig.inception)}). Re-sign {_n(zone)}: "
                        "its signer has stopped refreshing signatures.",
                    )
                )
                continue
            if sig.inception > self.now:
                reasons.append(
                    (
                        5,
                        f"{signed} of {_n(zone)} is not valid before {_moment(sig.inception)} "
                        f"(now is {_moment(self.now)}). Check the signer's clock and re-sign "
                        f"{_n(zone)}.",
                    )
                )
                continue
            try:
                dns.dnssec.validate_rrsig(rrset, sig, {zone: _rdataset(key)}, now=self.now)
            except (ValidationFailure, UnsupportedAlgorithm):
                reasons.append(
                    (
                        4,
                        f"{signed} does not verify: {what} was changed after it was signed, "
                        f"or the signature is corrupt. Re-sign {what} in {_n(zone)} (or restore "
                        "the data that was signed).",
                    )
                )
                continue
            self.signatures += 1
            return sig, ""
        return None, max(reasons, key=lambda r: r[0])[1]

    def state(self, zone: dns.name.Name) -> _State:
        if zone not in self.states:
            self.states[zone] = self._root() if zone == dns.name.root else self._delegated(zone)
        return self.states[zone]

    def _root(self) -> _State:
        response = self.evidence.keys.get(dns.name.root)
        dnskey, sigs = (
            _find(response, dns.name.root, dns.rdatatype.DNSKEY) if response else (None, [])
        )
        if dnskey is None:
            return _State(
                "bogus",
                reason="The root servers gave no DNSKEY set, so nothing can be checked "
                "against the trust anchor.",
            )
        keys = [k for k in dnskey if isinstance(k, DNSKEY)]
        anchored = [k for k in keys if self.anchors.matches(k)]
        if not anchored:
            return _State(
                "bogus",
                reason=f"No key in the root's DNSKEY set ({_key_list(keys)}) matches the trust "
                f"anchor ({self.anchors.tags()}): the anchor is out of date, or these are not "
                "the root servers it belongs to.",
            )
        sig, problem = self.verify(
            dnskey,
            sigs,
            dns.name.root,
            anchored,
            "The root's DNSKEY set has no RRSIG, so the trust anchor cannot vouch for it.",
        )
        if sig is None:
            return _State("bogus", reason=problem)
        self.chain.append(
            f". DNSKEY {sig.key_tag} ({_algorithm(sig.algorithm)}) matches the trust anchor "
            f"and signs the root's DNSKEY set, valid until {_day(sig.expiration)}"
        )
        return _State("secure", keys)

    def _delegated(self, zone: dns.name.Name) -> _State:
        message, parent = self.evidence.delegations.get(zone, (None, None))
        if message is None:
            return _State(
                "bogus",
                reason=f"No server of the parent zone gave the DS records of {_n(zone)} (or a "
                "proof that there are none), so the chain of trust cannot reach it.",
            )
        ds, ds_sigs = _find(message, zone, dns.rdatatype.DS)
        denials = [r for r in message.authority if r.rdtype in (dns.rdatatype.NSEC, NSEC3_TYPE)]
        signers = [s.signer for s in ds_sigs] or [
            s.signer for r in denials for s in _sigs(message, r.name, r.rdtype)
        ]
        parent = signers[0] if signers else parent
        if parent is None or parent == zone or not zone.is_subdomain(parent):
            return _State(
                "bogus",
                reason=f"The DS records of {_n(zone)} are signed by {_n(parent)}, which is not a "
                "parent zone of it.",
            )
        above = self.state(parent)
        if above.status != "secure":
            return above
        if ds is None:
            return self._no_ds(zone, parent, message, above.keys)
        sig, problem = self.verify(
            ds,
            ds_sigs,
            parent,
            above.keys,
            f"The DS records of {_n(zone)} at {_n(parent)} have no RRSIG, "
            f"but {_n(parent)} is signed: re-sign {_n(parent)}.",
        )
        if sig is None:
            return _State("bogus", reason=problem)
        self.chain.append(
            f"{parent} DNSKEY {sig.key_tag} ({_algorithm(sig.algorithm)}) signs DS {zone}"
        )
        records = [d for d in ds if isinstance(d, DS)]
        usable = [d for d in records if d.algorithm in ALGORITHMS and d.digest_type in DIGESTS]
        if not usable:
            kinds = ", ".join(
                sorted(
                    {
                        f"algorithm {d.algorithm} ({_algorithm(d.algorithm)}) "
                        f"with digest type {d.digest_type}"
                        for d in records
                    }
                )
            )
            return _State(
                "insecure",
                reason=f"The DS records of {_n(zone)} use only {kinds}, which I cannot check: "
                f"validators treat {_n(zone)} as unsigned (RFC 4035 §5.2).",
                ends=f"only DS algorithms I cannot check at {_n(zone)}",
            )
        response = self.evidence.keys.get(zone)
        dnskey, key_sigs = _find(response, zone, dns.rdatatype.DNSKEY) if response else (None, [])
        if dnskey is None:
            return _State(
                "bogus",
                reason=f"{_n(zone)} has a DS record at {_n(parent)}, but its servers gave "
                f"no DNSKEY set: publish the DNSKEY set of {_n(zone)}, "
                f"or remove the DS at {_n(parent)}.",
            )
        keys = [k for k in dnskey if isinstance(k, DNSKEY)]
        matched = [
            (d, k)
            for d in usable
            for k in keys
            if d.key_tag == dns.dnssec.key_id(k)
            and d.algorithm == k.algorithm
            and _ds_of(zone, k, d.digest_type) == d
        ]
        if not matched:
            named = ", ".join(
                f"key tag {d.key_tag}, {_algorithm(d.algorithm)}, {DIGESTS[d.digest_type]}"
                for d in usable
            )
            ksks = [k for k in keys if _role(k) == "KSK"] or keys
            return _State(
                "bogus",
                reason=f"The DS record{'s' if len(usable) > 1 else ''} of {_n(zone)} "
                f"at {_n(parent)} ({named}) match{'' if len(usable) > 1 else 'es'} "
                f"no DNSKEY of {_n(zone)} (it has {_key_list(keys)}). Update the DS at "
                f"{_n(parent)} (usually through the registrar) to the digest of key "
                f"{dns.dnssec.key_id(ksks[0])}, or publish the key the DS names.",
            )
        sig, problem = self.verify(
            dnskey,
            key_sigs,
            zone,
            [k for _, k in matched],
            f"The DNSKEY set of {_n(zone)} has no RRSIG by the key its DS at {_n(parent)} names: "
            f"re-sign {_n(zone)}.",
        )
        if sig is None:
            return _State("bogus", reason=problem)
        digest = next(d for d, k in matched if dns.dnssec.key_id(k) == sig.key_tag)
        self.chain.append(
            f"{zone} DS {digest.key_tag} ({DIGESTS[digest.digest_type]}) matches DNSKEY "
            f"{sig.key_tag} ({_algorithm(sig.algorithm)}), which signs the DNSKEY set of "
            f"{zone}, valid until {_day(sig.expiration)}"
        )
        return _State("secure", keys)

    def _no_ds(
        self,
        zone: dns.name.Name,
        parent: dns.name.Name,
        message: dns.message.Message,
        keys: list[DNSKEY],
    ) -> _State:
        """A secure parent without DS for `zone`: insecure if it proves it, bogus if not."""
        for rrset in message.authority:
            if rrset.rdtype == dns.rdatatype.NSEC and rrset.name == zone:
                sig, problem = self._checked(rrset, message, parent, keys)
                if sig is None:
                    return _State("bogus", reason=problem)
                types = _bitmap(rrset[0])
                if dns.rdatatype.DS in types or dns.rdatatype.SOA in types:
                    break
                self.chain.append(
                    f"{parent} DNSKEY {sig.key_tag} ({_algorithm(sig.algorithm)}) signs NSEC "
                    f"{zone}: no DS"
                )
                return self._insecure(zone, parent, "NSEC")
        proof = self._nsec3_no_ds(zone, parent, message, keys)
        if proof is not None:
            return proof
        return _State(
            "bogus",
            reason=f"{_n(parent)} is signed, but its referral to {_n(zone)} has neither "
            "a DS record nor a signed NSEC or NSEC3 proof that there is none: re-sign "
            f"{_n(parent)}, or add the DS of {_n(zone)}.",
        )

    def _insecure(self, zone: dns.name.Name, parent: dns.name.Name, kind: str) -> _State:
        return _State(
            "insecure",
            reason=f"{_n(parent)} proves with a signed {kind} record that {_n(zone)} "
            f"has no DS record: the chain of trust ends at {_n(parent)}, so {_n(zone)} "
            "and everything in it are unsigned (insecure, not broken). To sign it, "
            f"publish its DS at {_n(parent)}.",
            ends=f"no DS at {_n(zone)}",
        )

    def _checked(
        self,
        rrset: dns.rrset.RRset,
        message: dns.message.Message,
        zone: dns.name.Name,
        keys: list[DNSKEY],
    ) -> tuple[RRSIG | None, str]:
        return self.verify(
            rrset,
            _sigs(message, rrset.name, rrset.rdtype),
            zone,
            keys,
            f"{_n(rrset.name)} {_type(rrset.rdtype)} has no RRSIG, but {_n(zone)} is signed: "
            f"re-sign {_n(zone)}.",
        )

    def _nsec3_no_ds(
        self,
        zone: dns.name.Name,
        parent: dns.name.Name,
        message: dns.message.Message,
        keys: list[DNSKEY],
    ) -> _State | None:
        records = _nsec3s(message, parent)
        if not records:
            return None
        for rrset in records:
            sig, problem = self._checked(rrset, message, parent, keys)
            if sig is None:
                return _State("bogus", reason=problem)
        match = _nsec3_match(records, zone)
        if match is not None:
            types = _bitmap(match)
            if dns.rdatatype.DS in types or dns.rdatatype.SOA in types:
                return None
            self.chain.append(f"{parent} NSEC3 for {zone}: no DS")
            return self._insecure(zone, parent, "NSEC3")
        # Opt-out: the next closer name is covered by an NSEC3 with the opt-out flag.
        encloser = _closest_encloser(records, zone)
        if encloser is None:
            return None
        covering = _nsec3_covering(records, _next_closer(zone, encloser))
        if covering is not None and covering.flags & 1:
            self.chain.append(f"{parent} NSEC3 opt-out covers {zone}: no DS")
            return self._insecure(zone, parent, "NSEC3 (opt-out)")
        return None

    # The answer itself.
    def data(self, walk: trace.Walk) -> _State:
        response = walk.response
        assert response is not None and walk.zone is not None
        current = walk.name
        for _ in range(16):
            rrset = response.get_rrset(response.answer, current, IN, walk.rdtype)
            cname = None
            if rrset is None and walk.rdtype != dns.rdatatype.CNAME:
                cname = response.get_rrset(response.answer, current, IN, dns.rdatatype.CNAME)
            found = rrset or cname
            if found is None:
                break
            state = self._rrset(found, response, walk.zone)
            if state.status != "secure":
                return state
            if cname is None:
                return state
            current = cname[0].target
        if current != walk.name and not current.is_subdomain(walk.zone):
            return _State("secure")  # the CNAME leaves the zone: the next walk judges its target
        return self._denial(walk, current, response)

    def _rrset(
        self, rrset: dns.rrset.RRset, response: dns.message.Message, zone: dns.name.Name
    ) -> _State:
        sigs = _sigs(response, rrset.name, rrset.rdtype)
        signer = sigs[0].signer if sigs else zone
        if not rrset.name.is_subdomain(signer):
            signer = zone
        state = self.state(signer)
        if state.status != "secure":
            return state
        what = f"{_n(rrset.name)} {_type(rrset.rdtype)}"
        sig, problem = self.verify(
            rrset,
            sigs,
            signer,
            state.keys,
            f"{what} has no RRSIG, but {_n(signer)} is signed (its chain of trust is above): "
            f"sign {what}, or re-sign the zone {_n(signer)}.",
        )
        if sig is None:
            return _State("bogus", reason=problem)
        self.chain.append(
            f"{rrset.name} {_type(rrset.rdtype)} signed by {sig.key_tag} "
            f"({_algorithm(sig.algorithm)}), valid until {_day(sig.expiration)}"
        )
        wildcard = sig.labels < len(rrset.name) - 1
        if wildcard and not (  # expanded from a wildcard: the name itself must not exist
            any(
                r.rdtype == dns.rdatatype.NSEC and _covers(r.name, r[0].next, rrset.name)
                for r in response.authority
            )
            or _nsec3s(response, signer)
        ):
            return _State(
                "bogus",
                reason=f"{what} comes from a wildcard, but no NSEC proves that "
                f"{_n(rrset.name)} itself does not exist.",
            )
        return _State("secure")

    def _denial(
        self, walk: trace.Walk, name: dns.name.Name, response: dns.message.Message
    ) -> _State:
        assert walk.zone is not None
        soa_sigs = [
            s.signer
            for r in response.authority
            if r.rdtype == dns.rdatatype.SOA
            for s in _sigs(response, r.name, dns.rdatatype.SOA)
        ]
        zone = soa_sigs[0] if soa_sigs and name.is_subdomain(soa_sigs[0]) else walk.zone
        state = self.state(zone)
        if state.status != "secure":
            return state
        nxdomain = response.rcode() == dns.rcode.NXDOMAIN
        what = "does not exist" if nxdomain else f"has no {_type(walk.rdtype)} records"
        nsecs = [r for r in response.authority if r.rdtype == dns.rdatatype.NSEC]
        nsec3s = _nsec3s(response, zone)
        if not nsecs and not nsec3s:
            return _State(
                "bogus",
                reason=f"The server says {_n(name)} {what}, but sends no NSEC or NSEC3 record "
                f"to prove it, though {_n(zone)} is signed: re-sign {_n(zone)}.",
            )
        for rrset in [*nsecs, *nsec3s]:
            sig, problem = self._checked(rrset, response, zone, state.keys)
            if sig is None:
                return _State("bogus", reason=problem)
        proven = (
            _nsec_proves(nsecs, name, walk.rdtype, nxdomain, zone)
            if nsecs
            else _nsec3_proves(nsec3s, name, walk.rdtype, nxdomain)
        )
        if not proven:
            return _State(
                "bogus",
                reason=f"The server says {_n(name)} {what}, but its NSEC{'' if nsecs else '3'} "
                "records do not prove it: the zone's denial chain is wrong, re-sign "
                f"{_n(zone)}.",
            )
        kind = "NSEC" if nsecs else "NSEC3"
        self.chain.append(f"{zone} {kind} records prove {name} {what}")
        return _State("secure")


NSEC3_TYPE = dns.rdatatype.NSEC3


def _rdataset(key: DNSKEY) -> dns.rrset.RRset:
    return dns.rrset.from_rdata(dns.name.root, 0, key)


def _key_list(keys: list[DNSKEY]) -> str:
    ordered = sorted(keys, key=lambda k: (_role(k), dns.dnssec.key_id(k)))  # KSKs first
    return ", ".join(f"{dns.dnssec.key_id(k)} {_role(k)}" for k in ordered) or "no keys"


def _bitmap(rdata: NSEC | NSEC3) -> set[int]:
    types: set[int] = set()
    for window, bits in rdata.windows:
        for index, byte in enumerate(bits):
            for bit in range(8):
                if byte & (0x80 >> bit):
                    types.add(window * 256 + index * 8 + bit)
    return types


def _nsec_proves(
    nsecs: list[dns.rrset.RRset],
    name: dns.name.Name,
    rdtype: int,
    nxdomain: bool,
    zone: dns.name.Name,
) -> bool:
    if not nxdomain:
        for rrset in nsecs:
            if rrset.name == name:
                types = _bitmap(rrset[0])
                return rdtype not in types and dns.rdatatype.CNAME not in types
        # An empty non-terminal: the NSEC covering it points below it.
        return any(_covers(r.name, r[0].next, name) and r[0].next.is_subdomain(name) for r in nsecs)
    covering = [r for r in nsecs if _covers(r.name, r[0].next, name)]
    if not covering:
        return False
    # The closest encloser: the deepest ancestor shared with the covering span's ends.
    encloser = zone
    for rrset in covering:
        for end in (rrset.name, rrset[0].next):
            common = name.fullcompare(end)[2]
            candidate = dns.name.Name(name.labels[-common:]) if common else dns.name.root
            if candidate.is_subdomain(zone) and len(candidate) > len(encloser):
                encloser = candidate
    wildcard = dns.name.Name((b"*", *encloser.labels))
    return any(_covers(r.name, r[0].next, wildcard) for r in nsecs)


def _nsec3s(message: dns.message.Message, zone: dns.name.Name) -> list[dns.rrset.RRset]:
    return [
        r
        for r in message.authority
        if r.rdtype == NSEC3_TYPE and r.name.parent() == zone and isinstance(r[0], NSEC3)
    ]


def _hash(rrset: dns.rrset.RRset, name: dns.name.Name) -> str:
    rdata = rrset[0]
    return dns.dnssec.nsec3_hash(name, rdata.salt, rdata.iterations, rdata.algorithm)


def _nsec3_match(records: list[dns.rrset.RRset], name: dns.name.Name) -> NSEC3 | None:
    for rrset in records:
        if rrset.name.labels[0].decode().upper() == _hash(rrset, name):
            return rrset[0]  # type: ignore[no-any-return]
    return None


def _nsec3_covering(records: list[dns.rrset.RRset], name: dns.name.Name) -> NSEC3 | None:
    for rrset in records:
        owner = rrset.name.labels[0].decode().upper()
        nxt = base64.b32hexencode(rrset[0].next).decode()
        hashed = _hash(rrset, name)
        inside = owner < hashed < nxt if owner < nxt else (hashed > owner or hashed < nxt)
        if inside:
            return rrset[0]  # type: ignore[no-any-return]
    return None


def _closest_encloser(records: list[dns.rrset.RRset], name: dns.name.Name) -> dns.name.Name | None:
    candidate = name
    while len(candidate) > 1:
        candidate = candidate.parent()
        if _nsec3_match(records, candidate) is not None:
            return candidate
    return None


def _next_closer(name: dns.name.Name, encloser: dns.name.Name) -> dns.name.Name:
    return dns.name.Name(name.labels[-(len(encloser) + 1) :])


def _nsec3_proves(
    records: list[dns.rrset.RRset], name: dns.name.Name, rdtype: int, nxdomain: bool
) -> bool:
    if not nxdomain:
        match = _nsec3_match(records, name)
        if match is None:
            return False
        types = _bitmap(match)
        return rdtype not in types and dns.rdatatype.CNAME not in types
    encloser = _closest_encloser(records, name)
    if encloser is None:
        return False
    wildcard = dns.name.Name((b"*", *encloser.labels))
    return (
        _nsec3_covering(records, _next_closer(name, encloser)) is not None
        and _nsec3_covering(records, wildcard) is not None
    )


def judge(result: trace.Trace, evidence: Evidence, anchors: Anchors, now: float) -> Verdict:
    """The verdict on what the trace found: pure, CPU-bound (signature checks)."""
    judge = _Judge(evidence, anchors, now)
    verdicts = [judge.data(walk) for walk in result.walks if walk.response is not None]
    order = {"bogus": 0, "indeterminate": 1, "insecure": 2, "secure": 3}
    worst = min(verdicts, key=lambda s: order[s.status])
    return Verdict(worst.status, judge.chain, worst.reason, judge.signatures, worst.ends)
