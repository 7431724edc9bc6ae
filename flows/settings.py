"""One settings object for newsdag: every default lives here, each overridable by an env var.

Each field of `Settings` carries its documentation beside it: the environment variable that sets it, the
flag that overrides it (if any) and what it means. docs/settings.md is generated from them (flows/docs.py).
"""

from __future__ import annotations

import importlib.metadata
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from newsdag.tasks.errors import ConfigError

if TYPE_CHECKING:
    from newsdag.tasks.health import DriftPolicy

NEWSDAG_VERSION = importlib.metadata.version("newsdag")

DEFAULT_DB_PATH = Path("warehouse/news.duckdb")
DEFAULT_SOURCES_FILE = Path("seeds/sources.toml")
DEFAULT_CONTACT_URL = "https://github.com/newsdag/newsdag"
MIB = 1024 * 1024
# Prefect stays on this machine unless the user says otherwise (each is set only when unset): no
# usage analytics from a server newsdag starts, and none from Prefect's client, which in an
# interactive terminal sends first-run events to a third party unless DO_NOT_TRACK is set.
PREFECT_PRIVACY_DEFAULTS = MappingProxyType({"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"})
# What a flow run logs besides Prefect's own loggers: a writer waiting for the database file (warehouse/db.py)
# says so in the run's log in the UI, not only on the terminal of the process that runs it.
PREFECT_LOGGING_DEFAULTS = MappingProxyType({"PREFECT_LOGGING_EXTRA_LOGGERS": "newsdag.warehouse"})


def default_workers() -> int:
    return os.cpu_count() or 1


def doc(env: str, text: str, *, shown: str | None = None, flag: str | None = None) -> Mapping[str, str]:
    """A setting's documentation, kept as its field's metadata: the env var that sets it, what it means,
    the flag that overrides it, and how its default reads when the value itself says too little."""
    return MappingProxyType(
        {"env": env, "help": text} | ({"shown": shown} if shown else {}) | ({"flag": flag} if flag else {})
    )


@dataclass(frozen=True)
class Settings:
    """Every tunable of a run; build with `Settings.from_env(**overrides)`."""

    db_path: Path = field(default=DEFAULT_DB_PATH, metadata=doc("NEWSDAG_DB", "the DuckDB file", flag="--db"))
    archive_dir: Path | None = field(
        default=None,
        metadata=doc("NEWSDAG_ARCHIVE", "raw documents, content-addressed (by hash)", shown="`<db dir>/archive`"),
    )
    workers: int = field(
        default_factory=default_workers,
        metadata=doc("NEWSDAG_WORKERS", "extraction processes", shown="CPU cores", flag="--workers"),
    )
    batch_size: int = field(
        default=200,
        metadata=doc(
            "NEWSDAG_BATCH_SIZE", "pages (files, URLs) per read/extract/validate/load batch (one transaction each)"
        ),
    )
    line_batch_size: int = field(
        default=1000,
        metadata=doc(
            "NEWSDAG_LINE_BATCH_SIZE",
            "JSONL lines per batch (pages and lines fill batches of their own): a line of plain text costs little "
            "to extract, and what a batch costs besides its articles (validation's setup, database connections, "
            "task runs) is paid per batch (bench/results.md, section 7)",
        ),
    )
    line_batch_bytes: int = field(
        default=32 * MIB,
        metadata=doc(
            "NEWSDAG_LINE_BATCH_BYTES",
            "a batch of lines also ends at this many bytes of them (three batches are in flight at once)",
        ),
    )
    parallel_min_docs: int = field(
        default=32,
        metadata=doc(
            "NEWSDAG_PARALLEL_MIN_DOCS",
            "without a time bound (`NEWSDAG_EXTRACT_TIMEOUT=0`), smaller batches are extracted in-process",
        ),
    )
    max_file_bytes: int = field(
        default=10 * MIB,
        metadata=doc(
            "NEWSDAG_MAX_FILE_BYTES", "larger inputs are rejected (`too-large`); for a `.jsonl`, each line counts alone"
        ),
    )
    max_decompressed_bytes: int = field(
        default=50 * MIB,
        metadata=doc(
            "NEWSDAG_MAX_DECOMPRESSED_BYTES", "cap on a `.gz` input after decompression; past it, rejected (gzip bombs)"
        ),
    )
    min_words: int = field(
        default=20, metadata=doc("NEWSDAG_MIN_WORDS", "shorter texts are rejected at validation (not an article)")
    )
    earliest_date: date = field(
        default=date(1990, 1, 1),
        metadata=doc(
            "NEWSDAG_EARLIEST_DATE",
            "an older published date is flagged at validation and left out; the article loads (`article_flags` "
            "keeps the date as written)",
        ),
    )
    future_skew_hours: int = field(
        default=26,
        metadata=doc(
            "NEWSDAG_FUTURE_SKEW_HOURS",
            "a published date later than now + this is flagged and left out the same way; the article loads",
        ),
    )
    lock_timeout_seconds: float = field(
        default=60.0,
        metadata=doc(
            "NEWSDAG_LOCK_TIMEOUT", "seconds a writer or reader waits for another process's hold on the database"
        ),
    )
    sources_file: Path = field(
        default=DEFAULT_SOURCES_FILE,
        metadata=doc("NEWSDAG_SOURCES", "the sources file: the declared web sources", flag="--sources"),
    )
    contact_url: str = field(
        default=DEFAULT_CONTACT_URL,
        metadata=doc(
            "NEWSDAG_CONTACT_URL",
            "named in the User-Agent so site owners can reach you; set a contact URL or email page of your own",
            shown="the project page",
        ),
    )
    user_agent: str | None = field(
        default=None,  # None: built from the version and contact_url
        metadata=doc(
            "NEWSDAG_USER_AGENT",
            "replaces the whole User-Agent sent with every request",
            shown=f"`newsdag/{NEWSDAG_VERSION} (+<contact>)`",
        ),
    )
    connect_timeout: float = field(
        default=5.0, metadata=doc("NEWSDAG_CONNECT_TIMEOUT", "seconds to connect, per request")
    )
    read_timeout: float = field(default=20.0, metadata=doc("NEWSDAG_READ_TIMEOUT", "seconds to wait for each read"))
    fetch_deadline: float = field(
        default=60.0,
        metadata=doc(
            "NEWSDAG_FETCH_DEADLINE",
            "seconds a whole request (headers and body) may take; then it is cut off (`timeout`, not retried): the "
            "read timeout alone lets a server that drips bytes hold a request forever",
        ),
    )
    fetch_retries: int = field(
        default=3,
        metadata=doc("NEWSDAG_FETCH_RETRIES", "retries after connection errors, timeouts, 429 and 5xx (never 4xx)"),
    )
    backoff_seconds: float = field(
        default=1.0,
        metadata=doc("NEWSDAG_BACKOFF", "first retry wait in seconds, doubled each time (a longer `Retry-After` wins)"),
    )
    max_retry_after: float = field(
        default=120.0,
        metadata=doc("NEWSDAG_MAX_RETRY_AFTER", "seconds; a longer `Retry-After` gives up instead of waiting"),
    )
    per_host_delay: float = field(
        default=1.0,
        metadata=doc(
            "NEWSDAG_PER_HOST_DELAY", "seconds between requests to one host (a longer robots `Crawl-delay` wins)"
        ),
    )
    max_crawl_delay: float = field(
        default=30.0, metadata=doc("NEWSDAG_MAX_CRAWL_DELAY", "the most robots `Crawl-delay` honoured, in seconds")
    )
    fetch_threads: int = field(
        default=8,
        metadata=doc("NEWSDAG_FETCH_THREADS", "hosts fetched in parallel (one request at a time per host)"),
    )
    max_fetch_bytes: int = field(
        default=10 * MIB,
        metadata=doc("NEWSDAG_MAX_FETCH_BYTES", "larger responses are rejected (`too-large`) while streaming"),
    )
    allow_networks: tuple[str, ...] = field(
        default=(),
        metadata=doc(
            "NEWSDAG_ALLOW_NETWORKS",
            "comma-separated CIDRs fetching may reach although not public (exempt from the SSRF guard); "
            "`--allow-network` adds to them",
            flag="--allow-network",
        ),
    )
    max_redirects: int = field(default=5, metadata=doc("NEWSDAG_MAX_REDIRECTS", "redirects followed per URL"))
    sitemap_max_depth: int = field(
        default=3, metadata=doc("NEWSDAG_SITEMAP_MAX_DEPTH", "how deep sitemap indexes are followed")
    )
    sitemap_max_count: int = field(
        default=50, metadata=doc("NEWSDAG_SITEMAP_MAX_COUNT", "sitemap indexes and children followed per run")
    )
    extract_timeout_seconds: float = field(
        default=30.0,
        metadata=doc(
            "NEWSDAG_EXTRACT_TIMEOUT",
            "seconds a page may take in its worker process before it is rejected (`extract-timeout`) and the worker "
            "replaced (a news page takes well under 1 s); a page whose worker dies is rejected too "
            "(`worker-crashed`). Every batch is extracted in worker processes for this, even one page with one "
            "worker. 0: no bound, and batches under `NEWSDAG_PARALLEL_MIN_DOCS`, or one worker, extract in the "
            "ingest process (what a debugger needs)",
        ),
    )
    task_retries: int = field(
        default=2,
        metadata=doc(
            "NEWSDAG_TASK_RETRIES",
            "in a Prefect flow run, how often an I/O task (discover-links, gather, load, cluster) that failed on a "
            "transient error is run again: the database still locked after `NEWSDAG_LOCK_TIMEOUT` (WarehouseBusy) "
            "or a transient network error. Extraction, deterministic CPU work, is never retried (a retried load "
            "validates again, which writes nothing); no task is on a permanent error "
            "([orchestration](orchestration.md))",
        ),
    )
    task_retry_delay: float = field(
        default=10.0,
        metadata=doc(
            "NEWSDAG_TASK_RETRY_DELAY",
            "seconds before the first such retry, doubled each time (10 s, 20 s): a load of another run holding "
            "the file for minutes gets that long to finish",
        ),
    )
    dask_address: str | None = field(
        default=None,
        metadata=doc(
            "NEWSDAG_DASK_ADDRESS",
            "a Dask scheduler (`tcp://host:8786`); when set, extraction runs on that cluster instead of local "
            "worker processes (needs `pip install 'newsdag[dask]'` here and on the workers)",
            flag="--dask-address",
        ),
    )
    dask_chunk_docs: int = field(default=16, metadata=doc("NEWSDAG_DASK_CHUNK_DOCS", "documents per Dask task"))
    respect_tdm: bool = field(
        default=False,
        metadata=doc(
            "NEWSDAG_RESPECT_TDM",
            "a page whose text-and-data-mining rights are reserved (TDMRep: header, tdmrep.json or meta) becomes "
            "a reject with rule `tdm-reserved` and its text is not stored (also `respect_tdm = true` on a "
            "source). Off, reservations are recorded only (`articles.tdm_reserved`): research exceptions differ "
            "by jurisdiction, and the decision is the user's ([rights](rights.md))",
            flag="--respect-tdm",
        ),
    )
    languages: tuple[str, ...] = field(
        default=(),
        metadata=doc(
            "NEWSDAG_LANGUAGES",
            "keep only articles detected in these ISO 639-1 languages (comma-separated); the others become "
            "rejects with rule `other-language` (a language is known only after extraction)",
            flag="--language",
        ),
    )
    export_chunk_rows: int = field(
        default=100_000,
        metadata=doc(
            "NEWSDAG_EXPORT_CHUNK_ROWS",
            "`newsdag export` reads the warehouse on read-only connections of at most this many rows each, "
            "pausing between them: a run waiting to write (DuckDB has one writer, and a reader keeps it out) "
            "gets the file within a chunk's time (~1-3 s at this size on 2 cores)",
        ),
    )
    report_file: Path | None = field(
        default=None,  # None: report.html beside the database
        metadata=doc(
            "NEWSDAG_REPORT",
            "the page `newsdag report` writes by default, which a Prefect flow run rewrites after its run and "
            "links from its artifact",
            shown="`<db dir>/report.html`",
        ),
    )
    report_url: str | None = field(
        default=None,
        metadata=doc(
            "NEWSDAG_REPORT_URL",
            "where the report page is published (a web server serving it); when set, a run's artifact links "
            "there instead of showing the file's address",
        ),
    )
    drift_window_days: int = field(
        default=14,
        metadata=doc(
            "NEWSDAG_DRIFT_WINDOW_DAYS",
            "after each run of a declared source, its figures are compared with the median of its completed runs "
            "that started in this many days before it: two weeks hold both a weekday and a weekend rhythm, and "
            "forget a site's old layout soon enough ([health](health.md))",
        ),
    )
    drift_min_history: int = field(
        default=3,
        metadata=doc(
            "NEWSDAG_DRIFT_MIN_HISTORY",
            "a figure is judged only with at least this many earlier values; fewer are no baseline (one earlier "
            "run may itself have been the odd one)",
        ),
    )
    drift_reject_rate: float = field(
        default=0.25,
        metadata=doc(
            "NEWSDAG_DRIFT_REJECT_RATE",
            "alert when the share of inputs rejected rises by this much (absolute points: 0.05 to 0.30)",
        ),
    )
    drift_blocked_rate: float = field(
        default=0.20,
        metadata=doc(
            "NEWSDAG_DRIFT_BLOCKED_RATE",
            "alert when the share of requests answered with a captcha, consent wall or other block page rises by "
            "this much (absolute)",
        ),
    )
    drift_empty_text_rate: float = field(
        default=0.20,
        metadata=doc(
            "NEWSDAG_DRIFT_EMPTY_TEXT_RATE",
            "alert when the share of pages whose extraction found no main text (or too few words) rises by this "
            "much (absolute): the usual sign of a redesigned article template",
        ),
    )
    drift_missing_date: float = field(
        default=0.30,
        metadata=doc(
            "NEWSDAG_DRIFT_MISSING_DATE",
            "alert when the share of extracted articles without a date rises by this much (higher than the rates "
            "above: a run of a few articles moves a share in big steps)",
        ),
    )
    drift_missing_author: float = field(
        default=0.30,
        metadata=doc(
            "NEWSDAG_DRIFT_MISSING_AUTHOR",
            "alert when the share of extracted articles without an author rises by this much",
        ),
    )
    drift_median_words_drop: float = field(
        default=0.5,
        metadata=doc(
            "NEWSDAG_DRIFT_MEDIAN_WORDS_DROP",
            "alert when the median word count of the run's extracted articles falls by this fraction of the "
            "baseline's (half the words: bodies cut short)",
        ),
    )

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
        from newsdag.tasks.health import DriftPolicy  # imports DuckDB: only for the runs that judge drift

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


# Setting name -> its environment variable, from the fields' documentation.
ENV_NAMES: Mapping[str, str] = MappingProxyType({f.name: f.metadata["env"] for f in fields(Settings)})

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
