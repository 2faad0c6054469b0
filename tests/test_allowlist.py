from __future__ import annotations

import pytest

from chatbot import allowlist
from chatbot.delivery import Delivery
from tests.servers.receiver import Receiver

SLACK = ("https://hooks.slack.com/",)
DEVELOPMENT = ("http://127.0.0.1:",)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com/commands/T1/2/abc",
        "HTTPS://HOOKS.SLACK.COM/commands/T1/2/abc",  # scheme and host are case-insensitive
        "https://hooks.slack.com./commands/T1/2/abc",  # the same host, fully qualified
        "https://hooks.slack.com:443/commands/T1/2/abc",
        "https://hooks.slack.com/commands/T1/2/abc?x=1",
    ],
)
def test_slack_urls_are_allowed(url: str) -> None:
    assert allowlist.allowed(url, SLACK)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com.evil.example/commands/T1/2/abc",
        "https://hooks.slack.com@evil.example/commands/T1/2/abc",
        "https://hooks.slack.com:443@evil.example/",
        "https://evil.example#@hooks.slack.com/",
        "https://evil.example\\@hooks.slack.com/",
        "https://hooks.slack.com\\@evil.example/",
        "https://evil.example/https://hooks.slack.com/",
        "http://hooks.slack.com/commands/T1/2/abc",  # not https
        "https://hooks.slack.com:8443/commands/T1/2/abc",  # another port
        "https://hooks.slack.com:+443/commands",
        "https://hooks.slack.com:99999/commands",
        "https://hooks.slack.com/commands/T1\r\nHost: evil.example",
        "https://hooks.slack.com/commands/T1\n",
        " https://hooks.slack.com/commands/T1",
        "https://hooks.slack.com/commands/T1/../../../x",
        "https://hooks.slack.com/%2e%2e/x",
        "https://hooks\u3002slack\u3002com/commands",  # ideographic full stops
        "https://hooks.slack.c\u043em/commands",  # a Cyrillic o
        "https://hooks.slack.com\u2044evil.example/",  # fraction slash
        "https://[::1]/commands",
        "https://hooks..slack.com/",
        "hooks.slack.com/commands",
        "//hooks.slack.com/commands",
        "javascript:alert(1)",
        "",
    ],
)
def test_lookalikes_are_refused(url: str) -> None:
    assert not allowlist.allowed(url, SLACK)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:9100/hook", True),
        ("http://127.0.0.1/hook", True),
        # Issue 10: the string prefix `http://127.0.0.1:` let these through.
        ("http://127.0.0.1:1@attacker.example/", False),
        ("http://127.0.0.1:9100@192.0.0.9:9200/leak", False),
        ("http://127.0.0.1:9100\\@192.0.0.9:9200/leak", False),
        ("http://127.0.0.10:9100/hook", False),
        ("http://127.0.0.1.evil.example:9100/hook", False),
        ("https://127.0.0.1:9100/hook", False),
    ],
)
def test_the_development_prefix_is_one_host_any_port(url: str, expected: bool) -> None:
    assert allowlist.allowed(url, DEVELOPMENT) is expected


def test_a_prefix_without_its_trailing_slash_is_still_a_host_and_a_path() -> None:
    # Issue 10: `https://hooks.slack.com` as a string prefix admitted hooks.slack.com.evil.com.
    assert not allowlist.allowed("https://hooks.slack.com.evil.com/", ("https://hooks.slack.com",))
    assert allowlist.allowed("https://hooks.slack.com/commands/x", ("https://hooks.slack.com",))
    commands = ("https://hooks.slack.com/commands",)
    assert allowlist.allowed("https://hooks.slack.com/commands/T1/2/x", commands)
    assert allowlist.allowed("https://hooks.slack.com/commands", commands)
    assert not allowlist.allowed("https://hooks.slack.com/commandsx/T1", commands)
    assert not allowlist.allowed("https://hooks.slack.com/actions/T1", commands)


@pytest.mark.parametrize(
    "prefix", ["hooks.slack.com", "ftp://hooks.slack.com/", "https://a@b/", ""]
)
def test_a_prefix_we_cannot_read_allows_nothing(prefix: str) -> None:
    assert not allowlist.allowed("https://hooks.slack.com/commands/x", (prefix,))


async def test_delivery_never_contacts_a_lookalike(receiver: Receiver) -> None:
    port = receiver.url.rsplit(":", 1)[1]
    async with Delivery(DEVELOPMENT, backoff=0.01, timeout=2) as delivery:
        # The user-info form would have been posted to the host after the `@`.
        leak = await delivery.post(f"http://127.0.0.1:1@127.0.0.1:{port}/leak", {"a": 1})
        assert not leak.delivered
        assert (await delivery.post(f"http://127.0.0.1:{port}/hook", {"a": 2})).delivered
    assert receiver.posts == [{"a": 2}]
    assert receiver.paths == ["/hook"]
