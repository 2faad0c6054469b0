"""DKIM key records (RFC 6376 §3.6.1) for the selectors the user names.

Selectors cannot be listed from DNS, so only the ones given are checked.
`parse` and `findings` are pure. Why not dkimpy: it verifies signatures on
messages; for key records it offers `evaluate_pk`, which reads the record
from its own resolver (dnspython's blocking one, or aiodns with the system's
servers) and answers a revoked key and a malformed one with the same
`KeyFormatError`. What is needed here is the record's tags and the key's
type and size, which `cryptography` (already a dependency) reads.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from chatbot.mail import findings as f
from chatbot.mail import tags as tag_list
from chatbot.mail.lookup import Lookup

CHECK = "DKIM"
MIN_BITS, GOOD_BITS = 1024, 2048
SELECTOR = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9_])?")


@dataclass
class Key:
    selector: str
    name: str  # SELECTOR._domainkey.DOMAIN
    records: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    kind: str = ""  # "rsa", "ed25519"
    bits: int = 0
    revoked: bool = False
    testing: bool = False
    error: str = ""  # why the record could not be read
    lookup_error: str = ""


def parse(key: Key, text: str) -> Key:
    """Fill `key` from its record's text: tags, key type and size, revoked, testing."""
    key.tags = tags = tag_list.read(text, squeeze=True)
    if "v" in tags and tags["v"] != "DKIM1":
        key.error = f"v={tags['v']} is not DKIM1"
        return key
    key.kind = tags.get("k", "rsa").lower()
    key.testing = "y" in tags.get("t", "").lower().split(":")
    if "p" not in tags:
        key.error = "it has no p= tag (the public key)"
        return key
    if not tags["p"]:
        key.revoked = True
        return key
    try:
        der = base64.b64decode(tags["p"], validate=True)
    except (binascii.Error, ValueError):
        key.error = "p= is not valid base64"
        return key
    if key.kind == "ed25519":
        if len(der) != 32:
            key.error = "p= is not a 32-byte Ed25519 key"
        else:
            key.bits = 256
        return key
    if key.kind != "rsa":
        key.error = f"k={key.kind} is not a key type DKIM knows (rsa, ed25519)"
        return key
    try:
        public = load_der_public_key(der)
    except (ValueError, TypeError):
        key.error = "p= is not an RSA public key"
        return key
    if isinstance(public, rsa.RSAPublicKey):
        key.bits = public.key_size
    elif isinstance(public, ed25519.Ed25519PublicKey):
        key.error = "p= holds an Ed25519 key but k= says rsa"
    else:
        key.error = "p= is not an RSA public key"
    return key


async def find(lookup: Lookup, domain: str, selector: str) -> Key:
    key = Key(selector, f"{selector}._domainkey.{domain}")
    result = await lookup.ask(key.name, "TXT")
    if result.status == "error":
        key.lookup_error = result.problem()
        return key
    # A key record need not say v=DKIM1; any TXT with p= is one.
    key.records = [t for t in result.texts() if "p=" in t.replace(" ", "")]
    if len(key.records) == 1:
        parse(key, key.records[0])
    return key


async def find_all(lookup: Lookup, domain: str, selectors: tuple[str, ...]) -> list[Key]:
    return list(await asyncio.gather(*(find(lookup, domain, s) for s in selectors)))


def findings(keys: list[Key]) -> list[f.Finding]:
    if not keys:
        return [
            f.info(
                CHECK,
                "DKIM not checked: selectors cannot be listed from DNS.",
                "Name them: `dkim=SELECTOR[,SELECTOR...]` (the s= of a DKIM-Signature header).",
            )
        ]
    out: list[f.Finding] = []
    for key in keys:
        name = f"DKIM selector {key.selector}"
        if key.lookup_error:
            out.append(f.warning(CHECK, f"{name} could not be checked: {key.lookup_error}."))
        elif not key.records:
            out.append(
                f.problem(
                    CHECK,
                    f"{name}: no key at {key.name}: mail signed with it fails DKIM.",
                    "Publish the key your mail server signs with, or check the selector.",
                )
            )
        elif len(key.records) > 1:
            out.append(
                f.problem(
                    CHECK,
                    f"{name}: {len(key.records)} key records at {key.name}: verifiers fail.",
                    "Keep exactly one.",
                )
            )
        elif key.error:
            out.append(
                f.problem(
                    CHECK,
                    f"{name}: the key record is invalid: {key.error}.",
                    "Publish the key again as your signing software prints it.",
                )
            )
        elif key.revoked:
            out.append(
                f.warning(
                    CHECK,
                    f"{name} is revoked (empty p=): mail signed with it fails DKIM.",
                    "Fine if the selector is retired; if mail is still signed with it, publish "
                    "the key.",
                )
            )
        elif key.kind == "rsa" and key.bits < MIN_BITS:
            out.append(
                f.problem(
                    CHECK,
                    f"{name} has a {key.bits}-bit RSA key: verifiers reject keys under "
                    f"{MIN_BITS} bits (RFC 8301).",
                    f"Sign with a new {GOOD_BITS}-bit key under a new selector.",
                )
            )
        elif key.kind == "rsa" and key.bits < GOOD_BITS:
            out.append(
                f.warning(
                    CHECK,
                    f"{name} has a {key.bits}-bit RSA key; {GOOD_BITS} bits is recommended.",
                    f"Rotate to a {GOOD_BITS}-bit key under a new selector.",
                )
            )
        if key.testing and not key.revoked and not key.error:
            out.append(
                f.warning(
                    CHECK,
                    f"{name} is in testing mode (t=y): verifiers may treat failures as unsigned.",
                    "Remove t=y once signing works.",
                )
            )
    return out


def facts(keys: list[Key]) -> list[str]:
    lines = []
    for key in keys:
        if key.lookup_error:
            state = f"lookup failed: {key.lookup_error}"
        elif not key.records:
            state = "no record"
        elif len(key.records) > 1:
            state = f"{len(key.records)} records"
        elif key.error:
            state = f"invalid: {key.error}"
        elif key.revoked:
            state = "revoked (empty p=)"
        else:
            size = f" {key.bits} bits" if key.kind == "rsa" else ""
            state = f"{key.kind}{size}" + (" · testing (t=y)" if key.testing else "")
        lines.append(f"{key.name}  {state}")
    return lines
