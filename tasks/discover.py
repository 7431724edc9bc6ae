"""Discovery: turn what the user named (files, directories, globs, feeds, sitemaps, URL lists) into work items.

Here: local files, directories, globs and JSONL dumps. Feeds, sitemaps and URL lists are read in
tasks/discover_web.py.
"""

from __future__ import annotations

import glob
import os
import re
import stat
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from newsdag.tasks.errors import InputError
from newsdag.tasks.loaders import BINARY_SNIFF_BYTES, file_stamp, looks_binary, open_without_blocking
from newsdag.tasks.models import LineSpan, WorkItem

GLOB_CHARACTERS = set("*?[")
# A JSONL file (not gzipped: that one is read whole, up to the decompressed-size cap) becomes one work
# item per line, so a dump of any size streams through the batches like a directory of files; it is
# scanned for line ends this many bytes at a time.
JSONL_SCAN_BYTES = 1024 * 1024
# WARC and ARC files (tasks/warc.py), whose records the run reads as its items.
ARCHIVE_SUFFIXES = (".warc", ".warc.gz", ".warc.lz4", ".warc.zst", ".arc", ".arc.gz")
# What bytes.strip() removes besides the newline: a line of only these is blank, and not listed.
BLANK_BYTES = b" \t\r\x0b\x0c"
NEWLINE_RUNS = re.compile(rb"\n+")
LINE_START_BLANKS = BLANK_BYTES + b"\n"
BLANK_AFTER_NEWLINE = re.compile(rb"\n[\n \t\r\x0b\x0c]")


@dataclass(frozen=True)
class InputRoot:
    """One local input as the user named it: a file, or a directory to walk; `key` is its resolved path."""

    path: Path
    key: str
    is_dir: bool


def discover_paths(inputs: Sequence[str], source: str = "cli", *, skip: Sequence[Path] = ()) -> Iterator[WorkItem]:
    """Every file under the given files, directories (recursive, in name order) and globs, each once; a
    .jsonl file as one item per non-blank line. Files and directories in `skip` are passed over (the
    warehouse's own files, when they lie under an input directory).

    A stream: items come as the walk and the scan of each JSONL file find them, so a run starts on its
    first batch at once, and listing keeps nothing of what it has handed out. Listing ten million JSONL
    lines up front took ~200 bytes each (2 GB) and ~30 s before the first batch (bench/results.md).

    Raises InputError when called, before anything is listed, if an input names nothing: a typo fails
    the command instead of running an empty ingest.
    """
    roots = input_roots(inputs)
    return path_items(listed_files(roots, skipped_keys(skip)), source)


def count_work_items(
    inputs: Sequence[str], *, skip: Sequence[Path] = (), stop: threading.Event | None = None
) -> int | None:
    """How many items discover_paths lists for the same inputs, without making them: a progress total.

    The same walk, but a JSONL file's non-blank lines are counted with byte operations on whole blocks
    instead of a Python step per line. None when `stop` is set before the end, or an input is gone.
    """
    try:
        roots = input_roots(inputs)
    except InputError:
        return None
    total = 0
    for file in listed_files(roots, skipped_keys(skip)):
        if stop is not None and stop.is_set():
            return None
        if file.name.lower().endswith(ARCHIVE_SUFFIXES):
            return None  # a WARC file's records are known only by reading it (decompressing: no count is cheap)
        lines = count_jsonl_lines(file, stop) if is_jsonl(file) else None
        if stop is not None and stop.is_set():
            return None
        total += lines or 1  # not JSONL, or nothing to list: one item for the file
    return total


def input_roots(inputs: Sequence[str]) -> list[InputRoot]:
    """The files and directories the inputs name, globs expanded; InputError for one that names nothing."""
    return [InputRoot(path, path_key(path), path.is_dir()) for raw in inputs for path in expand_input(raw)]


def skipped_keys(skip: Sequence[Path]) -> frozenset[str]:
    return frozenset(path_key(path) for path in skip)


def path_key(path: Path) -> str:
    """A file's resolved path: the same file however it was named (relative, through links). A name that
    resolves to nothing (a dangling link) is its own key, in its resolved directory."""
    if path.exists():
        return str(path.resolve())
    return str(path.parent.resolve() / path.name)


def is_jsonl(path: Path) -> bool:
    return path.name.lower().endswith(".jsonl")


def path_items(files: Iterable[Path], source: str) -> Iterator[WorkItem]:
    """One work item per file, or one per non-blank line of a .jsonl file (its lines share one location)."""
    for file in files:
        location = str(file)
        lines = jsonl_lines(file) if is_jsonl(file) else None
        first = next(lines, None) if lines is not None else None
        if first is None:  # not JSONL, or nothing to list: the read step says why
            yield WorkItem(location=location, source=source, kind="file")
            continue
        yield WorkItem(location=location, source=source, kind="file", line=first)
        for line in lines:  # type: ignore[union-attr]  # not None when `first` is not
            yield WorkItem(location=location, source=source, kind="file", line=line)


def listed_files(roots: Sequence[InputRoot], skipped: frozenset[str]) -> Iterator[Path]:
    """The files of the roots in order, each once however many roots or links lead to it.

    Without a set of every file listed: a file is passed over when an earlier root's walk lists its
    resolved path (known from the paths alone: below that directory, with no hidden or skipped directory
    between), or a link listed earlier leads to it. Only links' targets are kept, so a million files cost
    no memory here; a set of every resolved path cost ~150 bytes and a resolve (a stat per path
    component) for each file.
    """
    linked: set[str] = set()  # where the links listed so far lead
    named: set[str] = set()  # the files named as inputs so far
    walked: list[InputRoot] = []  # the directories walked so far
    for root in roots:
        for path, key, link_parts in walk_root(root, skipped):
            if key in skipped or key in linked or key in named:
                continue
            if any(walk_parts(other, key, skipped) is not None for other in walked):
                continue
            if link_parts is not None:
                target = walk_parts(root, key, skipped) if root.is_dir else None
                if target is not None and walk_order(target) < walk_order(link_parts):
                    continue  # this walk listed the file itself already
                linked.add(key)
            yield path
        if root.is_dir:
            walked.append(root)
        else:
            named.add(root.key)


def walk_root(root: InputRoot, skipped: frozenset[str]) -> Iterator[tuple[Path, str, tuple[str, ...] | None]]:
    """(path, resolved path, parts below the root if it is a link, else None) of the root itself, or of
    every non-hidden file below a directory in name order, a directory's files before its subdirectories
    (links to directories are not followed, directories in `skipped` not entered).

    A directory below a root is no link, so its resolved path is its parent's and its name: only links
    need resolving. One directory's names are held at a time (and the subdirectories still to walk).
    """
    if not root.is_dir:
        yield root.path, root.key, () if root.path.is_symlink() else None
        return
    pending: list[tuple[Path, str, tuple[str, ...]]] = [(root.path, root.key, ())]
    while pending:
        directory, key, parts = pending.pop()
        files, links, subdirectories = directory_names(directory)
        for name in files:
            path = directory / name
            if name in links:
                yield path, path_key(path), (*parts, name)
            else:
                yield path, os.path.join(key, name), None
        for name in reversed(subdirectories):
            subdirectory_key = os.path.join(key, name)
            if subdirectory_key not in skipped:
                pending.append((directory / name, subdirectory_key, (*parts, name)))


def directory_names(directory: Path) -> tuple[list[str], set[str], list[str]]:
    """(files, those of them that are links, subdirectories that are no links) of a directory, sorted,
    hidden names left out; nothing when it cannot be read (as os.walk)."""
    files: list[str] = []
    links: set[str] = set()
    subdirectories: list[str] = []
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith("."):
                    continue
                try:
                    is_dir = entry.is_dir()  # a link to a directory counts as one, and is not walked
                except OSError:
                    is_dir = False
                if is_dir:
                    if not entry.is_symlink():
                        subdirectories.append(name)
                    continue
                files.append(name)
                if entry.is_symlink():
                    links.add(name)
    except OSError:
        return [], set(), []
    files.sort()
    subdirectories.sort()
    return files, links, subdirectories


def walk_parts(root: InputRoot, key: str, skipped: frozenset[str]) -> tuple[str, ...] | None:
    """The parts below a directory root of the file at resolved path `key`, if the root's walk lists it
    there (no hidden name, no skipped directory on the way); None if it does not."""
    if not root.is_dir:
        return None
    prefix = os.path.join(root.key, "")
    if not key.startswith(prefix):
        return None
    parts = tuple(key[len(prefix) :].split(os.sep))
    if any(part.startswith(".") for part in parts):
        return None
    directory = root.key
    for part in parts[:-1]:
        directory = os.path.join(directory, part)
        if directory in skipped:
            return None
    return parts


def walk_order(parts: Sequence[str]) -> tuple[tuple[int, str], ...]:
    """A sort key of files below one root in the order walk_root lists them: in each directory its files
    first, then its subdirectories, each in name order."""
    return (*((1, part) for part in parts[:-1]), (0, parts[-1]))


def open_jsonl(path: Path) -> tuple[BinaryIO, str | None, int, bytes] | None:
    """(open file, stamp, size, first block) of a JSONL file worth scanning for lines, or None when it is
    no regular file, cannot be read or holds binary data."""
    try:
        handle, mode = open_without_blocking(path)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(mode):
            handle.close()
            return None
        size = os.fstat(handle.fileno()).st_size
        stamp = file_stamp(path)  # before the scan: a line read later checks the file is unchanged
        block = handle.read(JSONL_SCAN_BYTES)
    except OSError:
        handle.close()
        return None
    if looks_binary(block[:BINARY_SNIFF_BYTES]):
        handle.close()
        return None
    return handle, stamp, size, block


def jsonl_lines(path: Path) -> Iterator[LineSpan] | None:
    """The non-blank lines of a JSONL file as a scan finds them, or None when it is no regular file,
    cannot be read or holds binary data (then the file is one work item and the read step rejects it
    with the reason). The file stays open while its lines are listed."""
    opened = open_jsonl(path)
    return scan_lines(*opened) if opened is not None else None


def scan_lines(handle: BinaryIO, stamp: str | None, size: int, block: bytes) -> Iterator[LineSpan]:
    # Only where the current line started and whether it holds more than blanks: a line of any length
    # costs no memory here (the read step rejects one over the size limit).
    with handle:
        number, line_start, has_content, offset = 0, 0, False, 0
        while block:
            cut = 0
            while (end := block.find(b"\n", cut)) >= 0:
                number += 1
                if has_content or block[cut:end].strip():
                    yield LineSpan(number, line_start, offset + end - line_start, stamp)
                cut = end + 1
                line_start, has_content = offset + cut, False
            has_content = has_content or bool(block[cut:].strip())
            offset += len(block)
            try:
                block = handle.read(JSONL_SCAN_BYTES)
            except OSError:
                # The rest of the file becomes one more line, which the read step rejects with the
                # reason (unreadable, most likely): no line is lost without a trace.
                yield LineSpan(number + 1, line_start, max(0, size - line_start), stamp)
                return
        if has_content:
            yield LineSpan(number + 1, line_start, offset - line_start, stamp)


def count_jsonl_lines(path: Path, stop: threading.Event | None = None) -> int | None:
    """How many lines jsonl_lines lists in a file (None where it lists none), by whole blocks: with the
    blank bytes deleted, a non-blank line is a run of other bytes ended by a newline or the file's end,
    and runs of newlines squeezed to one leave one newline per such line."""
    opened = open_jsonl(path)
    if opened is None:
        return None
    handle, _, _, block = opened
    lines, in_line = 0, False  # in_line: the bytes so far end inside a non-blank line
    with handle:
        while block:
            if block[0] not in LINE_START_BLANKS and not BLANK_AFTER_NEWLINE.search(block):
                # Every line of the block starts with a byte that is no blank: none is blank, and each
                # newline ends one (the usual case, 3x cheaper than deleting the blank bytes).
                lines += block.count(b"\n")
                in_line = not block.endswith(b"\n")
            else:
                squeezed = block.translate(None, BLANK_BYTES)
                if b"\n\n" in squeezed:
                    squeezed = NEWLINE_RUNS.sub(b"\n", squeezed)
                lines += squeezed.count(b"\n") - (1 if squeezed.startswith(b"\n") and not in_line else 0)
                if squeezed:
                    in_line = not squeezed.endswith(b"\n")
            if stop is not None and stop.is_set():
                return None
            try:
                block = handle.read(JSONL_SCAN_BYTES)
            except OSError:
                return lines + 1  # as jsonl_lines: the rest is one more line
    return lines + in_line


def expand_input(raw: str) -> list[Path]:
    """A path, or the paths a glob matches (in name order, all listed at once); InputError when there is none."""
    path = Path(raw).expanduser()
    if path.exists() or path.is_symlink():
        return [path]
    if GLOB_CHARACTERS & set(raw):
        matches = sorted(glob.glob(str(path), recursive=True))
        if matches:
            return [Path(match) for match in matches]
        raise InputError("the pattern matches no file", subject=raw)
    raise InputError("no such file or directory", subject=raw)
