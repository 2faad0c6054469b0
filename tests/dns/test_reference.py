"""+trace and +validate checked against BIND's own tools on the same local hierarchy.

`dig +trace` walks from the servers a recursive server names for the root and
looks up every name server's address with the system's resolver (never from
glue), so it is pointed at a resolver that names the root by its address
(127.0.0.25, "hints") and traced through `lab.`, whose name servers are named
by their addresses. `delv` validates with its own code, fetching through a
recursive server of the hierarchy (127.0.0.20) with the same trust anchor in
BIND's `trust-anchors { . static-ds ...; }` form. Both are skipped where
bind9-dnsutils is missing and fail in CI (`CI` set) instead.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import dns.name
import dns.rdatatype
import dns.rrset
import pytest

from chatbot.dns import trace, validate
from tests.dns.conftest import reference_tool, validate_options, walk_options
from tests.servers.dns_hierarchy import Hierarchy


async def output(*command: str) -> str:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(process.communicate(), 30)
    return out.decode()


def dig_steps(text: str) -> list[tuple[str, list[list[str]]]]:
    """(server that answered, its records as word lists) for each `;; Received` block."""
    blocks: list[tuple[str, list[list[str]]]] = []
    records: list[list[str]] = []
    for line in text.splitlines():
        found = re.match(r";; Received \d+ bytes from ([\d.]+)#", line)
        if found:
            blocks.append((found.group(1), records))
            records = []
        elif line.strip() and not line.startswith(";"):
            records.append(line.split())
    return blocks


async def dig_trace(
    hierarchy: Hierarchy, name: str, rdtype: str
) -> list[tuple[str, list[list[str]]]]:
    dig = reference_tool("dig")
    text = await output(
        dig, "+trace", "+time=2", "+tries=1", "@127.0.0.25", "-p", str(hierarchy.port), name, rdtype
    )
    blocks = dig_steps(text)
    assert blocks, text
    assert blocks[0][0] == "127.0.0.25"  # the root servers' names and addresses
    return blocks[1:]


async def our_trace(hierarchy: Hierarchy, name: str, rdtype: str) -> trace.Trace:
    return await trace.trace(
        dns.name.from_text(name), dns.rdatatype.from_text(rdtype), walk_options(hierarchy)
    )


def records(rrsets: list[dns.rrset.RRset], *types: str) -> list[list[str]]:
    return sorted(
        line.split()
        for rrset in rrsets
        if dns.rdatatype.to_text(rrset.rdtype) in types
        for line in rrset.to_text().splitlines()
    )


async def test_trace_matches_dig_step_by_step(hierarchy: Hierarchy) -> None:
    theirs = await dig_trace(hierarchy, "www.signed.lab", "A")
    ours = await our_trace(hierarchy, "www.signed.lab", "A")
    steps = ours.walks[0].steps
    assert [s.server.address for s in steps if s.server] == [server for server, _ in theirs]
    for step, (_, shown) in zip(steps[:-1], theirs[:-1], strict=True):
        assert step.referral is not None and step.response is not None
        ns = [r for r in shown if r[3] == "NS"]
        assert {r[0] for r in ns} == {step.referral.zone.to_text()}
        assert sorted(r[4] for r in ns) == [n.to_text() for n in step.referral.nameservers]
        # dig cuts the digest in groups and writes it in capitals.
        ds = sorted([*r[4:7], "".join(r[7:]).lower()] for r in shown if r[3] == "DS")
        assert ds and ds == sorted(r[4:] for r in records(step.response.authority, "DS"))
    answer = ours.response
    assert answer is not None
    assert sorted(r for r in theirs[-1][1] if r[3] == "A") == records(answer.answer, "A")


async def test_trace_of_a_missing_name_matches_dig(hierarchy: Hierarchy) -> None:
    theirs = await dig_trace(hierarchy, "nothing.signed.lab", "A")
    ours = await our_trace(hierarchy, "nothing.signed.lab", "A")
    assert ours.response is not None
    assert [s.server.address for w in ours.walks for s in w.steps if s.server] == [
        server for server, _ in theirs
    ]
    assert sorted(r for r in theirs[-1][1] if r[3] in ("SOA", "NSEC")) == records(
        ours.response.authority, "SOA", "NSEC"
    )


def delv_verdict(text: str) -> str:
    if "fully validated" in text:
        return "secure"
    if "unsigned answer" in text:
        return "insecure"
    assert "resolution failed" in text or "validating" in text, text
    return "bogus"


@pytest.mark.parametrize(
    ("name", "rdtype", "expected"),
    [
        ("www.secure.test", "A", "secure"),
        ("chain.secure.test", "A", "secure"),
        ("nothing.secure.test", "A", "secure"),
        ("secure.test", "TXT", "secure"),
        ("www.signed.lab", "A", "secure"),
        ("nothing.hashed.test", "A", "secure"),
        ("b.hashed.test", "A", "secure"),
        ("www.unsigned.test", "A", "insecure"),
        ("www.sub.hashed.test", "A", "insecure"),
        ("www.oldalgo.test", "A", "insecure"),
        ("www.expired.test", "A", "bogus"),
        ("www.mismatch.test", "A", "bogus"),
        ("www.baddigest.test", "A", "bogus"),
        ("www.nosig.test", "A", "bogus"),
        ("www.tampered.test", "A", "bogus"),
    ],
)
async def test_validation_verdicts_match_delv(
    hierarchy: Hierarchy, tmp_path: Path, name: str, rdtype: str, expected: str
) -> None:
    delv = reference_tool("delv")
    anchors = hierarchy.bind_anchor_file(tmp_path / "anchors.conf")
    text = await output(
        delv, "@127.0.0.20", "-p", str(hierarchy.port), "-a", str(anchors), "+root=.", name, rdtype
    )
    ours = await validate.validate(
        dns.name.from_text(name), dns.rdatatype.from_text(rdtype), validate_options(hierarchy)
    )
    assert (ours.verdict.status, delv_verdict(text)) == (expected, expected), text
