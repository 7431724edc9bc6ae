"""Discovery: turn what the user named (files, directories, globs, feeds, sitemaps, URL lists) into work items.

The web half is pure: the flow fetches a feed's or sitemap's bytes and hands them here; for a
sitemap index it fetches each child and calls `parse_sitemap` again. Nothing here touches the network.
"""

from __future__ import annotations

import calendar
import glob
import io
import os
import re
import stat
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urljoin, urlsplit, urlunsplit
from xml.etree.ElementTree import ParseError

import courlan
import defusedxml.ElementTree as SafeElementTree
import feedparser
from defusedxml import DefusedXmlException

from tasks.dates import feed_date, hint_day, hint_instant
from tasks.decompress import GZIP, decompress_bounded
from tasks.errors import DecompressError, DiscoveryError, InputError
from tasks.loaders import BINARY_SNIFF_BYTES, file_stamp, looks_binary, open_without_blocking
from tasks.models import DocumentHints, LineSpan, Reject, WorkItem, strip_userinfo

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


# --- the web: feeds, sitemaps, URL lists ---------------------------------------------------------

WEB_SCHEMES = ("http", "https")
ABSOLUTE_PREFIXES = ("http://", "https://")
# The sitemaps protocol caps one sitemap at 50,000 URLs and 50 MiB uncompressed; feeds get the same byte cap.
SITEMAP_MAX_URLS = 50_000
MAX_XML_BYTES = 50 * 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
# A regex fallback for documents expat cannot parse at all: feedparser's loose parser still reads
# them, so entity declarations are refused on sight rather than left to its DOCTYPE handling.
ENTITY_DECLARATION = re.compile(rb"<!\s*ENTITY", re.IGNORECASE)
DATE_WORD = re.compile(r"[a-z]+|\d+")
# Feed entry date fields in order of preference: a backfill window is about publication.
FEED_DATE_FIELDS = ("published", "updated", "created")
SITEMAP_ROOTS = ("urlset", "sitemapindex")
# A URL cannot hold whitespace, so " #" after one starts a comment while "#" inside it is a fragment.
INLINE_COMMENT = re.compile(r"\s+#")


@dataclass(frozen=True)
class SitemapPage:
    """What one sitemap document lists.

    A `<urlset>` fills `articles` (kind "url", hints from `<lastmod>` or Google News tags);
    a `<sitemapindex>` fills `children` (child sitemap URLs, to fetch and parse in turn) and
    `child_dates` (each child's `<lastmod>` as ISO 8601, or None; same order and length).
    `truncated` is True when the document held more than `max_urls` entries and only the first were kept.
    """

    articles: tuple[WorkItem, ...] = ()
    children: tuple[str, ...] = ()
    child_dates: tuple[str | None, ...] = ()
    truncated: bool = False


@dataclass(frozen=True)
class DateSelection:
    """The items a date window kept (newest first) and how many it dropped, by reason."""

    items: tuple[WorkItem, ...]
    undated: int = 0
    outside: int = 0


def normalize_url(url: str, base: str | None = None) -> str | None:
    """An absolute http(s) URL in canonical form, or None when `url` is not one.

    Relative URLs are resolved against `base`. The host is lowercased, default ports, the
    fragment, credentials (`user:password@`) and tracking parameters (utm_*, fbclid, gclid, mc_cid,
    ref, ... as courlan knows them) are removed, and the remaining query parameters are sorted, so
    one article found through two feeds gets one address.
    """
    candidate = strip_userinfo("".join(url.split()))  # feeds wrap long <link>s over lines
    if not candidate:
        return None
    try:
        if base and not candidate.lower().startswith(ABSOLUTE_PREFIXES):  # urljoin is the slow part of a sitemap
            candidate = urljoin(base, candidate)
        parts = urlsplit(candidate)
        if parts.scheme.lower() not in WEB_SCHEMES or not parts.hostname:
            return None
        return courlan.normalize_url(urlunsplit(parts._replace(fragment="")), strict=False)
    except ValueError:  # an unparsable port or IPv6 literal
        return None


def parse_feed(content: bytes, feed_url: str, source: str, *, max_bytes: int = MAX_XML_BYTES) -> list[WorkItem]:
    """The articles an RSS 0.9x/1.0/2.0 or Atom feed links to, in feed order, each URL once.

    Links are resolved against `feed_url` and normalised; entries without an http(s) link are
    skipped. Hints carry the entry's title and its published (else updated) date as ISO 8601.
    Raises DiscoveryError: 'xml-entities' (entity declarations are refused, never expanded),
    'not-a-feed' (no feed markup, e.g. an HTML page), 'bad-gzip' or 'too-large'.
    """
    content = prepare_xml(content, feed_url, max_bytes)
    refuse_entities(content, feed_url)
    # A stream, never bytes or str: feedparser treats a string argument as a URL or file name to open.
    parsed = feedparser.parse(io.BytesIO(content), response_headers={"content-location": feed_url})
    if not parsed.get("version") and not parsed.entries:
        problem = parsed.get("bozo_exception")
        detail = f": {problem}" if problem else ""
        raise DiscoveryError(f"no RSS or Atom feed found{detail}", rule="not-a-feed", subject=feed_url)
    items: list[WorkItem] = []
    seen: set[str] = set()
    for entry in parsed.entries:
        url = normalize_url(entry.get("link") or "", base=feed_url)
        if url is None or url in seen:
            continue
        seen.add(url)
        hints = DocumentHints(url=url, title=clean_title(entry.get("title")), date=feed_entry_date(entry))
        items.append(WorkItem(location=url, source=source, kind="url", hints=hints))
    return items


def feed_entry_date(entry: feedparser.FeedParserDict) -> str | None:
    """The entry's date as written (offset kept); feedparser's UTC reading only when the raw string defeats
    us and feedparser read it without inventing a day (see `reads_as_written`)."""
    for name in FEED_DATE_FIELDS:
        written = feed_date(entry.get(name))
        if written:
            return written
    for name in FEED_DATE_FIELDS:
        parsed: time.struct_time | None = entry.get(f"{name}_parsed")
        if parsed and reads_as_written(entry.get(name) or "", parsed):
            return datetime(*parsed[:6], tzinfo=UTC).isoformat()
    return None


def reads_as_written(raw: str, parsed: time.struct_time) -> bool:
    """Whether feedparser's reading of a date we could not read keeps the year, month and day written there.

    feedparser reads dates like "Thursday, May 16, 2024" that we cannot, but it also rolls a malformed
    "2026-02-30" over to 2 March and "T99:00" into later days. So its reading counts only for dates that
    name their month in words, and only when the day, month and year it found are the ones written.
    """
    words = set(DATE_WORD.findall(raw.lower()))
    numbers = {int(word) for word in words if word.isdigit()}
    month_names = {calendar.month_abbr[parsed.tm_mon].lower(), calendar.month_name[parsed.tm_mon].lower()}
    return bool(month_names & words) and parsed.tm_year in numbers and parsed.tm_mday in numbers


def clean_title(title: str | None) -> str | None:
    text = " ".join((title or "").split())
    return text or None


def parse_sitemap(
    content: bytes,
    sitemap_url: str,
    source: str,
    *,
    max_urls: int = SITEMAP_MAX_URLS,
    max_bytes: int = MAX_XML_BYTES,
) -> SitemapPage:
    """The article URLs of a `<urlset>` or the child sitemaps of a `<sitemapindex>` (gzip accepted).

    Dates: Google News `<news:publication_date>` wins over `<lastmod>`; `<news:title>` becomes the
    title hint. Only the first `max_urls` entries are read (`truncated` says so). URLs are
    normalised and deduplicated in document order. Raises DiscoveryError: 'bad-xml',
    'xml-entities', 'not-a-sitemap', 'bad-gzip' or 'too-large' (more than `max_bytes` uncompressed).
    """
    content = prepare_xml(content, sitemap_url, max_bytes)
    entries: list[tuple[str, dict[str, str]]] = []
    root_name = ""
    truncated = False
    stack: list[str] = []
    fields: dict[str, str] = {}
    try:
        events = SafeElementTree.iterparse(io.BytesIO(content), events=("start", "end"), forbid_dtd=False)
        root = None
        for event, element in events:
            name = local_name(element.tag)
            if event == "start":
                stack.append(name)
                if root is None:
                    root, root_name = element, name
                    if name not in SITEMAP_ROOTS:
                        raise DiscoveryError(
                            f"the root element is <{name}>, not <urlset> or <sitemapindex>",
                            rule="not-a-sitemap",
                            subject=sitemap_url,
                        )
                elif len(stack) == 2:
                    if len(entries) >= max_urls:
                        truncated = True
                        break
                    fields = {}
                continue
            stack.pop()
            depth = len(stack) + 1
            if depth == 2 and root is not None:
                entries.append((name, fields))
                root.clear()  # a 50,000-URL sitemap is read entry by entry, not held as a tree
            elif depth == 3 and name in ("loc", "lastmod"):
                fields[name] = (element.text or "").strip()
            elif depth == 4 and stack[-1] == "news" and name in ("publication_date", "title"):
                fields[f"news_{name}"] = (element.text or "").strip()
    except DefusedXmlException as error:
        raise DiscoveryError(
            f"the sitemap declares XML entities or external references, refused: {error}",
            rule="xml-entities",
            subject=sitemap_url,
        ) from error
    except ParseError as error:
        raise DiscoveryError(f"not well-formed XML: {error}", rule="bad-xml", subject=sitemap_url) from error
    if root_name == "sitemapindex":
        children: dict[str, str | None] = {}  # insertion-ordered: document order, each child once
        for tag, entry in entries:
            url = normalize_url(entry.get("loc", ""), base=sitemap_url) if tag == "sitemap" else None
            if url is not None and url not in children:
                children[url] = feed_date(entry.get("lastmod"))
        return SitemapPage(children=tuple(children), child_dates=tuple(children.values()), truncated=truncated)
    articles: list[WorkItem] = []
    seen: set[str] = set()
    for tag, entry in entries:
        url = normalize_url(entry.get("loc", ""), base=sitemap_url) if tag == "url" else None
        if url is None or url in seen:
            continue
        seen.add(url)
        day = feed_date(entry.get("news_publication_date")) or feed_date(entry.get("lastmod"))
        hints = DocumentHints(url=url, title=clean_title(entry.get("news_title")), date=day)
        articles.append(WorkItem(location=url, source=source, kind="url", hints=hints))
    return SitemapPage(articles=tuple(articles), truncated=truncated)


def children_since(page: SitemapPage, since: date | None) -> tuple[str, ...]:
    """The child sitemaps worth fetching for a window starting at `since`.

    A child last modified before `since` cannot list an article published after it; children
    without a `<lastmod>` are always kept.
    """
    if since is None:
        return page.children
    pairs = zip(page.children, page.child_dates, strict=True)
    return tuple(url for url, when in pairs if when is None or hint_day(when) >= since)


def local_name(tag: str) -> str:
    """`{namespace}name` -> `name`: sitemaps appear with the 0.9 namespace, older ones, or none."""
    return tag.rsplit("}", 1)[-1]


def prepare_xml(content: bytes, subject: str, max_bytes: int) -> bytes:
    """Gunzip (bounded) when the bytes are gzip, refuse oversize input, drop a BOM and leading blanks."""
    if content.startswith(GZIP_MAGIC):
        content = gunzip_bounded(content, subject, max_bytes)
    elif len(content) > max_bytes:
        raise DiscoveryError(f"{len(content)} bytes; the limit is {max_bytes}", rule="too-large", subject=subject)
    content = content.removeprefix(UTF8_BOM).lstrip()
    if not content:
        raise DiscoveryError("the document is empty", rule="bad-xml", subject=subject)
    return content


def gunzip_bounded(content: bytes, subject: str, limit: int) -> bytes:
    """Decompress gzip without ever holding more than `limit` bytes (a gzip bomb stops at the cap)."""
    try:
        return decompress_bounded(content, limit, GZIP)
    except DecompressError as error:
        rule = "too-large" if error.rule == "too-large" else "bad-gzip"
        raise DiscoveryError(str(error), rule=rule, subject=subject) from error


def refuse_entities(content: bytes, subject: str) -> None:
    """DiscoveryError 'xml-entities' when a feed declares entities or external references.

    feedparser's own expat setup already refuses to expand them; this makes the refusal explicit
    and testable. A feed that is not well-formed passes: feedparser's loose parser reads many of those.
    """
    try:
        SafeElementTree.fromstring(content, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as error:
        raise DiscoveryError(
            f"the document declares XML entities or external references, refused: {error}",
            rule="xml-entities",
            subject=subject,
        ) from error
    except ParseError as error:
        if ENTITY_DECLARATION.search(content):
            raise DiscoveryError(
                "the document declares XML entities, refused", rule="xml-entities", subject=subject
            ) from error


def parse_url_list(text: str, source: str, origin: str = "urls") -> tuple[list[WorkItem], list[Reject]]:
    """One URL per line ('#' comments and blank lines skipped), normalised, each once, in order.

    A line that is no http(s) URL becomes a Reject (input `origin:line`, rule 'bad-url'), so a
    typo in a list is reported instead of silently dropped.
    """
    items: list[WorkItem] = []
    rejects: list[Reject] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        raw = INLINE_COMMENT.split(line.strip(), maxsplit=1)[0]
        if not raw or raw.startswith("#"):
            continue
        url = normalize_url(raw) if not any(character.isspace() for character in raw) else None
        if url is None:
            detail = f"not an http(s) URL: {strip_userinfo(raw)[:200]}"
            rejects.append(Reject(f"{origin}:{number}", "discover", "bad-url", detail))
            continue
        if url not in seen:
            seen.add(url)
            items.append(WorkItem(location=url, source=source, kind="url", hints=DocumentHints(url=url)))
    return items, rejects


def filter_by_date(items: Iterable[WorkItem], since: date | None = None, until: date | None = None) -> DateSelection:
    """Items whose hint date falls on a day from `since` through `until`, both inclusive, newest first.

    "--since 2024-05-01 --until 2024-05-03" reads as three days, so `until` is inclusive. The day
    is the one the feed wrote (its own offset), as for extracted dates. With a window, undated
    items and unreadable dates are dropped and counted in `undated`: a backfill asked for those days.
    Without a window every item is kept, dated ones newest first, then undated ones in their order.
    """
    windowed = since is not None or until is not None
    dated: list[tuple[datetime, WorkItem]] = []
    undated: list[WorkItem] = []
    outside = 0
    for item in items:
        try:
            day = hint_day(item.hints.date) if item.hints.date else None
            instant = hint_instant(item.hints.date) if item.hints.date else None
        except ValueError:
            day = instant = None
        if day is None or instant is None:
            undated.append(item)
            continue
        if (since is not None and day < since) or (until is not None and day > until):
            outside += 1
            continue
        dated.append((instant, item))
    dated.sort(key=lambda pair: pair[0], reverse=True)
    kept = [item for _, item in dated]
    if windowed:
        return DateSelection(items=tuple(kept), undated=len(undated), outside=outside)
    return DateSelection(items=(*kept, *undated))
