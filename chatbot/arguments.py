"""Command text into words and options, the same way for every command, without a shell.

Each command declares its options once (`Option`); `read` parses by that
declaration, and the usage text, the manifest's usage hint and the CLI help
are made from it, so what a command accepts and what it says it accepts
cannot drift apart.
"""

from __future__ import annotations

import shlex
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from chatbot.errors import UsageError

# Longer than any target and its options; a longer text is a paste gone wrong,
# and splitting it would only cost time.
MAX_TEXT = 4096
# A user's word is quoted back in a sentence; a 100,000-character word is not.
MAX_SHOWN = 60

# Chat clients turn quotes curly and "--" into dashes; fold them back. The one
# table: the Slack edge folds with it too (slack.normalize_text), and `split`
# folds again for the CLI and `chatbot send`, whose text never passes that edge.
FOLD = str.maketrans(
    {
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2018": "'",
        "\u2019": "'",
        "\u2014": "--",
        "\u2013": "--",
    }
)


def split(text: str) -> list[str]:
    """Words of `text`; quotes group and are removed. Unbalanced quotes are kept as typed."""
    if len(text) > MAX_TEXT:
        raise UsageError(
            "That is {count} characters; a command takes at most {limit}.",
            count=len(text),
            limit=MAX_TEXT,
        )
    text = text.translate(FOLD)
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


@dataclass(frozen=True)
class Option:
    """One option as a command declares it.

    `name` is what is typed (`+short`, `-p`, `--sni`, or `@` for `@server`);
    `value` names what follows it in the usage text (empty for a flag);
    `joined` options take their value in the same word (`@1.1.1.1`).
    `+` options are matched in any case, as dig does.
    """

    name: str
    help: str
    value: str = ""
    aliases: tuple[str, ...] = ()
    joined: bool = False

    @property
    def spellings(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    @property
    def usage(self) -> str:
        if self.joined:
            return f"[{self.name}{self.value}]"
        return f"[{self.name} {self.value}]" if self.value else f"[{self.name}]"

    @property
    def synopsis(self) -> str:
        """The option as its help line starts: `-p port`, `@server`, `+short`."""
        return self.usage[1:-1]

    def matches(self, word: str) -> bool:
        if self.name.startswith("+"):
            return word.lower() in self.spellings
        return word in self.spellings


@dataclass
class Parsed:
    """What `read` found: the words that are not options, and each option's values."""

    words: list[str] = field(default_factory=list)
    values: dict[str, list[str]] = field(default_factory=dict)

    def flag(self, name: str) -> bool:
        return name in self.values

    def value(self, name: str) -> str | None:
        """The option's value; given more than once, the last one counts, as in dig."""
        found = self.values.get(name)
        return found[-1] if found else None


def _suggest(word: str, declared: Sequence[Option]) -> str:
    alike = [o.synopsis for o in declared if o.name[0] == word[0] and not o.joined]
    return ", ".join(alike or [o.synopsis for o in declared])


def read(text: str, declared: Sequence[Option]) -> Parsed:
    """Split `text` and take out the declared options; any other `+word` or `-word` is refused."""
    parsed = Parsed()
    words = iter(split(text))
    for word in words:
        option = next((o for o in declared if o.matches(word)), None)
        if option is not None and option.value and not option.joined:
            value = next(words, None)
            if value is None:
                raise UsageError(
                    "{word} needs a value: {synopsis}.", word=word, synopsis=option.synopsis
                )
            parsed.values.setdefault(option.name, []).append(value)
            continue
        if option is not None and not option.value:
            parsed.values.setdefault(option.name, []).append("")
            continue
        joined = next(
            (o for o in declared if o.joined and word.startswith(o.name) and o.value), None
        )
        if joined is not None:
            value = word[len(joined.name) :]
            if not value:
                raise UsageError(
                    "{word} needs a value: {synopsis}.", word=word, synopsis=joined.synopsis
                )
            parsed.values.setdefault(joined.name, []).append(value)
            continue
        name, equals, value = word.partition("=")
        spelled = next((o for o in declared if o.value and not o.joined and o.matches(name)), None)
        if equals and name.startswith("--") and spelled is not None:
            parsed.values.setdefault(spelled.name, []).append(value)
            continue
        if len(word) > 1 and word[0] in "+-":
            if declared:
                raise UsageError(
                    "{word} is not an option I know (try {options}).",
                    word=clip(word),
                    options=_suggest(word, declared),
                )
            raise UsageError("{word} is not an option I know.", word=clip(word))
        parsed.words.append(word)
    return parsed


def one(words: Sequence[str], what: str) -> str:
    """The one operand a command takes, or "Give one {what}." naming what was given."""
    if len(words) == 1:
        return words[0]
    if not words:
        raise UsageError("Give one {what}.", what=what)
    raise UsageError(
        "Give one {what}, not {count} ({words}).",
        what=what,
        count=len(words),
        words=clip(", ".join(words), 120),
    )


def clip(text: str, limit: int = MAX_SHOWN) -> str:
    """User text fit to be quoted in a sentence: short, and control characters made visible."""
    shown = "".join(
        f"U+{ord(c):04X}" if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") else c
        for c in text[: limit + 1]
    )
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"
