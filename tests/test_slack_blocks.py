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
from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from chatbot import slack
from chatbot.commands import COMMANDS
from chatbot.reply import Part, Reply, code, context, text

ALPHABET = "abc xyz 019 &<>*_~`|.:-\n\té日本😀"


def _section_model(t: str, accessory: Any = None) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=t), accessory=accessory)


def models(patched: pytest.MonkeyPatch) -> None:
    """slack_sdk's model objects in place of the dict builders."""
    patched.setattr(slack, "_section", _section_model)
    patched.setattr(
        slack, "_context", lambda t: ContextBlock(elements=[MarkdownTextObject(text=t)])
    )
    patched.setattr(
        slack,
        "_button",
        lambda label, action_id, value: ButtonElement(text=label, action_id=action_id, value=value),
    )
    patched.setattr(slack, "_actions", lambda buttons: ActionsBlock(elements=buttons))


def with_models(
    reply: Reply, response_type: str, monkeypatch: pytest.MonkeyPatch, **extra: str
) -> str:
    """The message JSON as slack_sdk's model objects make it."""
    with monkeypatch.context() as patched:
        models(patched)
        made = slack.message(reply, response_type, **extra)
    made["blocks"] = [block.to_dict() for block in made["blocks"]]
    return json.dumps(made, ensure_ascii=False)


def as_dicts(reply: Reply, response_type: str, **extra: str) -> str:
    return json.dumps(slack.message(reply, response_type, **extra), ensure_ascii=False)


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


def random_extra(rng: random.Random) -> dict[str, str]:
    """A command line for the buttons (sometimes too long for one) and a note, or not."""
    extra: dict[str, str] = {}
    if rng.random() < 0.6:
        extra["rerun"] = "/dig " + random_text(rng, rng.choice([40, 2100]))
    if rng.random() < 0.4:
        extra["note"] = slack.shared_note("U1", "/dig " + random_text(rng, 300))
    return extra


def test_many_random_replies_give_the_same_json(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(20261129)
    cut = buttons = 0
    for _ in range(400):
        reply = random_reply(rng)
        response_type = rng.choice(["ephemeral", "in_channel"])
        extra = random_extra(rng)
        made = as_dicts(reply, response_type, **extra)
        assert made == with_models(reply, response_type, monkeypatch, **extra)
        cut += "left out to fit Slack" in made
        buttons += '"type": "actions"' in made
    assert cut > 10  # the cut-to-fit note was among what was compared
    assert buttons > 10  # and so were the buttons


def test_summaries_with_buttons_give_the_same_json(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(15)
    for _ in range(100):
        reply = random_reply(rng)
        lines = ["/tls " + random_text(rng, rng.choice([40, 2100])) for _ in range(3)]
        made = json.dumps(slack.summary_message(reply, lines), ensure_ascii=False)
        with monkeypatch.context() as patched:
            models(patched)
            modelled = slack.summary_message(reply, lines)
        modelled["blocks"] = [block.to_dict() for block in modelled["blocks"]]
        assert made == json.dumps(modelled, ensure_ascii=False)


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
