"""Errors never read outside text as a template: what varies arrives as fields."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import chatbot
from chatbot import errors
from chatbot.errors import ChatbotError, ProtocolError, UsageError

SOURCES = sorted(Path(chatbot.__file__).parent.rglob("*.py"))


def _error_names() -> set[str]:
    found: set[str] = set()
    todo: list[type] = [ChatbotError]
    while todo:
        cls = todo.pop()
        found.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return found


def _template_arguments() -> list[tuple[str, int, ast.expr]]:
    """The first positional argument of every call that makes a ChatbotError."""
    names = _error_names()
    calls = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else None
            # `type(exc)(template, ...)` re-raises an error as its own class.
            retyped = (
                isinstance(func, ast.Call)
                and isinstance(func.func, ast.Name)
                and func.func.id == "type"
            )
            if name in names or retyped:
                calls.append((path.name, node.lineno, node.args[0]))
    return calls


def test_every_error_template_is_a_literal() -> None:
    """An f-string or a variable as the template would let user text in as `{...}` fields."""
    offenders = [
        f"{file}:{line}"
        for file, line, arg in _template_arguments()
        if not (
            (isinstance(arg, ast.Constant) and isinstance(arg.value, str))
            # A class's own constant, such as TargetRefused.literal.
            or (isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name))
        )
    ]
    assert offenders == []


def test_the_audit_sees_the_raises() -> None:
    # A scan that finds nothing would pass for the wrong reason.
    assert len(_template_arguments()) > 30


@pytest.mark.parametrize("text", ["{", "}", "{0}", "{x!r}", "%s", "{__class__}", "{a.b[c]}"])
def test_braces_in_fields_are_shown_as_typed(text: str) -> None:
    error = UsageError("{word} is not an option I know.", word=text)
    assert error.message == f"{text} is not an option I know."
    assert ProtocolError(server=text, reason=text).message == (
        f"{text} answered with something I could not read: {text}."
    )


def test_every_class_template_formats_with_its_own_fields() -> None:
    for cls in (errors.TargetRefused, errors.NotResolvable, errors.Timeout, errors.ConnectFailed):
        fields = {name: "{0}" for name in ("target", "address", "kind", "name", "server", "reason")}
        message = cls(**fields, seconds=1.5).message
        assert "{0}" in message
