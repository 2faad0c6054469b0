"""Hostile DNS servers: a malformed message, a wrong query ID, an answer for another name,
a 64 KB answer, one byte a second. Each is one sentence, and the next resolver is asked."""

from __future__ import annotations

import time
from collections.abc import Iterator

import dns.message
import pytest

from chatbot.dns import command as dig
from chatbot.dns import query
from chatbot.reply import plain
from chatbot.slack import BLOCK_LIMIT, SECTION_LIMIT, blocks
from tests.servers.dns import HOSTILE, DNSServer


class Honest(DNSServer):
    def hostile(self, query: dns.message.Message, transport: str) -> bytes | None:
        return None


@pytest.fixture
def second() -> Iterator[DNSServer]:
    with Honest().running() as server:
        yield server


def options(*servers: DNSServer, timeout: float = 0.5) -> query.Options:
    return query.Options(
        resolvers=tuple(query.parse_server(s.address) for s in servers), timeout=timeout
    )


SENTENCES = {
    "malformed.test": "answered with something I could not read: a malformed DNS message.",
    "junk.test": "answered with something I could not read: a malformed DNS message.",
    "wrongid.test": "answered with something I could not read: an answer to another query "
    "(its ID or question differ).",
    "othername.test": "answered with something I could not read: an answer to another query "
    "(its ID or question differ).",
}


@pytest.mark.parametrize("name", sorted(SENTENCES))
@pytest.mark.parametrize("tcp", [False, True])
async def test_bad_answer_is_one_sentence(dns_server: DNSServer, name: str, tcp: bool) -> None:
    reply = await dig.run(name + (" +tcp" if tcp else ""), options(dns_server))
    assert reply.is_error
    server = f"127.0.0.1#{dns_server.port}"
    assert reply.summary == f"{name} A: {server} {SENTENCES[name]}"


@pytest.mark.parametrize("name", sorted(SENTENCES))
async def test_next_resolver_answers_after_a_bad_one(
    dns_server: DNSServer, second: DNSServer, name: str
) -> None:
    """The hostile server's sentence stays on record; the next resolver's answer is shown."""
    second.records = {**second.records, (name + ".", "A"): ["192.0.2.55"]}
    answers = await query.lookup(dig.parse(name), options(dns_server, second))
    assert answers[0].response is not None and answers[0].server.port == second.port
    assert answers[0].tried == [f"127.0.0.1#{dns_server.port} {SENTENCES[name]}"]
    assert "192.0.2.55" in plain(dig.rendering.render(dig.parse(name), answers))


async def test_64_kb_answer_fits_slack(dns_server: DNSServer) -> None:
    reply = await dig.run("huge.test TXT", options(dns_server, timeout=2))
    assert not reply.is_error
    assert ("tcp", "huge.test.", "TXT") in dns_server.queries
    records = next(part for part in reply.parts if part.kind == "code").lines
    assert len(records) == 1 + 245  # ";; ANSWER SECTION:" and every record
    made = blocks(reply)
    assert len(made) <= BLOCK_LIMIT
    assert all(len(b.get("text", {}).get("text", "")) <= SECTION_LIMIT for b in made)


async def test_one_byte_a_second_ends_at_the_timeout(dns_server: DNSServer) -> None:
    started = time.monotonic()
    reply = await dig.run("trickle.test", options(dns_server, timeout=1.0))
    elapsed = time.monotonic() - started
    assert (
        reply.summary == f"trickle.test A: No answer from 127.0.0.1#{dns_server.port} within 1 s."
    )
    # One timeout for UDP and the TCP retry together, not one each (generous for CI noise).
    assert elapsed < 1.9
    assert ("tcp", "trickle.test.", "A") in dns_server.queries


def test_every_hostile_name_is_tested() -> None:
    assert {n.rstrip(".") for n in HOSTILE} == {
        *SENTENCES,
        "huge.test",
        "trickle.test",
        "closed.test",
    }


@pytest.mark.parametrize(
    ("name", "at_once"),
    [("closed.test", False), ("example.test", True)],
    ids=["question-read-then-closed", "closed-at-once"],
)
async def test_a_server_that_accepts_and_closes_says_so(
    dns_server: DNSServer, name: str, at_once: bool
) -> None:
    """It accepted the connection: "closed the connection", never "could not connect"."""
    dns_server.tcp_closes_at_once = at_once
    for _ in range(20):  # closed before or after the question arrived: the same sentence
        reply = await dig.run(name + " +tcp", options(dns_server))
        assert reply.is_error
        server = f"127.0.0.1#{dns_server.port}"
        assert reply.summary == f"{name} A: {server} closed the connection without answering."
