"""The documentation is tested: the generated reference pages are current, every command, option and setting is
documented, the README stays a short front door, and every link between the README and docs/ resolves."""

from __future__ import annotations

import argparse
import re
from dataclasses import fields
from pathlib import Path

import pytest

from newsdag.flows import docs
from newsdag.flows.cli import build_parser
from newsdag.flows.settings import Settings
from tests.conftest import PROJECT

README = PROJECT / "README.md"
DOCS = PROJECT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


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


def headings(path: Path) -> set[str]:
    """The anchors GitHub gives a page's headings."""
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    anchors = set()
    for title in re.findall(r"^#+ (.+)$", text, re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", title.strip().lower().replace("`", ""))
        anchors.add(slug.replace(" ", "-"))
    return anchors


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(PROJECT)) for page in PAGES])
def test_every_link_between_the_readme_and_docs_resolves(page: Path) -> None:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: not checked offline
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        assert resolved.exists(), f"{page.name}: {target}"
        if anchor and resolved.suffix == ".md":
            assert anchor in headings(resolved), f"{page.name}: {target}"


def test_the_readme_is_a_short_front_door_to_every_page() -> None:
    readme = README.read_text(encoding="utf-8")
    assert len(readme.encode()) <= 10 * 1024
    linked = {Path(target.partition("#")[0]).name for target in LINK.findall(readme)}
    assert {page.name for page in DOCS.glob("*.md")} <= linked


def test_the_readme_commands_are_those_ci_runs() -> None:
    readme = README.read_text(encoding="utf-8")
    block = readme.split("## Set up and run (two commands)", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    ci = (PROJECT / ".ci" / "run").read_text(encoding="utf-8").replace(" -q ", " ")  # CI only installs quietly
    for command in block.strip().splitlines():
        assert command in ci.splitlines() or f"{command} ||" in ci, command
