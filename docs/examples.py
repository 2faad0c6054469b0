"""The answers shown in docs/commands.md, made again from real runs.

Each example runs its command through `chatbot.commands.execute`, as the
service and the CLI do, against the test suite's local servers
(tests/servers/): a DNS server and a signed DNS tree, RDAP and WHOIS servers,
TLS servers with a test CA, SMTP and HTTPS servers for /mail. Nothing leaves
this machine; 127.0.0.x stand in for the internet's servers, so ports,
timings, dates and keys change from run to run. The answer is written as
GitHub markdown looking as Slack shows it.

    uv run python docs/examples.py                 # print every example
    uv run python docs/examples.py tls-valid mail  # print some
    uv run python docs/examples.py --write         # replace them in docs/commands.md

In docs/commands.md each example sits between `<!-- example: NAME -->` and
`<!-- /example -->`; tests/test_docs.py holds those names to EXAMPLES.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script from docs/, so the checkout's root (for tests.servers) goes on
# the path before the imports below: hence E402 on them.
sys.path.insert(0, str(ROOT))

from chatbot import terminal  # noqa: E402
from chatbot.commands import COMMANDS, Invocation, execute  # noqa: E402
from chatbot.reply import Reply  # noqa: E402
from chatbot.settings import Settings  # noqa: E402

PAGE = ROOT / "docs" / "commands.md"
USER = "ada"


@dataclass
class Example:
    name: str
    line: str  # the slash command as typed
    world: str  # which local servers it needs (WORLDS)
    settings: dict[str, Any] = field(default_factory=dict)


EXAMPLES = [
    Example("hello", "/hello world", "dns"),
    Example("dig-mx", "/dig example.test MX", "dns"),
    Example("dig-cname", "/dig www.example.test", "dns"),
    Example("dig-short", "/dig -x 192.0.2.10 +short", "dns"),
    Example("dig-idn", "/dig 日本語.test", "dns"),
    Example("dig-nxdomain", "/dig nothing.test", "dns"),
    Example("dig-timeout", "/dig drop.test", "dns"),
    Example("dig-usage", "/dig example.test MX AAAA A TXT NS SOA CAA", "dns"),
    Example("dig-trace", "/dig www.lame.test +trace", "tree"),
    Example("dig-validate-secure", "/dig www.secure.test +validate", "tree"),
    Example("dig-validate-bogus", "/dig www.expired.test +validate", "tree"),
    Example("dig-compare", "/dig www.serials.test +compare", "tree"),
    Example("whois-domain", "/whois www.google.com", "registries"),
    Example("whois-address", "/whois 193.0.6.139", "registries"),
    Example("whois-as", "/whois AS15169", "registries"),
    # Port-43 WHOIS alone, from IANA via ARIN's ReferralServer to RIPE (see `port_43`).
    Example("whois-port-43", "/whois 193.0.6.139", "registries"),
    Example("tls-valid", "/tls {valid} --sni example.test +protocols", "tls"),
    Example("tls-broken", "/tls https://{broken}/cart --sni example.test", "tls"),
    Example("tls-refused", "/tls 203.0.113.80", "tls", {"allow_private_targets": False}),
    Example("mail", "/mail example.test dkim=weak", "mail"),
]


# --- the local servers, one world per kind of example ---------------------------------


@dataclass
class World:
    settings: dict[str, Any]
    names: dict[str, str] = field(default_factory=dict)  # {valid} in a line -> host:port
    whois: Any = None  # tests.servers.whois.World, for `port_43`


@contextlib.contextmanager
def dns_world() -> Iterator[World]:
    from tests.servers.dns import DNSServer

    with DNSServer().running() as server:
        yield World({"dns_resolvers": (server.address,), "dns_timeout_seconds": 1.0})


@contextlib.contextmanager
def tree_world() -> Iterator[World]:
    from tests.servers.dns_hierarchy import Hierarchy

    with tempfile.TemporaryDirectory() as directory, Hierarchy().running() as tree:
        anchors = tree.anchor_file(Path(directory) / "root.ds")
        yield World(
            {
                "dns_resolvers": tree.resolvers(20),
                "dns_root_servers": (tree.root,),
                "dns_compare_resolvers": tree.resolvers(20, 21, 22, 23),
                "dnssec_trust_anchors": str(anchors),
                "dns_timeout_seconds": 1.0,
            }
        )


@contextlib.contextmanager
def registries_world() -> Iterator[World]:
    from tests.servers.internet import internet

    with internet() as net:
        settings = net.settings(
            rdap_timeout_seconds=2.0,
            whois_timeout_seconds=2.0,
            whois_deadline_seconds=4.0,
            command_deadline_seconds=8.0,
        )
        yield World(settings.model_dump(), whois=net.whois)


@contextlib.contextmanager
def tls_world() -> Iterator[World]:
    from cryptography.hazmat.primitives.serialization import Encoding

    from tests.servers.tls import NOW, Authority, FileServer, TLSServer

    root = Authority("Demo Root CA")
    intermediate = Authority("Demo Intermediate CA", parent=root)
    valid = intermediate.issue(
        "example.test", "www.example.test", not_after=NOW + dt.timedelta(days=21, hours=2)
    )
    der = intermediate.cert.public_bytes(Encoding.DER)
    with (
        tempfile.TemporaryDirectory() as directory,
        FileServer({"/int.der": der}).running() as aia,
    ):
        broken = intermediate.issue(
            "shop.example.test",
            not_before=NOW - dt.timedelta(days=93),
            not_after=NOW - dt.timedelta(days=3),
            aia_url=aia.url("/int.der"),
        )
        ca_file = root.write_pem(Path(directory) / "ca.pem")
        with (
            TLSServer(valid).running() as good,
            TLSServer(broken, send_chain=False).running() as bad,
        ):
            yield World(
                {"tls_ca_file": str(ca_file)},
                {"valid": f"127.0.0.1:{good.port}", "broken": f"127.0.0.1:{bad.port}"},
            )


@contextlib.contextmanager
def mail_world() -> Iterator[World]:
    from tests.servers import mail_dns
    from tests.servers.dns_hierarchy import Hierarchy
    from tests.servers.mail_dns import EXPIRED, PLAIN, POLICY, MailDNSServer
    from tests.servers.mail_https import Page, PolicyServers
    from tests.servers.smtp import Farm, Scenario
    from tests.servers.tls import NOW, Authority

    root = Authority("Mail Test Root CA")
    good = root.issue(*mail_dns.GOOD_NAMES)
    expired = root.issue(
        "mx1.example.test",
        not_before=NOW - dt.timedelta(days=100),
        not_after=NOW - dt.timedelta(days=2),
    )
    records = mail_dns.zone(good.cert)
    # One domain with a problem or a warning in most checks.
    records.update(
        {
            ("example.test.", "MX"): ["10 mx1.example.test.", "20 mx2.example.test."],
            ("mx1.example.test.", "A"): [EXPIRED],
            ("mx2.example.test.", "CNAME"): ["relay.example.test."],
            ("relay.example.test.", "A"): [PLAIN],
            ("example.test.", "TXT"): [
                '"v=spf1 include:l1.lookups.test include:l2.lookups.test ?all"'
            ],
            ("_dmarc.example.test.", "TXT"): [
                '"v=DMARC1; p=none; rua=mailto:dmarc@reports.example.net"'
            ],
            ("_mta-sts.example.test.", "TXT"): ['"v=STSv1; id=2024"'],
            ("mta-sts.example.test.", "A"): [POLICY],
        }
    )
    farm = Farm([Scenario(EXPIRED, "tls", expired), Scenario(PLAIN, "plain")])
    policy = "version: STSv1\nmode: testing\nmx: mx1.example.test\nmax_age: 86400\n"
    https = PolicyServers(
        [(POLICY, root.issue("mta-sts.example.test"))],
        {"mta-sts.example.test": Page(policy.encode())},
    )
    tree = Hierarchy(mail_dns.tree(records))
    server = MailDNSServer(records)
    with (
        tempfile.TemporaryDirectory() as directory,
        server.running(),
        farm.running(),
        https.running(),
        tree.running(),
    ):
        ca_file = root.write_pem(Path(directory) / "ca.pem")
        anchors = tree.anchor_file(Path(directory) / "root.ds")
        yield World(
            {
                "dns_resolvers": (server.address,),
                "target_resolvers": (server.address,),
                "dns_timeout_seconds": 1.0,
                "tls_ca_file": str(ca_file),
                "smtp_port": farm.port,
                "smtp_timeout_seconds": 2.0,
                "mail_https_port": https.port,
                "dns_root_servers": (tree.root,),
                "dnssec_trust_anchors": str(anchors),
            }
        )


WORLDS: dict[str, Callable[[], contextlib.AbstractContextManager[World]]] = {
    "dns": dns_world,
    "tree": tree_world,
    "registries": registries_world,
    "tls": tls_world,
    "mail": mail_world,
}


# --- running them, and writing the answers as Slack shows them ------------------------


async def port_43(words: str, world: World) -> Reply:
    """/whois by port-43 WHOIS alone, the way the service falls back to it when RDAP fails.

    The local WHOIS servers stand at 127.0.0.x; `aliases` tells the client which
    well-known server each one is (ARIN wants `n + address`), which no setting
    does, so this runs the WHOIS client and the renderer rather than `execute`.
    """
    from chatbot.registration import whois
    from chatbot.registration.command import parse
    from chatbot.registration.render import render

    servers = world.whois
    options = whois.Options(
        server=servers.iana.host,
        port=servers.net.port,
        timeout=2.0,
        deadline=5.0,
        allow_private=True,
        aliases=servers.aliases,
    )
    target = parse(words)
    return render(target, await whois.lookup(target, options))


async def answer(example: Example, world: World) -> tuple[str, Reply]:
    line = example.line.format(**world.names)
    name, _, words = line.removeprefix("/").partition(" ")
    if example.name == "whois-port-43":
        return line, await port_43(words, world)
    values: dict[str, Any] = {
        "slack_signing_secret": "examples",
        "allow_private_targets": True,
        "command_deadline_seconds": 8.0,
        **world.settings,
        **example.settings,
    }
    reply = await execute(COMMANDS[name], Invocation(words, user_name=USER), Settings(**values))
    from chatbot.tls import check

    await check.settle()  # /tls and /mail leave the AIA fetch's client to close
    return line, reply


MARKDOWN = {"1": "**", "3": "*", "9": "~~"}
EMOJI = {symbol: f":{name}:" for name, (symbol, _) in terminal.SYMBOLS.items()}
COLOURS = {colour for _, colour in terminal.SYMBOLS.values()}
_SPECIAL = re.compile(r"([\\*_`~\[\]<])")


def _markdown(line: str) -> str:
    """One line of mrkdwn as GitHub markdown that looks as Slack shows it."""
    out: list[str] = []
    marks: list[str] = []  # open now, outermost first
    for text, styles in terminal.segments(line):
        if not text:
            continue
        wanted = [MARKDOWN[style] for style in styles if style in MARKDOWN]
        same = 0
        while same < min(len(marks), len(wanted)) and marks[same] == wanted[same]:
            same += 1
        out += reversed(marks[same:])
        out += wanted[same:]
        marks = wanted
        if styles and styles[-1] in COLOURS:
            out.append(EMOJI.get(text, text))
        elif terminal.CODE_STYLE in styles:
            out.append(f"`{text}`")
        else:
            out.append(_SPECIAL.sub(r"\\\1", text))
    out += reversed(marks)
    return "".join(out)


def slack_view(reply: Reply) -> str:
    """The reply as a markdown block quote: sentences, code blocks and small print."""
    lines: list[str] = []
    for part in reply.parts or ():
        if part.kind == "code":
            lines += ["```", *part.lines, "```"]
        else:
            lines += [_markdown(line) + "\\" for line in part.text.split("\n")]
    if not reply.parts:
        lines.append(_markdown(reply.summary))
    if lines and lines[-1].endswith("\\"):
        lines[-1] = lines[-1][:-1]
    # A hard break before a code block would show as a stray backslash.
    lines = [
        line[:-1]
        if line.endswith("\\") and index + 1 < len(lines) and lines[index + 1] == "```"
        else line
        for index, line in enumerate(lines)
    ]
    return "\n".join("> " + line if line else ">" for line in lines)


def block(line: str, reply: Reply) -> str:
    return f"```\n{line}\n```\n\n{slack_view(reply)}\n"


async def make(names: list[str]) -> dict[str, str]:
    wanted = [e for e in EXAMPLES if not names or e.name in names]
    made: dict[str, str] = {}
    for kind, open_world in WORLDS.items():
        todo = [e for e in wanted if e.world == kind]
        if not todo:
            continue
        with open_world() as world:
            for example in todo:
                line, reply = await answer(example, world)
                made[example.name] = block(line, reply)
    return made


MARKED = re.compile(r"(<!-- example: ([\w-]+) -->\n)(.*?)(<!-- /example -->)", re.DOTALL)


def write(made: dict[str, str]) -> list[str]:
    """Replace the examples in docs/commands.md; returns the names replaced."""
    page = PAGE.read_text(encoding="utf-8")
    done: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group(2)
        if name not in made:
            return match.group(0)
        done.append(name)
        return f"{match.group(1)}{made[name]}{match.group(4)}"

    PAGE.write_text(MARKED.sub(replace, page), encoding="utf-8")
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help=f"examples: {' '.join(e.name for e in EXAMPLES)}")
    parser.add_argument("--write", action="store_true", help="replace them in docs/commands.md")
    args = parser.parse_args()
    unknown = set(args.names) - {e.name for e in EXAMPLES}
    if unknown:
        parser.error(f"no such example: {', '.join(sorted(unknown))}")
    made = asyncio.run(make(args.names))
    if args.write:
        replaced = write(made)
        print(f"replaced {len(replaced)} examples in {PAGE.relative_to(ROOT)}", file=sys.stderr)
        return 0
    for name, text in made.items():
        print(f"<!-- example: {name} -->\n{text}<!-- /example -->\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
