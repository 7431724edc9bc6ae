"""Discovery: turn what the user named (files, directories, globs) into work items."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from tasks.errors import InputError
from tasks.models import WorkItem

# File endings the loaders read; anything else in a directory is reported, not read.
SUPPORTED_SUFFIXES = (".html", ".htm", ".xhtml", ".html.gz", ".htm.gz", ".txt", ".jsonl", ".jsonl.gz")
GLOB_CHARACTERS = set("*?[")


def is_supported(path: Path) -> bool:
    return path.name.lower().endswith(SUPPORTED_SUFFIXES)


def discover_paths(inputs: Sequence[str], source: str = "cli") -> Iterator[WorkItem]:
    """Every file under the given files, directories (recursive, sorted) and globs, each once.

    Raises InputError before yielding anything when an input names nothing, so a
    typo fails the command instead of running an empty ingest.
    """
    roots = [expand_input(raw) for raw in inputs]
    seen: set[str] = set()
    for paths in roots:
        for path in paths:
            for file in walk_files(path):
                key = str(file.resolve()) if file.exists() else str(file)
                if key not in seen:
                    seen.add(key)
                    yield WorkItem(location=str(file), source=source, kind="file")


def expand_input(raw: str) -> list[Path]:
    """A path, or the paths a glob matches; InputError when there is none."""
    path = Path(raw).expanduser()
    if path.exists() or path.is_symlink():
        return [path]
    if GLOB_CHARACTERS & set(raw):
        matches = sorted(glob.glob(str(path), recursive=True))
        if matches:
            return [Path(match) for match in matches]
        raise InputError("the pattern matches no file", subject=raw)
    raise InputError("no such file or directory", subject=raw)


def walk_files(path: Path) -> Iterator[Path]:
    """The file itself, or every non-hidden file below a directory in name order (links not followed)."""
    if not path.is_dir():
        yield path
        return
    for directory, subdirectories, files in os.walk(path, followlinks=False):
        subdirectories[:] = sorted(name for name in subdirectories if not name.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(directory) / name
