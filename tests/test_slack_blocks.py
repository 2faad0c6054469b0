"""Block Kit through slack_sdk's model objects: the same JSON whatever the packing change.

chatbot/slack.py builds every block with slack_sdk's models, whose `to_dict()`
checks Slack's own limits (3000 characters of section text, ten context
elements, 2000 characters of a button's value...). Random replies, cut to fit
and with buttons, go through it here: a limit broken by the packing raises,
and a digest of all the JSON made shows any change to what Slack receives (it
held when the builders moved between plain dicts and the models, both ways).
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

from chatbot import slack
from chatbot.commands import COMMANDS
from chatbot.reply import Part, Reply, code, context, text

ALPHABET = "abc xyz 019 &<>*_~`|.:-\n\té日本😀"
# sha256 of the JSON below, as the builder made it when this test was written.
DIGEST = "0d1da62aa6a2dbab22de1aab23a1d4a7cae05469014a274668d491d7c80a31fd"


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


def corpus() -> list[str]:
    """Messages for 400 random replies, 100 summaries with buttons and every usage text."""
    made: list[str] = []
    rng = random.Random(20261129)
    for _ in range(400):
        reply = random_reply(rng)
        response_type = rng.choice(["ephemeral", "in_channel"])
        extra = random_extra(rng)
        made.append(json.dumps(slack.message(reply, response_type, **extra), ensure_ascii=False))
    rng = random.Random(15)
    for _ in range(100):
        reply = random_reply(rng)
        lines = ["/tls " + "x" * rng.choice([40, 2100]) for _ in range(3)]
        made.append(json.dumps(slack.summary_message(reply, lines), ensure_ascii=False))
    for command in COMMANDS.values():
        made.append(json.dumps(slack.message(command.usage, "in_channel"), ensure_ascii=False))
    return made


def test_the_json_slack_receives_is_unchanged() -> None:
    made = corpus()
    assert sum("left out to fit Slack" in m for m in made) > 10  # cuts were among them
    assert sum('"type": "actions"' in m for m in made) > 10  # and buttons
    digest = hashlib.sha256("".join(made).encode()).hexdigest()
    # A new command's usage changes the corpus too: regenerate DIGEST when the
    # change is meant, after reading the JSON it makes.
    assert digest == DIGEST


def test_a_different_shape_is_noticed() -> None:
    before = json.dumps(slack.message(Reply("s", (text("t"),)), "ephemeral"))
    after = json.dumps(slack.message(Reply("s", (text("t "),)), "ephemeral"))
    assert before != after  # the digest above compares bytes


def test_blocks_are_plain_json() -> None:
    made: list[dict[str, Any]] = slack.blocks(Reply("s", (text("t"), context("c"), code(["x"]))))
    assert json.loads(json.dumps(made)) == made
