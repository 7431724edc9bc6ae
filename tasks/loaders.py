"""Loaders: read local inputs (.html/.htm(.gz), .txt dumps, .jsonl) into RawDocuments, or Rejects."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from charset_normalizer import from_bytes

from newsdag.tasks.decompress import GZIP, decompress_bounded
from newsdag.tasks.errors import DecompressError
from newsdag.tasks.models import DocumentHints, LineSpan, RawDocument, Reject, WorkItem

# File endings the loaders read; anything else in a directory is reported, not read.
SUPPORTED_SUFFIXES = (".html", ".htm", ".xhtml", ".html.gz", ".htm.gz", ".txt", ".jsonl", ".jsonl.gz")
# How much of a document is inspected when deciding whether it is binary.
BINARY_SNIFF_BYTES = 8192
# Bytes no text holds: NUL and the other C0 controls except tab, newline, VT, form feed, CR and ESC.
BINARY_BYTES = bytes(sorted(set(range(32)) - {9, 10, 11, 12, 13, 27}))
# One rule for files and fetched pages alike: a document is binary when these bytes are more than
# this share of its first BINARY_SNIFF_BYTES (images and archives hold ~10 %, after their headers
# at least ~0.4 %, like any compressed data); fewer are stray bytes in a text (a broken CMS, a bad
# paste): the document is read as text and extraction drops its NULs, as HTML5 parsers ignore them.
MAX_BINARY_SHARE = 0.01
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
FILE_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a named pipe",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}
META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
# Detected encodings below this coherence are treated as undecodable (binary noise decodes to something).
MIN_DETECTION_COHERENCE = 0.2
# A page that declares UTF-8 but has a few broken byte sequences (a bad paste, a truncated multi-byte
# character) is read as UTF-8 with U+FFFD for them, as long as they are at most this share of the bytes.
# (Without a declaration, detection decides: a Latin-1 page must not lose its accents to U+FFFD.)
MAX_INVALID_UTF8_SHARE = 0.01


def is_supported(path: Path) -> bool:
    return path.name.lower().endswith(SUPPORTED_SUFFIXES)


def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def archived_path(archive_dir: Path, doc_id: str) -> Path:
    """Where the archive keeps a document's bytes (tasks/load.py's archive_documents writes them)."""
    return archive_dir / doc_id[:2] / doc_id


def with_archived_content(document: RawDocument, archive_dir: Path) -> RawDocument:
    """The document with its bytes read back from the archive; OSError when they are not there. A WARC
    record is not archived and still has its bytes."""
    if document.warc is not None:
        return document
    return replace(document, content=archived_path(archive_dir, document.doc_id).read_bytes())


def load_documents(
    item: WorkItem, *, max_file_bytes: int, max_decompressed_bytes: int, now: datetime | None = None
) -> Iterator[RawDocument | Reject]:
    """The documents in one local file (many for a JSONL file), or a Reject saying why there are none."""
    path = Path(item.location)
    read_at = now or datetime.now(UTC)
    name = path.name.lower()
    if not is_supported(path):
        yield Reject(item.location, "discover", "unsupported-type", f"not a supported input type: {path.name}")
        return
    if item.line is not None:
        line_or_reject = read_line(item.location, path, item.line, max_file_bytes)
        if isinstance(line_or_reject, Reject):
            yield line_or_reject
        else:
            yield jsonl_document(item, file_uri(path), item.line.number, line_or_reject, read_at)
        return
    stamp = file_stamp(path)  # before reading: a file changed while being read gets read again next time
    content_or_reject = read_file(item.location, path, max_file_bytes, max_decompressed_bytes)
    if isinstance(content_or_reject, Reject):
        yield content_or_reject
        return
    content = content_or_reject
    if name.endswith((".jsonl", ".jsonl.gz")):
        yield from jsonl_documents(item, path, content, read_at)
        return
    kind = "text" if name.endswith(".txt") else "html"
    document = make_document(item, file_uri(path), content, kind, read_at, input_name=item.location)
    yield replace(document, file_stamp=stamp) if isinstance(document, RawDocument) else document


def file_uri(path: Path) -> str:
    return path.resolve().as_uri()


def file_stamp(path: Path) -> str | None:
    """Size, modification and change time of a file, or None if it cannot be read.

    A rewrite changes the change time even when a copy restores the size and modification time, so an
    equal stamp means the same bytes (as far as the file system can tell without reading them).
    """
    try:
        info = path.stat()
    except OSError:
        return None
    return f"{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}"


def read_file(label: str, path: Path, max_file_bytes: int, max_decompressed_bytes: int) -> bytes | Reject:
    """The file's bytes (decompressed for .gz), or a Reject: missing, unreadable, not a regular file,
    empty, too large, binary."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            return not_a_file(label, info.st_mode)
        if info.st_size > max_file_bytes:
            return Reject(label, "fetch", "too-large", f"{info.st_size} bytes; the limit is {max_file_bytes}")
        handle, mode = open_without_blocking(path)  # the file's place may hold a pipe since the check
        with handle:
            if not stat.S_ISREG(mode):
                return not_a_file(label, mode)
            content = handle.read(max_file_bytes + 1)
    except OSError as error:
        return Reject(label, "fetch", "unreadable", f"cannot read the file: {error.strerror or error}")
    if path.name.lower().endswith(".gz"):
        content_or_reject = gunzip_bounded(label, content, max_decompressed_bytes)
        if isinstance(content_or_reject, Reject):
            return content_or_reject
        content = content_or_reject
    if not content.strip():
        return Reject(label, "fetch", "empty", "the file is empty")
    if looks_binary(content):
        return Reject(label, "fetch", "binary", "the file holds binary data (NUL and control bytes), not text")
    return content


def open_without_blocking(path: Path) -> tuple[BinaryIO, int]:
    """The file opened for reading, and the mode of what was opened. Non-blocking, so that a named pipe
    under a file's name never hangs the run: callers read only a regular file (see not_a_file)."""
    handle = os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb")
    try:
        return handle, os.fstat(handle.fileno()).st_mode
    except OSError:
        handle.close()
        raise


def not_a_file(label: str, mode: int) -> Reject:
    """A named pipe, socket, device or directory under an input's name: never read (a pipe would block
    forever, a device never ends)."""
    kind = FILE_KINDS.get(stat.S_IFMT(mode), "not a regular file")
    return Reject(label, "fetch", "not-a-file", f"{kind}, not a regular file; not read")


def gunzip_bounded(label: str, content: bytes, limit: int) -> bytes | Reject:
    """Decompress gzip without ever holding more than `limit` bytes (a gzip bomb stops at the cap)."""
    try:
        return decompress_bounded(content, limit, GZIP)
    except DecompressError as error:
        rule = "too-large" if error.rule == "too-large" else "bad-gzip"
        return Reject(label, "fetch", rule, str(error))


def looks_binary(content: bytes) -> bool:
    """Whether bytes are binary data rather than text with a few stray NULs (see MAX_BINARY_SHARE)."""
    head = content[:BINARY_SNIFF_BYTES]
    if head.startswith(UTF16_BOMS):
        return False
    controls = len(head) - len(head.translate(None, BINARY_BYTES))
    return controls > MAX_BINARY_SHARE * len(head)


def declared_charset(content: bytes) -> str | None:
    """The charset a page declares in <meta>, if any."""
    match = META_CHARSET.search(content[:4096])
    return match.group(1).decode("ascii", "replace").lower() if match else None


def decode_content(content: bytes, declared: str | None = None) -> tuple[str, str] | None:
    """(text, encoding used), or None when the bytes are no text in any encoding we can detect.

    Valid UTF-8 wins over a declaration: saved pages are often re-encoded to UTF-8 while
    their <meta charset> still names the original encoding. Binary data (see looks_binary) is no
    text, whatever it would decode to: fetched pages get the same rule as files.
    """
    if looks_binary(content):
        return None
    if content.startswith(UTF16_BOMS):
        try:
            return content.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            return None
    try:
        return content.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    declares_utf8 = declared is not None and declared.replace("_", "-") in ("utf-8", "utf8")
    if declared and not declares_utf8:
        try:
            return content.decode(declared), declared
        except (UnicodeDecodeError, LookupError):
            pass
    if declares_utf8:
        lossy = content.decode("utf-8", errors="replace")
        if lossy.count("\ufffd") <= MAX_INVALID_UTF8_SHARE * len(content):
            return lossy, "utf-8"
    best = from_bytes(content).best()
    if best is None or best.coherence < MIN_DETECTION_COHERENCE:
        return None
    return str(best), best.encoding


def make_document(
    item: WorkItem,
    url: str,
    content: bytes,
    kind: str,
    read_at: datetime,
    *,
    input_name: str,
    hints: DocumentHints | None = None,
) -> RawDocument | Reject:
    declared = declared_charset(content) if kind == "html" else None
    decoded = decode_content(content, declared)
    if decoded is None:
        return Reject(input_name, "fetch", "undecodable", "the bytes are not text in any detectable encoding")
    return RawDocument(
        input=input_name,
        url=url,
        content=content,
        kind=kind,  # type: ignore[arg-type]
        fetched_at=read_at,
        doc_id=sha256_hex(content),
        source=item.source,
        content_type="text/html" if kind == "html" else "text/plain",
        encoding_declared=declared,
        encoding=decoded[1],
        hints=hints or DocumentHints(),
    )


def read_line(label: str, path: Path, line: LineSpan, max_line_bytes: int) -> bytes | Reject:
    """The bytes of one line of a JSONL file as discovery listed it, or a Reject: too large, unreadable,
    or the file changed since it was listed (its lines may have moved: none is guessed at)."""
    line_label = f"{label}:{line.number}"
    if line.length > max_line_bytes:
        return Reject(
            line_label,
            "fetch",
            "too-large",
            f"line {line.number} holds {line.length} bytes; the limit is {max_line_bytes}",
        )
    changed = Reject(line_label, "fetch", "changed", "the file changed after it was listed; run again to read it")
    try:
        handle, mode = open_without_blocking(path)
        with handle:
            if not stat.S_ISREG(mode):
                return not_a_file(line_label, mode)
            if file_stamp(path) != line.file_stamp:
                return changed
            handle.seek(line.offset)
            content = handle.read(line.length)
    except OSError as error:
        return Reject(line_label, "fetch", "unreadable", f"cannot read the file: {error.strerror or error}")
    return content if len(content) == line.length else changed


def jsonl_documents(item: WorkItem, path: Path, content: bytes, read_at: datetime) -> Iterator[RawDocument | Reject]:
    """One document per line of a whole JSONL file's content (a .jsonl.gz; see discover.jsonl_lines)."""
    uri = file_uri(path)
    for number, line in enumerate(content.splitlines(), start=1):
        if line.strip():
            yield jsonl_document(item, uri, number, line, read_at)


def jsonl_document(item: WorkItem, uri: str, number: int, line: bytes, read_at: datetime) -> RawDocument | Reject:
    """The document of one JSONL line with `html` or `text`, or a Reject for that line only."""
    label = f"{item.location}:{number}"
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return Reject(label, "fetch", "bad-json", f"line {number} is not valid JSON: {error}")
    if not isinstance(record, dict):
        return Reject(label, "fetch", "bad-json", f"line {number} is not a JSON object")
    body = record.get("html") or record.get("text")
    if not isinstance(body, str) or not body.strip():
        return Reject(label, "fetch", "missing-content", f"line {number} has no 'html' or 'text' string")
    kind = "html" if isinstance(record.get("html"), str) and record.get("html") else "text"
    hints = DocumentHints(
        url=string_or_none(record.get("url")),
        title=string_or_none(record.get("title")),
        date=string_or_none(record.get("date")),
    )
    try:  # JSON may escape half of a UTF-16 pair ("\ud800"): valid JSON, but no text
        content = body.encode("utf-8")
        for value in (hints.url, hints.title, hints.date):
            if value is not None:
                value.encode("utf-8")
    except UnicodeEncodeError:
        return Reject(label, "fetch", "bad-json", f"line {number} holds a lone surrogate escape (\\ud800-\\udfff)")
    return make_document(
        item, hints.url or f"{uri}#line={number}", content, kind, read_at, input_name=label, hints=hints
    )


def string_or_none(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None
