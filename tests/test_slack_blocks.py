"""Block Kit as plain dicts: the same JSON slack_sdk's model objects made, byte for byte.

chatbot/slack.py builds blocks as dicts because building slack_sdk's
`SectionBlock`/`ContextBlock`/`MarkdownTextObject` and calling `to_dict()` cost
several times as much on every answer. The reference here is the same packing
code with those model objects put back in place of the dict builders, so the
comparison holds whatever the packing does; `to_dict()` also applies slack_sdk's
own limit checks (3000 characters of section text, 10 context elements) to every
block made.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, SectionBlock

from chatbot import slack
from chatbot.commands import COMMANDS
from chatbot.reply import Part, Reply, code, context, text

ALPHABET = "abc xyz 019 &<>*_~`|.:-\n\té日本😀"


def with_models(reply: Reply, response_type: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The message JSON as slack_sdk's model objects make it."""
    with monkeypatch.context() as patched:
        patched.setattr(slack, "_section", lambda t: SectionBlock(text=MarkdownTextObject(text=t)))
        patched.setattr(
            slack, "_context", lambda t: ContextBlock(elements=[MarkdownTextObject(text=t)])
        )
        made = slack.message(reply, response_type)
    made["blocks"] = [block.to_dict() for block in made["blocks"]]
    return json.dumps(made, ensure_ascii=False)


def as_dicts(reply: Reply, response_type: str) -> str:
    return json.dumps(slack.message(reply, response_type), ensure_ascii=False)


POOL = "".join(random.Random(1).choice(ALPHABET) for _ in range(20_000))


def random_text(rng: random.Random, longest: int) -> str:
    size = rng.randint(0, rng.choice([0, 1, 5, 40, 200, longest]))
    start = rng.randrange(len(POOL) - size)
    return POOL[start : start + size]


def random_part(rng: random.Random) -> Part:
    kind = rng.choice(["text", "context", "code", "code"])
    if kind == "code":
        count = rng.choice([0, 1, 3, 30, 400])
        lines = [random_text(rng, rng.choice([80, 3500])) for _ in range(count)]
        return code(lines, unit=rng.choice(["lines", "records"]))
    body = random_text(rng, rng.choice([100, 3500]))
    return text(body) if kind == "text" else context(body)


def random_reply(rng: random.Random) -> Reply:
    parts = tuple(random_part(rng) for _ in range(rng.choice([0, 1, 2, 5, 20, 60])))
    return Reply(summary=random_text(rng, 200), parts=parts, is_error=rng.random() < 0.2)


def test_many_random_replies_give_the_same_json(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(20261129)
    cut = 0
    for _ in range(400):
        reply = random_reply(rng)
        response_type = rng.choice(["ephemeral", "in_channel"])
        made = as_dicts(reply, response_type)
        assert made == with_models(reply, response_type, monkeypatch)
        cut += "left out to fit Slack" in made
    assert cut > 10  # the cut-to-fit note was among what was compared


def test_every_command_usage_and_errors_give_the_same_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    replies = [command.usage for command in COMMANDS.values()]
    replies += [Reply.error("nope <&>", *command.usage.parts[1:]) for command in COMMANDS.values()]
    replies += [Reply(summary="", parts=(text(""), context(""), code([""]), code([])))]
    for reply in replies:
        assert as_dicts(reply, "in_channel") == with_models(reply, "in_channel", monkeypatch)


def test_a_different_shape_is_noticed(monkeypatch: pytest.MonkeyPatch) -> None:
    # The comparison is of bytes: a reordered or extra key would show.
    reply = Reply(summary="s", parts=(text("t"),))
    monkeypatch.setattr(slack, "_mrkdwn", lambda t: {"type": "mrkdwn", "text": t})
    assert as_dicts(reply, "ephemeral") != with_models(reply, "ephemeral", monkeypatch)


def test_blocks_are_plain_json(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[dict[str, Any]] = slack.blocks(Reply("s", (text("t"), context("c"), code(["x"]))))
    assert json.loads(json.dumps(made)) == made
