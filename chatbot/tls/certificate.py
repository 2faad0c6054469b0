"""What a server's certificate chain says, and every reason not to trust it.

No sockets here: `assess` takes the chain as the server sent it, the name it
should be valid for, OpenSSL's own verification result for that handshake, and
(when the server left it out) the issuer fetched from the leaf's AIA URL.

OpenSSL's verify codes decide whether the chain reached a trusted root; each
other reason (dates, name, key, signature) is checked here on its own, so one
answer names all of them, and any code none of those explains becomes a reason
of its own: OpenSSL's word on validity is never overruled towards "valid".
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import warnings
from dataclasses import dataclass, field
from functools import lru_cache

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

MIN_RSA_BITS = 2048
WARN_DAYS, URGENT_DAYS = 30, 7
# A leaf, an intermediate or two and perhaps a cross-signed root: more is a
# misconfiguration that every handshake pays for.
LONG_CHAIN = 6

# OpenSSL verify codes (X509_V_ERR_*) that mean the chain did not build to a
# trusted root; any other code is about a chain OpenSSL did trust.
UNABLE_TO_GET_ISSUER, SELF_SIGNED_IN_CHAIN, LOCAL_ISSUER, LEAF_SIGNATURE = 2, 19, 20, 21
SELF_SIGNED_LEAF = 18
TRUST_CODES = frozenset(
    {UNABLE_TO_GET_ISSUER, SELF_SIGNED_LEAF, SELF_SIGNED_IN_CHAIN, LOCAL_ISSUER, LEAF_SIGNATURE}
)
MISSING_ISSUER_CODES = frozenset({UNABLE_TO_GET_ISSUER, LOCAL_ISSUER, LEAF_SIGNATURE})
# What each other code is about, so a code no check of ours explains still
# becomes a reason of its own (OpenSSL's word is final on validity).
CODE_KINDS = {9: "dates", 10: "dates", 62: "name", 64: "name", 66: "key", 67: "key", 68: "sha1"}


@dataclass(frozen=True)
class OpenSSLResult:
    """Every error OpenSSL's chain verification met, in its order, as (code, message)."""

    errors: tuple[tuple[int, str], ...] = ()

    @property
    def code(self) -> int:
        """The first error's code, the one `openssl verify` would stop at; 0 for success."""
        return self.errors[0][0] if self.errors else 0

    @property
    def codes(self) -> frozenset[int]:
        return frozenset(code for code, _ in self.errors)

    def __str__(self) -> str:
        return "; ".join(f"{message} ({code})" for code, message in self.errors) or "ok"


@dataclass
class Verdict:
    valid: bool
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    days_left: int = 0
    incomplete_chain: bool = False
    expiry: str = ""  # "expires in 3 days", "expired 2 days ago"


def cn(name: x509.Name) -> str:
    """The common name if there is one, else the whole name: how people recognise a CA."""
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if values:
        return str(values[0].value)
    return name.rfc4514_string() or "(empty name)"


def extensions_problem(cert: x509.Certificate) -> str | None:
    """Why the certificate's extensions cannot be parsed, or None when they can.

    cryptography parses extensions when first asked, and a malformed one
    (broken DER, which OpenSSL may let through) raises ValueError there.
    """
    try:
        cert.extensions  # noqa: B018
    except ValueError as exc:
        return str(exc) or "malformed DER"
    return None


def names(cert: x509.Certificate) -> list[str]:
    """DNS names and IP addresses the certificate is issued for (its subjectAltName)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):  # ValueError: extensions_problem
        return []
    dns_names = [str(n) for n in san.get_values_for_type(x509.DNSName)]
    return dns_names + [str(a) for a in san.get_values_for_type(x509.IPAddress)]


def _dns_match(host: str, pattern: str) -> bool:
    # RFC 6125 as OpenSSL applies it for Python (no partial wildcards): "*"
    # only as the whole left-most label, standing for exactly one label.
    host, pattern = host.lower().rstrip("."), pattern.lower().rstrip(".")
    if not pattern.startswith("*."):
        return host == pattern
    head, _, rest = host.partition(".")
    return bool(head) and rest == pattern[2:] and "." in rest


def matches(host: str, cert: x509.Certificate) -> bool:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return any(_dns_match(host, n) for n in names(cert) if ":" not in n and not _is_ip(n))
    return any(_is_ip(n) and ipaddress.ip_address(n) == address for n in names(cert))


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def is_self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def key_description(cert: x509.Certificate) -> str:
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return "a key I cannot read"
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size} bits"
    if isinstance(key, ec.EllipticCurvePublicKey):
        curves = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
        return f"EC {curves.get(key.curve.name, key.curve.name)}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448"
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA {key.key_size} bits"
    return type(key).__name__


def signature_name(cert: x509.Certificate) -> str:
    oid = cert.signature_algorithm_oid
    return getattr(oid, "_name", None) or oid.dotted_string


def issuer_url(cert: x509.Certificate) -> str | None:
    """The Authority Information Access caIssuers URL, where browsers fetch a missing issuer."""
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess)
    except (x509.ExtensionNotFound, ValueError):  # ValueError: extensions_problem
        return None
    for description in aia.value:
        location = description.access_location
        if description.access_method == AuthorityInformationAccessOID.CA_ISSUERS and isinstance(
            location, x509.UniformResourceIdentifier
        ):
            return location.value
    return None


def path(chain: list[x509.Certificate]) -> list[x509.Certificate]:
    """The sent certificates that really chain up from the leaf, in order."""
    out = [chain[0]]
    rest = chain[1:]
    while True:
        current = out[-1]
        if is_self_signed(current):
            return out
        parent = next((c for c in rest if c.subject == current.issuer and c not in out), None)
        if parent is None:
            return out
        out.append(parent)


PEM_END = b"-----END CERTIFICATE-----"


@lru_cache(maxsize=4)
def _roots(file: str, mtime: float) -> tuple[x509.Certificate, ...]:
    with open(file, "rb") as handle:
        blocks = [
            block + PEM_END for block in handle.read().split(PEM_END) if b"-----BEGIN" in block
        ]
    out: list[x509.Certificate] = []
    for block in blocks:
        # One odd root (the Mozilla bundle has one with a negative serial, which
        # cryptography warns about and will one day refuse) must not cost us the rest.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            try:
                out.append(x509.load_pem_x509_certificate(block))
            except ValueError:
                continue
    return tuple(out)


def roots(file: str) -> tuple[x509.Certificate, ...]:
    """The trust store's certificates, parsed once per file version."""
    return _roots(file, os.stat(file).st_mtime)


def _server_auth(policy: object, cert: x509.Certificate, usage: object) -> None:
    allowed = {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}
    if isinstance(usage, x509.ExtendedKeyUsage) and not allowed & set(usage):
        raise ValueError("the certificate may not be used for TLS servers")


def completes_chain(
    leaf: x509.Certificate,
    intermediates: list[x509.Certificate],
    trusted: tuple[x509.Certificate, ...],
    now: dt.datetime,
) -> bool:
    """Whether leaf + intermediates reach a trusted root, names and dates aside.

    cryptography's verifier builds the chain. It is asked at a moment inside
    the leaf's validity and for a name the leaf carries, because expiry and
    name mismatch are reported separately. SAN and EKU may be critical
    (trustme and some private CAs mark them so); OpenSSL accepts that, and so
    do we here, while still asking EKU to allow server authentication.
    """
    from cryptography.x509 import verification as v

    own = names(leaf)
    if not own or not trusted:
        return False
    subject: v.Subject = (
        x509.IPAddress(ipaddress.ip_address(own[0])) if _is_ip(own[0]) else x509.DNSName(own[0])
    )
    moment = min(max(now, leaf.not_valid_before_utc), leaf.not_valid_after_utc)
    ee_policy = (
        v.ExtensionPolicy.webpki_defaults_ee()
        .require_present(x509.SubjectAlternativeName, v.Criticality.AGNOSTIC, None)
        .may_be_present(x509.ExtendedKeyUsage, v.Criticality.AGNOSTIC, _server_auth)
    )
    verifier = (
        v.PolicyBuilder()
        .store(v.Store(list(trusted)))
        .time(moment)
        .extension_policies(ca_policy=v.ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee_policy)
        .build_server_verifier(subject)
    )
    try:
        verifier.verify(leaf, intermediates)
    except (v.VerificationError, ValueError):  # ValueError: an extension it cannot parse
        return False
    return True


def _date(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _days(delta: dt.timedelta) -> str:
    days = abs(delta).days
    if days == 0:
        return "less than a day"
    return "1 day" if days == 1 else f"{days} days"


def shown_names(cert: x509.Certificate, limit: int = 8) -> str:
    listed = names(cert)
    if not listed:
        return "no names at all (it has no subjectAltName)"
    more = f" (+{len(listed) - limit} more)" if len(listed) > limit else ""
    return ", ".join(listed[:limit]) + more


def _role(index: int) -> str:
    return "The certificate" if index == 0 else "The intermediate certificate"


def assess(
    chain: list[x509.Certificate],
    check_name: str,
    openssl: OpenSSLResult,
    *,
    now: dt.datetime,
    fetched_issuer: x509.Certificate | None = None,
    fetched_from: str | None = None,
    trusted: tuple[x509.Certificate, ...] = (),
    store_name: str = "the trust store",
) -> Verdict:
    leaf = chain[0]
    chain_path = path(chain)
    found: list[tuple[str, str]] = []  # (kind, sentence)

    if openssl.codes & TRUST_CODES:
        top = chain_path[-1]
        if is_self_signed(leaf):
            found.append(
                (
                    "trust",
                    "The certificate is self-signed: no certificate authority vouches for it, "
                    f"and it is not in {store_name}.",
                )
            )
        elif fetched_issuer is not None and completes_chain(
            leaf, [*chain_path[1:], fetched_issuer], trusted, now
        ):
            found.append(
                (
                    "chain",
                    f"The chain is incomplete: the server does not send the intermediate "
                    f"certificate {cn(fetched_issuer.subject)}. Chrome and Safari fetch it from "
                    f"{fetched_from}, but curl, Python, Java and most other clients fail.",
                )
            )
        elif is_self_signed(top):
            found.append(
                (
                    "trust",
                    f"The issuer is not trusted: the chain ends in the root {cn(top.subject)}, "
                    f"which is not in {store_name}.",
                )
            )
        else:
            found.append(
                (
                    "trust",
                    f"The issuer is not trusted: {cn(top.issuer)}, which issued "
                    f"{cn(top.subject)}, is not in {store_name}"
                    + (
                        " and could not be fetched from the certificate's AIA URL."
                        if fetched_from and fetched_issuer is None
                        else "."
                    ),
                )
            )

    for index, cert in enumerate(chain_path):
        if index and is_self_signed(cert):
            continue  # a root's own dates are the trust store's business
        after, before = cert.not_valid_after_utc, cert.not_valid_before_utc
        if now > after:
            found.append(
                ("dates", f"{_role(index)} expired on {_date(after)}, {_days(now - after)} ago.")
            )
        elif now < before:
            found.append(
                (
                    "dates",
                    f"{_role(index)} is not valid yet: its validity starts on {_date(before)}, "
                    f"in {_days(before - now)}.",
                )
            )

    for index, cert in enumerate(chain_path):
        if extensions_problem(cert) is not None:
            found.append(
                (
                    "extension",
                    f"{_role(index)} has an extension that cannot be parsed (malformed DER); "
                    "clients that read certificates strictly refuse it.",
                )
            )

    if not matches(check_name, leaf):
        found.append(
            (
                "name",
                f"The certificate is not valid for {check_name}; it covers {shown_names(leaf)}.",
            )
        )

    for index, cert in enumerate(chain_path):
        key = cert.public_key()
        if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
            found.append(
                (
                    "key",
                    f"{_role(index)} has a weak {key.key_size}-bit RSA key; "
                    f"{MIN_RSA_BITS} bits is the minimum.",
                )
            )
        if not is_self_signed(cert) and isinstance(cert.signature_hash_algorithm, hashes.SHA1):
            found.append(
                (
                    "sha1",
                    f"{_role(index)} is signed with SHA-1, which is broken and which browsers "
                    "and OpenSSL reject.",
                )
            )

    kinds = {kind for kind, _ in found}
    if "chain" in kinds:
        kinds.add("trust")
    for code, message in dict(openssl.errors).items():
        expected = "trust" if code in TRUST_CODES else CODE_KINDS.get(code)
        if expected not in kinds:
            found.append(("openssl", f"OpenSSL rejects the chain: {message} (error {code})."))

    left = leaf.not_valid_after_utc - now
    # Whole days towards zero both ways, as the sentences say them.
    days_left = left.days if left >= dt.timedelta(0) else -abs(left).days
    warnings: list[str] = []
    if len(chain) > LONG_CHAIN:
        warnings.append(
            f"The server sends {len(chain)} certificates; a chain needs two to four, and "
            "every extra one costs each handshake time and bytes."
        )
    if dt.timedelta(0) <= left <= dt.timedelta(days=URGENT_DAYS):
        warnings.append(
            f"The certificate expires in {_days(left)}, on {_date(leaf.not_valid_after_utc)}: "
            "renew it now."
        )
    elif dt.timedelta(0) <= left <= dt.timedelta(days=WARN_DAYS):
        warnings.append(
            f"The certificate expires in {_days(left)}, on {_date(leaf.not_valid_after_utc)}."
        )
    return Verdict(
        valid=not found,
        reasons=[sentence for _, sentence in found],
        warnings=warnings,
        days_left=days_left,
        incomplete_chain="chain" in kinds,
        expiry=f"expired {_days(left)} ago"
        if left < dt.timedelta(0)
        else f"expires in {_days(left)}",
    )
