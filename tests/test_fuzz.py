"""Every command, any text: an answer every time (issue 9).

Hypothesis makes command text for EVERY command in the registry (a command
added later is fuzzed without touching this file): braces and format specs,
control characters, 100,000-character texts, bidi marks and joiners, emoji,
invalid punycode, labels and names over DNS's limits, ports out of range or
in other digits, IPv6 zone ids, `@` forms, unbalanced brackets, each
command's declared options with and without values, mixed with plausible
input for the local servers. It runs (a) through `commands.execute` and
(b) through the HTTP route with signed requests: in-process through
`httpx.ASGITransport`, and a smaller run against uvicorn.

A case fails on: the internal-error answer, an exception, an HTTP 5xx, a
message over Slack's limits, an answer later than the command deadline plus
one second, or a host-name lookup by the system resolver (target names must
go to `target_resolvers`, the local DNS server). Every connection to an
address off loopback is refused on the spot (the fuzz may name 10.0.0.0 and
private targets are allowed), so nothing ever leaves this machine.

Profiles: `ci` (the default: a bounded, derandomized run) and `long`
(`HYPOTHESIS_PROFILE=long uv run pytest tests/test_fuzz.py`: thousands of
random examples per command).
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from itertools import count
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given
from hypothesis import settings as profile
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from chatbot import slack
from chatbot.commands import COMMANDS, Command, Invocation, execute
from chatbot.errors import ChatbotError
from chatbot.reply import Reply, plain
from chatbot.settings import Settings
from chatbot.tls.check import settle
from chatbot.web import create_app
from tests.servers.internet import Internet, internet
from tests.servers.service import serving
from tests.slackreq import block_actions, form, headers, interaction, message_action

profile.register_profile(
    "ci",
    # Per command through execute; the HTTP runs take a third and a tenth of it.
    max_examples=int(os.environ.get("CHATBOT_FUZZ_EXAMPLES", "300")),
    derandomize=True,
    database=None,
    # Our own timing check is the one that counts (the command deadline + 1 s).
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
profile.register_profile(
    "long",
    max_examples=3000,
    derandomize=False,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
profile.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

INTERNAL_ERROR = ChatbotError().message

# --- nothing leaves loopback ----------------------------------------------------------


class Guard:
    """A process-wide audit hook, active only while a fuzz case runs.

    Audit hooks cannot be removed, so this one is installed once and does
    nothing unless `active`.
    """

    def __init__(self) -> None:
        self.active = False
        self.lookups: list[str] = []  # host names the system resolver was asked for
        self.refused: list[str] = []  # connections off loopback, refused
        sys.addaudithook(self._hook)

    @staticmethod
    def _local(host: object) -> bool:
        if isinstance(host, bytes):
            host = host.decode("ascii", "replace")
        if host is None or host in ("", "localhost"):
            return True
        try:
            address = ipaddress.ip_address(str(host).split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        # Linux connects the unspecified address to the local host.
        return address.is_loopback or address.is_unspecified

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.active:
            return
        if event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex"):
            host = args[0]
            if self._local(host):
                return
            try:
                ipaddress.ip_address(str(host).split("%", 1)[0])
            except ValueError:
                self.lookups.append(str(host))
                raise socket.gaierror(
                    socket.EAI_NONAME, "the fuzz allows no system lookups"
                ) from None
        elif event in ("socket.connect", "socket.sendto"):
            address = args[1]
            if isinstance(address, tuple) and not self._local(address[0]):
                self.refused.append(str(address[0]))
                raise PermissionError(errno.EACCES, "the fuzz stays on loopback")

    def run(self) -> _Active:
        return _Active(self)


class _Active:
    def __init__(self, guard: Guard) -> None:
        self.guard = guard

    def __enter__(self) -> None:
        self.guard.lookups.clear()
        self.guard.active = True

    def __exit__(self, *exc: object) -> None:
        self.guard.active = False


GUARD = Guard()

# --- what a user could type -----------------------------------------------------------

HOSTILE = [
    # str.format and %-format specs
    "{", "}", "{0}", "{x!r}", "{__class__}", "{a.b[c]}", "{:>99999}", "%s", "%(x)s", "%d", "%",
    # control characters, bidi marks, joiners, odd spaces
    "\x00", "\x01", "\x07", "\x1b[31m", "\r", "\n", "\x7f", "\x85", "\u2028", "\u00a0",
    "\u202e", "\u200f", "\u200e", "\u200d", "\u200c", "\u200b", "\ufeff",
    # emoji, and a character outside the BMP
    "😀", "👩\u200d💻", "🇯🇵", "\U0010fffd",
    # punycode that is not
    "xn--", "xn--zz", "xn--zz.test", "XN--", "xn---.test", "xn--a.test",
    # DNS limits
    "a" * 64 + ".test", ".".join(["a" * 63] * 4) + ".test", "a." * 130 + "test", "é" * 300,
    # numbers
    "0", "-1", "65536", "99999999999", "9" * 4400, "²", "¹²³", "\uff14\uff14\uff13",
    "٤٤٣", "0x35", "1e3", "+53", "-0",
    # IPv6 zone ids and brackets
    "fe80::1%eth0", "[fe80::1%25eth0]:443", "fe80::1%", "::1%lo", "[::1", "::1]", "[::1]",
    "[]", "[", "]", "[::1]:", "[::1]:0", "[::1]x", "[example.test]",
    # @ forms
    "@", "@@", "@[::1", "@[::1]", "@::1", "@localhost", "@127.0.0.1", "@-p", "@{0}", "user@",
    "@example.test", "a@b@c.test", "@10.0.0.0/8",
    # URLs
    "https://[::1", "https://[::1]:99999/", "http://", "://", "https://", "ftp://example.test",
    "https://u:p@example.test:1/x?y#z", "mailto:", "mailto:a@example.test", "https://:443/",
    # what Slack sends, or leaves wrapped
    "<https://example.test|example.test>", "<mailto:a@b.test|a@b.test>", "<@U123>",
    "<#C123|general>", "<!here>", "&amp;", "&lt;", "&#0;", "<", ">",
    # quotes, dashes, lone option characters
    '"', "'", "\\", '"unbalanced', "\u201cquoted\u201d", "\u2014sni", "\u2013", "-", "--", "+",
    "++", "+-", "-+", "help", "?",
    # names DNS allows and host names do not, and the other way round
    ".", "..", "*", "*.test", "*.*", "_", "_dmarc.example.test", "-x.test", "x-.test",
    # addresses and blocks
    "localhost", "127.0.0.1", "::1", "0.0.0.0", "::ffff:127.0.0.1", "1.2.3.4.5", "8.8", "127.1",
    "0177.0.0.1", "10.0.0.0/8", "10.0.0.0/33", "::/0", "::1/129", "10.0.0.0/²",
    "10.0.0.0/" + "9" * 4400,
    # AS numbers
    "AS", "AS0", "AS4294967295", "AS4294967296", "AS" + "9" * 4400, "AS²",
]  # fmt: skip
PORTS = [
    "0",
    "-1",
    "1",
    "53",
    "443",
    "65535",
    "65536",
    "99999999999",
    "9" * 4400,
    "²",
    "\uff14\uff14\uff13",
    "",
]
HOSTS = ["example.test", "tls.test", "127.0.0.1", "[::1]", "::1", "localhost", "日本語.test", "x"]
SEPARATORS = [" ", " ", " ", "  ", "\t", "", "\n"]


def plausible(name: str, net: Internet) -> list[str]:
    """Input each command would get from someone who knows what they are doing."""
    tls = net.tls.port
    dns = net.dns.port
    words = {
        "dig": [
            "example.test", "www.example.test", "日本語.test", "xn--wgv71a119e.test", "fence.test",
            "big.test", "nothing.test", "servfail.test", "refused.test", "drop.test", "tls.test",
            "_sip._tcp.example.test", "-x 127.0.0.1", "-x ::1", "-x 192.0.2.10", "A", "AAAA", "MX",
            "TXT", "NS", "SOA", "CAA", "mx", "txt", "-t MX", "+short", "+tcp", "+dnssec",
            f"@127.0.0.1 -p {dns}", f"@localhost -p {dns}", f"@127.0.0.1:{dns}", f"@[::1] -p {dns}",
            "ada@example.test", "https://example.test/x", ".",
        ],
        "whois": [
            "google.com", "www.soon.com", "nope.com", "example.com", "jprs.jp", "denic.de",
            "nic-frei.de", "busy.com", "slow.com", "huge.com", "193.0.6.139", "8.8.8.8",
            "2001:4860::/32", "193.0.6.139/21", "AS15169", "AS3333", "15169", "+raw", "10.1.2.3",
            "user@google.com", "https://www.google.com/x", "日本語.jp", "example.co.uk",
        ],
        "tls": [
            f"127.0.0.1:{tls}", f"tls.test:{tls}", f"localhost:{tls}", f"https://tls.test:{tls}/",
            f"[::1]:{tls}", "--sni tls.test", "+protocols", f"127.0.0.1:{dns}",
            f"127.0.0.1:{net.receiver.url.rsplit(':', 1)[1]}", "tls.test", "example.test",
        ],
        "hello": ["world", "hello there", "`code`", "*bold*"],
    }  # fmt: skip
    if name in words:
        return words[name]
    return [word for group in words.values() for word in group]


def option_words(command: Command) -> list[str]:
    """Every declared option alone, with a value, with a hostile value, in other cases."""
    out: list[str] = []
    values = ["127.0.0.1", "tls.test", "MX", "53", "{0}", "²", "", "[::1", "-p"]
    for option in command.options:
        for spelling in option.spellings:
            out += [spelling, spelling.upper()]
            if option.value:
                for value in values:
                    out.append(f"{spelling}{value}" if option.joined else f"{spelling} {value}")
                    if spelling.startswith("--"):
                        out.append(f"{spelling}={value}")
    return out or ["+x", "-x"]


def texts(command: Command, net: Internet) -> st.SearchStrategy[str]:
    """Command text: mostly one target and a few options, some of them hostile; some soup."""
    ports = st.sampled_from(PORTS)
    hosts = st.one_of(st.sampled_from(HOSTS), st.sampled_from(HOSTILE))
    known = st.sampled_from(plausible(command.name, net))
    options = st.sampled_from(option_words(command))
    target = st.one_of(
        known,
        st.sampled_from(HOSTILE),
        st.builds(lambda h, p: f"{h}:{p}", hosts, ports),
        st.builds(lambda h, p: f"[{h}]:{p}", st.sampled_from(["::1", "fe80::1%eth0", "x"]), ports),
        st.builds(
            lambda s, h, p, path: f"{s}://{h}:{p}{path}",
            st.sampled_from(["https", "http", "x", "HTTPS"]),
            hosts,
            ports,
            st.sampled_from(["", "/", "/a?b#c", "/{0}"]),
        ),
        st.builds(lambda user, h: f"{user}@{h}", st.sampled_from(["ada", "", "{0}", "a@b"]), hosts),
        st.from_regex(r"[a-z0-9_-]{1,12}(\.[a-z0-9_-]{1,12}){0,3}\.?", fullmatch=True),
        st.text(max_size=12),
    )  # fmt: skip
    word = st.one_of(target, known, options)
    # Mostly what a user would type, with a wrong word here and there, so that
    # the fuzz gets past the parser into the lookups and the rendering.
    shaped = st.builds(
        lambda first, rest, at: " ".join([*rest[:at], first, *rest[at:]]),
        target,
        st.lists(st.one_of(known, options), max_size=3),
        st.integers(0, 3),
    )
    soup = st.lists(st.tuples(word, st.sampled_from(SEPARATORS)), max_size=8).map(
        lambda items: "".join(w + separator for w, separator in items)
    )
    huge = st.sampled_from(HOSTILE[:40]).map(
        lambda atom: (atom * (100_000 // len(atom) + 1))[:100_000]
    )
    return st.integers(0, 15).flatmap(lambda n: huge if n == 0 else soup if n < 6 else shaped)


# --- what counts as an answer ---------------------------------------------------------


def within_button_limits(button: dict[str, Any]) -> None:
    # Block Kit's button element: text up to 75 characters, value up to 2,000.
    assert button["type"] == "button"
    assert 0 < len(button["text"]["text"]) <= 75
    assert 0 < len(button["value"]) <= slack.VALUE_LIMIT
    assert 0 < len(button["action_id"]) <= 255


def within_slack_limits(message: dict[str, Any]) -> None:
    assert 0 < len(message["text"]) <= slack.SECTION_LIMIT
    blocks = message["blocks"]
    assert 0 < len(blocks) <= slack.BLOCK_LIMIT
    for block in blocks:
        if block["type"] == "section":
            assert 0 < len(block["text"]["text"]) <= slack.SECTION_LIMIT
            if "accessory" in block:
                within_button_limits(block["accessory"])
        elif block["type"] == "actions":
            assert 0 < len(block["elements"]) <= 25
            for button in block["elements"]:
                within_button_limits(button)
        else:
            assert block["type"] == "context"
            for element in block["elements"]:
                assert 0 < len(element["text"]) <= slack.SECTION_LIMIT


def judge(reply: Reply, elapsed: float, settings: Settings) -> None:
    assert INTERNAL_ERROR not in plain(reply), plain(reply)
    assert INTERNAL_ERROR not in reply.summary
    within_slack_limits(slack.message(reply, "in_channel"))
    assert elapsed <= settings.command_deadline_seconds + 1, f"{elapsed:.2f} s"
    assert GUARD.lookups == [], f"system resolver asked for {GUARD.lookups}"


# --- (a) through execute --------------------------------------------------------------


@pytest.fixture(scope="module")
def net() -> Iterator[Internet]:
    with internet() as running:
        yield running


@pytest.fixture(scope="module")
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as loop:
        yield loop
        # TLS connections close in the background; let them finish before the loop does.
        loop.run(settle())


def run_command(runner: asyncio.Runner, name: str, text: str, settings: Settings) -> None:
    with GUARD.run():
        started = time.monotonic()
        reply = runner.run(
            asyncio.wait_for(
                execute(COMMANDS[name], Invocation(text, user_name="fuzz"), settings),
                settings.command_deadline_seconds + 5,
            )
        )
        elapsed = time.monotonic() - started
    judge(reply, elapsed, settings)
    if currently_in_test_context():
        outcome = "usage" if reply.is_usage else "error" if reply.is_error else "answer"
        event(f"outcome: {outcome}")
        if os.environ.get("CHATBOT_FUZZ_SHOW"):
            print(f"{name} {text[:80]!r} -> {reply.summary[:100]!r}")


@pytest.mark.parametrize("name", sorted(COMMANDS))
@given(data=st.data())
def test_execute_answers_any_text(
    name: str, data: st.DataObject, net: Internet, runner: asyncio.Runner
) -> None:
    text = data.draw(texts(COMMANDS[name], net), label="text")
    run_command(runner, name, text, net.settings())


# The examples issue 9 reported and the ones this fuzz found, each kept as a named test.
REGRESSIONS = [
    ("dig", "example.com +{"),
    ("dig", "example.com -{0}"),
    ("whois", "exa{mple"),
    ("tls", "example.com -{0}"),
    ("dig", "-p ² example.com"),
    ("tls", "example.com:²"),
    ("tls", "example.com:" + "9" * 4301),
    ("tls", "example.com:" + "9" * 4000),
    ("dig", "example.com @127.0.0.1 -p " + "9" * 4000),
    ("tls", "https://[::1"),
    # Found by this fuzz against the parsers before chatbot/targets.py.
    ("tls", "[::1]:" + "9" * 4400),
    ("tls", "[::1]:" + "9" * 4000),
    ("tls", "x:²"),
    ("dig", "example.com MXX"),
    ("dig", "example.com -p 53"),
]


@pytest.mark.parametrize(
    ("name", "text"), REGRESSIONS, ids=[f"{n} {t[:30]}" for n, t in REGRESSIONS]
)
def test_reported_examples_get_a_usage_sentence(
    name: str, text: str, net: Internet, runner: asyncio.Runner
) -> None:
    run_command(runner, name, text, net.settings())
    reply = runner.run(execute(COMMANDS[name], Invocation(text), net.settings()))
    assert reply.is_usage, plain(reply)


# --- (b) through HTTP -----------------------------------------------------------------

REQUESTS = count()


class ASGIClient:
    """The app in this process: FastAPI's lifespan entered, requests through ASGITransport."""

    def __init__(self, runner: asyncio.Runner, settings: Settings) -> None:
        self.runner = runner
        self.app = create_app(settings)
        self.lifespan = self.app.router.lifespan_context(self.app)
        runner.run(self.lifespan.__aenter__())
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://chatbot.test"
        )

    def post(self, path: str, body: bytes, hdrs: dict[str, str]) -> httpx.Response:
        return self.runner.run(self.client.post(path, content=body, headers=hdrs, timeout=30))

    def close(self) -> None:
        self.runner.run(self.client.aclose())
        self.runner.run(self.lifespan.__aexit__(None, None, None))


@pytest.fixture(scope="module")
def asgi(net: Internet, runner: asyncio.Runner) -> Iterator[ASGIClient]:
    client = ASGIClient(runner, net.settings())
    yield client
    client.close()


def deferred(net: Internet, path: str, timeout: float) -> dict[str, Any]:
    """The message the app posted to response_url `path`."""
    ends = time.monotonic() + timeout
    with net.receiver.arrived:
        while path not in net.receiver.paths:
            left = ends - time.monotonic()
            assert left > 0, f"no deferred answer at {path}"
            net.receiver.arrived.wait(left)
        return net.receiver.posts[net.receiver.paths.index(path)]


def through_http(
    post: Any, net: Internet, name: str, text: str, settings: Settings, *, real: bool = False
) -> None:
    n = next(REQUESTS)
    path = f"/fuzz/{n}"
    # A user and team per request: rate limits, where they exist, are not what this tests.
    body = form(name, text, f"{net.receiver.url}{path}", user_id=f"UF{n}", team_id=f"TF{n}")
    with GUARD.run():
        started = time.monotonic()
        response = post(f"/slash-commands/{name}", body, headers(body))
        if real:
            # Slack gives up on a slash command after 3 s; in process, httpx's ASGI
            # transport also waits for the background delivery, so only a real server tells.
            waited = time.monotonic() - started
            assert waited <= settings.inline_budget_seconds + 1, f"answered after {waited:.2f} s"
        assert response.status_code < 500, response.text
        if response.status_code != 200:
            return  # refused at the edge (a body cap, say): an answer, not a failure
        message = response.json()
        within_slack_limits(message)
        if message["text"].startswith("Looking up "):
            message = deferred(net, path, settings.command_deadline_seconds + 1)
        elapsed = time.monotonic() - started
    assert INTERNAL_ERROR not in str(message), message
    within_slack_limits(message)
    assert elapsed <= settings.command_deadline_seconds + 1, f"{elapsed:.2f} s"
    assert GUARD.lookups == [], f"system resolver asked for {GUARD.lookups}"


@pytest.mark.parametrize("name", sorted(COMMANDS))
@profile(max_examples=max(profile.default.max_examples // 3, 10))
@given(data=st.data())
def test_http_answers_any_text(
    name: str, data: st.DataObject, net: Internet, asgi: ASGIClient
) -> None:
    text = data.draw(texts(COMMANDS[name], net), label="text")
    through_http(asgi.post, net, name, text, net.settings())


@pytest.mark.parametrize(
    ("name", "text"), REGRESSIONS, ids=[f"{n} {t[:30]}" for n, t in REGRESSIONS]
)
def test_reported_examples_through_http(
    name: str, text: str, net: Internet, asgi: ASGIClient
) -> None:
    through_http(asgi.post, net, name, text, net.settings())


@pytest.fixture(scope="module")
def uvicorn_url(net: Internet) -> Iterator[str]:
    with serving(create_app(net.settings())) as base:
        yield base


@pytest.mark.parametrize("name", sorted(COMMANDS))
@profile(max_examples=max(profile.default.max_examples // 10, 5))
@given(data=st.data())
def test_uvicorn_answers_any_text(
    name: str, data: st.DataObject, net: Internet, uvicorn_url: str
) -> None:
    text = data.draw(texts(COMMANDS[name], net), label="text")

    def post(path: str, body: bytes, hdrs: dict[str, str]) -> httpx.Response:
        return httpx.post(f"{uvicorn_url}{path}", content=body, headers=hdrs, timeout=30)

    through_http(post, net, name, text, net.settings(), real=True)


# --- (c) the interactions route: any payload, never a 500 ------------------------------

# Where a mutation may strike in a payload shaped as Slack sends it.
PAYLOAD_PATHS: list[tuple[str | int, ...]] = [
    ("type",),
    ("user",),
    ("user", "id"),
    ("team",),
    ("team", "id"),
    ("actions",),
    ("actions", 0),
    ("actions", 0, "action_id"),
    ("actions", 0, "value"),
    ("container",),
    ("container", "is_ephemeral"),
    ("response_url",),
    ("callback_id",),
    ("message",),
    ("message", "text"),
    ("channel",),
]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def _mutate(payload: Any, path: tuple[str | int, ...], value: Any, delete: bool) -> Any:
    node = payload
    for step in path[:-1]:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return payload
    if isinstance(node, dict) and isinstance(path[-1], str):
        if delete:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value
    elif isinstance(node, list) and isinstance(path[-1], int) and node:
        node[0] = value
    return payload


def shaped_payloads(net: Internet) -> st.SearchStrategy[dict[str, Any]]:
    """Payloads as Slack sends them: our buttons with any command line, shortcuts on any text."""
    lines = st.one_of(
        st.sampled_from(sorted(COMMANDS)).flatmap(
            lambda name: texts(COMMANDS[name], net).map(lambda text: f"/{name} {text}")
        ),
        st.sampled_from(HOSTILE),
        st.text(max_size=30),
    )
    words = st.one_of(st.sampled_from(HOSTILE), st.sampled_from(plausible("all", net)))
    clicks = st.builds(
        lambda action, value, ephemeral: block_actions(
            action, value, "RECEIVER", ephemeral=ephemeral
        ),
        st.sampled_from(["share", "run_again", "run", "approve", *HOSTILE[:4]]),
        lines,
        st.booleans(),
    )
    shortcuts = st.builds(
        lambda text, callback: message_action(text, "RECEIVER", callback_id=callback),
        st.lists(words, max_size=8).map(" ".join),
        st.sampled_from(["check_hosts", "check_hosts", "other", ""]),
    )
    return st.one_of(clicks, shortcuts)


def through_interactions(
    payload: str, net: Internet, asgi: ASGIClient, runner: asyncio.Runner
) -> None:
    """Post `payload` signed; the route answers 200, 400 or 413, never more, and what it
    posts is within Slack's limits and never the internal-error sentence."""
    n = next(REQUESTS)
    path = f"/fuzz/{n}"
    payload = payload.replace('"RECEIVER"', json.dumps(f"{net.receiver.url}{path}"))
    # A user of its own (unless the payload lost it): rate limits are not what this tests.
    payload = payload.replace('"U0001"', f'"UF{n}"')
    body = interaction(payload)
    with GUARD.run():
        response = asgi.post("/slack/interactions", body, headers(body))
        # A turn of the loop for what is posted after the request.
        runner.run(asyncio.sleep(0.02))
    assert response.status_code in (200, 400, 413), response.text
    if response.status_code == 400:
        assert response.json() == {"error": "malformed payload"}
    elif response.status_code == 200:
        assert response.content == b""
    with net.receiver.arrived:
        posted = [
            m for p, m in zip(net.receiver.paths, net.receiver.posts, strict=True) if p == path
        ]
    for message in posted:
        assert INTERNAL_ERROR not in str(message), message
        if "blocks" in message:
            within_slack_limits(message)
    assert GUARD.lookups == [], f"system resolver asked for {GUARD.lookups}"
    if currently_in_test_context():
        event(f"status: {response.status_code}")


@pytest.mark.parametrize("path", PAYLOAD_PATHS, ids=[".".join(map(str, p)) for p in PAYLOAD_PATHS])
@profile(max_examples=max(profile.default.max_examples // 20, 5))
@given(data=st.data())
def test_interactions_route_takes_anything_in_any_field(
    path: tuple[str | int, ...],
    data: st.DataObject,
    net: Internet,
    asgi: ASGIClient,
    runner: asyncio.Runner,
) -> None:
    payload = data.draw(shaped_payloads(net), label="payload")
    value = data.draw(st.one_of(JSON_VALUES, st.sampled_from(HOSTILE)), label="value")
    payload = _mutate(payload, path, value, data.draw(st.booleans(), label="delete"))
    through_interactions(json.dumps(payload), net, asgi, runner)


@profile(max_examples=max(profile.default.max_examples // 5, 10))
@given(data=st.data())
def test_interactions_route_takes_any_payload(
    data: st.DataObject, net: Internet, asgi: ASGIClient, runner: asyncio.Runner
) -> None:
    payload = data.draw(
        st.one_of(
            shaped_payloads(net).map(json.dumps),
            st.text(max_size=50),
            st.sampled_from(
                ["", "null", "[]", "{}", "{" * 3000, "9" * 5000, '{"type": "block_actions"}']
            ),
            JSON_VALUES.map(json.dumps),
        ),
        label="payload",
    )
    through_interactions(payload, net, asgi, runner)


def test_the_guard_refuses_what_leaves_loopback() -> None:
    # A guard that lets everything through would make "nothing leaves loopback" untrue.
    with GUARD.run(), socket.socket() as sock, pytest.raises(PermissionError):
        sock.connect(("192.0.2.1", 9))
    with GUARD.run(), pytest.raises(socket.gaierror):
        socket.getaddrinfo("example.com", 443)
    assert GUARD.lookups == ["example.com"]
