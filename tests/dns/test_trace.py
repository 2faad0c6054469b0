"""+trace's walk against a real local hierarchy: every step, every way a delegation breaks."""

from __future__ import annotations

import dns.name
import dns.rcode
import dns.rdatatype

from chatbot.dns import trace
from chatbot.dns.render_trace import render
from chatbot.reply import plain
from tests.dns.conftest import TIMEOUT, walk_options
from tests.servers.dns_hierarchy import Hierarchy


async def walk(hierarchy: Hierarchy, name: str, rdtype: str = "A", **kw: object) -> trace.Trace:
    return await trace.trace(
        dns.name.from_text(name), dns.rdatatype.from_text(rdtype), walk_options(hierarchy, **kw)
    )


def steps(result: trace.Trace) -> list[tuple[str, str | None, str | None]]:
    """(zone asked, address that answered, zone referred to) for every step."""
    return [
        (
            s.zone.to_text(),
            s.server.address if s.server else None,
            s.referral.zone.to_text() if s.referral else None,
        )
        for w in result.walks
        for s in w.steps
    ]


def answers(result: trace.Trace) -> list[str]:
    assert result.response is not None
    return [
        r.to_text()
        for w in result.walks
        if w.response is not None
        for r in w.response.answer
        if r.rdtype != dns.rdatatype.RRSIG
    ]


async def test_walks_from_the_root_to_the_authoritative_answer(hierarchy: Hierarchy) -> None:
    result = await walk(hierarchy, "www.secure.test")
    assert steps(result) == [
        (".", "127.0.0.1", "test."),
        ("test.", "127.0.0.2", "secure.test."),
        ("secure.test.", "127.0.0.4", None),
    ]
    assert answers(result) == ["www.secure.test. 300 IN A 192.0.2.1"]
    assert result.problem is None and result.queries == 3
    out = plain(render("www.secure.test", result))
    tag = hierarchy.key_tag("secure.test.")
    assert "1  .             127.0.0.1" in out
    assert f"→ secure.test. NS ns1.secure.test. · glue for all · DS {tag}" in out
    assert "3  secure.test.  ns1.secure.test. 127.0.0.4" in out
    assert "→ answer: 1 record, authoritative" in out
    assert "www.secure.test. 300 IN A 192.0.2.1" in out


async def test_every_query_goes_to_the_port_of_the_walk(hierarchy: Hierarchy) -> None:
    before = {a: len(s.queries) for a, s in hierarchy.servers.items()}
    await walk(hierarchy, "www.signed.lab")
    asked = {a for a, s in hierarchy.servers.items() if len(s.queries) > before[a]}
    assert asked == {"127.0.0.1", "127.0.0.2", "127.0.0.4"}


async def test_unsigned_delegation_says_so(hierarchy: Hierarchy) -> None:
    out = plain(render("www.unsigned.test", await walk(hierarchy, "www.unsigned.test")))
    assert "→ unsigned.test. NS ns1.unsigned.test. · glue for all · no DS (unsigned)" in out


async def test_glueless_delegation_is_resolved_by_walking_to_the_name_server(
    hierarchy: Hierarchy,
) -> None:
    result = await walk(hierarchy, "host.glueless.test")
    assert steps(result)[-1] == ("glueless.test.", "127.0.0.4", None)
    referral = result.walks[0].steps[1].referral
    assert referral is not None and referral.glued == frozenset()
    (lookup,) = result.walks[0].steps[-1].lookups
    assert lookup.name.to_text() == "ns.secure.test." and lookup.addresses == ["127.0.0.4"]
    assert answers(result) == ["host.glueless.test. 300 IN A 192.0.2.2"]
    out = plain(render("host.glueless.test", result))
    assert "→ glueless.test. NS ns.secure.test. · no glue" in out
    assert "~ ns.secure.test. had no glue: looked it up (2 queries): 127.0.0.4" in out


async def test_cname_chain_across_zones_is_followed(hierarchy: Hierarchy) -> None:
    result = await walk(hierarchy, "chain.secure.test")
    assert [w.name.to_text() for w in result.walks] == [
        "chain.secure.test.",
        "www.glueless.test.",
        "www.secure.test.",
    ]
    # Later walks start from the zone cuts the first one learnt, not from the root.
    assert [w.start.to_text() for w in result.walks] == [".", "test.", "secure.test."]
    assert answers(result) == [
        "chain.secure.test. 300 IN CNAME www.glueless.test.",
        "www.glueless.test. 300 IN CNAME www.secure.test.",
        "www.secure.test. 300 IN A 192.0.2.1",
    ]
    out = plain(render("chain.secure.test", result))
    assert "CNAME → www.glueless.test.: from the known servers of test." in out


async def test_lame_servers_are_skipped_with_a_sentence_each(hierarchy: Hierarchy) -> None:
    result = await walk(hierarchy, "www.lame.test")
    assert steps(result)[-1] == ("lame.test.", "127.0.0.9", None)
    out = plain(render("www.lame.test", result))
    port = hierarchy.port
    assert (
        f"! ns1.lame.test. 127.0.0.7#{port} answered REFUSED: it does not serve lame.test "
        "(a lame delegation). I tried the zone's next server." in out
    )
    assert (
        f"! ns2.lame.test. 127.0.0.8#{port} answered without the AA flag: it is not "
        "authoritative for lame.test (a lame delegation). I tried the zone's next server." in out
    )
    assert answers(result) == ["www.lame.test. 300 IN A 192.0.2.5"]


async def test_a_server_that_never_answers_is_passed_over(hierarchy: Hierarchy) -> None:
    result = await walk(hierarchy, "www.dead.test")
    last = result.walks[0].steps[-1]
    assert [f.server.address for f in last.failures] == ["127.0.0.11"]
    assert last.failures[0].timed_out
    assert answers(result) == ["www.dead.test. 300 IN A 192.0.2.6"]
    out = plain(render("www.dead.test", result))
    assert (
        f"3  dead.test.  ! No answer from ns1.dead.test. 127.0.0.11#{hierarchy.port} within "
        f"{TIMEOUT:g} s. I tried the zone's next server." in out
    )


async def test_referral_loop_stops_with_a_sentence(hierarchy: Hierarchy) -> None:
    result = await walk(hierarchy, "www.loop.test")
    assert result.response is None
    reply = render("www.loop.test", result)
    out = plain(reply)
    assert (
        f"ns1.loop.test. 127.0.0.10#{hierarchy.port} referred us back up to test instead of "
        "answering for loop.test: a referral loop." in out
    )
    assert "No server of loop.test gave an answer or a referral, so the trace stops here." in out
    assert reply.is_error


async def test_glueless_delegations_that_need_each_other_are_a_loop(
    hierarchy: Hierarchy,
) -> None:
    result = await walk(hierarchy, "www.cycle-a.test")
    assert result.response is None
    out = plain(render("www.cycle-a.test", result))
    assert (
        "Looking up ns.cycle-b.test leads back to itself (ns.cycle-b.test. → ns.cycle-a.test. "
        "→ ns.cycle-b.test.)" in out
    )
    assert result.queries < 10


async def test_depth_is_bounded(hierarchy: Hierarchy) -> None:
    name = ".".join("abcdefghijklmnopqrstuvwxyz") + ".deep.test"
    result = await walk(hierarchy, name, max_referrals=5)
    assert result.response is None
    assert len(result.walks[0].steps) == 6
    assert result.walks[0].problem == (
        f"Gave up after 5 referrals without an answer for {name}: "
        "the delegations go deeper than any real name needs."
    )


async def test_queries_are_bounded(hierarchy: Hierarchy) -> None:
    result = await walk(hierarchy, "host.glueless.test", max_queries=2)
    assert result.response is None
    assert result.queries == 2
    assert "Gave up after 2 queries (the limit for one command)." in plain(
        render("host.glueless.test", result)
    )


async def test_the_deadline_keeps_what_was_found(hierarchy: Hierarchy) -> None:
    result = await walk(hierarchy, "www.dead.test", timeout=5.0, deadline=1.5)
    assert result.problem == "The trace did not finish within 1.5 s; this is how far it got."
    assert steps(result)[:2] == [(".", "127.0.0.1", "test."), ("test.", "127.0.0.2", "dead.test.")]
    out = plain(render("www.dead.test", result))
    assert "→ dead.test. NS ns1.dead.test. ns2.dead.test." in out


async def test_referred_servers_pass_the_address_policy(hierarchy: Hierarchy) -> None:
    # The root is the operator's and trusted; test.'s servers on 127.0.0.x are not.
    tld = hierarchy.servers["127.0.0.2"].queries
    before = len(tld)
    result = await walk(hierarchy, "www.secure.test", allow_private=False)
    assert result.response is None
    assert steps(result) == [(".", "127.0.0.1", "test."), ("test.", None, None)]
    out = plain(render("www.secure.test", result))
    assert "ns1.test. resolves to 127.0.0.2, a loopback address, which I may not contact." in out
    assert len(tld) == before


async def test_nxdomain_and_nodata_end_the_walk(hierarchy: Hierarchy) -> None:
    missing = await walk(hierarchy, "nothing.secure.test")
    assert missing.response is not None and missing.response.rcode() == dns.rcode.NXDOMAIN
    out = plain(render("nothing.secure.test", missing))
    assert "nothing.secure.test does not exist (NXDOMAIN)." in out
    assert ";; AUTHORITY SECTION:" in out and "IN SOA ns1.secure.test." in out
    empty = plain(render("secure.test", await walk(hierarchy, "secure.test", "TXT")))
    assert "secure.test exists but has no TXT records (NODATA)." in empty


async def test_ds_is_asked_of_the_parent(hierarchy: Hierarchy) -> None:
    result = await walk(hierarchy, "secure.test", "DS")
    assert steps(result) == [(".", "127.0.0.1", "test."), ("test.", "127.0.0.2", None)]
    assert answers(result)[0].startswith(
        f"secure.test. 300 IN DS {hierarchy.key_tag('secure.test.')} 13 2 "
    )


async def test_tcp_only(hierarchy: Hierarchy) -> None:
    result = await walk(hierarchy, "www.secure.test", tcp=True)
    assert all(s.used_tcp for s in result.walks[0].steps)
    assert "(TCP)" in plain(render("www.secure.test", result))


async def test_dnssec_shows_the_signatures(hierarchy: Hierarchy) -> None:
    result = await walk(hierarchy, "www.secure.test")
    assert "RRSIG" not in plain(render("www.secure.test", result))
    assert "IN RRSIG A 13 3 300" in plain(render("www.secure.test", result, dnssec=True))


def test_root_servers_are_named() -> None:
    server = trace.root_server(trace.Server("198.41.0.4"))
    assert str(server) == "a.root-servers.net. 198.41.0.4"
    assert len(trace.ROOT_SERVERS) == 13
