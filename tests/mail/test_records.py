"""The pure parts of /mail, without a server: record parsers, DANE matching, the answer's fit."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from chatbot import slack
from chatbot.mail import dane, dkim, dmarc, mtasts, spf, tags
from chatbot.mail import findings as f
from chatbot.mail.audit import Check, Report
from chatbot.mail.render import render, verdict
from chatbot.reply import plain
from tests.servers.tls import Authority


@pytest.mark.parametrize(
    ("record", "error"),
    [
        ("v=spf1 ip4:192.0.2.0/33 -all", "/33 is not a valid prefix length"),
        ("v=spf1 ip6:2001:db8::/129 -all", "/129 is not a valid prefix length"),
        ("v=spf1 ip4:2001:db8:: -all", "is not an IPv4 address"),
        ("v=spf1 include: -all", "include needs :domain"),
        ("v=spf1 a/24//129 -all", "prefix length out of range"),
        ("v=spf1 mx:example..test -all", "is not a valid domain name"),
        ("v=spf1 exists:%{z}.example.test -all", "has an invalid macro"),
        ("v=spf1 redirect=a.test redirect=b.test", "redirect= appears twice"),
        ("v=spf1 all:x", "all takes no value"),
        ("v=spf1 frob -all", "unknown mechanism frob"),
        ("v=spf10 -all", "does not start with v=spf1"),
    ],
)
def test_spf_syntax_errors(record: str, error: str) -> None:
    found = spf.parse(record)
    assert any(error in e for e in found.errors), found.errors


def test_spf_valid_terms() -> None:
    found = spf.parse(
        "v=spf1 +a -mx:example.test/24//64 ~ip4:192.0.2.1 ?ip6:2001:db8::/32 "
        "include:_spf.example.test exists:%{i}._spf.example.test ptr exp=explain.example.test "
        "unknown-modifier=x -all"
    )
    assert found.errors == []
    assert [t.qualifier for t in found.terms if not t.modifier] == list("+-~?+++-")
    assert found.all is not None and found.all.qualifier == "-"
    assert not spf.is_spf("v=spf10") and spf.is_spf("v=spf1") and spf.is_spf("V=SPF1 -all")


def test_spf_terms_after_all_are_not_evaluated() -> None:
    found = spf.parse("v=spf1 include:a.test -all include:b.test redirect=c.test")
    assert [t.text for t in found.evaluated] == ["include:a.test", "-all"]


@pytest.mark.parametrize(
    ("record", "errors"),
    [
        ("v=DMARC1; p=reject", []),
        ("v=DMARC1; p=quarantine; sp=none; pct=50; adkim=s; aspf=r; rua=mailto:a@b.test", []),
        ("p=reject; v=DMARC1", ["it must start with v=DMARC1"]),
        ("v=DMARC1; rua=mailto:a@b.test", ["the required p= tag is missing"]),
        ("v=DMARC1; p=reject; adkim=x", ["adkim=x is not r or s"]),
        ("v=DMARC1; p=reject; rua=ftp://x", ["rua: ftp://x is not a mailto: URI"]),
    ],
)
def test_dmarc_records(record: str, errors: list[str]) -> None:
    assert dmarc.parse(record).errors == errors


def test_dmarc_destinations_drop_the_size_limit() -> None:
    record = dmarc.parse("v=DMARC1; p=none; rua=mailto:a@x.test!10m, mailto:b@y.test")
    assert record.destinations("rua") == ["a@x.test", "b@y.test"]


def _rsa_record(bits: int) -> str:
    if bits >= 1024:
        public = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    else:
        # cryptography generates nothing under 1024 bits; a public key is just (n, e).
        public = rsa.RSAPublicNumbers(65537, (1 << (bits - 1)) | 1).public_key()
    der = public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


@pytest.mark.parametrize(
    ("bits", "severity"), [(768, "problem"), (1024, "warning"), (2048, None), (4096, None)]
)
def test_dkim_rsa_sizes(bits: int, severity: str | None) -> None:
    key = dkim.parse(dkim.Key("s", "s._domainkey.x.test", records=["r"]), _rsa_record(bits))
    assert key.bits == bits and not key.error
    found = dkim.findings([key])
    assert [x.severity for x in found] == ([severity] if severity else [])


def test_dkim_record_forms() -> None:
    def key(text: str) -> dkim.Key:
        return dkim.parse(dkim.Key("s", "s._domainkey.x.test", records=[text]), text)

    assert key("v=DKIM1; p=").revoked
    assert key("p=").revoked
    assert key("v=DKIM1; t=s:y; p=" + _rsa_record(2048).split("p=")[1]).testing
    assert key("v=DKIM2; p=abc").error == "v=DKIM2 is not DKIM1"
    assert key("v=DKIM1; k=dsa; p=AAAA").error.startswith("k=dsa is not a key type")
    assert key("v=DKIM1; p=***").error == "p= is not valid base64"
    assert key("v=DKIM1; k=ed25519; p=" + base64.b64encode(b"x" * 31).decode()).error
    # Whitespace inside p= (records folded by DNS hosts) is not part of the key.
    folded = _rsa_record(2048).replace("p=", "p= ")
    assert key(folded[:60] + " " + folded[60:]).bits == 2048


def test_mta_sts_policy_and_patterns() -> None:
    policy = mtasts.parse_policy(
        "version: STSv1\r\nmode: enforce\r\nmx: mail.example.test\r\nmx: *.example.net\r\n"
        "max_age: 604800\r\n"
    )
    assert policy.errors == [] and policy.mode == "enforce" and policy.max_age == 604800
    assert policy.mx == ["mail.example.test", "*.example.net"]
    assert mtasts.covers("*.example.net", "mx1.example.net")
    assert not mtasts.covers("*.example.net", "a.mx1.example.net")
    assert not mtasts.covers("*.example.net", "example.net")
    assert mtasts.covers("MAIL.example.test.", "mail.example.test")
    broken = mtasts.parse_policy("version: STSv2\nmode: strict\nmax_age: forever\n")
    assert len(broken.errors) == 4
    assert mtasts.parse_record("v=STSv1; id=20240101") == ("20240101", "")
    assert mtasts.parse_record("v=STSv1; id=2024-01-01")[1].endswith("letters and digits")
    assert mtasts.parse_record("v=STSv1;")[1] == "it has no id="


def test_dane_matching() -> None:
    root = Authority("DANE Root")
    intermediate = Authority("DANE Intermediate", parent=root)
    issued = intermediate.issue("mx.example.test")
    chain = [issued.cert, intermediate.cert]
    leaf_spki = issued.cert.public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    )
    ta_der = intermediate.cert.public_bytes(Encoding.DER)
    assert dane.matches(dane.TLSA(3, 1, 1, hashlib.sha256(leaf_spki).digest()), chain)
    assert dane.matches(dane.TLSA(3, 1, 0, leaf_spki), chain)
    assert dane.matches(dane.TLSA(2, 0, 2, hashlib.sha512(ta_der).digest()), chain)
    assert dane.matches(dane.TLSA(2, 0, 0, ta_der), chain)
    # DANE-TA names an issuer, never the leaf itself; DANE-EE only the leaf.
    leaf_der = issued.cert.public_bytes(Encoding.DER)
    assert not dane.matches(dane.TLSA(2, 0, 0, leaf_der), chain)
    assert not dane.matches(dane.TLSA(3, 0, 0, ta_der), chain)
    # PKIX usages are not for SMTP.
    assert not dane.matches(dane.TLSA(1, 1, 1, hashlib.sha256(leaf_spki).digest()), chain)
    assert not dane.TLSA(0, 0, 1, b"").usable


def test_verdict_headlines() -> None:
    p, w, i = f.problem("X", "p"), f.warning("X", "w"), f.info("X", "i")
    assert verdict([p, p, w, w, w, i]) == (
        ":x: 2 problems, :warning: 3 warnings",
        "2 problems, 3 warnings",
    )
    assert verdict([p]) == (":x: 1 problem", "1 problem")
    assert verdict([w, i]) == (":warning: 1 warning, no problems", "1 warning, no problems")
    assert verdict([i]) == (":white_check_mark: no problems found", "no problems found")
    assert [x.what for x in f.worst_first([i, w, p])] == ["p", "w", "i"]


def test_the_biggest_answer_fits_one_slack_message() -> None:
    """Many long findings and long facts per check: still within 50 blocks of 3000 characters."""
    checks = [
        Check(
            f"Check {n}",
            [f.problem(f"C{n}", "x" * 400, "y" * 200) for _ in range(12)],
            [f"line {k} " + "z" * 150 for k in range(40)],
        )
        for n in range(9)
    ]
    reply = render(Report("example.test", "example.test", checks, 12.0, 40))
    blocks = slack.blocks(reply)
    assert len(blocks) <= slack.BLOCK_LIMIT
    texts = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert all(len(t) <= slack.SECTION_LIMIT for t in texts)
    # Nothing of the findings was cut: every one is still in the message.
    assert sum(t.count(":x:") for t in texts) == 9 * 12 + 1
    assert "108 problems" in plain(reply).splitlines()[0]


def test_tag_lists_are_read_one_way() -> None:
    """DKIM, MTA-STS, TLS-RPT and BIMI records through one reader: the first of each name."""
    text = " v=STSv1 ; ID = Upper ;id=first; id=second; no-equals ; p = ab cd\n ef "
    assert tags.read(text) == {"v": "STSv1", "id": "Upper", "p": "ab cd\n ef"}
    # MTA-STS names are case-sensitive: ID= is not its id=.
    assert tags.read(text, fold_names=False) == {
        "v": "STSv1",
        "ID": "Upper",
        "id": "first",
        "p": "ab cd\n ef",
    }
    # A DKIM key's base64 may be folded across lines.
    assert tags.read(text, squeeze=True)["p"] == "abcdef"
    assert mtasts.parse_record("v=STSv1; ID=2024") == ("", "it has no id=")
