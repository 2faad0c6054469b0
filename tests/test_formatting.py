"""Nothing but our own constants is ever used as a format string (issue 9, the audit).

tests/test_errors.py holds every error template to a literal; this holds the
rest of the code to the same rule: `str.format` only on a constant (or a
table of constants), `%` only with a literal on the left, and log calls with
a literal message and the varying parts as arguments.
"""

from __future__ import annotations

import ast
from pathlib import Path

import chatbot

SOURCES = sorted(Path(chatbot.__file__).parent.rglob("*.py"))
LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical", "log"}


def _constant(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return True
    # One of two constants: "a %s" if x else "b %s".
    if isinstance(node, ast.IfExp):
        return _constant(node.body) and _constant(node.orelse)
    # A table of constant templates: SENTENCES[key], Class.template.
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        return node.value.id.lstrip("_").isupper()
    return False


def _offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        where = f"{path.name}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            receiver, method = node.func.value, node.func.attr
            # errors.py formats the class's own template with the fields.
            if (
                method in ("format", "format_map")
                and not _constant(receiver)
                and path.name != "errors.py"
            ):
                found.append(f"{where}: {ast.unparse(node)[:80]}")
            if (
                method in LOG_METHODS
                and isinstance(receiver, ast.Name)
                and receiver.id in ("log", "logger", "logging")
                and len(node.args) > (message := int(method == "log"))
                and not _constant(node.args[message])  # log.log(level, message, ...)
            ):
                found.append(f"{where}: {ast.unparse(node)[:80]}")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            if isinstance(node.right, ast.Constant) and not isinstance(node.left, ast.Constant):
                continue  # arithmetic: n % 60
            if not _constant(node.left):
                found.append(f"{where}: {ast.unparse(node)[:80]}")
    return found


def test_only_constants_are_format_strings() -> None:
    assert [o for path in SOURCES for o in _offences(path)] == []


def test_the_audit_would_see_an_offence(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def f(word, log):\n"
        "    log.warning(word)\n"
        "    log.log(20, word if word else 'x')\n"
        "    return word.format(x=1), word % (1,), '{0}'.format(word)\n"
    )
    assert len(_offences(bad)) == 4
