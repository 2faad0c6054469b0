"""The docs stay true: settings table, `.env.example`, option tables, examples, links.

The settings table in docs/operations.md is held to the Settings class (every
variable, nothing else, the class's defaults); `.env.example` and the option
tables of docs/commands.md are made from the code, and a test fails when they
are stale. To write them again:

    uv run python -m tests.test_docs
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo

from chatbot.commands import COMMANDS, Command
from chatbot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
OPERATIONS = ROOT / "docs" / "operations.md"
COMMANDS_PAGE = ROOT / "docs" / "commands.md"
ENV_EXAMPLE = ROOT / ".env.example"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


# --- the settings table ------------------------------------------------------------------


def variable(name: str, field: FieldInfo) -> str:
    """The environment variable a field is read from."""
    if isinstance(field.validation_alias, AliasChoices):
        first = field.validation_alias.choices[0]
        assert isinstance(first, str)
        return first
    prefix = Settings.model_config.get("env_prefix", "")
    return f"{prefix}{name}".upper()


def as_written(value: Any) -> str:
    """A default as one writes it in the environment."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


def defaults(settings: type[Settings] = Settings) -> dict[str, str]:
    """{variable: default as written}, in the class's order."""
    return {
        variable(name, field): as_written(field.get_default(call_default_factory=True))
        for name, field in settings.model_fields.items()
    }


@dataclass(frozen=True)
class Row:
    variable: str
    default: str  # as the table shows it
    meaning: str


ROW = re.compile(r"^\| `([A-Z0-9_]+)` \| (.+?) \| (.+) \|$")


def table(page: str) -> list[Row]:
    """The rows of the table under "## Settings"."""
    section = page.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    return [Row(*m.groups()) for line in section.splitlines() if (m := ROW.match(line))]


def problems(rows: list[Row], settings: type[Settings] = Settings) -> list[str]:
    """How the table and the class disagree; nothing when they agree."""
    found: list[str] = []
    expected = defaults(settings)
    names = [row.variable for row in rows]
    found += [
        f"{name} is in the table twice" for name in sorted(set(names)) if names.count(name) > 1
    ]
    found += [f"{name} is not in the table" for name in expected if name not in names]
    found += [f"{name} is in the table but no setting" for name in names if name not in expected]
    for row in rows:
        if row.variable not in expected:
            continue
        default = expected[row.variable]
        literal = re.fullmatch(r"`([^`]*)`", row.default)
        if literal and literal.group(1) != default:
            found.append(f"{row.variable}: the table says {row.default}, the class `{default}`")
        if not literal and (default or not row.default.startswith("(")):
            # Words in parentheses only where the default is nothing to write down.
            found.append(f"{row.variable}: write the default `{default}`, not {row.default}")
    return found


def test_the_settings_table_is_the_settings_class() -> None:
    rows = table(OPERATIONS.read_text(encoding="utf-8"))
    assert problems(rows) == []
    assert len(rows) == len(Settings.model_fields)


def test_the_table_check_fails_on_drift() -> None:
    rows = table(OPERATIONS.read_text(encoding="utf-8"))

    class Added(Settings):
        brand_new_seconds: float = 3.0

    assert problems(rows, Added) == ["CHATBOT_BRAND_NEW_SECONDS is not in the table"]
    gone = [row for row in rows if row.variable != "CHATBOT_MAX_PENDING"]
    assert problems(gone) == ["CHATBOT_MAX_PENDING is not in the table"]
    stale = [Row(r.variable, "`99`", r.meaning) if r.variable == "PORT" else r for r in rows]
    assert problems(stale) == ["PORT: the table says `99`, the class `8080`"]
    invented = [*rows, Row("CHATBOT_NO_SUCH_THING", "`1`", "nothing")]
    assert problems(invented) == ["CHATBOT_NO_SUCH_THING is in the table but no setting"]
    worded = [Row(r.variable, "(a lot)", r.meaning) if r.variable == "PORT" else r for r in rows]
    assert problems(worded) == ["PORT: write the default `8080`, not (a lot)"]


# --- .env.example ------------------------------------------------------------------------

ENV_HEADER = """\
# Every setting of chatbot, its default and what it does (docs/operations.md has the
# whole table). Copy this file to .env and uncomment what you change: `chatbot serve`
# and the other chatbot commands read .env from the working directory, and variables
# set in the environment win over it. A default in parentheses is no value at all.
# Made from the Settings class by `uv run python -m tests.test_docs`.
"""


def _plain(markdown: str) -> str:
    return markdown.replace("`", "")


def first_sentence(text: str) -> str:
    """The first sentence of a meaning (not cut at "e.g." or "i.e.")."""
    for match in re.finditer(r"[.!?](?=\s+[A-Z(])", text):
        before = text[: match.end()]
        if not re.search(r"\b(e\.g|i\.e|etc)\.$", before):
            return before
    return text


def env_example(rows: list[Row]) -> str:
    shown = {row.variable: row for row in rows}
    blocks = [ENV_HEADER]
    for name, default in defaults().items():
        row = shown.get(name, Row(name, "(not in docs/operations.md)", "(no row in the table)"))
        meaning = _plain(first_sentence(row.meaning))
        if not default:
            meaning += f" {_plain(row.default)}"  # (required), (unset: ...)
        blocks.append(f"# {meaning}\n#{name}={default}\n")
    return "\n".join(blocks)


def test_env_example_is_made_from_the_class() -> None:
    rows = table(OPERATIONS.read_text(encoding="utf-8"))
    made = env_example(rows)
    assert ENV_EXAMPLE.read_text(encoding="utf-8") == made, (
        ".env.example is stale: uv run python -m tests.test_docs"
    )
    assigned = re.findall(r"^#([A-Z0-9_]+)=(.*)$", made, re.MULTILINE)
    assert dict(assigned) == defaults()


def test_env_example_uncommented_is_the_defaults(tmp_path: Path) -> None:
    """Every value shown reads back as the class's default (empty ones aside: unset)."""
    lines = [
        line[1:]
        for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
        if re.match(r"#[A-Z0-9_]+=.", line)
    ]
    (tmp_path / ".env").write_text("\n".join(lines) + "\n", encoding="utf-8")
    from_file = Settings(_env_file=tmp_path / ".env")  # type: ignore[call-arg]
    assert from_file == Settings()
    assert len(lines) == sum(1 for value in defaults().values() if value)


# --- the option tables and examples in docs/commands.md ----------------------------------

OPTIONS_BLOCK = re.compile(r"(<!-- options: (\w+) -->\n)(.*?)(<!-- /options -->)", re.DOTALL)


def options_block(command: Command) -> str:
    lines = [f"Usage: `/{command.name} {command.usage_hint}`\n"]
    if command.options:
        lines += ["| Option | What it does |", "| --- | --- |"]
        for option in command.options:
            also = ", ".join(f"`{alias}`" for alias in option.aliases)
            extra = f" (also {also})" if also else ""
            lines.append(f"| `{option.synopsis}` | {option.help}{extra} |")
    return "\n".join(lines) + "\n"


def with_option_blocks(page: str) -> str:
    def replace(match: re.Match[str]) -> str:
        return f"{match.group(1)}{options_block(COMMANDS[match.group(2)])}{match.group(4)}"

    return OPTIONS_BLOCK.sub(replace, page)


def test_every_command_has_its_options_in_the_docs() -> None:
    page = COMMANDS_PAGE.read_text(encoding="utf-8")
    assert [m.group(2) for m in OPTIONS_BLOCK.finditer(page)] == list(COMMANDS)
    assert with_option_blocks(page) == page, (
        "docs/commands.md's option tables are stale: uv run python -m tests.test_docs"
    )
    assert all(f"\n## /{name}\n" in page for name in COMMANDS)


def test_the_option_check_fails_on_drift() -> None:
    page = COMMANDS_PAGE.read_text(encoding="utf-8")
    dropped = page.replace("| `+dnssec` | ask for DNSSEC records too (sets the DO bit) |\n", "")
    assert dropped != page
    assert with_option_blocks(dropped) == page


def _examples_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_examples", ROOT / "docs" / "examples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_every_example_in_the_docs_is_made_by_the_script() -> None:
    examples = _examples_module()
    page = COMMANDS_PAGE.read_text(encoding="utf-8")
    marked = [m.group(2) for m in examples.MARKED.finditer(page)]
    assert marked == [e.name for e in examples.EXAMPLES]
    for match in examples.MARKED.finditer(page):
        example = next(e for e in examples.EXAMPLES if e.name == match.group(2))
        command = example.line.split(" ", 1)[0]
        assert match.group(3).startswith(f"```\n{command}"), example.name
        assert "\n> " in match.group(3), f"{example.name} has no answer: docs/examples.py --write"


# --- links between the pages -------------------------------------------------------------

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation gone, spaces hyphens."""
    text = "".join(c for c in heading.strip().lower() if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    inside_code = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            inside_code = not inside_code
        elif not inside_code and (m := re.match(r"#{1,6} (.+)", line)):
            anchor = slug(m.group(1))
            number = 0
            while (candidate := anchor if not number else f"{anchor}-{number}") in found:
                number += 1
            found.add(candidate)
    return found


def links(page: Path) -> Iterator[str]:
    inside_code = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.lstrip("> ").startswith("```"):
            inside_code = not inside_code
        elif not inside_code:
            yield from LINK.findall(re.sub(r"`[^`]*`", "", line))


def broken(pages: Iterable[Path], root: Path = ROOT) -> list[str]:
    found: list[str] = []
    for page in pages:
        for target in links(page):
            if re.match(r"[a-z]+:", target):
                continue  # https:, mailto:
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            where = f"{page.relative_to(root)}: {target}"
            if not linked.exists():
                found.append(f"{where}: no such file")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                found.append(f"{where}: no such heading in {linked.name}")
    return found


def test_relative_links_lead_somewhere() -> None:
    assert len(PAGES) >= 6
    assert broken(PAGES) == []
    # Every page of docs/ can be reached from the README.
    readme = set(links(ROOT / "README.md"))
    assert {f"docs/{p.name}" for p in PAGES[1:]} <= {t.partition("#")[0] for t in readme}


def test_the_link_check_finds_broken_links(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Top\n## A `code` heading: with (parts)\n"
        "[ok](#top) [ok](#a-code-heading-with-parts) [bad](#nowhere) [bad](missing.md)\n"
        "`[not a link](nowhere.md)`\n",
        encoding="utf-8",
    )
    assert broken([page], tmp_path) == [
        "page.md: #nowhere: no such heading in page.md",
        "page.md: missing.md: no such file",
    ]


def test_a_dot_env_is_never_committed_nor_built_into_the_image() -> None:
    import shutil
    import subprocess

    git = shutil.which("git")
    if git is not None and (ROOT / ".git").exists():
        ignored = subprocess.run([git, "check-ignore", "-q", ".env"], cwd=ROOT, check=False)
        assert ignored.returncode == 0, ".env is not in .gitignore"
        kept = subprocess.run([git, "check-ignore", "-q", ".env.example"], cwd=ROOT, check=False)
        assert kept.returncode == 1, ".env.example must be committed"
    rules = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert ".env" in rules and "!.env" not in rules


# --- writing what is made ---------------------------------------------------------------


def write() -> None:
    rows = table(OPERATIONS.read_text(encoding="utf-8"))
    ENV_EXAMPLE.write_text(env_example(rows), encoding="utf-8")
    page = COMMANDS_PAGE.read_text(encoding="utf-8")
    COMMANDS_PAGE.write_text(with_option_blocks(page), encoding="utf-8")
    print(f"wrote {ENV_EXAMPLE.name} and the option tables of docs/commands.md", file=sys.stderr)


if __name__ == "__main__":
    write()
