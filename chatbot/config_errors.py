"""Settings checked at start: one line per problem, naming the environment variable.

pydantic names the field (`inline_budget_seconds`) and says it in a 22-line
traceback; an operator set `CHATBOT_INLINE_BUDGET_SECONDS`. `load` turns a
`ValidationError` into lines such as

    CHATBOT_INLINE_BUDGET_SECONDS=5: must be at most 2.5
    PORT=abc: not a whole number

The variable's name comes from the field (its alias, else the env prefix and
its name) and each pydantic error type has a short phrase, so a field added to
`Settings` later is covered without a word here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import AliasChoices, SecretStr, ValidationError
from pydantic_core import ErrorDetails

from chatbot.settings import Settings

MAX_SHOWN = 200  # characters of a bad value worth repeating (paths can be long)


class BadSettings(Exception):
    """The environment holds settings the service cannot start with; `lines` say which."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        super().__init__("\n".join(lines))


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


# pydantic's error types (pydantic_core), as an operator would say them.
_PHRASES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "int_parsing": lambda ctx: "not a whole number",
    "int_from_float": lambda ctx: "not a whole number",
    "int_type": lambda ctx: "not a whole number",
    "float_parsing": lambda ctx: "not a number",
    "float_type": lambda ctx: "not a number",
    "finite_number": lambda ctx: "must be a finite number",
    "bool_parsing": lambda ctx: "must be true or false",
    "bool_type": lambda ctx: "must be true or false",
    "greater_than": lambda ctx: f"must be more than {_number(ctx['gt'])}",
    "greater_than_equal": lambda ctx: f"must be at least {_number(ctx['ge'])}",
    "less_than": lambda ctx: f"must be less than {_number(ctx['lt'])}",
    "less_than_equal": lambda ctx: f"must be at most {_number(ctx['le'])}",
    "literal_error": lambda ctx: f"must be {ctx['expected']}",
    "enum": lambda ctx: f"must be {ctx['expected']}",
    "string_too_short": lambda ctx: "must not be empty",
    "string_too_long": lambda ctx: f"must be at most {ctx['max_length']} characters",
    "too_short": lambda ctx: f"must list at least {ctx['min_length']}",
    "too_long": lambda ctx: f"must list at most {ctx['max_length']}",
    "missing": lambda ctx: "must be set",
    "json_invalid": lambda ctx: "not valid JSON",
    "url_parsing": lambda ctx: "not a URL",
    "url_scheme": lambda ctx: f"must be a URL with scheme {ctx.get('expected_schemes', '')}",
    # Our own validators raise ValueError with the whole phrase.
    "value_error": lambda ctx: str(ctx.get("error", "not allowed")),
    "assertion_error": lambda ctx: str(ctx.get("error", "not allowed")),
}


def _aliases(name: str) -> list[str]:
    alias = Settings.model_fields[name].validation_alias
    if isinstance(alias, str):
        return [alias]
    if isinstance(alias, AliasChoices):
        return [choice for choice in alias.choices if isinstance(choice, str)]
    return []


def _field(loc: str) -> str | None:
    """The field an error's location names: a field name or one of its aliases."""
    if loc in Settings.model_fields:
        return loc
    for name in Settings.model_fields:
        if loc.lower() in (a.lower() for a in _aliases(name)):
            return name
    return None


def env_name(name: str) -> str:
    """The environment variable that sets field `name`: `PORT`, `CHATBOT_DNS_RESOLVERS`."""
    # pydantic-settings reads a field with an alias from the alias alone, without
    # the prefix (PORT, SLACK_SIGNING_SECRET), and compares names case-insensitively.
    aliases = _aliases(name)
    if aliases:
        return aliases[0].upper()
    return f"{Settings.model_config.get('env_prefix', '')}{name}".upper()


def _shown(value: object, secret: bool) -> str:
    if secret:
        return "(hidden)"
    text = ",".join(map(str, value)) if isinstance(value, tuple | list) else str(value)
    if not text.isprintable():
        text = repr(text)[1:-1]
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def _from_environment(variable: str, environ: Mapping[str, str]) -> str | None:
    # pydantic-settings matches names case-insensitively, as do we.
    return next((v for k, v in environ.items() if k.upper() == variable), None)


def describe(error: ErrorDetails, environ: Mapping[str, str]) -> str:
    """One line for one pydantic error: `VARIABLE=value: what is allowed`."""
    loc = str(error["loc"][0]) if error["loc"] else ""
    name = _field(loc)
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    phrase_of = _PHRASES.get(error["type"])
    try:
        phrase = phrase_of(ctx) if phrase_of else error["msg"]
    except KeyError:
        phrase = error["msg"]
    if name is None:
        return f"{loc or 'settings'}: {phrase}"
    variable = env_name(name)
    secret = Settings.model_fields[name].annotation is SecretStr
    raw = _from_environment(variable, environ)
    value = raw if raw is not None else error.get("input", "")
    return f"{variable}={_shown(value, secret)}: {phrase}"


def problems(exc: ValidationError, environ: Mapping[str, str] | None = None) -> list[str]:
    environ = os.environ if environ is None else environ
    return list(dict.fromkeys(describe(error, environ) for error in exc.errors()))


def load(factory: Callable[[], Settings] = Settings) -> Settings:
    """Settings from the environment, or BadSettings with one line per problem."""
    try:
        return factory()
    except ValidationError as exc:
        raise BadSettings(problems(exc)) from None


def load_or_complain(factory: Callable[[], Settings] = Settings) -> Settings | None:
    """Settings, or None after one `chatbot: ...` line per problem on stderr.

    The one way every entry point (`chatbot serve`, the CLI commands,
    `uvicorn chatbot:app`) refuses bad settings; each then exits with status 2.
    """
    try:
        return load(factory)
    except BadSettings as exc:
        for line in exc.lines:
            print(f"chatbot: {line}", file=sys.stderr)
        return None
