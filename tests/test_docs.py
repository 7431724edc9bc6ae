"""The documentation is tested: the generated reference pages are current, every command, option and setting is
documented."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

import pytest

from flows import docs
from flows.cli import build_parser
from flows.settings import Settings
from tests.conftest import PROJECT

DOCS = PROJECT / "docs"


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    return dict(action.choices)


def test_the_generated_reference_pages_are_current() -> None:
    stale = docs.stale_pages(DOCS)
    assert not stale, f"docs/{', docs/'.join(stale)} out of date with the code: run `.venv/bin/{docs.REGENERATE}`"


def test_the_generator_says_which_page_is_stale_and_how_to_fix_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert docs.main(["--check", "--docs", str(tmp_path)]) == 1
    assert f"settings.md is stale: run `{docs.REGENERATE}`" in capsys.readouterr().err
    assert docs.main(["--docs", str(tmp_path)]) == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == ["cli.md", "settings.md"]
    assert docs.main(["--check", "--docs", str(tmp_path)]) == 0


def test_the_cli_reference_names_every_command_and_option() -> None:
    page = (DOCS / "cli.md").read_text(encoding="utf-8")
    for name, subparser in subcommands().items():
        assert f"## newsdag {name}" in page, name
        for action in subparser._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert f"`{option}" in page, f"{name} {option}"
        assert subparser.description, f"`newsdag {name} --help` says what the command does"
    assert "`--debug`" in page and "Exit status" in page


def test_every_setting_is_documented_beside_its_field() -> None:
    page = (DOCS / "settings.md").read_text(encoding="utf-8")
    options = {option for sub in subcommands().values() for action in sub._actions for option in action.option_strings}
    envs = [item.metadata.get("env", "") for item in fields(Settings)]
    assert len(set(envs)) == len(envs)
    for item in fields(Settings):
        env, text = item.metadata.get("env", ""), item.metadata.get("help", "")
        assert env.startswith("NEWSDAG_") and text, item.name
        assert f"| `{env}` |" in page, env
        if "flag" in item.metadata:
            assert item.metadata["flag"] in options, item.name
