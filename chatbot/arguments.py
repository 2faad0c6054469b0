"""Splitting command text into words the way a shell user expects, without a shell."""

from __future__ import annotations

import shlex


def split(text: str) -> list[str]:
    """Words of `text`; quotes group and are removed. Unbalanced quotes are kept as typed."""
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()
