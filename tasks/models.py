"""Frozen dataclasses that cross stage boundaries (discover -> fetch/read -> extract -> validate -> load)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Literal

DatePrecision = Literal["day", "minute", "second"]
RejectStage = Literal["discover", "fetch", "extract", "validate", "load"]


# A run's counts, in the order the summary, the runs table and the run artifact give them.
COUNT_NAMES = (
    "discovered",
    "fetched",
    "not_modified",
    "extracted",
    "loaded",
    "updated",
    "unchanged",
    "rejected",
    "flagged",  # articles that loaded with a doubtful value (article_flags); each is also loaded/updated/unchanged
    "failed",
    "skipped",  # records of WARC files skipped unread (not an HTML response, off-domain, ...): warc_skips
)


@dataclass(frozen=True)
class DocumentHints:
    """Metadata known before extraction (a JSONL record's fields, a feed entry's date)."""

    url: str | None = None
    title: str | None = None
    date: str | None = None


@dataclass(frozen=True, slots=True)
class LineSpan:
    """Where one line of a JSONL file is: its number (from 1), the offset and length of its bytes, and
    the file's stamp when it was listed (see loaders.file_stamp; one string shared by the file's lines)."""

    number: int
    offset: int
    length: int
    file_stamp: str | None


NO_HINTS = DocumentHints()


@dataclass(frozen=True, slots=True)
class WarcOrigin:
    """Where a document's bytes lie in a WARC or ARC file (tasks/warc.py): the file (its resolved path, or
    its URL), the offset of the record (of the compressed member holding it: a file gzipped whole holds
    all its records in one) and the record's WARC-Record-ID. A re-read finds it there: its bytes are not
    copied into the archive."""

    file: str
    offset: int
    record_id: str | None


@dataclass(frozen=True, slots=True)
class WarcPayload:
    """An HTML response record of a WARC or ARC file as read, before its body is decoded into a document:
    its `input` (the file and the record's offset), address, WARC-Date, HTTP status and headers (names lower
    case), and the HTTP body as stored (transfer and content encodings not yet undone)."""

    input: str
    url: str
    fetched_at: datetime | None
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    origin: WarcOrigin


@dataclass(frozen=True, slots=True)
class WarcStep:
    """What reading a WARC or ARC file on to its next record that counts gave: an HTML response record
    (`payload`), a broken part of the file (`reject`), or the end of the file (`ended`); with the records
    skipped on the way, by reason (request, metadata, revisit, not HTML, off-domain, ...).

    (`offset`, `skip`) is where reading resumes after this step: at the record (compressed member) at
    `offset`, past its first `skip` records. Committed with the batch that holds the step, so a killed
    run goes on at the next unread record. `stamp` identifies the file's version (a local file's size and
    times, a remote file's ETag): a file whose stamp changed is read again from its start.
    """

    file: str
    offset: int
    skip: int
    stamp: str | None
    payload: WarcPayload | None = None
    reject: Reject | None = None
    ended: bool = False
    skipped: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class WarcProgress:
    """What one batch read of one WARC file: the resume point after its last step (see WarcStep), whether
    the file ended, and how many records became documents, rejects, or were skipped (by reason)."""

    file: str
    offset: int
    skip: int
    stamp: str | None
    ended: bool
    documents: int
    rejected: int
    skipped: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class WarcResume:
    """Where the warehouse says reading a WARC file resumes (see WarcStep), the version of the file that holds
    for (`stamp`), and whether the file was read to its end."""

    offset: int
    skip: int
    stamp: str | None
    finished: bool


@dataclass(frozen=True)
class WarcRules:
    """Which records of an archive become documents, judged on their WARC and HTTP headers before any
    body is decoded: HTML responses with status 200 (`content_types`), on `domains` (and subdomains; empty:
    any), with a WARC-Date on a day from `since` through `until` (both included); a record whose HTTP body
    is over `max_record_bytes` is a too-large reject, never read into memory."""

    domains: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None
    content_types: tuple[str, ...] = ("text/html", "application/xhtml+xml")
    max_record_bytes: int = 10 * 1024 * 1024
    max_decompressed_bytes: int = 50 * 1024 * 1024


# Slots: each line of a JSONL dump is an item, and three batches of up to 1,000 lines are in flight.
@dataclass(frozen=True, slots=True)
class WorkItem:
    """One thing to read: a local file (path) or a URL to fetch, with what discovery already knows about it.

    For URLs found in a feed or sitemap, `hints` carries the entry's URL, title and date
    (`date` is an ISO 8601 string, with the feed's own UTC offset when it gave one).
    `line` is set for one line of a JSONL file: a dump of any size is read a line at a time.
    `warc` is set for a step through a WARC or ARC file (kind "warc"): its record, already read.
    """

    location: str
    source: str = "cli"
    kind: Literal["file", "url", "warc"] = "file"
    hints: DocumentHints = NO_HINTS
    line: LineSpan | None = None
    warc: WarcStep | None = None


@dataclass(frozen=True)
class Validators:
    """A URL's last loaded document and what its response said, to make the next GET conditional.

    The server's 304 to If-None-Match (etag) / If-Modified-Since (last_modified) means: still `doc_id`.
    """

    doc_id: str
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class NotModified:
    """An input known unchanged without its bytes: a URL the server answered 304 for, or a local file
    with the stamp of its loaded document. Its document is still `doc_id`, so nothing is extracted."""

    input: str
    url: str
    doc_id: str


@dataclass(frozen=True)
class FetchRecord:
    """One URL's fetch outcome for the `fetches` table: fetched, not_modified or failed (with the reject rule)."""

    url: str
    outcome: Literal["fetched", "not_modified", "failed"]
    fetched_at: datetime
    final_url: str | None = None
    http_status: int | None = None
    attempts: int = 0
    conditional: bool = False
    rule: str | None = None
    doc_id: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class DeclaredRights:
    """What the transport declared about a document's rights (tasks/rights.py): its TDMRep and robots
    response headers, the site's tdmrep.json rule for its URL, and the AI crawlers robots.txt keeps out."""

    tdm_reservation: str | None = None
    tdm_policy: str | None = None
    x_robots_tag: str | None = None
    file_reserved: bool | None = None
    file_policy: str | None = None
    ai_disallowed: tuple[str, ...] = ()


NO_DECLARED_RIGHTS = DeclaredRights()


@dataclass(frozen=True)
class Rights:
    """An article's rights as recorded: TDM reservation (None: undeclared) and policy, AI opt-out tokens
    ('noai', 'robots:GPTBot'), licence URL, free access (None: not said), and where the declaration came
    from (header, tdmrep.json, meta, robots)."""

    tdm_reserved: bool | None = None
    tdm_policy: str | None = None
    ai_optout: tuple[str, ...] = ()
    license_url: str | None = None
    accessible_for_free: bool | None = None
    rights_source: str | None = None


NO_RIGHTS = Rights()


@dataclass(frozen=True)
class SiteRights:
    """What one run saw of a host's site-wide declarations: its tdmrep.json (raw rules, when it has one) and
    the AI crawlers its robots.txt keeps out of the site root."""

    host: str
    tdmrep_found: bool
    tdmrep_rules: str | None
    ai_disallowed: tuple[str, ...]


@dataclass(frozen=True)
class RawDocument:
    """Bytes of one document as read or fetched, before extraction.

    `input` is what the user pointed at (a path or URL; a JSONL file's line is `path:line`);
    `url` is the document's address: the `file://` URI for local files.
    `kind` tells extraction how to read it: an HTML page or a plain-text dump.
    """

    input: str
    url: str
    content: bytes
    kind: Literal["html", "text"]
    fetched_at: datetime
    doc_id: str
    source: str = "cli"
    content_type: str | None = None
    encoding_declared: str | None = None
    encoding: str | None = None
    http_status: int | None = None
    final_url: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    hints: DocumentHints = field(default_factory=DocumentHints)
    # A local file's size and modification/change times when it was read (see loaders.file_stamp): the
    # next run skips reading a file whose stamp is unchanged, as a 304 skips a download.
    file_stamp: str | None = None
    # What the response and the site declared about its rights (a fetched page; files carry only markup).
    rights: DeclaredRights = NO_DECLARED_RIGHTS
    # The length of `content` (the `bytes` of its documents row): set from it, and kept by without_content.
    size: int = -1

    def __post_init__(self) -> None:
        if self.size < 0:
            object.__setattr__(self, "size", len(self.content))

    def without_content(self) -> RawDocument:
        """This document with its bytes dropped (`size` still says how many there were): once they are in
        the archive and extracted, a batch waiting for its load needs nothing else of them."""
        return replace(self, content=b"")

    # A record of a WARC or ARC file: where it lies there (its bytes are not copied into the archive).
    warc: WarcOrigin | None = None


@dataclass(frozen=True)
class ArticleDate:
    """A date as the page gave it.

    `value` is timezone-aware when the source had a time and an offset; for
    `precision == "day"` only `day` is meaningful and no time zone is applied.
    `raw` is the string exactly as found; `source` says where (json-ld, meta, time, url, header, ...).
    """

    day: date
    precision: DatePrecision
    source: str
    raw: str
    value: datetime | None = None
    utc_offset: str | None = None
    # The date as written, normalized (YYYY-MM-DD, or the wall-clock time with its offset if known): what
    # validation and the load store. Made once with the date, in the extraction worker, instead of twice
    # per article in the one ingest process (~4 us each; bench/load_rate.py).
    local: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.value is None:
            local = self.day.isoformat()
        else:
            timespec = "seconds" if self.precision == "second" else "minutes"
            if self.value.microsecond and self.precision == "second":
                timespec = "milliseconds"
            local = self.value.isoformat(timespec=timespec)
        object.__setattr__(self, "local", local)


@dataclass(frozen=True)
class ExtractedFields:
    """What an extractor (HTML or text dump) found, before ids and hashes are assigned."""

    text: str
    title: str | None = None
    description: str | None = None
    authors: tuple[str, ...] = ()
    site_name: str | None = None
    language: str | None = None
    tags: tuple[str, ...] = ()
    url: str | None = None
    canonical_url: str | None = None
    published: ArticleDate | None = None
    modified: ArticleDate | None = None
    genre: str | None = None
    rights: Rights = NO_RIGHTS


@dataclass(frozen=True)
class Article:
    """One extracted article, ready for validation and loading."""

    article_id: str
    doc_id: str
    input: str
    url: str
    canonical_url: str | None
    source: str
    title: str | None
    description: str | None
    text: str
    text_sha256: str
    word_count: int
    authors: tuple[str, ...]
    site_name: str | None
    language: str | None
    tags: tuple[str, ...]
    published: ArticleDate | None
    modified: ArticleDate | None
    # What the page says it is (tasks/htmlmeta.read_genre): opinion, analysis, background, review, satire or
    # news; None when it does not say.
    genre: str | None = None
    rights: Rights = NO_RIGHTS


@dataclass(frozen=True)
class Reject:
    """An input that did not become an article, with the stage and rule that stopped it."""

    input: str
    stage: RejectStage
    rule: str
    detail: str
    doc_id: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Flag:
    """A doubtful value of an article that loads anyway: the rule it failed and what was done about it.

    `left_out` names the Article field whose value was found impossible and left out of its columns
    (published, modified, language, title), None when nothing was (a missing title has nothing to leave
    out); `value` is the value the rule judged, exactly as the page wrote it, so nothing is lost.
    """

    article_id: str
    doc_id: str
    rule: str
    detail: str
    left_out: str | None = None
    value: str | None = None


@dataclass(frozen=True)
class ExpectationResult:
    """What one expectation of the validation suite found in a batch: how many values it evaluated and how
    many of them were unexpected (the `validation_results` table sums these per run)."""

    rule: str
    severity: str  # critical | warning
    evaluated: int
    unexpected: int


@dataclass(frozen=True)
class Validation:
    """A validated batch: the articles that load (impossible values left out), the rows that are no article,
    the doubtful values of those that load, and what each expectation found."""

    articles: tuple[Article, ...] = ()
    rejects: tuple[Reject, ...] = ()
    flags: tuple[Flag, ...] = ()
    results: tuple[ExpectationResult, ...] = ()


@dataclass(frozen=True)
class Alert:
    """A source's run whose figure crossed a drift threshold against the source's own baseline (tasks/health.py).

    `value` is the run's figure, `baseline` the median of the same figure over `baseline_runs` earlier runs,
    `threshold` the setting crossed; `message` says it in one line (artifact, event, `source_alerts`).
    """

    source: str
    run_id: str
    metric: str
    value: float | None
    baseline: float | None
    threshold: float
    baseline_runs: int
    message: str


@dataclass(frozen=True)
class BatchCounts:
    """What one loaded batch did to the warehouse; `flagged` articles loaded with flags, `flags_by_rule`
    how many of them failed each rule."""

    loaded: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    flagged: int = 0
    flags_by_rule: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class FetchBatch:
    """What fetching a batch of URLs gave: documents to extract, 304s, rejects, and one record per URL."""

    documents: tuple[RawDocument, ...] = ()
    not_modified: tuple[NotModified, ...] = ()
    rejects: tuple[Reject, ...] = ()
    records: tuple[FetchRecord, ...] = ()
    # Hosts this batch met for the first time in its run, with their site-wide declarations.
    site_rights: tuple[SiteRights, ...] = ()


URL_SCHEMES = ("http://", "https://")
# `user:password@` after a scheme's `://`. newsdag never logs in to a site, so credentials written
# into a URL are removed wherever a URL enters (never sent, stored, logged or passed to Prefect).
USERINFO = re.compile(r"(?<=://)[^/?#@\s]*@")


def strip_userinfo(text: str) -> str:
    """`text` (a URL, or a line that may hold URLs) without the `user:password@` of its URLs."""
    return USERINFO.sub("", text) if "@" in text else text


@dataclass(frozen=True)
class IngestRequest:
    """What one run ingests: local paths, page URLs, URL-list files, feeds and sitemaps, within the source's limits.

    `since`/`until` keep feed and sitemap links dated on or between those days (both included);
    `max_articles` caps the page URLs taken per run (URLs and URL lists first, then feed and sitemap links
    newest first);
    `allow_domains` limits discovered links, and the records of WARC files, to these domains and their
    subdomains (empty: any); `since`/`until` also keep WARC records by their WARC-Date;
    `warc_lists` are files listing WARC files (local paths or http(s) URLs, one per line);
    `languages` keeps only articles detected in these ISO 639-1 languages (empty: any).
    """

    paths: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    feeds: tuple[str, ...] = ()
    sitemaps: tuple[str, ...] = ()
    url_files: tuple[str, ...] = ()
    source: str = "cli"
    since: date | None = None
    until: date | None = None
    max_articles: int | None = None
    allow_domains: tuple[str, ...] = ()
    # Reserved TDM rights make a page a reject (tdm-reserved) instead of an article (Settings.respect_tdm).
    respect_tdm: bool = False
    warc_lists: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # However the request was built (flags, a sources file, Prefect parameters), credentials in its
        # URLs go no further: not into runs.inputs, rejects or requests.
        for name in ("urls", "feeds", "sitemaps"):
            object.__setattr__(self, name, tuple(strip_userinfo(url) for url in getattr(self, name)))

    @classmethod
    def from_inputs(cls, inputs: Sequence[str], **options: Any) -> IngestRequest:
        """Command-line inputs: http(s) URLs are pages to fetch, everything else a path, directory or glob."""
        urls = tuple(value for value in inputs if value.lower().startswith(URL_SCHEMES))
        paths = tuple(value for value in inputs if not value.lower().startswith(URL_SCHEMES))
        return cls(paths=paths, urls=urls, **options)

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.paths + self.urls + self.url_files + self.feeds + self.sitemaps + self.warc_lists


@dataclass(frozen=True)
class ExportSummary:
    """What one `newsdag export` wrote: `export` is its number in the directory's manifest, None when there
    was nothing new (then nothing was written); `rows` by table; the `runs` that ended since the last export."""

    directory: str
    export: int | None
    rows: Mapping[str, int]
    files: int
    bytes: int
    runs: tuple[str, ...]
    seconds: float
