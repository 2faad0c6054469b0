from __future__ import annotations

import dns.rdatatype
import pytest

from chatbot.commands import COMMANDS, Invocation, execute
from chatbot.dns import command as dig
from chatbot.dns import query
from chatbot.errors import TargetRefused, UsageError
from chatbot.reply import plain
from chatbot.settings import Settings
from chatbot.slack import BLOCK_LIMIT, SECTION_LIMIT, blocks
from tests.servers.dns import DNSServer


def options(
    server: DNSServer, *, allow_private: bool = True, timeout: float = 0.5
) -> query.Options:
    return query.Options(
        resolvers=(query.parse_server(server.address),),
        timeout=timeout,
        allow_private=allow_private,
    )


async def run(server: DNSServer, text: str, **kw: object) -> str:
    reply = await dig.run(text, options(server, **kw))  # type: ignore[arg-type]
    return plain(reply)


# --- parsing ---------------------------------------------------------------


def test_parse_defaults_to_a() -> None:
    query = dig.parse("example.com")
    assert query.name.to_text() == "example.com."
    assert query.types == (dns.rdatatype.A,)
    assert (query.server, query.port, query.short, query.tcp) == (None, None, False, False)


def test_parse_any_order_and_case() -> None:
    query = dig.parse("+short mx @1.1.1.1 Example.COM aaaa -p 5353 +TCP")
    assert query.types == (dns.rdatatype.MX, dns.rdatatype.AAAA)
    assert query.server == "1.1.1.1"
    assert query.port == 5353
    assert query.short and query.tcp
    assert query.name.to_text() == "Example.COM."


def test_parse_reverse_ipv4_and_ipv6() -> None:
    assert dig.parse("-x 8.8.8.8").name.to_text() == "8.8.8.8.in-addr.arpa."
    query = dig.parse("-x 2001:db8::1")
    assert query.name.to_text().endswith(".8.b.d.0.1.0.0.2.ip6.arpa.")
    assert query.types == (dns.rdatatype.PTR,)


def test_parse_idn_shows_both_forms() -> None:
    query = dig.parse("日本語.jp")
    assert query.name.to_text() == "xn--wgv71a119e.jp."
    assert query.shown == "日本語.jp (xn--wgv71a119e.jp)"
    assert dig.parse("例え.テスト").name.to_text() == "xn--r8jz45g.xn--zckzah."


def test_parse_mail_address_uses_its_domain() -> None:
    assert dig.parse("ada@example.com MX").name.to_text() == "example.com."


@pytest.mark.parametrize("link", ["https://example.com", "http://Example.com:8080/a?b=c"])
def test_parse_link_uses_its_host(link: str) -> None:
    assert dig.parse(link).name.to_text().lower() == "example.com."


def test_parse_all_listed_types() -> None:
    listed = sorted(query.TYPES)
    for start in range(0, len(listed), dig.MAX_TYPES):
        some = listed[start : start + dig.MAX_TYPES]
        parsed = dig.parse(f"example.com {' '.join(some).lower()}")
        assert [dns.rdatatype.to_text(t) for t in parsed.types] == some


def test_at_most_six_types_in_one_dig() -> None:
    """Issue 10: one /dig naming all 25 types sent 25 queries."""
    assert len(dig.parse("example.com A AAAA MX TXT NS SOA").types) == 6
    assert len(dig.parse("example.com A AAAA MX TXT NS SOA a mx -t A").types) == 6
    with pytest.raises(UsageError, match=r"That is 7 record types; one /dig asks for at most 6\."):
        dig.parse("example.com A AAAA MX TXT NS SOA CAA")
    with pytest.raises(UsageError, match="That is 25 record types"):
        dig.parse("example.com " + " ".join(query.TYPES))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("example.com MXX", "MXX is not a record type I know."),
        ("MXX example.com", "MXX is not a record type I know."),
        ("example.com -t MXX", "MXX is not a record type I know."),
        ("example.com ANY", "ANY is a record type I do not look up"),
        ("example.com -t axfr", "AXFR is a record type I do not look up"),
        ("example.com mx2", "mx2 is not a record type I know."),
    ],
)
def test_a_mistyped_type_is_called_a_type(text: str, message: str) -> None:
    """Issue 9: `/dig example.com MXX` said "give one name, not 2"."""
    with pytest.raises(UsageError) as caught:
        dig.parse(text)
    assert caught.value.message.startswith(message)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a.com b.com", "not 2"),
        ("-x nothing", "not an IP address"),
        ("-p 99999 example.com", "not a port"),
        ("-p", "needs a value"),
        ("example.com +frobnicate", "+frobnicate"),
        ("example.com -q", "-q"),
        ("-t ANY example.com", "ANY is a record type I do not look up"),
        ("-x 8.8.8.8 example.com", "not both"),
        ("exa mple..com", "exa is not a record type I know"),
        ("exa.mple ex.ample", "not 2"),
        ("bad..name", "not a valid domain name"),
        ("☃.com", "not a valid internationalised name"),
    ],
)
def test_parse_rejects(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("+", r"\+")):
        dig.parse(text)


@pytest.mark.parametrize(
    ("spec", "address", "port"),
    [
        ("8.8.8.8", "8.8.8.8", 53),
        ("127.0.0.1:5353", "127.0.0.1", 5353),
        ("[2001:db8::1]:5353", "2001:db8::1", 5353),
        ("2001:db8::1", "2001:db8::1", 53),
    ],
)
def test_parse_server(spec: str, address: str, port: int) -> None:
    server = query.parse_server(spec)
    assert (server.address, server.port) == (address, port)


def test_parse_server_rejects_names() -> None:
    with pytest.raises(ValueError, match=r"dns\.google is not an IP address"):
        query.parse_server("dns.google")


# --- against a real local server -------------------------------------------


async def test_answer_section_in_zone_file_format(dns_server: DNSServer) -> None:
    out = await run(dns_server, "example.test MX")
    assert "example.test MX · NOERROR ·" in out
    assert ";; ANSWER SECTION:" in out
    assert "example.test. 300 IN MX 10 mail.example.test." in out
    assert "example.test. 300 IN MX 20 backup.example.test." in out
    assert "flags: qr aa rd ra" in out or "flags: qr rd ra" in out


async def test_several_types_in_one_command(dns_server: DNSServer) -> None:
    out = await run(dns_server, "example.test A AAAA")
    assert "example.test. 300 IN A 192.0.2.10" in out
    assert "example.test. 300 IN AAAA 2001:db8::10" in out


async def test_short_gives_only_data(dns_server: DNSServer) -> None:
    out = await run(dns_server, "example.test MX +short")
    assert sorted(out.splitlines()) == ["10 mail.example.test.", "20 backup.example.test."]


async def test_cname_chain_is_shown(dns_server: DNSServer) -> None:
    out = await run(dns_server, "www.example.test")
    assert "www.example.test. 300 IN CNAME example.test." in out
    assert "example.test. 300 IN A 192.0.2.10" in out


async def test_nxdomain_sentence_and_authority(dns_server: DNSServer) -> None:
    reply = await dig.run("nothing.test", options(dns_server))
    out = plain(reply)
    assert "nothing.test does not exist (NXDOMAIN)." in out
    assert ";; AUTHORITY SECTION:" in out
    assert "test. 300 IN SOA ns1.test. hostmaster.test." in out
    assert not reply.is_error  # NXDOMAIN is an answer


async def test_nodata_sentence(dns_server: DNSServer) -> None:
    out = await run(dns_server, "example.test CAA")
    assert "example.test exists but has no CAA records (NODATA)." in out


@pytest.mark.parametrize(
    ("name", "sentence"),
    [("servfail.test", "(SERVFAIL)"), ("refused.test", "(REFUSED)")],
)
async def test_failure_rcodes_get_a_sentence(
    dns_server: DNSServer, name: str, sentence: str
) -> None:
    out = await run(dns_server, name)
    assert sentence in out


async def test_timeout_is_one_sentence(dns_server: DNSServer) -> None:
    reply = await dig.run("drop.test", options(dns_server, timeout=0.2))
    assert reply.is_error
    assert f"No answer from 127.0.0.1#{dns_server.port} within 0.2 s." in plain(reply)


async def test_next_resolver_is_tried_after_a_timeout(dns_server: DNSServer) -> None:
    with DNSServer(records={}).running() as silent:
        silent.answer = lambda query: None  # type: ignore[method-assign]
        opts = query.Options(
            resolvers=(query.parse_server(silent.address), query.parse_server(dns_server.address)),
            timeout=0.2,
            allow_private=True,
        )
        out = plain(await dig.run("example.test", opts))
    assert "192.0.2.10" in out
    assert silent.queries and dns_server.queries


async def test_truncated_udp_answer_falls_back_to_tcp(dns_server: DNSServer) -> None:
    out = await run(dns_server, "big.test TXT")
    assert [q[0] for q in dns_server.queries] == ["udp", "tcp"]
    assert "(TCP)" in out
    assert '"record 299' in out


async def test_plus_tcp_uses_tcp_only(dns_server: DNSServer) -> None:
    await run(dns_server, "example.test +tcp")
    assert [q[0] for q in dns_server.queries] == ["tcp"]


async def test_reverse_lookups(dns_server: DNSServer) -> None:
    assert "PTR example.test." in await run(dns_server, "-x 192.0.2.10")
    assert "PTR example.test." in await run(dns_server, "-x 2001:db8::10")


async def test_idn_query_goes_out_as_a_label(dns_server: DNSServer) -> None:
    out = await run(dns_server, "日本語.test")
    assert "日本語.test (xn--wgv71a119e.test)" in out
    assert "192.0.2.20" in out
    assert dns_server.queries[0][1] == "xn--wgv71a119e.test."


async def test_at_server_by_name_and_port(dns_server: DNSServer) -> None:
    opts = query.Options(
        resolvers=(query.parse_server("192.0.2.1"),), timeout=0.5, allow_private=True
    )
    reply = await dig.run(f"example.test @localhost -p {dns_server.port}", opts)
    assert "192.0.2.10" in plain(reply)
    assert f"localhost 127.0.0.1#{dns_server.port}" in plain(reply)


@pytest.mark.parametrize(
    "server", ["127.0.0.1", "localhost", "169.254.169.254", "[::ffff:169.254.169.254]", "10.1.2.3"]
)
async def test_private_at_server_is_refused(dns_server: DNSServer, server: str) -> None:
    with pytest.raises(TargetRefused):
        await dig.run(
            f"example.test @{server} -p {dns_server.port}", options(dns_server, allow_private=False)
        )
    assert dns_server.queries == []


async def test_configured_resolvers_are_trusted(dns_server: DNSServer) -> None:
    # The operator's resolver is on loopback; the policy is about user targets.
    out = await run(dns_server, "example.test", allow_private=False)
    assert "192.0.2.10" in out


async def test_long_answer_is_cut_to_slack_limits_with_a_count() -> None:
    # A long owner name is compressed on the wire but repeated on every line,
    # so a thousand records fit one TCP message and overflow a Slack message.
    owner = ".".join(["a" * 60] * 3) + ".many.test."
    records = {(owner, "TXT"): [f'"{i:04d}"' for i in range(1000)]}
    with DNSServer(records=records).running() as server:
        reply = await dig.run(f"{owner} TXT +tcp", options(server))
    made = blocks(reply)
    assert len(made) <= BLOCK_LIMIT
    assert all(len(b["text"]["text"]) <= SECTION_LIMIT for b in made if b["type"] == "section")
    shown = sum(b["text"]["text"].count('"') // 2 for b in made if b["type"] == "section")
    note = made[-1]["elements"][0]["text"]
    left = int(note.split()[1])
    assert note == f"… {left} records left out to fit Slack."
    assert shown + left == 1000


# --- -p belongs to @server (issue 10) ------------------------------------------


def test_port_without_at_server_is_a_usage_error() -> None:
    for text in ("example.com -p 6379", "example.com -p 6379 +tcp", "-p 53 example.com"):
        with pytest.raises(UsageError) as caught:
            dig.parse(text)
        assert caught.value.message == "-p applies only to a server you name with @server."


@pytest.mark.parametrize("transport", ["", "+tcp"])
async def test_port_cannot_point_the_configured_resolver_elsewhere(
    dns_server: DNSServer, transport: str
) -> None:
    """With the configured resolver on 127.0.0.1, `-p` once sent DNS bytes to any port there."""
    with DNSServer().running() as other_port:
        reply = await execute(
            COMMANDS["dig"],
            Invocation(f"example.test -p {other_port.port} {transport}"),
            Settings(dns_resolvers=(dns_server.address,), dns_timeout_seconds=0.5),
        )
        assert reply.is_usage
        assert plain(reply).startswith("-p applies only to a server you name with @server.")
        # The query is not sent anywhere else either, nor quietly to port 53 of the host.
        query_options = options(dns_server)
        await dig.lookup(
            query.Query(dig.parse("example.test").name, "example.test", (dns.rdatatype.A,), port=9),
            query_options,
        )
    assert other_port.queries == []
    assert [q[1] for q in dns_server.queries] == ["example.test."]


@pytest.mark.parametrize(
    ("text", "server", "port"),
    [
        ("example.com @1.1.1.1", "1.1.1.1", None),
        ("example.com @1.1.1.1 -p 5353", "1.1.1.1", 5353),
        ("example.com @127.0.0.1:5353", "127.0.0.1", 5353),
        ("example.com @[2001:db8::1]:5353", "2001:db8::1", 5353),
        ("example.com @[2001:db8::1]", "2001:db8::1", None),
        ("example.com @2001:db8::1", "2001:db8::1", None),
        ("example.com @Dns.Example.", "Dns.Example", None),
        ("example.com @bücher.example", "xn--bcher-kva.example", None),
    ],
)
def test_parse_at_server_forms(text: str, server: str, port: int | None) -> None:
    parsed = dig.parse(text)
    assert (parsed.server, parsed.port) == (server, port)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("example.com @", "@ needs a value"),
        ("example.com @[::1", "opens a [ that is never closed"),
        ("example.com @fe80::1%eth0", "zone id"),
        ("example.com @1.1.1.1:5353 -p 53", "Give the port of @server once"),
        ("example.com @https://dns.example", "is not a server name or address"),
        ("example.com @1.1.1.1 -p ²", "² is not a port number"),
        ("example.com @1.1.1.1 -p ５３", "５３ is not a port number"),  # noqa: RUF001
        ("example.com @1.1.1.1 -p " + "9" * 4000, "is not a port number"),
        ("example.com @1.1.1.1 -p 0", "0 is not a port number"),
        ("example.com @1.1.1.1 -p -1", "-1 is not a port number"),
        ("example.com @1.1.1.1 -p 65536", "65536 is not a port number"),
        ("8.8.8.8", "8.8.8.8 is an IP address; for its name, use -x 8.8.8.8."),
        ("-x fe80::1%eth0", "zone id"),
    ],
)
def test_parse_refuses_servers_and_ports(text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        dig.parse(text)
    assert message in caught.value.message


def test_a_known_type_that_is_not_offered_is_told_apart() -> None:
    with pytest.raises(UsageError) as caught:
        dig.parse("example.com TYPE65535")
    assert caught.value.message == "TYPE65535 is a record type I do not look up."
    with pytest.raises(UsageError) as caught:
        dig.parse("example.com IXFR")
    assert "meta types such as ANY and AXFR" in caught.value.message
