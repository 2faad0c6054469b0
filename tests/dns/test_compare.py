"""+compare: resolvers and the zone's own servers asked at once, and what their answers say."""

from __future__ import annotations

import dns.message
import dns.name
import dns.rdatatype
import dns.rrset

from chatbot.dns import compare
from chatbot.dns.query import Exchange, Server, parse_server
from chatbot.dns.render_compare import render, table
from chatbot.reply import plain
from tests.dns.conftest import TIMEOUT, walk_options
from tests.servers.dns_hierarchy import Hierarchy


async def ask(
    hierarchy: Hierarchy, name: str, resolvers: tuple[int, ...] = (20, 21, 22), **kw: object
) -> compare.Comparison:
    options = compare.Options(
        tuple(parse_server(r) for r in hierarchy.resolvers(*resolvers)),
        walk_options(hierarchy, **kw),
    )
    return await compare.compare(dns.name.from_text(name), dns.rdatatype.A, options)


def said(comparison: compare.Comparison) -> dict[str, str]:
    return {
        row.server.address: compare.answer_of(row, comparison.name, comparison.rdtype)
        for row in comparison.rows
    }


async def test_all_agree(hierarchy: Hierarchy) -> None:
    comparison = await ask(hierarchy, "www.secure.test")
    assert comparison.zone == dns.name.from_text("secure.test.")
    assert said(comparison) == {
        "127.0.0.20": "192.0.2.1",
        "127.0.0.21": "192.0.2.1",
        "127.0.0.22": "192.0.2.1",
        "127.0.0.4": "192.0.2.1",
    }
    assert compare.findings(comparison, TIMEOUT) == ["All 4 servers agree."]
    lines = table(comparison)
    port = hierarchy.port
    assert lines[0].split() == ["server", "answer", "TTL", "serial", "AA"]
    assert lines[-1].split() == [
        "ns1.secure.test.",
        f"127.0.0.4#{port}",
        "192.0.2.1",
        "300",
        "2026112801",
        "yes",
    ]
    reply = render("www.secure.test", comparison, TIMEOUT)
    assert plain(reply).startswith(
        "www.secure.test A +compare · 3 resolvers, 1 authoritative server of secure.test. ·"
    )
    assert reply.summary == "www.secure.test A +compare: All 4 servers agree."


async def test_a_resolver_that_answers_differently(hierarchy: Hierarchy) -> None:
    comparison = await ask(hierarchy, "www.secure.test", resolvers=(20, 21, 22, 23))
    assert said(comparison)["127.0.0.23"] == "192.0.2.99"
    assert compare.findings(comparison, TIMEOUT) == [
        "1 of 5 servers answers differently from the others (192.0.2.1): "
        f"127.0.0.23#{hierarchy.port} says 192.0.2.99."
    ]


async def test_authoritative_servers_with_different_serials(hierarchy: Hierarchy) -> None:
    comparison = await ask(hierarchy, "www.serials.test")
    serials = {r.server.label: r.serial for r in comparison.rows if r.kind == "authoritative"}
    assert serials == {
        "ns1.serials.test.": 2026112801,
        "ns2.serials.test.": 2026112801,
        "ns3.serials.test.": 2026112801,
        "ns4.serials.test.": 2026112701,
    }
    assert compare.findings(comparison, TIMEOUT) == [
        "1 of 7 servers answers differently from the others (192.0.2.81): "
        f"ns4.serials.test. 127.0.0.16#{hierarchy.port} says 192.0.2.80.",
        "The authoritative servers serve two serials: 2026112801 (3) and 2026112701 (1): "
        "a secondary has not transferred the zone.",
    ]


async def test_lame_servers(hierarchy: Hierarchy) -> None:
    comparison = await ask(hierarchy, "www.lame.test")
    port = hierarchy.port
    assert compare.findings(comparison, TIMEOUT) == [
        "All 4 servers agree.",
        f"ns1.lame.test. 127.0.0.7#{port} is lame (answers REFUSED): it does not serve "
        "lame.test with authority.",
        f"ns2.lame.test. 127.0.0.8#{port} is lame (answers without AA): it does not serve "
        "lame.test with authority.",
    ]
    aa = {line.split()[0]: line.split()[-1] for line in table(comparison)[1:]}
    assert aa["ns2.lame.test."] == "no" and aa["ns3.lame.test."] == "yes"


async def test_servers_that_never_answer_are_listed(hierarchy: Hierarchy) -> None:
    comparison = await ask(hierarchy, "www.dead.test", resolvers=(20, 24))
    assert said(comparison)["127.0.0.24"] == "no answer"
    assert said(comparison)["127.0.0.11"] == "no answer"
    port = hierarchy.port
    assert compare.findings(comparison, TIMEOUT) == [
        "All 2 servers agree.",
        f"2 servers did not answer: 127.0.0.24#{port} (nothing within {TIMEOUT:g} s); "
        f"ns1.dead.test. 127.0.0.11#{port} (nothing within {TIMEOUT:g} s).",
    ]
    # The silent name server let the walk time out already: it is not asked twice.
    dead = hierarchy.servers["127.0.0.11"].queries
    assert dead.count(("www.dead.test.", "A")) >= 1
    assert ("dead.test.", "SOA") not in dead


async def test_queries_run_in_parallel_within_the_deadline(hierarchy: Hierarchy) -> None:
    # Four silent resolvers and a silent name server: done in about one timeout, not five.
    comparison = await ask(hierarchy, "www.dead.test", resolvers=(24, 24, 24, 24), deadline=3.0)
    silent = [r for r in comparison.rows if r.response is None]
    assert len(silent) == 5
    assert all(r.exchange is not None and r.exchange.timed_out for r in silent)


async def test_deadline_leaves_still_silent_servers_marked(hierarchy: Hierarchy) -> None:
    comparison = await ask(hierarchy, "www.secure.test", resolvers=(20, 24), deadline=0.1)
    assert said(comparison)["127.0.0.24"] == "no answer before the deadline"
    assert f"127.0.0.24#{hierarchy.port} (still silent at the deadline)" in " ".join(
        compare.findings(comparison, TIMEOUT)
    )


async def test_nxdomain_is_an_answer_to_compare(hierarchy: Hierarchy) -> None:
    comparison = await ask(hierarchy, "nothing.secure.test")
    assert set(said(comparison).values()) == {"NXDOMAIN"}
    assert all(r.serial == 2026112801 for r in comparison.rows if r.kind == "authoritative")


async def test_cname_answers_compare_the_name_itself(hierarchy: Hierarchy) -> None:
    # Resolvers follow the chain; the zone's server stops at its own CNAME.
    comparison = await ask(hierarchy, "chain.secure.test")
    assert set(said(comparison).values()) == {"CNAME www.glueless.test."}
    assert compare.findings(comparison, TIMEOUT) == ["All 4 servers agree."]


async def test_authoritative_servers_pass_the_address_policy(hierarchy: Hierarchy) -> None:
    comparison = await ask(hierarchy, "www.secure.test", allow_private=False)
    assert [r.kind for r in comparison.rows] == ["resolver"] * 3
    findings = compare.findings(comparison, TIMEOUT)
    assert findings[0] == "All 3 servers agree."
    assert findings[-1].startswith("I could not find the authoritative servers: ")


def test_answers_are_sorted_so_equal_answers_look_equal() -> None:
    name = dns.name.from_text("x.test.")
    rows = []
    for order in (["192.0.2.2", "192.0.2.1"], ["192.0.2.1", "192.0.2.2"]):
        response = dns.message.make_response(dns.message.make_query(name, "A"))
        response.answer.append(dns.rrset.from_text_list(name, 60, "IN", "A", order))
        rows.append(compare.Row(Server("192.0.2.53"), "resolver", Exchange(Server(""), response)))
    assert {compare.answer_of(r, name, dns.rdatatype.A) for r in rows} == {"192.0.2.1, 192.0.2.2"}


def test_public_resolvers_are_named() -> None:
    row = compare.Row(Server("9.9.9.9"), "resolver")
    assert row.name == "Quad9 9.9.9.9"
    assert set(compare.PROVIDERS.values()) == {"Google", "Cloudflare", "Quad9", "OpenDNS"}
