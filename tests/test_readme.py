"""README.md against the code: docs that lie are bugs.

.ci/readme-check runs README's shell blocks in a fresh clone (CI runs it: `make run` must print
briefs and `make test` must pass); these tests keep the rest of README honest and fast to
check: every setting, bot command and CLI command it names exists, and everything that exists
is named.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from importlib.machinery import SourceFileLoader
from types import ModuleType

import pytest
import typer.main

from bot.chat.app import MODULES
from bot.cli import app as cli_app
from bot.settings import Settings
from tests.conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def readme_check() -> ModuleType:
    """The .ci/readme-check script as a module (it has no .py suffix: it is a command)."""
    loader = SourceFileLoader("readme_check", str(REPO_ROOT / ".ci" / "readme-check"))
    spec = importlib.util.spec_from_loader("readme_check", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["readme_check"] = module  # its dataclasses look their module up there
    loader.exec_module(module)
    return module


def section(title: str) -> str:
    """README's text under a ## heading, up to the next ## heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def test_readme_check_reads_sh_blocks_skip_markers_and_indented_blocks() -> None:
    text = (
        "## Quick start\n```sh\nmake run\nmake test\n```\n"
        "1. Step\n\n   ```sh\n   cp a b\n   ```\n"
        "```dotenv\nNEWSBRIEF_X=1\n```\n"
        "<!-- readme-check: skip: needs docker -->\n```sh\ndocker compose up\n```\n"
    )
    blocks = readme_check().blocks(text)
    assert [(b.code, b.skip) for b in blocks] == [
        ("make run\nmake test", None),
        ("cp a b", None),
        ("docker compose up", "needs docker"),
    ]
    assert blocks[0].heading == "Quick start"


def test_the_quick_start_is_make_run_then_make_test() -> None:
    first = readme_check().blocks(README)[0]
    commands = [line.split("#")[0].strip() for line in first.code.splitlines()]
    assert first.heading == "Quick start"
    assert [c for c in commands if c] == ["make run", "make test"]


def test_ci_runs_the_readme_check_on_a_fresh_clone() -> None:
    ci = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "readme-check --here" in ci and "make test" in ci


def test_every_skipped_readme_block_says_why() -> None:
    for block in readme_check().blocks(README):
        assert block.skip is None or len(block.skip) > 10, block


def test_every_setting_is_in_the_readme_settings_table_and_nothing_else() -> None:
    table = set(re.findall(r"^\| `(NEWSBRIEF_[A-Z_]+)`", section("Settings"), re.M))
    expected = {f"NEWSBRIEF_{name.upper()}" for name in Settings.model_fields}
    assert expected - table == set(), "document these settings in README"
    assert table - expected == set(), "README documents settings that do not exist"


def test_every_bot_command_is_in_the_readme_and_every_readme_command_exists() -> None:
    registered = {
        name for module in MODULES for name, _ in (*module.COMMANDS, *module.ADMIN_COMMANDS)
    }
    tables = section("Running the bot on Telegram")
    documented = set(re.findall(r"^\| `/([a-z_]+)", tables, re.M))
    assert registered - documented == set(), "document these bot commands in README"
    assert documented - registered == set(), "README lists bot commands that do not exist"


def cli_commands() -> set[str]:
    from bot import (  # noqa: F401  (importing them registers their commands)
        cli_feeds,
        cli_run,
        cli_search,
        cli_worker,
    )

    group = typer.main.get_group(cli_app)
    names: set[str] = set()
    for name, command in group.commands.items():
        sub = getattr(command, "commands", None)
        names |= {f"{name} {s}" for s in sub} if sub else {name}
    return names


def test_every_cli_command_is_in_the_readme_and_every_readme_command_exists() -> None:
    existing = cli_commands()
    groups = {name.split()[0] for name in existing if " " in name}
    documented = set()
    for mention in re.findall(r"^\| `newsbrief ([a-z][a-z -]*)", section("Command line"), re.M):
        words = mention.split()
        documented.add(" ".join(words[:2]) if words[0] in groups else words[0])
    assert existing - documented == set(), "document these CLI commands in README"
    assert documented - existing == set(), "README lists CLI commands that do not exist"


@pytest.mark.parametrize(
    "path", ["Dockerfile", "compose.yaml", ".env.example", "docs/operations.md"]
)
def test_files_the_readme_points_to_exist(path: str) -> None:
    assert path in README
    assert (REPO_ROOT / path).is_file()
