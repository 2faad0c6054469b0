"""Zones for /mail: one test domain per finding, served by the local DNS server.

`zone(...)` builds the records (TLSA hashes need the test certificates, DKIM
keys are made here); `MailDNSServer` is the dnspython test server standing in
for the resolvers. It sets the AD flag on every TLSA answer, as a resolver
(or anyone on the path) may: the audit must not believe it. DNSSEC is judged
by our own walk from the root instead: `tree(...)` gives the zones holding
the TLSA records to a signed tests/servers/dns_hierarchy.py tree (signed,
unsigned, and signed but edited afterwards: bogus).
"""

from __future__ import annotations

import base64
import hashlib

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.servers.dns import DNSServer
from tests.servers.dns_hierarchy import Extra

Records = dict[tuple[str, str], list[str]]

# Loopback addresses of the SMTP scenarios (tests/servers/smtp.py).
GOOD, EXPIRED, WRONG_NAME, PLAIN, SILENT = (f"127.0.0.{n}" for n in range(2, 7))
CLOSES = "127.0.0.8"
# Policy hosts: a valid certificate on .1, one for another name on .7.
POLICY, BAD_POLICY = "127.0.0.1", "127.0.0.7"
GOOD_MX = "mx.good.test"
# Names the good certificate also covers, so DANE cases see a valid certificate.
GOOD_NAMES = (GOOD_MX, "mx.dane-bad.test", "mx.dane-unsigned.test", "mx.mixed.test")
GOOD_NAMES += ("mx2.two-mx.test", "mx.dane-bogus.test", "mx2.dane-bogus.test")
POLICY_NAMES = tuple(
    f"mta-sts.{d}"
    for d in ("good.test", "sts-testing.test", "enforce.test", "redirect.test", "two-mx.test")
)


def _key_record(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey, extra: str = "") -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        der = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        kind = "rsa"
    else:
        der = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        kind = "ed25519"
    text = f"v=DKIM1; k={kind}; {extra}p={base64.b64encode(der).decode()}"
    # A TXT character-string holds 255 bytes: long keys are split, as DNS hosts do.
    return " ".join(f'"{text[i : i + 200]}"' for i in range(0, len(text), 200))


def tlsa_311(cert: x509.Certificate) -> str:
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return f"3 1 1 {hashlib.sha256(spki).hexdigest()}"


def _mx(domain: str, host: str, address: str) -> Records:
    return {(f"{domain}.", "MX"): [f"10 {host}."], (f"{host}.", "A"): [address]}


def _policy(domain: str, address: str = POLICY) -> Records:
    return {
        (f"_mta-sts.{domain}.", "TXT"): ['"v=STSv1; id=20240101T000000"'],
        (f"mta-sts.{domain}.", "A"): [address],
    }


EXISTING = ("dmarcnone.test", "pct.test", "externalrua.test", "baddmarc.test", "twodmarc.test")
EXISTING += ("dkim.test",)


def zone(good: x509.Certificate) -> Records:
    """Every /mail scenario; `good` is the certificate the good SMTP server presents."""
    rsa1024 = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    rsa2048 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    records: Records = {
        # Everything right.
        **_mx("good.test", GOOD_MX, GOOD),
        ("good.test.", "TXT"): ['"v=spf1 mx ip4:192.0.2.0/24 -all"'],
        ("_dmarc.good.test.", "TXT"): ['"v=DMARC1; p=reject; rua=mailto:dmarc@good.test"'],
        ("s2048._domainkey.good.test.", "TXT"): [_key_record(rsa2048)],
        ("ed._domainkey.good.test.", "TXT"): [_key_record(ed25519.Ed25519PrivateKey.generate())],
        **_policy("good.test"),
        ("_smtp._tls.good.test.", "TXT"): ['"v=TLSRPTv1; rua=mailto:tls@good.test"'],
        ("default._bimi.good.test.", "TXT"): ['"v=BIMI1; l=https://good.test/logo.svg"'],
        (f"_25._tcp.{GOOD_MX}.", "TLSA"): [tlsa_311(good)],
        # SPF
        ("twospf.test.", "TXT"): ['"v=spf1 -all"', '"v=spf1 mx -all"'],
        ("lookups.test.", "TXT"): ['"v=spf1 include:l1.lookups.test include:l2.lookups.test -all"'],
        ("l1.lookups.test.", "TXT"): [
            '"v=spf1 a:h1.lookups.test a:h2.lookups.test a:h3.lookups.test a:h4.lookups.test -all"'
        ],
        ("l2.lookups.test.", "TXT"): [
            '"v=spf1 include:l3.lookups.test a:h1.lookups.test a:h2.lookups.test -all"'
        ],
        ("l3.lookups.test.", "TXT"): ['"v=spf1 a:h3.lookups.test a:h4.lookups.test -all"'],
        **{(f"h{n}.lookups.test.", "A"): [f"192.0.2.{n}"] for n in range(1, 5)},
        ("void.test.", "TXT"): [
            '"v=spf1 a:nx1.void.test a:nx2.void.test mx:nx3.void.test ip4:192.0.2.1 -all"'
        ],
        ("plusall.test.", "TXT"): ['"v=spf1 ip4:192.0.2.0/24 +all"'],
        ("neutral.test.", "TXT"): ['"v=spf1 ip4:192.0.2.0/24 ptr ?all"'],
        ("noall.test.", "TXT"): ['"v=spf1 ip4:192.0.2.0/24"'],
        ("badsyntax.test.", "TXT"): ['"v=spf1 ip4:192.0.2.300 foo:bar -all"'],
        ("missinginclude.test.", "TXT"): ['"v=spf1 include:nospf.test -all"'],
        ("nospf.test.", "A"): ["192.0.2.9"],
        ("loop.test.", "TXT"): ['"v=spf1 include:loop2.test -all"'],
        ("loop2.test.", "TXT"): ['"v=spf1 include:loop.test -all"'],
        ("redirected.test.", "TXT"): ['"v=spf1 redirect=_spf.redirected.test"'],
        ("_spf.redirected.test.", "TXT"): ['"v=spf1 ip4:192.0.2.0/24 +all"'],
        # DMARC (each domain exists: an SPF record of its own)
        **{(f"{d}.", "TXT"): ['"v=spf1 -all"'] for d in EXISTING},
        ("_dmarc.dmarcnone.test.", "TXT"): ['"v=DMARC1; p=none; rua=mailto:d@dmarcnone.test"'],
        ("_dmarc.pct.test.", "TXT"): ['"v=DMARC1; p=quarantine; pct=20"'],
        ("_dmarc.externalrua.test.", "TXT"): [
            '"v=DMARC1; p=reject; rua=mailto:agg@reports-ok.test,mailto:agg@reports-no.test"'
        ],
        ("externalrua.test._report._dmarc.reports-ok.test.", "TXT"): ['"v=DMARC1"'],
        ("eu.shop.co.uk.", "MX"): ["10 mx.shop.co.uk."],
        ("_dmarc.shop.co.uk.", "TXT"): ['"v=DMARC1; p=reject; sp=none; rua=mailto:d@shop.co.uk"'],
        ("_dmarc.baddmarc.test.", "TXT"): ['"v=DMARC1; p=maybe; pct=150"'],
        ("_dmarc.twodmarc.test.", "TXT"): ['"v=DMARC1; p=none"', '"v=DMARC1; p=reject"'],
        # DKIM
        ("weak._domainkey.dkim.test.", "TXT"): [_key_record(rsa1024)],
        ("revoked._domainkey.dkim.test.", "TXT"): ['"v=DKIM1; k=rsa; p="'],
        ("testing._domainkey.dkim.test.", "TXT"): [_key_record(rsa2048, "t=y; ")],
        ("garbled._domainkey.dkim.test.", "TXT"): ['"v=DKIM1; k=rsa; p=bm90IGEga2V5"'],
        # MX
        ("nullmx.test.", "MX"): ["0 ."],
        ("cname-mx.test.", "MX"): ["10 alias.cname-mx.test."],
        ("alias.cname-mx.test.", "CNAME"): ["real.cname-mx.test."],
        ("real.cname-mx.test.", "A"): ["192.0.2.5"],
        ("literal-mx.test.", "MX"): ["10 192.0.2.7."],
        ("dangling-mx.test.", "MX"): ["10 nowhere.dangling-mx.test."],
        ("nomx.test.", "A"): ["192.0.2.8"],
        ("nomail.test.", "TXT"): ['"v=spf1 -all"'],
        # MTA-STS
        ("sts-testing.test.", "MX"): ["10 mx1.sts-testing.test.", "20 mx2.elsewhere.test."],
        ("mx1.sts-testing.test.", "A"): ["192.0.2.11"],
        ("mx2.elsewhere.test.", "A"): ["192.0.2.12"],
        **_policy("sts-testing.test"),
        **_mx("enforce.test", "mx.wrong-name.test", WRONG_NAME),
        **_policy("enforce.test"),
        **_mx("redirect.test", "mx.redirect.test", "192.0.2.13"),
        **_policy("redirect.test"),
        **_mx("badcert.test", "mx.badcert.test", "192.0.2.14"),
        **_policy("badcert.test", BAD_POLICY),
        # STARTTLS
        **_mx("expired.test", "mx.expired.test", EXPIRED),
        **_mx("wrong-name.test", "mx.wrong-name.test", WRONG_NAME),
        **_mx("plain.test", "mx.plain.test", PLAIN),
        **_mx("silent.test", "mx.silent.test", SILENT),
        **_mx("closes.test", "mx.closes.test", CLOSES),
        # A port nobody answers on 127.0.0.1 stands in for a blocked port 25.
        **_mx("blocked.test", "mx.blocked.test", "127.0.0.1"),
        ("mixed.test.", "MX"): ["10 mx.mixed.test.", "20 mx.silent.test."],
        ("mx.mixed.test.", "A"): [GOOD],
        # Two MX hosts and every record: the benchmark's domain.
        ("two-mx.test.", "MX"): [f"10 {GOOD_MX}.", "20 mx2.two-mx.test."],
        ("mx2.two-mx.test.", "A"): [GOOD],
        ("two-mx.test.", "TXT"): ['"v=spf1 mx include:l2.lookups.test -all"'],
        ("_dmarc.two-mx.test.", "TXT"): ['"v=DMARC1; p=reject; rua=mailto:d@two-mx.test"'],
        ("s2048._domainkey.two-mx.test.", "TXT"): [_key_record(rsa2048)],
        **_policy("two-mx.test"),
        ("_smtp._tls.two-mx.test.", "TXT"): ['"v=TLSRPTv1; rua=mailto:tls@two-mx.test"'],
        ("default._bimi.two-mx.test.", "TXT"): ['"v=BIMI1; l=https://two-mx.test/logo.svg"'],
        ("_25._tcp.mx2.two-mx.test.", "TLSA"): [tlsa_311(good)],
        # DANE
        **_mx("dane-bad.test", "mx.dane-bad.test", GOOD),
        ("_25._tcp.mx.dane-bad.test.", "TLSA"): [f"3 1 1 {'ab' * 32}"],
        **_mx("dane-unsigned.test", "mx.dane-unsigned.test", GOOD),
        ("_25._tcp.mx.dane-unsigned.test.", "TLSA"): [tlsa_311(good)],
        # The TLSA records match, but were changed after the zone was signed: bogus.
        **_mx("dane-bogus.test", "mx.dane-bogus.test", GOOD),
        ("_25._tcp.mx.dane-bogus.test.", "TLSA"): [tlsa_311(good)],
        # The same, where the resolver answers SERVFAIL, as a validating one does.
        **_mx("dane-servfail.test", "mx2.dane-bogus.test", GOOD),
        ("_25._tcp.mx2.dane-bogus.test.", "TLSA"): [tlsa_311(good)],
        # One MX whose TLSA records validate, one whose records are bogus.
        ("dane-half.test.", "MX"): [f"10 {GOOD_MX}.", "20 mx.dane-bogus.test."],
    }
    return records


# Zones of the signed tree that hold the TLSA records above, as DNSSEC sees them.
SIGNED = ("good.test.", "dane-bad.test.", "two-mx.test.")
UNSIGNED = ("dane-unsigned.test.",)
TAMPERED = ("dane-bogus.test.",)  # signed, then its TLSA records changed
SERVFAIL = frozenset({"_25._tcp.mx2.dane-bogus.test."})


def tree(records: Records) -> tuple[Extra, ...]:
    """The zones of the signed tree (tests/servers/dns_hierarchy.py) with the TLSA records."""

    def body(origin: str, value: str | None = None) -> str:
        return "".join(
            f"{name.removesuffix('.' + origin)} TLSA {value or data}\n"
            for (name, kind), values in records.items()
            if kind == "TLSA" and name.endswith("." + origin)
            for data in values
        )

    signed_as = f"3 1 1 {'0f' * 32}"  # what was signed, before the edit
    return (
        *(Extra(origin, body(origin)) for origin in SIGNED),
        *(Extra(origin, body(origin), signed=False) for origin in UNSIGNED),
        *(Extra(origin, body(origin, signed_as), changed=body(origin)) for origin in TAMPERED),
    )


class MailDNSServer(DNSServer):
    """The resolvers of the audit: every TLSA answer claims AD; SERVFAIL names fail."""

    def __init__(self, records: Records, servfail: frozenset[str] = SERVFAIL) -> None:
        super().__init__(records)
        self.servfail = servfail

    def answer(self, query: dns.message.Message) -> dns.message.Message | None:
        response = super().answer(query)
        question = query.question[0]
        if response is not None and question.name.to_text() in self.servfail:
            response.answer.clear()
            response.set_rcode(dns.rcode.SERVFAIL)
        elif response is not None and question.rdtype == dns.rdatatype.TLSA:
            response.flags |= dns.flags.AD
        return response


POLICIES = {
    "good.test": "version: STSv1\nmode: enforce\nmx: mx.good.test\nmax_age: 604800\n",
    "sts-testing.test": (
        "version: STSv1\nmode: testing\nmx: mx1.sts-testing.test\nmax_age: 86400\n"
    ),
    "enforce.test": "version: STSv1\nmode: enforce\nmx: *.wrong-name.test\nmax_age: 604800\n",
    "two-mx.test": (
        "version: STSv1\nmode: enforce\nmx: mx.good.test\nmx: *.two-mx.test\nmax_age: 604800\n"
    ),
    "badcert.test": "version: STSv1\nmode: enforce\nmx: mx.badcert.test\nmax_age: 604800\n",
}
