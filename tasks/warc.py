"""WARC and ARC archives in: each HTML response record a document, the rest skipped and counted, per record.

A file is read once, front to back, by FastWARC (ARC files by warcio, which FastWARC does not read). Each
record is judged on its WARC and HTTP headers alone (type, status, content type, domain, WARC-Date, size),
so a record that is skipped costs its decompression and nothing more; the body of a kept record is carried
as stored and decoded later, off the reading thread (`payload_document`). Every step (`WarcStep`) says
where reading resumes after it, so a run that commits the steps of each batch with the batch goes on after
a kill at the next unread record. A broken part of a file (a malformed header, corrupt compressed data, a
record cut short) becomes a reject, and reading goes on at the next record that can be read.

Reader choice (docs/warc.md, bench/results.md section 9, `bench/warc.py --pages 2000 --scale 2 --steps 0`): on
2,000 dev pages as one news WARC, FastWARC 2.0 reads 2.0x as many whole records per CPU-second as warcio 1.8
gzipped per record (4,556 vs 2,254/s), 2.4x when only the headers are read (a filtered-out record), 1.5x
uncompressed; 3.2x on the shared Common Crawl, ClueWeb and warcio samples. It also reads .warc.lz4 and
.warc.zst, and the WARC gzipped as one member that warcio refuses. warcio stays for ARC files and for
writing WARC files (tasks/warc_export.py).

Over 500 lines on purpose: the sources, the record reader and the resume steps share the reading state
(offsets, members, skips) that makes a killed run go on at the next unread record.
"""

from __future__ import annotations

import io
import logging
import os
import re
import time
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import urlsplit

import requests
import urllib3
from fastwarc.warc import ArchiveIterator, WarcRecord, WarcRecordType

from newsdag.tasks.dates import http_date, warc_date
from newsdag.tasks.decompress import decompress_bounded
from newsdag.tasks.discover import ARCHIVE_SUFFIXES
from newsdag.tasks.errors import DecompressError, FetchError, PermanentFetchError, TransientFetchError
from newsdag.tasks.fetch import Fetcher
from newsdag.tasks.loaders import declared_charset, file_stamp, sha256_hex
from newsdag.tasks.models import (
    DeclaredRights,
    DocumentHints,
    RawDocument,
    Reject,
    WarcOrigin,
    WarcPayload,
    WarcProgress,
    WarcResume,
    WarcRules,
    WarcStep,
    WorkItem,
    strip_userinfo,
)
from newsdag.tasks.netguard import Deadline
from newsdag.tasks.pagechecks import decode_fetched
from newsdag.tasks.sources import domain_allows

logger = logging.getLogger("newsdag")

# File endings read as archives (discover.ARCHIVE_SUFFIXES). FastWARC tells gzip, LZ4 and zstd apart by
# their magic bytes; ARC files go to warcio.
ARC_SUFFIXES = (".arc", ".arc.gz")
# How a record starts where reading can resume after a broken part: the magic of each compressed format's
# member (each record its own, as WARC files are written), or the version line of an uncompressed record.
RECORD_MAGIC = {".gz": b"\x1f\x8b\x08", ".lz4": b"\x04\x22\x4d\x18", ".zst": b"\x28\xb5\x2f\xfd"}
PLAIN_RECORD_MAGIC = b"WARC/1."
SCAN_BYTES = 1024 * 1024
# Common Crawl's paths lists (warc.paths.gz) name files relative to its data server.
COMMON_CRAWL_PREFIX = "crawl-data/"
COMMON_CRAWL_DATA = "https://data.commoncrawl.org/"
# Skip reasons, as counted in warc_skips and the run's `skipped`.
SKIP_NOT_RESPONSE = "not-response"  # warcinfo, request, metadata, resource, conversion, ...
SKIP_REVISIT = "revisit"
SKIP_NOT_HTTP = "not-http"  # a response record whose block is no HTTP response (or whose URI is not http(s))
SKIP_STATUS = "not-200"
SKIP_NOT_HTML = "not-html"
SKIP_OFF_DOMAIN = "off-domain"
SKIP_OUTSIDE_WINDOW = "outside-window"
# The reject rules of broken archives (stage fetch, like a file that cannot be read).
RULE_TRUNCATED = "warc-truncated"
RULE_BAD_RECORD = "warc-bad-record"
RULE_BAD_HTTP = "warc-bad-http"
RULE_BAD_CHUNKING = "warc-bad-chunking"
RULE_BAD_ENCODING = "warc-bad-encoding"
RULE_UNREADABLE = "warc-unreadable"
MAX_DETAIL_CHARS = 300
HEX = re.compile(rb"[0-9a-fA-F]+")
UNPRINTABLE = re.compile(r"[^\x20-\x7e]+")


def is_archive(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def is_arc(name: str) -> bool:
    return name.lower().endswith(ARC_SUFFIXES)


# --- where the bytes come from ------------------------------------------------------------------------------


class ArchiveChanged(Exception):  # a signal, not an error: the file is read from its start
    """The remote file is another version than the one reading resumes in (its ETag changed)."""

    def __init__(self, stamp: str | None) -> None:
        super().__init__(stamp)
        self.stamp = stamp


class ArchiveSource(Protocol):
    """An archive's bytes from any offset: a local file, or a remote one by HTTP Range requests."""

    name: str
    retries: int  # how often reading a remote file is resumed after the network failed

    def stamp(self) -> str | None: ...

    def open_at(self, offset: int, stamp: str | None) -> BinaryIO: ...

    def starts_record(self, offset: int) -> bool: ...

    def failure(self) -> FetchError | None: ...

    def record_read(self) -> None: ...

    def close(self) -> None: ...


class LocalArchive:
    """A WARC file on disk; `name` is its resolved path."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = str(path.resolve())
        self.retries = 0
        self.handle: BinaryIO | None = None

    def stamp(self) -> str | None:
        return file_stamp(self.path)

    def open_at(self, offset: int, stamp: str | None) -> BinaryIO:
        self.close()
        try:
            self.handle = open(self.path, "rb")  # noqa: SIM115  # closed by close(), which the reader calls
        except OSError as error:  # gone since it was listed, a list's path that never was, no permission
            reason = error.strerror or type(error).__name__
            raise PermanentFetchError(f"the file cannot be opened: {reason}", RULE_UNREADABLE) from None
        self.handle.seek(offset)
        return self.handle

    def starts_record(self, offset: int) -> bool:
        """Whether a record (its compressed member) starts at `offset`. FastWARC reports a record inside a
        bigger member (a file gzipped whole) at wherever its decompression had got to: reading cannot be
        resumed there, only at the member's start."""
        if self.handle is None:
            return False
        magic = record_magic(self.name)
        return os.pread(self.handle.fileno(), len(magic), offset) == magic

    def failure(self) -> FetchError | None:
        return None

    def record_read(self) -> None:
        pass

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


class RemoteStream(io.RawIOBase):
    """The body of a Range response as a file from `offset` on: tell() is the offset in the whole file, which
    FastWARC reports records at. A network failure is kept (`failure`) and reported to the reader as an
    OSError, so that the reader tells it from broken data and resumes with another Range request."""

    def __init__(self, response: requests.Response, offset: int, deadline: Deadline) -> None:
        self.raw = response.raw
        self.position = offset
        self.deadline = deadline
        self.failure: FetchError | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int = -1) -> bytes:
        if self.failure is not None:
            raise OSError(str(self.failure))
        try:
            # read1: what the socket has, up to `size`; read() would wait for all `size` bytes (FastWARC asks
            # for 64 KiB), holding back records that have arrived while the server is slow.
            data = self.raw.read1(size if size >= 0 else None, decode_content=False)
        except urllib3.exceptions.ReadTimeoutError:
            self.failure = TransientFetchError("the server stopped sending (read timeout)", "timeout")
        except (urllib3.exceptions.ProtocolError, OSError) as error:
            self.failure = TransientFetchError(f"the body ends early: {error}", "truncated")
        else:
            if self.deadline.expired:
                self.failure = self.deadline.error()
            else:
                self.position += len(data)
                return data
        if self.deadline.expired:
            self.failure = self.deadline.error()
        raise OSError(str(self.failure))

    def tell(self) -> int:
        return self.position


class RemoteArchive:
    """A WARC file on an http(s) server, read through the fetcher's guard (SSRF checks, timeouts, a deadline
    per record) and resumed with a Range request from any offset. `name` is its URL."""

    def __init__(self, url: str, fetcher: Fetcher) -> None:
        self.name = strip_userinfo(url)
        self.fetcher = fetcher
        self.retries = fetcher.policy.retries
        self.exits = ExitStack()
        self.stream: RemoteStream | None = None
        self.deadline: Deadline | None = None
        self.version: str | None = None

    def stamp(self) -> str | None:
        return self.version

    def open_at(self, offset: int, stamp: str | None) -> BinaryIO:
        """The file from `offset` on; ArchiveChanged when `stamp` (the version reading resumes in) is no
        longer the file's; FetchError when it cannot be had (after the fetch policy's retries)."""
        self.close()
        attempt = 0
        while True:
            attempt += 1
            try:
                return self.request(offset, stamp)
            except FetchError as error:
                self.close()
                policy = self.fetcher.policy
                if not error.transient or attempt > policy.retries:
                    error.attempts = attempt
                    raise
                time.sleep(policy.backoff_seconds * 2 ** (attempt - 1))

    def request(self, offset: int, stamp: str | None) -> BinaryIO:
        # identity: offsets are the file's own, never those of a body the server compressed on the fly.
        headers = {"Accept": "*/*", "Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if stamp:
                headers["If-Range"] = stamp
        response, deadline = self.exits.enter_context(self.fetcher.stream(self.name, headers))
        status = response.status_code
        version = response.headers.get("etag") or response.headers.get("last-modified")
        if status == 416:  # nothing from `offset` on: the file ended there
            self.version = stamp
            return io.BytesIO(b"")
        if status == 429 or status >= 500:
            raise TransientFetchError(f"HTTP {status} {response.reason}", "server-error", status=status)
        if status not in (200, 206):
            raise PermanentFetchError(f"HTTP {status} {response.reason}", "client-error", status=status)
        self.version = version
        stream = RemoteStream(response, 0 if status == 200 else offset, deadline)
        if status == 206:
            start = content_range_start(response.headers.get("content-range", ""))
            if start != offset:
                raise PermanentFetchError(f"asked for bytes from {offset}, got them from {start}", "bad-range")
        elif offset:
            if stamp and version != stamp:
                raise ArchiveChanged(version)
            # The server ignores Range: the bytes before `offset` are read and dropped.
            while stream.position < offset:
                if not stream.read(min(offset - stream.position, SCAN_BYTES)):
                    break
        self.stream, self.deadline = stream, deadline
        return stream  # type: ignore[return-value]  # a RawIOBase is a binary file

    def starts_record(self, offset: int) -> bool:
        return True  # a remote stream cannot look back; archives served for download gzip each record alone

    def failure(self) -> FetchError | None:
        return self.stream.failure if self.stream is not None else None

    def record_read(self) -> None:
        if self.deadline is not None:
            self.deadline.restart()

    def close(self) -> None:
        self.stream, self.deadline = None, None
        self.exits.close()
        self.exits = ExitStack()


def record_magic(name: str) -> bytes:
    """How a record (its compressed member) of this file starts, by the file's ending."""
    suffix = Path(urlsplit(name).path if "://" in name else name).suffix.lower()
    return RECORD_MAGIC.get(suffix, PLAIN_RECORD_MAGIC)


def content_range_start(value: str) -> int | None:
    """The first byte of `Content-Range: bytes 100-199/200`."""
    match = re.match(r"\s*bytes\s+(\d+)-", value)
    return int(match.group(1)) if match else None


# --- reading records ----------------------------------------------------------------------------------------


@dataclass
class Position:
    """The reader's place: the offset of the last record start (of a compressed member) read from, and how many
    records from there are done (more than one only in a file gzipped as one member)."""

    member: int
    done: int

    def past(self, offset: int, starts: bool) -> None:
        """One more record read, reported at `offset`, where a record starts or (`starts` False) not."""
        if starts and offset != self.member:
            self.member, self.done = offset, 1
        else:
            self.done += 1


def read_archive(
    source: ArchiveSource,
    rules: WarcRules,
    *,
    offset: int = 0,
    skip: int = 0,
    stamp: str | None = None,
) -> Iterator[WarcStep]:
    """The steps through an archive from (`offset`, `skip`) on (see WarcStep), the last one `ended` when the
    file was read to its end. A file whose stamp is not `stamp` (it changed since) is read from its start.

    Never raises for what the file holds: broken parts are reject steps, and reading goes on at the next
    record that can be read. A remote file that fails after the retries ends with a fetch reject step, not
    `ended`: the next run resumes it where this one stopped.
    """
    current = source.stamp()
    if isinstance(source, LocalArchive) and stamp is not None and current != stamp:
        offset, skip = 0, 0
    read = read_arc if is_arc(source.name) else read_warc
    try:
        yield from read(source, rules, offset, skip, stamp)
    finally:
        source.close()


def read_warc(source: ArchiveSource, rules: WarcRules, offset: int, skip: int, stamp: str | None) -> Iterator[WarcStep]:
    skipped: Counter[str] = Counter()
    position = Position(offset, skip)
    retries = 0
    while True:
        try:
            stream = source.open_at(position.member, stamp)
        except ArchiveChanged as changed:
            position, stamp = Position(0, 0), changed.stamp
            continue
        except FetchError as error:
            # Not ended: the next run resumes here, in the version it knew (`stamp`), by a Range request.
            reject = Reject(source.name, "fetch", error.rule, str(error)[:MAX_DETAIL_CHARS], url=source.name)
            yield step(source, position, skipped, stamp=stamp, reject=reject)
            return
        stamp = source.stamp()
        to_skip = position.done
        records = ArchiveIterator(stream, parse_http=False)
        broken: tuple[str, str] | None = None
        unread = False  # the last record was too large to read: its Content-Length may have run past the end
        while True:
            try:
                record = next(records)
            except StopIteration:
                if unread:
                    broken = (RULE_TRUNCATED, "")  # look for records its length swallowed
                break
            except OSError as error:
                broken = (RULE_BAD_RECORD, f"a record after offset {position.member} cannot be read: {error}")
                break
            if to_skip:  # records an earlier run (or try) has done already
                to_skip -= 1
                continue
            at = record.stream_pos
            starts = at != position.member and source.starts_record(at)
            member, index = (at, 0) if starts else (position.member, position.done)
            outcome = judge_record(source.name, record, member, index, rules)
            if source.failure() is not None:
                break  # the network failed inside this record: it is read again
            position.past(at, starts)
            source.record_read()
            unread = not isinstance(outcome, str) and "reject" in outcome and outcome["reject"].rule == "too-large"
            if isinstance(outcome, str):
                skipped[outcome] += 1
                continue
            yield step(source, position, skipped, stamp=stamp, **outcome)
            retries = 0
            if "reject" in outcome and outcome["reject"].rule == RULE_TRUNCATED:
                broken = (RULE_TRUNCATED, "")  # already rejected; look for records after it
                break
        failure = source.failure()
        if failure is not None:  # the network, not the file: the same place again, by a new Range request
            retries += 1
            if retries <= source.retries:
                continue
            detail = f"{failure} (after {retries} tries, at offset {position.member})"
            reject = Reject(source.name, "fetch", failure.rule, detail[:MAX_DETAIL_CHARS], url=source.name)
            yield step(source, position, skipped, stamp=stamp, reject=reject)
            return
        if broken is None:
            yield step(source, position, skipped, stamp=stamp, ended=True)
            return
        rule, detail = broken
        resume_at = next_record_start(source, position.member + 1, stamp)
        if rule != RULE_TRUNCATED:
            where = f"{source.name}@{position.member}"
            until = f"; reading resumed at offset {resume_at}" if resume_at is not None else "; nothing after it"
            yield step(
                source,
                Position(resume_at, 0) if resume_at is not None else position,
                skipped,
                stamp=stamp,
                reject=Reject(where, "fetch", rule, (detail + until)[:MAX_DETAIL_CHARS]),
                ended=resume_at is None,
            )
        elif resume_at is None:
            yield step(source, position, skipped, stamp=stamp, ended=True)
        if resume_at is None:
            return
        position = Position(resume_at, 0)


def step(
    source: ArchiveSource,
    position: Position,
    skipped: Counter[str],
    *,
    stamp: str | None = None,
    payload: WarcPayload | None = None,
    reject: Reject | None = None,
    ended: bool = False,
) -> WarcStep:
    """A step at the reader's position, taking the skips counted since the last one."""
    counted = tuple(sorted(skipped.items()))
    skipped.clear()
    return WarcStep(
        source.name,
        position.member,
        position.done,
        stamp if stamp is not None else source.stamp(),
        payload=payload,
        reject=reject,
        ended=ended,
        skipped=counted,
    )


def judge_record(
    file: str, record: WarcRecord, offset: int, index: int, rules: WarcRules
) -> str | dict[str, WarcPayload | Reject]:
    """A skip reason, or {"payload": ...} for an HTML response to decode, or {"reject": ...} for a broken one.

    The cheap tests first: the record's type and address, then its date, then its HTTP headers; the body
    is read only for a record that is kept, and only up to its size cap.
    """
    kind = record.record_type
    if kind != WarcRecordType.response:
        return SKIP_REVISIT if kind == WarcRecordType.revisit else SKIP_NOT_RESPONSE
    headers = record.headers
    url = target_uri(headers.get("WARC-Target-URI"))
    if url is None or not (headers.get("Content-Type") or "application/http").startswith("application/http"):
        return SKIP_NOT_HTTP
    if rules.domains and not domain_allows(rules.domains, url):
        return SKIP_OFF_DOMAIN
    fetched_at = warc_date(headers.get("WARC-Date"))
    if outside_window(rules, fetched_at):
        return SKIP_OUTSIDE_WINDOW
    input_name = record_input(file, offset, index)
    origin = WarcOrigin(file, offset, headers.get("WARC-Record-ID"))
    try:
        record.parse_http(auto_decode="none", quirks_mode=True)
    except (OSError, ValueError) as error:
        detail = f"the HTTP headers cannot be read: {error}"[:MAX_DETAIL_CHARS]
        return {"reject": Reject(input_name, "fetch", RULE_BAD_HTTP, detail, url=url)}
    http = record.http_headers
    if http.status_code != 200:
        return SKIP_STATUS
    content_type = (http.get("Content-Type") or "").split(";")[0].strip().lower()
    if content_type not in rules.content_types:
        return SKIP_NOT_HTML
    length = record.content_length
    if length > rules.max_record_bytes:
        detail = f"{length} bytes of HTTP body; the limit is {rules.max_record_bytes} (NEWSDAG_MAX_FETCH_BYTES)"
        return {"reject": Reject(input_name, "fetch", "too-large", detail, url=url)}
    try:
        body = record.reader.read(length)
    except OSError as error:
        detail = f"the record's body cannot be read: {error}"[:MAX_DETAIL_CHARS]
        return {"reject": Reject(input_name, "fetch", RULE_TRUNCATED, detail, url=url)}
    if len(body) < length:
        detail = f"the record ends after {len(body)} of its {length} bytes: the file is cut off or damaged"
        return {"reject": Reject(input_name, "fetch", RULE_TRUNCATED, detail, url=url)}
    fields = tuple((name.lower(), value) for name, value in http.items())
    return {"payload": WarcPayload(input_name, url, fetched_at, 200, fields, body, origin)}


def record_input(file: str, offset: int, index: int = 0) -> str:
    """A record's `input` in documents and rejects: the file and the record's offset (`+n` for the n-th
    record after it in a file gzipped as one member)."""
    return f"{file}@{offset}" + (f"+{index}" if index else "")


def outside_window(rules: WarcRules, fetched_at: datetime | None) -> bool:
    """Whether --since/--until leave out a record fetched at `fetched_at` (one without a date, when set)."""
    if rules.since is None and rules.until is None:
        return False
    day = fetched_at.date() if fetched_at is not None else None
    return day is None or bool(rules.since and day < rules.since) or bool(rules.until and day > rules.until)


def target_uri(value: str | None) -> str | None:
    """WARC-Target-URI as an http(s) (or file:) URL: WARC/1.0's angle brackets dropped, spaces escaped (warcio
    does the same); None for another scheme (dns:, urn:, ...)."""
    if not value:
        return None
    uri = value.strip().removeprefix("<").removesuffix(">").replace(" ", "%20")
    # file: too, as newsdag's own export writes a saved page's address (a round trip keeps its articles).
    return strip_userinfo(uri) if uri.lower().startswith(("http://", "https://", "file:///")) else None


def next_record_start(source: ArchiveSource, start: int, stamp: str | None) -> int | None:
    """The offset of the first record from `start` on that can be read, or None: where reading resumes after
    a broken part. Candidates are the record (member) magics of the file's format, each tried by reading a
    record there; a false match (the magic inside compressed data) fails that try and the scan goes on."""
    magic = record_magic(source.name)
    scanned = start
    while True:
        try:
            stream = source.open_at(scanned, stamp)
        except (FetchError, ArchiveChanged):
            return None
        candidate = find_magic(stream, scanned, magic)
        if candidate is None:
            return None
        try:
            stream = source.open_at(candidate, stamp)
            record = next(ArchiveIterator(stream, parse_http=False), None)
        except (OSError, FetchError, ArchiveChanged):
            record = None
        if record is not None and record.stream_pos == candidate:
            return candidate
        scanned = candidate + 1


def find_magic(stream: BinaryIO, offset: int, magic: bytes) -> int | None:
    """The offset of the first `magic` in `stream` (which starts at `offset`), read a block at a time."""
    carried = b""
    position = offset
    while True:
        try:
            block = stream.read(SCAN_BYTES)
        except OSError:
            return None
        if not block:
            return None
        data = carried + block
        found = data.find(magic)
        if found >= 0:
            return position - len(carried) + found
        carried = data[-(len(magic) - 1) :]
        position += len(block)


def read_arc(source: ArchiveSource, rules: WarcRules, offset: int, skip: int, stamp: str | None) -> Iterator[WarcStep]:
    """An ARC file through warcio, which gives each record as a WARC response. Kept simple: the format is
    from before 2009, so a broken part ends the file (with a reject) instead of being read past."""
    from warcio.archiveiterator import ArchiveIterator as ArcIterator
    from warcio.exceptions import ArchiveLoadFailed

    skipped: Counter[str] = Counter()
    position = Position(offset, skip)
    try:
        stream = source.open_at(offset, stamp)
    except FetchError as error:
        reject = Reject(source.name, "fetch", error.rule, str(error)[:MAX_DETAIL_CHARS], url=source.name)
        yield step(source, position, skipped, reject=reject)
        return
    records = ArcIterator(stream, arc2warc=True)
    to_skip = skip
    try:
        for record in records:
            if to_skip:
                to_skip -= 1
                continue
            # The body first: asking warcio for the offset reads the record to its end.
            body = record.raw_stream.read(rules.max_record_bytes + 1) if record.rec_type == "response" else b""
            at = offset + records.get_record_offset()  # warcio counts from where the stream starts
            position.past(at, True)
            outcome = judge_arc_record(source.name, record, body, at, rules)
            if isinstance(outcome, str):
                skipped[outcome] += 1
                continue
            yield step(source, position, skipped, stamp=stamp, **outcome)
    except (ArchiveLoadFailed, OSError, ValueError, zlib.error) as error:
        # warcio quotes the line it could not parse: binary garbage, when the file is no ARC file at all
        said = UNPRINTABLE.sub("?", " ".join(str(error).split()))
        detail = f"a record after offset {position.member} cannot be read: {said}"
        reject = Reject(f"{source.name}@{position.member}", "fetch", RULE_BAD_RECORD, detail[:MAX_DETAIL_CHARS])
        yield step(source, position, skipped, stamp=stamp, reject=reject, ended=True)
        return
    yield step(source, position, skipped, stamp=stamp, ended=True)


def judge_arc_record(
    file: str, record: object, body: bytes, offset: int, rules: WarcRules
) -> str | dict[str, WarcPayload | Reject]:
    """judge_record for a warcio record (an ARC record made a WARC response)."""
    if record.rec_type != "response":  # type: ignore[attr-defined]
        return SKIP_REVISIT if record.rec_type == "revisit" else SKIP_NOT_RESPONSE  # type: ignore[attr-defined]
    warc_headers = record.rec_headers  # type: ignore[attr-defined]
    url = target_uri(warc_headers.get_header("WARC-Target-URI"))
    http = record.http_headers  # type: ignore[attr-defined]
    if url is None or http is None:
        return SKIP_NOT_HTTP
    if rules.domains and not domain_allows(rules.domains, url):
        return SKIP_OFF_DOMAIN
    fetched_at = warc_date(warc_headers.get_header("WARC-Date"))
    if outside_window(rules, fetched_at):
        return SKIP_OUTSIDE_WINDOW
    try:
        status = int(http.get_statuscode() or 0)
    except ValueError:
        status = 0
    if status != 200:
        return SKIP_STATUS
    content_type = (http.get_header("Content-Type") or "").split(";")[0].strip().lower()
    if content_type not in rules.content_types:
        return SKIP_NOT_HTML
    input_name = record_input(file, offset)
    if len(body) > rules.max_record_bytes:
        detail = f"more than {rules.max_record_bytes} bytes of HTTP body (NEWSDAG_MAX_FETCH_BYTES)"
        return {"reject": Reject(input_name, "fetch", "too-large", detail, url=url)}
    origin = WarcOrigin(file, offset, warc_headers.get_header("WARC-Record-ID"))
    fields = tuple((name.lower(), value) for name, value in http.headers)
    return {"payload": WarcPayload(input_name, url, fetched_at, status, fields, body, origin)}


# --- a record's body -> a document ----------------------------------------------------------------------------


def payload_document(payload: WarcPayload, *, source: str, max_decompressed_bytes: int) -> RawDocument | Reject:
    """The document of an HTML response record: its body with the transfer and content encodings undone
    (bounded), decoded as a fetched page is (valid UTF-8, the HTTP charset, <meta charset>, detection), its
    rights from the response's headers; or a Reject (bad chunking, bad encoding, undecodable)."""
    input_name = payload.input
    headers = dict(payload.headers)
    url = payload.url
    try:
        content = http_body(payload.body, headers, max_decompressed_bytes)
    except BodyError as error:
        return Reject(input_name, "fetch", error.rule, str(error)[:MAX_DETAIL_CHARS], url=url)
    doc_id = sha256_hex(content)
    charset = header_charset(headers.get("content-type", ""))
    decoded = decode_fetched(content, charset, declared_charset(content))
    if decoded is None:
        return Reject(input_name, "fetch", "undecodable", "not text in any detectable encoding", doc_id, url)
    # No wall detection (pagechecks.soft_block), as for saved pages: an archive's page is what the site served, and
    # that rule takes reCAPTCHA comment forms for captcha walls (3 of the first 30 dev pages as a WARC).
    return RawDocument(
        input=input_name,
        url=url,
        content=content,
        kind="html",
        fetched_at=payload.fetched_at or http_date(headers.get("date")) or datetime.now(UTC),
        doc_id=doc_id,
        source=source,
        content_type=headers.get("content-type", "").split(";")[0].strip().lower() or None,
        encoding_declared=charset or declared_charset(content),
        encoding=decoded[1],
        http_status=payload.status,
        final_url=url,
        etag=headers.get("etag"),
        last_modified=headers.get("last-modified"),
        hints=DocumentHints(url=url),
        rights=DeclaredRights(
            tdm_reservation=headers.get("tdm-reservation"),
            tdm_policy=headers.get("tdm-policy"),
            x_robots_tag=headers.get("x-robots-tag"),
        ),
        warc=payload.origin,
    )


class BodyError(Exception):
    """An HTTP body whose transfer or content encoding cannot be undone; `rule` names which."""

    def __init__(self, message: str, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


def http_body(body: bytes, headers: dict[str, str], limit: int) -> bytes:
    """The body as the page's bytes: de-chunked, then decompressed (gzip, deflate) within `limit` bytes.

    A body under a Content-Encoding that is not compressed is taken as it is: Common Crawl and ClueWeb store
    decoded bodies under the original header (Common Crawl renames it X-Crawler-Content-Encoding).
    """
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = dechunk(body)
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate") and (body[:2] == b"\x1f\x8b" or looks_zlib(body)):
        return decompress_body(body, limit)
    if encoding not in ("", "identity", "gzip", "x-gzip", "deflate"):
        raise BodyError(f"unsupported Content-Encoding {encoding!r}", RULE_BAD_ENCODING)
    return body


def looks_zlib(body: bytes) -> bool:
    """A zlib stream's two header bytes (RFC 1950: CM 8 and a header checksum divisible by 31)."""
    return len(body) >= 2 and body[0] & 0x0F == 8 and (body[0] << 8 | body[1]) % 31 == 0


def dechunk(body: bytes) -> bytes:
    """A chunked transfer-encoded body's data (RFC 9112, 7.1); BodyError when the chunks do not add up.

    A body that does not start with a chunk size line was stored de-chunked under the original header
    (as Common Crawl stores it): taken as it is.
    """
    first = body.split(b"\r\n", 1)[0].split(b";", 1)[0].strip()
    if not HEX.fullmatch(first or b"-"):
        return body
    parts: list[bytes] = []
    position = 0
    while True:
        line_end = body.find(b"\r\n", position)
        if line_end < 0:
            raise BodyError("chunked body ends inside a chunk size line", RULE_BAD_CHUNKING)
        size_text = body[position:line_end].split(b";", 1)[0].strip()
        if not HEX.fullmatch(size_text or b"-"):
            raise BodyError(f"bad chunk size {size_text[:20]!r} at byte {position}", RULE_BAD_CHUNKING)
        size = int(size_text, 16)
        start = line_end + 2
        if size == 0:
            return b"".join(parts)
        if start + size > len(body):
            raise BodyError(f"a chunk of {size} bytes at byte {start} runs past the body's end", RULE_BAD_CHUNKING)
        parts.append(body[start : start + size])
        position = start + size
        if body[position : position + 2] == b"\r\n":
            position += 2


def decompress_body(body: bytes, limit: int) -> bytes:
    try:
        return decompress_bounded(body, limit)
    except DecompressError as error:
        rule = {"corrupt": RULE_BAD_ENCODING, "truncated": RULE_TRUNCATED}.get(error.rule, error.rule)
        raise BodyError(str(error), rule) from None


def header_charset(content_type: str) -> str | None:
    match = re.search(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", content_type, re.I)
    return match.group(1).lower() if match else None


# --- steps as work items, and back --------------------------------------------------------------------------


def archive_items(
    archive: ArchiveSource, rules: WarcRules, *, source: str, resume: WarcResume | None
) -> Iterator[WorkItem]:
    """An archive's steps as work items (kind "warc"), from where `resume` says the last run stopped; nothing
    for a file read to its end before (a local one unchanged since). A bare end step (the file's last records
    all skipped) is folded into the step before it: its skips and the end are then committed with that step's
    batch, and the end costs no work item of its own."""
    if (
        resume is not None
        and resume.finished
        and (isinstance(archive, RemoteArchive) or resume.stamp == archive.stamp())
    ):
        return
    start = {"offset": resume.offset, "skip": resume.skip, "stamp": resume.stamp} if resume is not None else {}
    held: WarcStep | None = None
    for current in read_archive(archive, rules, **start):  # type: ignore[arg-type]
        if held is not None and current.ended and current.payload is None and current.reject is None:
            current = replace(held, offset=current.offset, skip=current.skip, ended=True, skipped=merged(held, current))
        elif held is not None:
            yield WorkItem(location=archive.name, source=source, kind="warc", warc=held)
        held = current
    if held is not None:
        yield WorkItem(location=archive.name, source=source, kind="warc", warc=held)


def merged(first: WarcStep, second: WarcStep) -> tuple[tuple[str, int], ...]:
    counts = Counter(dict(first.skipped))
    counts.update(dict(second.skipped))
    return tuple(sorted(counts.items()))


def read_steps(
    items: Sequence[WorkItem], max_decompressed_bytes: int
) -> tuple[list[RawDocument], list[Reject], list[WarcProgress]]:
    """A batch's archive steps as documents and rejects, and per file where reading resumes after the batch
    and what its records became (committed with the batch: see WarcStep)."""
    documents: list[RawDocument] = []
    rejects: list[Reject] = []
    progress: dict[str, WarcProgress] = {}
    for item in items:
        current = item.warc
        if current is None:
            continue
        made: RawDocument | Reject | None = current.reject
        if current.payload is not None:
            made = payload_document(current.payload, source=item.source, max_decompressed_bytes=max_decompressed_bytes)
        if isinstance(made, RawDocument):
            documents.append(made)
        elif made is not None:
            rejects.append(made)
        before = progress.get(current.file)
        skipped = Counter(dict(before.skipped)) if before else Counter()
        skipped.update(dict(current.skipped))
        progress[current.file] = WarcProgress(
            current.file,
            current.offset,
            current.skip,
            current.stamp,
            current.ended,
            (before.documents if before else 0) + isinstance(made, RawDocument),
            (before.rejected if before else 0) + isinstance(made, Reject),
            tuple(sorted(skipped.items())),
        )
    return documents, rejects, list(progress.values())


# --- a record again, from its offset --------------------------------------------------------------------------


def read_record_at(source: ArchiveSource, origin: WarcOrigin, rules: WarcRules) -> WarcPayload | Reject | None:
    """The HTML response record a document came from, read again at its offset (a re-extract, an export):
    the first record there with the document's record id (or the first, when it has none). None when the
    file holds no such record there any more."""
    stamp = source.stamp()
    try:
        stream = source.open_at(origin.offset, stamp)
        records = ArchiveIterator(stream, parse_http=False)
        for index, record in enumerate(records):
            if origin.record_id is None or record.headers.get("WARC-Record-ID") == origin.record_id:
                outcome = judge_record(origin.file, record, origin.offset, index, rules)
                return None if isinstance(outcome, str) else next(iter(outcome.values()))  # type: ignore[return-value]
        return None
    except (OSError, FetchError, ArchiveChanged):
        return None
    finally:
        source.close()


def read_record_block(source: ArchiveSource, origin: WarcOrigin) -> bytes | None:
    """The whole block of the record a document came from (its HTTP headers and body, as stored), read again
    at its offset: what an export copies. None when the file holds no such record there any more."""
    try:
        stream = source.open_at(origin.offset, source.stamp())
        if is_arc(source.name):
            return arc_block(stream, origin)
        for record in ArchiveIterator(stream, parse_http=False):
            if origin.record_id is None or record.headers.get("WARC-Record-ID") == origin.record_id:
                block = record.reader.read()
                return block if len(block) == record.content_length else None
        return None
    except (OSError, FetchError, ArchiveChanged):
        return None
    finally:
        source.close()


def arc_block(stream: BinaryIO, origin: WarcOrigin) -> bytes | None:
    from warcio.archiveiterator import ArchiveIterator as ArcIterator

    for record in ArcIterator(stream, arc2warc=True):
        if record.rec_type == "response" and record.http_headers is not None:
            return record.http_headers.to_bytes() + record.raw_stream.read()
    return None


# --- lists of WARC files --------------------------------------------------------------------------------------


def parse_warc_list(text: str, origin: str, base: Path) -> tuple[list[str], list[Reject]]:
    """The WARC files a list names, one per line ('#' comments and blank lines skipped), each once, in order:
    http(s) URLs; paths (relative ones to the list's directory `base`); and Common Crawl's relative paths
    (`crawl-data/...`, as in its warc.paths.gz) as URLs on its data server. A line naming no archive file
    becomes a Reject (input `origin:line`, rule 'bad-warc-path')."""
    entries: dict[str, None] = {}
    rejects: list[Reject] = []
    for number, line in enumerate(text.splitlines(), start=1):
        raw = line.strip()
        if not raw or raw.startswith("#"):
            continue
        if raw.lower().startswith(("http://", "https://")):
            entry = strip_userinfo(raw)
        elif (base / raw).exists() or Path(raw).is_absolute():
            entry = str((base / raw).resolve())
        elif raw.startswith(COMMON_CRAWL_PREFIX):
            entry = COMMON_CRAWL_DATA + raw
        else:
            rejects.append(Reject(f"{origin}:{number}", "discover", "bad-warc-path", f"no such file: {raw[:200]}"))
            continue
        if not is_archive(urlsplit(entry).path if "://" in entry else entry):
            detail = f"not a WARC or ARC file ({', '.join(ARCHIVE_SUFFIXES)}): {raw[:200]}"
            rejects.append(Reject(f"{origin}:{number}", "discover", "bad-warc-path", detail))
            continue
        entries[entry] = None
    return list(entries), rejects


def read_warc_list(path: Path) -> str:
    """A WARC list's text; gzipped (Common Crawl's warc.paths.gz) or not."""
    import gzip

    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode("utf-8", "replace")


def skipped_total(steps: Sequence[WarcStep]) -> int:
    return sum(count for item in steps for _, count in item.skipped)
