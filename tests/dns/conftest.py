from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatbot.dns import command, trace, validate
from chatbot.dns.query import Options, parse_server
from tests.servers.dns_hierarchy import Hierarchy

# Per query: "never answers" scenarios wait this long; long enough for a busy machine.
TIMEOUT = 1.0


@pytest.fixture(scope="session")
def hierarchy() -> Iterator[Hierarchy]:
    """One signed tree for the whole run: signing costs CPU, the zones never change."""
    with Hierarchy().running() as tree:
        yield tree


@pytest.fixture(scope="session")
def anchor_file(hierarchy: Hierarchy, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hierarchy.anchor_file(tmp_path_factory.mktemp("anchors") / "root.ds")


def walk_options(hierarchy: Hierarchy, **changes: object) -> trace.Options:
    values: dict[str, object] = {
        "roots": (parse_server(hierarchy.root),),
        "port": hierarchy.port,
        "timeout": TIMEOUT,
        "deadline": 8.0,
        "allow_private": True,
    }
    values.update(changes)
    return trace.Options(**values)  # type: ignore[arg-type]


def validate_options(hierarchy: Hierarchy, **changes: object) -> validate.Options:
    anchors = validate.parse_anchors(hierarchy.root_ds().to_text(), "the test root's DS")
    return validate.Options(walk_options(hierarchy, **changes), anchors)


def dig_options(hierarchy: Hierarchy, allow_private: bool = True) -> Options:
    return Options(
        resolvers=(parse_server(hierarchy.resolvers(20)[0]),),
        timeout=TIMEOUT,
        allow_private=allow_private,
    )


def depth(hierarchy: Hierarchy, anchors: Path | None = None, **changes: object) -> command.Depth:
    values: dict[str, object] = {
        "roots": (parse_server(hierarchy.root),),
        "compare_resolvers": tuple(parse_server(r) for r in hierarchy.resolvers(20, 21, 22, 23)),
        "trust_anchors": str(anchors) if anchors else None,
        "deadline": 8.0,
    }
    values.update(changes)
    return command.Depth(**values)  # type: ignore[arg-type]


def reference_tool(name: str) -> str:
    """A BIND tool to check against: skipped where it is missing, a failure in CI."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is missing: CI installs bind9-dnsutils (see .ci/run)")
        pytest.skip(f"{name} is not installed (Debian: bind9-dnsutils)")
    return path
