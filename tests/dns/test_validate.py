"""+validate against zones signed in the test: each verdict, and the sentence naming the fix."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import dns.name
import dns.rdatatype
import dns.rrset
import dns.zone
import pytest

from chatbot.dns import validate
from chatbot.dns.render_validate import render
from chatbot.reply import plain
from tests.dns.conftest import validate_options
from tests.servers.dns_hierarchy import DAY, Hierarchy


async def check(
    hierarchy: Hierarchy, name: str, rdtype: str = "A", **kw: object
) -> validate.Validation:
    options = validate_options(hierarchy)
    if kw:
        options = validate.Options(
            options.walk,
            kw.pop("anchors", options.anchors),  # type: ignore[arg-type]
            kw.pop("now", None),  # type: ignore[arg-type]
        )
    return await validate.validate(
        dns.name.from_text(name), dns.rdatatype.from_text(rdtype), options
    )


def day(hierarchy: Hierarchy, days: int = 30) -> str:
    return datetime.fromtimestamp(hierarchy.now + days * DAY, UTC).strftime("%Y-%m-%d")


def top(hierarchy: Hierarchy) -> list[str]:
    """The chain's first lines: the root, and test. under it."""
    test_ksk = hierarchy.key_tag("test.")
    return [
        f". DNSKEY {hierarchy.root_key_tag} (RSASHA256) matches the trust anchor and signs "
        f"the root's DNSKEY set, valid until {day(hierarchy)}",
        f". DNSKEY {hierarchy.root_key_tag} (RSASHA256) signs DS test.",
        f"test. DS {test_ksk} (SHA-256) matches DNSKEY {test_ksk} (ECDSAP256SHA256), which "
        f"signs the DNSKEY set of test., valid until {day(hierarchy)}",
    ]


def signed_zone(hierarchy: Hierarchy, zone: str) -> list[str]:
    ksk = hierarchy.key_tag(zone)
    return [
        f"test. DNSKEY {hierarchy.key_tag('test.', 1)} (ECDSAP256SHA256) signs DS {zone}",
        f"{zone} DS {ksk} (SHA-256) matches DNSKEY {ksk} (ECDSAP256SHA256), which signs the "
        f"DNSKEY set of {zone}, valid until {day(hierarchy)}",
    ]


async def test_secure_chain_one_line_per_link(hierarchy: Hierarchy) -> None:
    result = await check(hierarchy, "www.secure.test")
    assert result.verdict.status == "secure"
    zsk = hierarchy.key_tag("secure.test.", 1)
    assert result.verdict.chain == [
        *top(hierarchy),
        *signed_zone(hierarchy, "secure.test."),
        f"www.secure.test. A signed by {zsk} (ECDSAP256SHA256), valid until {day(hierarchy)}",
    ]
    assert result.verdict.signatures == 6
    reply = render("www.secure.test", result)
    out = plain(reply)
    assert out.startswith(
        ":white_check_mark: www.secure.test A is secure: every link from the root's trust "
        "anchor down to the answer verifies."
    )
    assert "www.secure.test. 300 IN A 192.0.2.1" in out
    assert "data from the zones' authoritative servers (3 zones, 3 queries)" in out
    assert "6 signatures verified" in out
    assert not reply.is_error


async def test_insecure_delegation_proven_by_nsec(hierarchy: Hierarchy) -> None:
    result = await check(hierarchy, "www.unsigned.test")
    assert result.verdict.status == "insecure"
    assert result.verdict.reason == (
        "test proves with a signed NSEC record that unsigned.test has no DS record: the chain "
        "of trust ends at test, so unsigned.test and everything in it are unsigned (insecure, "
        "not broken). To sign it, publish its DS at test."
    )
    assert result.verdict.chain[-1] == (
        f"test. DNSKEY {hierarchy.key_tag('test.', 1)} (ECDSAP256SHA256) signs NSEC "
        "unsigned.test.: no DS"
    )
    assert plain(render("www.unsigned.test", result)).startswith(
        ":warning: www.unsigned.test A is insecure"
    )


async def test_bogus_expired_signature_names_record_key_and_dates(hierarchy: Hierarchy) -> None:
    result = await check(hierarchy, "www.expired.test")
    assert result.verdict.status == "bogus"
    zsk = hierarchy.key_tag("expired.test.", 1)
    expired = datetime.fromtimestamp(hierarchy.now - DAY, UTC).strftime("%Y-%m-%d %H:%M UTC")
    since = datetime.fromtimestamp(hierarchy.now - 31 * DAY, UTC).strftime("%Y-%m-%d %H:%M UTC")
    assert result.verdict.reason == (
        f"The RRSIG over www.expired.test A by key {zsk} (ECDSAP256SHA256) of expired.test "
        f"expired on {expired} (it was valid from {since}). Re-sign expired.test: its signer "
        "has stopped refreshing signatures."
    )
    # The chain holds down to the zone's keys; the break is the record's signature.
    assert result.verdict.chain == [*top(hierarchy), *signed_zone(hierarchy, "expired.test.")]
    out = plain(render("www.expired.test", result))
    assert out.startswith(
        ":x: www.expired.test A is bogus: DNSSEC validation fails, so validating resolvers "
        "answer SERVFAIL."
    )
    assert "Chain of trust up to there" in out


async def test_bogus_ds_that_matches_no_key(hierarchy: Hierarchy) -> None:
    result = await check(hierarchy, "www.mismatch.test")
    assert result.verdict.status == "bogus"
    wrong = hierarchy.key_tag("wrong")
    ksk, zsk = hierarchy.key_tag("mismatch.test."), hierarchy.key_tag("mismatch.test.", 1)
    assert result.verdict.reason == (
        f"The DS record of mismatch.test at test (key tag {wrong}, ECDSAP256SHA256, SHA-256) "
        f"matches no DNSKEY of mismatch.test (it has {ksk} KSK, {zsk} ZSK). Update the DS at "
        f"test (usually through the registrar) to the digest of key {ksk}, or publish the key "
        "the DS names."
    )
    assert result.verdict.chain[-1] == (
        f"test. DNSKEY {hierarchy.key_tag('test.', 1)} (ECDSAP256SHA256) signs DS mismatch.test."
    )


async def test_bogus_missing_signature(hierarchy: Hierarchy) -> None:
    result = await check(hierarchy, "www.nosig.test")
    assert result.verdict.status == "bogus"
    assert result.verdict.reason == (
        "www.nosig.test A has no RRSIG, but nosig.test is signed (its chain of trust is "
        "above): sign www.nosig.test A, or re-sign the zone nosig.test."
    )
    assert result.verdict.chain[-1].startswith("nosig.test. DS ")


async def test_bogus_tampered_record(hierarchy: Hierarchy) -> None:
    result = await check(hierarchy, "www.tampered.test")
    assert result.verdict.status == "bogus"
    zsk = hierarchy.key_tag("tampered.test.", 1)
    assert result.verdict.reason == (
        f"The RRSIG over www.tampered.test A by key {zsk} (ECDSAP256SHA256) does not verify: "
        "www.tampered.test A was changed after it was signed, or the signature is corrupt. "
        "Re-sign www.tampered.test A in tampered.test (or restore the data that was signed)."
    )
    assert "www.tampered.test. 300 IN A 192.0.2.66" in plain(render("www.tampered.test", result))


async def test_signature_not_yet_valid(hierarchy: Hierarchy) -> None:
    # Judged as if it were two days before the zones were signed.
    result = await check(hierarchy, "www.secure.test", now=hierarchy.now - 2 * DAY)
    assert result.verdict.status == "bogus"
    assert result.verdict.reason is not None
    assert result.verdict.reason.startswith(
        f"The RRSIG over . DNSKEY by key {hierarchy.root_key_tag} (RSASHA256) of . is not "
        "valid before "
    )
    assert "Check the signer's clock and re-sign ." in result.verdict.reason


async def test_nxdomain_is_proven_by_nsec(hierarchy: Hierarchy) -> None:
    result = await check(hierarchy, "nothing.secure.test")
    assert result.verdict.status == "secure"
    assert (
        result.verdict.chain[-1]
        == "secure.test. NSEC records prove nothing.secure.test. does not exist"
    )
    out = plain(render("nothing.secure.test", result))
    assert ";; AUTHORITY SECTION:" in out


async def test_nodata_is_proven_by_nsec(hierarchy: Hierarchy) -> None:
    result = await check(hierarchy, "secure.test", "TXT")
    assert result.verdict.status == "secure"
    assert (
        result.verdict.chain[-1]
        == "secure.test. NSEC records prove secure.test. has no TXT records"
    )


@pytest.mark.parametrize(
    ("name", "rdtype", "line"),
    [
        (
            "nothing.hashed.test",
            "A",
            "hashed.test. NSEC3 records prove nothing.hashed.test. does not exist",
        ),
        (
            "x.y.hashed.test",
            "A",
            "hashed.test. NSEC3 records prove x.y.hashed.test. does not exist",
        ),
        (
            "www.hashed.test",
            "TXT",
            "hashed.test. NSEC3 records prove www.hashed.test. has no TXT records",
        ),
        ("b.hashed.test", "A", "hashed.test. NSEC3 records prove b.hashed.test. has no A records"),
    ],
)
async def test_denials_are_proven_by_nsec3(
    hierarchy: Hierarchy, name: str, rdtype: str, line: str
) -> None:
    result = await check(hierarchy, name, rdtype)
    assert result.verdict.status == "secure"
    assert result.verdict.chain[-1] == line


async def test_insecure_delegation_proven_by_nsec3(hierarchy: Hierarchy) -> None:
    result = await check(hierarchy, "www.sub.hashed.test")
    assert result.verdict.status == "insecure"
    assert result.verdict.reason is not None
    assert result.verdict.reason.startswith(
        "hashed.test proves with a signed NSEC3 record that sub.hashed.test has no DS record"
    )
    assert result.verdict.chain[-1] == "hashed.test. NSEC3 for sub.hashed.test.: no DS"


async def test_cname_chain_across_zones_is_validated_link_by_link(hierarchy: Hierarchy) -> None:
    result = await check(hierarchy, "chain.secure.test")
    assert result.verdict.status == "secure"
    chain = result.verdict.chain
    assert chain[-1].startswith("www.secure.test. A signed by ")
    assert any(line.startswith("chain.secure.test. CNAME signed by ") for line in chain)
    assert any(line.startswith("www.glueless.test. CNAME signed by ") for line in chain)
    assert any(line.startswith("glueless.test. DS ") for line in chain)


async def test_unsupported_ds_algorithm_is_insecure(hierarchy: Hierarchy) -> None:
    result = await check(hierarchy, "www.oldalgo.test")
    assert result.verdict.status == "insecure"
    assert result.verdict.reason == (
        "The DS records of oldalgo.test use only algorithm 12 (ECCGOST) with digest type 3, "
        "which I cannot check: validators treat oldalgo.test as unsigned (RFC 4035 §5.2)."
    )


async def test_wrong_trust_anchor_is_bogus_at_the_root(hierarchy: Hierarchy) -> None:
    result = await check(hierarchy, "www.secure.test", anchors=validate.BUILT_IN)
    assert result.verdict.status == "bogus"
    assert result.verdict.reason == (
        f"No key in the root's DNSKEY set ({hierarchy.root_key_tag} KSK) matches the trust "
        "anchor (20326, 38696): the anchor is out of date, or these are not the root "
        "servers it belongs to."
    )
    assert result.verdict.chain == []


async def test_dnskey_anchor_file(hierarchy: Hierarchy, tmp_path: Path) -> None:
    anchors = validate.read_anchors(hierarchy.anchor_file(tmp_path / "root.key", kind="DNSKEY"))
    assert anchors.keys and not anchors.ds
    result = await check(hierarchy, "www.secure.test", anchors=anchors)
    assert result.verdict.status == "secure"


async def test_no_verdict_when_the_trace_fails(hierarchy: Hierarchy) -> None:
    result = await check(hierarchy, "www.loop.test")
    assert result.verdict.status == "indeterminate"
    assert result.verdict.reason == (
        "I could not validate: No server of loop.test gave an answer or a referral, so the "
        "trace stops here."
    )
    reply = render("www.loop.test", result)
    assert reply.is_error
    assert "referred us back up to test" in plain(reply)  # the steps show where it broke


async def test_signatures_are_checked_off_the_event_loop(
    hierarchy: Hierarchy, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[threading.Thread] = []
    real = validate.judge

    def spy(*args: object) -> validate.Verdict:
        threads.append(threading.current_thread())
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(validate, "judge", spy)
    result = await check(hierarchy, "www.secure.test")
    assert result.verdict.status == "secure"
    assert threads and threads[0] is not threading.main_thread()


def test_built_in_anchors_are_iana_root_ksks() -> None:
    anchors = validate.BUILT_IN
    assert anchors.tags() == "20326, 38696"
    digests = {d.key_tag: d.digest.hex().upper() for d in anchors.ds}
    assert digests == {
        20326: "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D",
        38696: "683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16",
    }
    assert {(d.algorithm, d.digest_type) for d in anchors.ds} == {(8, 2)}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no DS or DNSKEY record for the root zone"),
        ("; only a comment\n", "no DS or DNSKEY record for the root zone"),
        ("com. 3600 IN DS 1 8 2 " + "00" * 32, "must be for the root zone, not com"),
        (". IN DS not a ds record", "anchors.txt: "),
    ],
)
def test_anchor_file_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate.parse_anchors(text, "anchors.txt")


def test_anchor_file_may_use_parentheses_and_comments() -> None:
    text = (
        "; the root's KSK, as BIND writes it\n"
        ". 172800 IN DS 20326 8 2 (\n"
        "    E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D ) ; KSK-2017\n"
    )
    assert validate.parse_anchors(text, "x").tags() == "20326"


def test_missing_anchor_file() -> None:
    with pytest.raises(ValueError, match="nonexistent"):
        validate.read_anchors("/nonexistent/root.key")


async def test_bogus_ds_whose_digest_is_wrong(hierarchy: Hierarchy) -> None:
    # Same key tag and algorithm as the zone's KSK: only the digest tells them apart.
    result = await check(hierarchy, "www.baddigest.test")
    assert result.verdict.status == "bogus"
    ksk = hierarchy.key_tag("baddigest.test.")
    assert result.verdict.reason is not None
    assert result.verdict.reason.startswith(
        f"The DS record of baddigest.test at test (key tag {ksk}, ECDSAP256SHA256, SHA-256) "
        "matches no DNSKEY of baddigest.test"
    )


def _records(zone: dns.zone.Zone, rdtype: dns.rdatatype.RdataType) -> list[dns.rrset.RRset]:
    return [
        dns.rrset.from_rdata_list(name, rdataset.ttl, list(rdataset))
        for name, rdataset in zone.iterate_rdatasets(rdtype)
    ]


def test_nsec_denials_that_do_not_prove_it(hierarchy: Hierarchy) -> None:
    zone = hierarchy.zones[dns.name.from_text("secure.test.")]
    nsecs = _records(zone, dns.rdatatype.NSEC)
    www = dns.name.from_text("www.secure.test.")
    nothing = dns.name.from_text("nothing.secure.test.")
    assert validate._nsec_proves(nsecs, nothing, dns.rdatatype.A, True, zone.origin)
    assert not validate._nsec_proves(nsecs, www, dns.rdatatype.A, True, zone.origin)
    assert not validate._nsec_proves(nsecs, www, dns.rdatatype.A, False, zone.origin)
    assert validate._nsec_proves(nsecs, www, dns.rdatatype.TXT, False, zone.origin)
    # Without the NSEC that covers the wildcard, a closer wildcard could have answered.
    covering_only = [r for r in nsecs if validate._covers(r.name, r[0].next, nothing)]
    assert not validate._nsec_proves(covering_only, nothing, dns.rdatatype.A, True, zone.origin)


def test_nsec3_denials_that_do_not_prove_it(hierarchy: Hierarchy) -> None:
    zone = hierarchy.zones[dns.name.from_text("hashed.test.")]
    nsec3s = _records(zone, dns.rdatatype.NSEC3)
    www = dns.name.from_text("www.hashed.test.")
    nothing = dns.name.from_text("nothing.hashed.test.")
    assert validate._nsec3_proves(nsec3s, nothing, dns.rdatatype.A, True)
    assert not validate._nsec3_proves(nsec3s, www, dns.rdatatype.A, True)
    assert not validate._nsec3_proves(nsec3s, www, dns.rdatatype.A, False)
    assert validate._nsec3_proves(nsec3s, www, dns.rdatatype.TXT, False)
    closer = validate._nsec3_covering(nsec3s, nothing)
    assert closer is not None
    without = [r for r in nsec3s if r[0] is not closer]
    assert not validate._nsec3_proves(without, nothing, dns.rdatatype.A, True)
