"""Tag lists, `name=value; name=value`: DKIM keys (RFC 6376 §3.2), and the MTA-STS,
TLS-RPT and BIMI records modelled on them. The one reader; DMARC checks its tags
strictly in `dmarc.parse`, which reports every malformed one.
"""

from __future__ import annotations

import re


def read(text: str, *, fold_names: bool = True, squeeze: bool = False) -> dict[str, str]:
    """The tags of `text`, the first of each name; parts without `=` are left out.

    `fold_names`: names compared without case (MTA-STS's are case-sensitive).
    `squeeze`: white space inside values removed (DKIM's base64 key may be folded).
    """
    tags: dict[str, str] = {}
    for part in text.split(";"):
        name, equals, value = part.partition("=")
        if not equals:
            continue
        name = name.strip().lower() if fold_names else name.strip()
        tags.setdefault(name, re.sub(r"\s+", "", value) if squeeze else value.strip())
    return tags
