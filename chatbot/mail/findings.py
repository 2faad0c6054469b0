"""What an audit found: one sentence of what is wrong and one of what to do, with a severity."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Severity = Literal["problem", "warning", "info"]
RANK: dict[Severity, int] = {"problem": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Finding:
    severity: Severity
    check: str  # "MX", "SPF", ... as the answer titles it
    what: str
    todo: str = ""


def problem(check: str, what: str, todo: str = "") -> Finding:
    return Finding("problem", check, what, todo)


def warning(check: str, what: str, todo: str = "") -> Finding:
    return Finding("warning", check, what, todo)


def info(check: str, what: str, todo: str = "") -> Finding:
    return Finding("info", check, what, todo)


def worst_first(found: Iterable[Finding]) -> list[Finding]:
    """Problems, then warnings, then notes; within each, the order the checks ran in."""
    return sorted(found, key=lambda finding: RANK[finding.severity])


def count(found: Iterable[Finding], severity: Severity) -> int:
    return sum(1 for finding in found if finding.severity == severity)
