"""One settings object for newsdag: every default lives here, each overridable by an env var.

Setting (env var, default): meaning
- db_path (NEWSDAG_DB, warehouse/news.duckdb): the DuckDB file
- archive_dir (NEWSDAG_ARCHIVE, <db dir>/archive): raw documents, content-addressed
- workers (NEWSDAG_WORKERS, CPU cores): extraction processes
- batch_size (NEWSDAG_BATCH_SIZE, 200): pages (files, URLs) per read/extract/validate/load batch
- line_batch_size (NEWSDAG_LINE_BATCH_SIZE, 1000): JSONL lines per batch; a line is a small record, and what
  a batch costs besides its articles (validation's setup, database connections, task runs) is paid per batch
- line_batch_bytes (NEWSDAG_LINE_BATCH_BYTES, 32 MiB): a batch of lines also ends at this many bytes of them
  (three batches are in flight at once)
- parallel_min_docs (NEWSDAG_PARALLEL_MIN_DOCS, 32): without a time bound (extract_timeout_seconds 0),
  smaller batches are extracted in-process
- max_file_bytes (NEWSDAG_MAX_FILE_BYTES, 10 MiB): larger inputs are rejected (rule too-large); for a .jsonl,
  each line counts alone
- max_decompressed_bytes (NEWSDAG_MAX_DECOMPRESSED_BYTES, 50 MiB): cap on a .gz input after decompression
- min_words (NEWSDAG_MIN_WORDS, 20): shorter texts are rejected at validation (not an article)
- earliest_date (NEWSDAG_EARLIEST_DATE, 1990-01-01): an older published date is flagged at validation and left
  out (the article loads; article_flags keeps the date as written)
- future_skew_hours (NEWSDAG_FUTURE_SKEW_HOURS, 26): a published date later than now + this is flagged and left
  out the same way
- lock_timeout_seconds (NEWSDAG_LOCK_TIMEOUT, 60): how long a writer or reader waits for the database
- sources_file (NEWSDAG_SOURCES, seeds/sources.toml): the declared web sources
- contact_url (NEWSDAG_CONTACT_URL, the project page): named in the User-Agent so site owners can reach us
- user_agent (NEWSDAG_USER_AGENT, "newsdag/<version> (+<contact_url>)"): sent with every request
- connect_timeout (NEWSDAG_CONNECT_TIMEOUT, 5 s) and read_timeout (NEWSDAG_READ_TIMEOUT, 20 s): per request
- fetch_deadline (NEWSDAG_FETCH_DEADLINE, 60 s): a request (headers and body) still running after this is cut
  off (rule timeout, not retried); the read timeout alone lets a server that drips bytes hold a request forever
- fetch_retries (NEWSDAG_FETCH_RETRIES, 3): retries after connection errors, timeouts, 429 and 5xx (never 4xx)
- backoff_seconds (NEWSDAG_BACKOFF, 1.0): first retry wait, doubled each time; Retry-After wins when longer
- max_retry_after (NEWSDAG_MAX_RETRY_AFTER, 120 s): a longer Retry-After gives up instead of waiting
- per_host_delay (NEWSDAG_PER_HOST_DELAY, 1.0 s): pause between requests to one host (robots Crawl-delay wins if longer)
- max_crawl_delay (NEWSDAG_MAX_CRAWL_DELAY, 30 s): a robots Crawl-delay is honoured up to this
- fetch_threads (NEWSDAG_FETCH_THREADS, 8): hosts fetched in parallel (each host one request at a time)
- max_fetch_bytes (NEWSDAG_MAX_FETCH_BYTES, 10 MiB): larger responses are rejected (too-large) while streaming
- allow_networks (NEWSDAG_ALLOW_NETWORKS, empty): comma-separated CIDRs exempt from the SSRF guard
- max_redirects (NEWSDAG_MAX_REDIRECTS, 5): redirects followed per URL
- sitemap_max_depth (NEWSDAG_SITEMAP_MAX_DEPTH, 3) and sitemap_max_count (NEWSDAG_SITEMAP_MAX_COUNT, 50):
  how deep and how many sitemap indexes/children are followed
- extract_timeout_seconds (NEWSDAG_EXTRACT_TIMEOUT, 30): a page whose extraction takes longer is rejected
  (rule extract-timeout) and its worker process replaced (a news page takes well under 1 s); a page whose
  worker dies is rejected too (worker-crashed). Every batch is extracted in worker processes for this,
  even one page with one worker. 0: no bound, and batches under parallel_min_docs, or one worker,
  extract in the ingest process (what a debugger needs).
- task_retries (NEWSDAG_TASK_RETRIES, 2): in a Prefect flow run, how often an I/O task (discover-links, gather,
  load, cluster) that failed on a transient error is run again: the database still locked after
  lock_timeout_seconds (WarehouseBusy) or a transient network error. Extraction, deterministic CPU work, is
  never retried (a retried load validates again, which writes nothing); no task is on a permanent error.
- task_retry_delay (NEWSDAG_TASK_RETRY_DELAY, 10 s): the wait before the first such retry, doubled each time
  (10 s, 20 s): a load of another run holding the file for minutes gets that long to finish
- dask_address (NEWSDAG_DASK_ADDRESS, empty): a Dask scheduler (tcp://host:8786); when set, extraction runs
  on that cluster instead of local worker processes (needs `pip install 'newsdag[dask]'` here and on the workers)
- dask_chunk_docs (NEWSDAG_DASK_CHUNK_DOCS, 16): documents per Dask task
- respect_tdm (NEWSDAG_RESPECT_TDM, false; `--respect-tdm`, or `respect_tdm = true` on a source): a page whose
  text-and-data-mining rights are reserved (TDMRep: header, tdmrep.json or meta) becomes a reject with rule
  tdm-reserved and its text is not stored. Off, reservations are recorded only (articles.tdm_reserved):
  research exceptions differ by jurisdiction, and the decision is the user's.
- languages (NEWSDAG_LANGUAGES, empty; `--language`): keep only articles detected in these ISO 639-1 languages;
  the others become rejects with rule other-language (a language is known only after extraction)
- export_chunk_rows (NEWSDAG_EXPORT_CHUNK_ROWS, 100000): `newsdag export` reads the warehouse on read-only
  connections of at most this many rows each, pausing between them: a run waiting to write (DuckDB has one
  writer, and a reader keeps it out) gets the file within a chunk's time (~1-3 s at this size on 2 cores)
- report_file (NEWSDAG_REPORT, <db dir>/report.html): the page `newsdag report` writes by default, which a
  Prefect flow run rewrites after its run and links from its artifact
- report_url (NEWSDAG_REPORT_URL, none): where the report page is published (a web server serving report_file);
  when set, a run's artifact links there instead of showing the file's address
- drift_window_days (NEWSDAG_DRIFT_WINDOW_DAYS, 14): after each run of a declared source, its figures are compared
  with the median of its completed runs that started in this many days before it (tasks/health.py): two weeks
  hold both a weekday and a weekend rhythm, and forget a site's old layout soon enough
- drift_min_history (NEWSDAG_DRIFT_MIN_HISTORY, 3): a figure is judged only with at least this many earlier values;
  fewer are no baseline (one earlier run may itself have been the odd one)
- drift_reject_rate (NEWSDAG_DRIFT_REJECT_RATE, 0.25): alert when the share of inputs rejected rises by this much
  (absolute: 0.05 to 0.30)
- drift_blocked_rate (NEWSDAG_DRIFT_BLOCKED_RATE, 0.20): alert when the share of requests answered with a captcha,
  consent wall or other block page rises by this much
- drift_empty_text_rate (NEWSDAG_DRIFT_EMPTY_TEXT_RATE, 0.20): alert when the share of pages whose extraction found
  no main text (or too few words) rises by this much: the usual sign of a redesigned article template
- drift_missing_date (NEWSDAG_DRIFT_MISSING_DATE, 0.30) and drift_missing_author (NEWSDAG_DRIFT_MISSING_AUTHOR,
  0.30): alert when the share of extracted articles without a date, or without an author, rises by this much
  (higher than the rates above: a run of a few articles moves a share in big steps)
- drift_median_words_drop (NEWSDAG_DRIFT_MEDIAN_WORDS_DROP, 0.5): alert when the median word count of the run's
  extracted articles falls by this fraction of the baseline's (half the words: bodies cut short)
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from tasks.errors import ConfigError

if TYPE_CHECKING:
    from tasks.health import DriftPolicy

NEWSDAG_VERSION = "0.1"

DEFAULT_DB_PATH = Path("warehouse/news.duckdb")
DEFAULT_SOURCES_FILE = Path("seeds/sources.toml")
DEFAULT_CONTACT_URL = "https://github.com/newsdag/newsdag"
# Prefect stays on this machine unless the user says otherwise (each is set only when unset): no
# usage analytics from a server newsdag starts, and none from Prefect's client, which in an
# interactive terminal sends first-run events to a third party unless DO_NOT_TRACK is set.
PREFECT_PRIVACY_DEFAULTS = MappingProxyType({"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"})
# What a flow run logs besides Prefect's own loggers: a writer waiting for the database file (warehouse/db.py)
# says so in the run's log in the UI, not only on the terminal of the process that runs it.
PREFECT_LOGGING_DEFAULTS = MappingProxyType({"PREFECT_LOGGING_EXTRA_LOGGERS": "newsdag.warehouse"})


def default_workers() -> int:
    return os.cpu_count() or 1


ENV_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "db_path": "NEWSDAG_DB",
        "archive_dir": "NEWSDAG_ARCHIVE",
        "workers": "NEWSDAG_WORKERS",
        "batch_size": "NEWSDAG_BATCH_SIZE",
        "line_batch_size": "NEWSDAG_LINE_BATCH_SIZE",
        "line_batch_bytes": "NEWSDAG_LINE_BATCH_BYTES",
        "parallel_min_docs": "NEWSDAG_PARALLEL_MIN_DOCS",
        "max_file_bytes": "NEWSDAG_MAX_FILE_BYTES",
        "max_decompressed_bytes": "NEWSDAG_MAX_DECOMPRESSED_BYTES",
        "min_words": "NEWSDAG_MIN_WORDS",
        "earliest_date": "NEWSDAG_EARLIEST_DATE",
        "future_skew_hours": "NEWSDAG_FUTURE_SKEW_HOURS",
        "lock_timeout_seconds": "NEWSDAG_LOCK_TIMEOUT",
        "sources_file": "NEWSDAG_SOURCES",
        "contact_url": "NEWSDAG_CONTACT_URL",
        "user_agent": "NEWSDAG_USER_AGENT",
        "connect_timeout": "NEWSDAG_CONNECT_TIMEOUT",
        "read_timeout": "NEWSDAG_READ_TIMEOUT",
        "fetch_deadline": "NEWSDAG_FETCH_DEADLINE",
        "fetch_retries": "NEWSDAG_FETCH_RETRIES",
        "backoff_seconds": "NEWSDAG_BACKOFF",
        "max_retry_after": "NEWSDAG_MAX_RETRY_AFTER",
        "per_host_delay": "NEWSDAG_PER_HOST_DELAY",
        "max_crawl_delay": "NEWSDAG_MAX_CRAWL_DELAY",
        "fetch_threads": "NEWSDAG_FETCH_THREADS",
        "max_fetch_bytes": "NEWSDAG_MAX_FETCH_BYTES",
        "allow_networks": "NEWSDAG_ALLOW_NETWORKS",
        "max_redirects": "NEWSDAG_MAX_REDIRECTS",
        "sitemap_max_depth": "NEWSDAG_SITEMAP_MAX_DEPTH",
        "sitemap_max_count": "NEWSDAG_SITEMAP_MAX_COUNT",
        "extract_timeout_seconds": "NEWSDAG_EXTRACT_TIMEOUT",
        "task_retries": "NEWSDAG_TASK_RETRIES",
        "task_retry_delay": "NEWSDAG_TASK_RETRY_DELAY",
        "dask_address": "NEWSDAG_DASK_ADDRESS",
        "dask_chunk_docs": "NEWSDAG_DASK_CHUNK_DOCS",
        "respect_tdm": "NEWSDAG_RESPECT_TDM",
        "languages": "NEWSDAG_LANGUAGES",
        "export_chunk_rows": "NEWSDAG_EXPORT_CHUNK_ROWS",
        "report_file": "NEWSDAG_REPORT",
        "report_url": "NEWSDAG_REPORT_URL",
        "drift_window_days": "NEWSDAG_DRIFT_WINDOW_DAYS",
        "drift_min_history": "NEWSDAG_DRIFT_MIN_HISTORY",
        "drift_reject_rate": "NEWSDAG_DRIFT_REJECT_RATE",
        "drift_blocked_rate": "NEWSDAG_DRIFT_BLOCKED_RATE",
        "drift_empty_text_rate": "NEWSDAG_DRIFT_EMPTY_TEXT_RATE",
        "drift_missing_date": "NEWSDAG_DRIFT_MISSING_DATE",
        "drift_missing_author": "NEWSDAG_DRIFT_MISSING_AUTHOR",
        "drift_median_words_drop": "NEWSDAG_DRIFT_MEDIAN_WORDS_DROP",
    }
)


@dataclass(frozen=True)
class Settings:
    """Every tunable of a run; build with `Settings.from_env(**overrides)`."""

    db_path: Path = DEFAULT_DB_PATH
    archive_dir: Path | None = None
    workers: int = field(default_factory=default_workers)
    batch_size: int = 200
    line_batch_size: int = 1000
    line_batch_bytes: int = 32 * 1024 * 1024
    parallel_min_docs: int = 32
    max_file_bytes: int = 10 * 1024 * 1024
    max_decompressed_bytes: int = 50 * 1024 * 1024
    min_words: int = 20
    earliest_date: date = date(1990, 1, 1)
    future_skew_hours: int = 26
    lock_timeout_seconds: float = 60.0
    sources_file: Path = DEFAULT_SOURCES_FILE
    contact_url: str = DEFAULT_CONTACT_URL
    user_agent: str | None = None  # None: built from the version and contact_url
    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    fetch_deadline: float = 60.0
    fetch_retries: int = 3
    backoff_seconds: float = 1.0
    max_retry_after: float = 120.0
    per_host_delay: float = 1.0
    max_crawl_delay: float = 30.0
    fetch_threads: int = 8
    max_fetch_bytes: int = 10 * 1024 * 1024
    allow_networks: tuple[str, ...] = ()
    max_redirects: int = 5
    sitemap_max_depth: int = 3
    sitemap_max_count: int = 50
    extract_timeout_seconds: float = 30.0
    task_retries: int = 2
    task_retry_delay: float = 10.0
    dask_address: str | None = None
    dask_chunk_docs: int = 16
    respect_tdm: bool = False
    languages: tuple[str, ...] = ()
    export_chunk_rows: int = 100_000
    report_file: Path | None = None  # None: report.html beside the database
    report_url: str | None = None
    drift_window_days: int = 14
    drift_min_history: int = 3
    drift_reject_rate: float = 0.25
    drift_blocked_rate: float = 0.20
    drift_empty_text_rate: float = 0.20
    drift_missing_date: float = 0.30
    drift_missing_author: float = 0.30
    drift_median_words_drop: float = 0.5

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Defaults, then NEWSDAG_* environment variables, then explicit overrides (flags); None means unset."""
        values: dict[str, Any] = {}
        types = {f.name: f.type for f in fields(cls)}
        for name, env_name in ENV_NAMES.items():
            raw = os.environ.get(env_name)
            if raw:
                values[name] = convert(raw, types[name], env_name)
        from_environment = set(values)
        overridden = {name: value for name, value in overrides.items() if value is not None}
        values.update(overridden)
        settings = replace(cls(), **values)
        try:
            settings.check()
        except ConfigError as error:
            # A value out of range is named as the user wrote it: its environment variable, else the setting.
            if error.subject in from_environment - set(overridden):
                raise ConfigError(error.args[0], subject=ENV_NAMES[error.subject]) from None
            raise
        return settings

    def check(self) -> None:
        for name in (
            "workers",
            "batch_size",
            "line_batch_size",
            "line_batch_bytes",
            "max_file_bytes",
            "max_decompressed_bytes",
            "fetch_threads",
            "max_fetch_bytes",
            "sitemap_max_count",
            "dask_chunk_docs",
            "export_chunk_rows",
            "drift_window_days",
            "drift_min_history",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"must be at least 1, got {getattr(self, name)}", subject=name)
        if self.extract_timeout_seconds < 0:
            raise ConfigError(
                f"must not be negative, got {self.extract_timeout_seconds}", subject="extract_timeout_seconds"
            )
        if self.min_words < 0:
            raise ConfigError(f"must not be negative, got {self.min_words}", subject="min_words")
        for name in (
            "fetch_retries",
            "backoff_seconds",
            "per_host_delay",
            "max_redirects",
            "sitemap_max_depth",
            "task_retries",
            "task_retry_delay",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"must not be negative, got {getattr(self, name)}", subject=name)
        for name in (
            "drift_reject_rate",
            "drift_blocked_rate",
            "drift_empty_text_rate",
            "drift_missing_date",
            "drift_missing_author",
            "drift_median_words_drop",
        ):
            if not 0 < getattr(self, name) <= 1:
                raise ConfigError(f"must be above 0 and at most 1, got {getattr(self, name)}", subject=name)
        for name in ("connect_timeout", "read_timeout", "fetch_deadline"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"must be positive, got {getattr(self, name)}", subject=name)
        for cidr in self.allow_networks:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ConfigError(f"not a network in CIDR notation: {cidr!r}", subject="allow_networks") from None

    @property
    def effective_user_agent(self) -> str:
        """Names newsdag and a contact so a site owner can tell who is crawling and reach them."""
        return self.user_agent or f"newsdag/{NEWSDAG_VERSION} (+{self.contact_url})"

    @property
    def drift_policy(self) -> DriftPolicy:
        from tasks.health import DriftPolicy  # imports DuckDB: only for the runs that judge drift

        return DriftPolicy(
            window_days=self.drift_window_days,
            min_history=self.drift_min_history,
            reject_rate_rise=self.drift_reject_rate,
            blocked_rate_rise=self.drift_blocked_rate,
            empty_text_rate_rise=self.drift_empty_text_rate,
            missing_date_rise=self.drift_missing_date,
            missing_author_rise=self.drift_missing_author,
            median_words_drop=self.drift_median_words_drop,
        )

    @property
    def report_path(self) -> Path:
        return self.report_file or Path(self.db_path).parent / "report.html"

    @property
    def archive_path(self) -> Path:
        return self.archive_dir or Path(self.db_path).parent / "archive"

    @property
    def warehouse_files(self) -> tuple[Path, ...]:
        """What newsdag itself writes, which an input directory may hold: the database, its WAL and spill
        directory (DuckDB's), its key index (warehouse/keys.py), and the archive. Never inputs."""
        db = Path(self.db_path)
        beside = (".wal", ".tmp", ".keys", ".keys-log", ".keys-tmp")
        return db, *(db.with_name(f"{db.name}{suffix}") for suffix in beside), self.archive_path


BOOLEAN_WORDS = {
    **dict.fromkeys(("1", "true", "yes", "on"), True),
    **dict.fromkeys(("0", "false", "no", "off"), False),
}


def convert(raw: str, type_name: str, env_name: str) -> Any:
    """An environment string as the setting's type (annotations are strings under __future__)."""
    try:
        if "Path" in type_name:
            return Path(raw)
        if type_name == "int":
            return int(raw)
        if type_name == "float":
            return float(raw)
        if type_name == "date":
            return date.fromisoformat(raw)
        if type_name == "bool":
            if raw.strip().lower() not in BOOLEAN_WORDS:
                raise ValueError(f"expected one of {', '.join(sorted(BOOLEAN_WORDS))}")
            return BOOLEAN_WORDS[raw.strip().lower()]
        if type_name.startswith("tuple"):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
    except ValueError as error:
        raise ConfigError(f"cannot read {raw!r}: {error}", subject=env_name) from None
    return raw
