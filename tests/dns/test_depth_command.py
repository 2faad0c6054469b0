"""/dig +trace, +validate, +compare from the command text and the settings to the reply."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from chatbot.commands import COMMANDS, Invocation, execute
from chatbot.dns import command as dig
from chatbot.dns import compare, trace, validate
from chatbot.errors import UsageError
from chatbot.reply import plain
from chatbot.settings import Settings
from tests.dns.conftest import TIMEOUT, depth, dig_options
from tests.servers.dns_hierarchy import Hierarchy


def test_parse_depth_flags() -> None:
    assert dig.parse("example.com +trace").trace
    assert dig.parse("example.com MX +VALIDATE").validate
    query = dig.parse("+compare example.com AAAA")
    assert query.compare and not query.trace and not query.validate
    ordinary = dig.parse("example.com")
    assert not (ordinary.trace or ordinary.validate or ordinary.compare)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("example.com +trace +compare", "Use one of +trace, +validate and +compare at a time."),
        (
            "example.com +trace @1.1.1.1",
            "+trace chooses its servers itself (the root servers, the zone's servers, the "
            "configured resolvers), so it takes no @server.",
        ),
        ("example.com A MX +validate", "+validate takes one record type at a time."),
        ("example.com +compare +short", "+short does not combine with +compare."),
        (
            "example.com +follow",
            "+follow is not an option I know (try +short, +tcp, +dnssec, +trace, +validate, "
            "+compare).",
        ),
    ],
)
def test_parse_depth_refusals(text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        dig.parse(text)
    assert caught.value.message == message


async def test_run_trace(hierarchy: Hierarchy) -> None:
    reply = await dig.run("www.secure.test +trace", dig_options(hierarchy), depth(hierarchy))
    out = plain(reply)
    assert out.startswith("www.secure.test A +trace · NOERROR · 3 queries ·")
    assert "www.secure.test. 300 IN A 192.0.2.1" in out


async def test_run_validate_with_the_anchor_file(hierarchy: Hierarchy, anchor_file: Path) -> None:
    reply = await dig.run(
        "www.secure.test +validate", dig_options(hierarchy), depth(hierarchy, anchor_file)
    )
    assert plain(reply).startswith(":white_check_mark: www.secure.test A is secure")
    assert f"trust anchor: {anchor_file} ({hierarchy.root_key_tag})" in plain(reply)
    # Without the file, IANA's anchors do not match the local root.
    reply = await dig.run("www.secure.test +validate", dig_options(hierarchy), depth(hierarchy))
    assert plain(reply).startswith(":x: www.secure.test A is bogus")
    assert "trust anchor: IANA's root KSKs (20326, 38696)" in plain(reply)


async def test_run_compare(hierarchy: Hierarchy) -> None:
    reply = await dig.run("www.serials.test +compare", dig_options(hierarchy), depth(hierarchy))
    assert "The authoritative servers serve two serials" in plain(reply)


async def test_port_option_is_refused_with_the_walk(hierarchy: Hierarchy) -> None:
    # dig +trace -p moves every server the walk asks; here -p stays the port of a
    # named @server only (issue 10), so the walk's servers come from the settings.
    with pytest.raises(UsageError, match="-p applies only to a server you name with @server"):
        await dig.run(
            f"www.secure.test +trace -p {hierarchy.port}",
            dig_options(hierarchy),
            depth(hierarchy),
        )


def settings(hierarchy: Hierarchy, anchors: Path | None = None, **kw: object) -> Settings:
    values: dict[str, object] = {
        "dns_resolvers": hierarchy.resolvers(20),
        "dns_root_servers": (hierarchy.root,),
        "dns_compare_resolvers": hierarchy.resolvers(20, 21),
        "dnssec_trust_anchors": str(anchors) if anchors else None,
        "dns_timeout_seconds": TIMEOUT,
        "allow_private_targets": True,
    }
    values.update(kw)
    return Settings(**values)  # type: ignore[arg-type]


async def test_the_slash_command_end_to_end(hierarchy: Hierarchy, anchor_file: Path) -> None:
    configured = settings(hierarchy, anchor_file)
    reply = await execute(COMMANDS["dig"], Invocation("www.tampered.test +validate"), configured)
    out = plain(reply)
    assert out.startswith(":x: www.tampered.test A is bogus")
    assert "Re-sign www.tampered.test A in tampered.test" in out
    reply = await execute(COMMANDS["dig"], Invocation("www.lame.test +compare"), configured)
    assert "ns1.lame.test. 127.0.0.7" in plain(reply) and "is lame" in plain(reply)


async def test_the_trace_answers_before_the_command_deadline(hierarchy: Hierarchy) -> None:
    # One server never answers and the query timeout exceeds the whole deadline: the
    # trace stops itself in time and says how far it got, instead of a bare timeout.
    configured = settings(hierarchy, command_deadline_seconds=2.0, dns_timeout_seconds=5.0)
    reply = await execute(COMMANDS["dig"], Invocation("www.dead.test +trace"), configured)
    out = plain(reply)
    assert "The trace did not finish within 1.6 s; this is how far it got." in out
    assert "→ dead.test. NS ns1.dead.test. ns2.dead.test." in out


async def test_usage_lists_the_new_options() -> None:
    reply = await execute(COMMANDS["dig"], Invocation("help"), Settings())
    out = plain(reply)
    for option in ("[+trace]", "[+validate]", "[+compare]"):
        assert option in out
    for example in ("+trace", "+validate", "+compare"):
        assert any(e.endswith(example) for e in COMMANDS["dig"].examples)
    assert len(COMMANDS["dig"].usage_hint) <= 1000


def test_depth_options_from_settings(hierarchy: Hierarchy, anchor_file: Path) -> None:
    options = dig.depth_options(settings(hierarchy, anchor_file, command_deadline_seconds=10))
    assert [str(s) for s in options.roots] == [f"127.0.0.1#{hierarchy.port}"]
    assert len(options.compare_resolvers) == 2
    assert options.trust_anchors == str(anchor_file)
    assert options.deadline == 9.5


def test_default_servers_match_the_built_in_lists() -> None:
    defaults = Settings()
    assert defaults.dns_root_servers == tuple(trace.ROOT_SERVERS)
    assert defaults.dns_compare_resolvers == tuple(compare.PROVIDERS)
    assert defaults.dnssec_trust_anchors is None
    built = dig.default_depth()
    assert [s.address for s in built.roots] == list(defaults.dns_root_servers)


def test_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, hierarchy: Hierarchy
) -> None:
    anchors = hierarchy.anchor_file(tmp_path / "root.ds")
    monkeypatch.setenv("CHATBOT_DNS_ROOT_SERVERS", "127.0.0.1:5300, [::1]:5300")
    monkeypatch.setenv("CHATBOT_DNS_COMPARE_RESOLVERS", "9.9.9.9")
    monkeypatch.setenv("CHATBOT_DNSSEC_TRUST_ANCHORS", str(anchors))
    loaded = Settings()
    assert loaded.dns_root_servers == ("127.0.0.1:5300", "[::1]:5300")
    assert loaded.dns_compare_resolvers == ("9.9.9.9",)
    assert loaded.dnssec_trust_anchors == str(anchors)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("dns_root_servers", "a.root-servers.net", "is not an IP address"),
        ("dns_root_servers", "198.41.0.4:99999", "is not a port from 1 to 65535"),
        ("dns_root_servers", "", "give 1 to 32 servers, not 0"),
        ("dns_compare_resolvers", ",".join(["8.8.8.8"] * 33), "give 1 to 32 servers, not 33"),
        ("dnssec_trust_anchors", "/nonexistent/root.key", "nonexistent"),
    ],
)
def test_settings_refuse_bad_values(field: str, value: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**{field: value})  # type: ignore[arg-type]


def test_settings_refuse_a_trust_anchor_file_without_anchors(tmp_path: Path) -> None:
    path = tmp_path / "empty.key"
    path.write_text("; nothing here\n")
    with pytest.raises(ValidationError, match="no DS or DNSKEY record for the root zone"):
        Settings(dnssec_trust_anchors=str(path))


def test_built_in_anchor_is_used_without_a_file() -> None:
    assert dig.load_anchors(None) is validate.BUILT_IN
