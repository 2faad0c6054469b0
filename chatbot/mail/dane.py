"""DANE for SMTP (RFC 7672): TLSA records at `_25._tcp.MX` against the chain presented.

Pure: the records come from `lookup`, the chain from `smtp`. Usages 2
(DANE-TA) and 3 (DANE-EE) are the ones SMTP uses; 0 and 1 (PKIX) are not
usable for SMTP and are reported as such.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

USAGES = {0: "PKIX-TA", 1: "PKIX-EE", 2: "DANE-TA", 3: "DANE-EE"}
SELECTORS = {0: "full certificate", 1: "public key"}
MATCHING = {0: "exact", 1: "SHA-256", 2: "SHA-512"}


@dataclass(frozen=True)
class TLSA:
    usage: int
    selector: int
    mtype: int
    data: bytes

    @property
    def usable(self) -> bool:
        return self.usage in (2, 3) and self.selector in SELECTORS and self.mtype in MATCHING

    def __str__(self) -> str:
        shown = self.data.hex()
        shown = shown if len(shown) <= 24 else shown[:20] + "…"
        return f"{self.usage} {self.selector} {self.mtype} {shown}"


def _selected(cert: x509.Certificate, selector: int) -> bytes:
    if selector == 0:
        return cert.public_bytes(Encoding.DER)
    return cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _digest(data: bytes, mtype: int) -> bytes:
    if mtype == 1:
        return hashlib.sha256(data).digest()
    if mtype == 2:
        return hashlib.sha512(data).digest()
    return data


def matches(record: TLSA, chain: list[x509.Certificate]) -> bool:
    """Whether `record` matches the chain: DANE-EE the leaf, DANE-TA a certificate above it."""
    if not record.usable or not chain:
        return False
    candidates = chain[:1] if record.usage == 3 else chain[1:]
    return any(
        _digest(_selected(c, record.selector), record.mtype) == record.data for c in candidates
    )


def matching(records: list[TLSA], chain: list[x509.Certificate]) -> list[TLSA]:
    return [r for r in records if matches(r, chain)]


def describe(record: TLSA) -> str:
    usage = USAGES.get(record.usage, str(record.usage))
    selector = SELECTORS.get(record.selector, str(record.selector))
    return f"{usage} {selector} {MATCHING.get(record.mtype, str(record.mtype))}"
