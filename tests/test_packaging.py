"""newsdag installs under one import name: the folders flows/, tasks/, expectations/ and warehouse/ are
newsdag.flows, newsdag.tasks, ...; the bare names belong to other distributions and are not importable."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

from newsdag.flows.settings import NEWSDAG_VERSION


def python_outside_the_checkout(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=False)


def test_the_stages_import_as_newsdag_and_not_by_their_folder_names(tmp_path: Path) -> None:
    assert python_outside_the_checkout("import newsdag.tasks.extract, newsdag.flows.cli", tmp_path).returncode == 0
    for bare in ("tasks", "flows", "expectations", "warehouse"):
        result = python_outside_the_checkout(f"import {bare}", tmp_path)
        assert result.returncode != 0 and "ModuleNotFoundError" in result.stderr, bare


def test_the_version_is_the_installed_distributions() -> None:
    assert NEWSDAG_VERSION == importlib.metadata.version("newsdag") == "0.1.0"
