"""One settings object for newsdag: every default lives here, each overridable by an env var.

Setting (env var, default): meaning
- db_path (NEWSDAG_DB, warehouse/news.duckdb): the DuckDB file
- archive_dir (NEWSDAG_ARCHIVE, <db dir>/archive): raw documents, content-addressed
- workers (NEWSDAG_WORKERS, CPU cores): extraction processes
- batch_size (NEWSDAG_BATCH_SIZE, 200): documents per read/extract/validate/load batch
- parallel_min_docs (NEWSDAG_PARALLEL_MIN_DOCS, 32): smaller batches are extracted in-process
- max_file_bytes (NEWSDAG_MAX_FILE_BYTES, 10 MiB): larger inputs are rejected (rule too-large)
- max_decompressed_bytes (NEWSDAG_MAX_DECOMPRESSED_BYTES, 50 MiB): cap on a .gz input after decompression
- min_words (NEWSDAG_MIN_WORDS, 20): shorter texts fail validation
- earliest_date (NEWSDAG_EARLIEST_DATE, 1990-01-01): older published dates fail validation
- future_skew_hours (NEWSDAG_FUTURE_SKEW_HOURS, 26): dates later than now + this fail validation
- lock_timeout_seconds (NEWSDAG_LOCK_TIMEOUT, 60): how long a writer or reader waits for the database
- extract_timeout_seconds (NEWSDAG_EXTRACT_TIMEOUT, 30): a page extracted in a worker process for longer
  is rejected (rule extract-timeout) and its worker replaced (a news page takes well under 1 s); a page
  whose worker dies is rejected too (worker-crashed). In-process extraction (batches under
  parallel_min_docs, or one worker) has no bound.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any

from tasks.errors import ConfigError

DEFAULT_DB_PATH = Path("warehouse/news.duckdb")


def default_workers() -> int:
    return os.cpu_count() or 1


ENV_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "db_path": "NEWSDAG_DB",
        "archive_dir": "NEWSDAG_ARCHIVE",
        "workers": "NEWSDAG_WORKERS",
        "batch_size": "NEWSDAG_BATCH_SIZE",
        "parallel_min_docs": "NEWSDAG_PARALLEL_MIN_DOCS",
        "max_file_bytes": "NEWSDAG_MAX_FILE_BYTES",
        "max_decompressed_bytes": "NEWSDAG_MAX_DECOMPRESSED_BYTES",
        "min_words": "NEWSDAG_MIN_WORDS",
        "earliest_date": "NEWSDAG_EARLIEST_DATE",
        "future_skew_hours": "NEWSDAG_FUTURE_SKEW_HOURS",
        "lock_timeout_seconds": "NEWSDAG_LOCK_TIMEOUT",
        "extract_timeout_seconds": "NEWSDAG_EXTRACT_TIMEOUT",
    }
)


@dataclass(frozen=True)
class Settings:
    """Every tunable of a run; build with `Settings.from_env(**overrides)`."""

    db_path: Path = DEFAULT_DB_PATH
    archive_dir: Path | None = None
    workers: int = field(default_factory=default_workers)
    batch_size: int = 200
    parallel_min_docs: int = 32
    max_file_bytes: int = 10 * 1024 * 1024
    max_decompressed_bytes: int = 50 * 1024 * 1024
    min_words: int = 20
    earliest_date: date = date(1990, 1, 1)
    future_skew_hours: int = 26
    lock_timeout_seconds: float = 60.0
    extract_timeout_seconds: float = 30.0

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Defaults, then NEWSDAG_* environment variables, then explicit overrides (flags); None means unset."""
        values: dict[str, Any] = {}
        types = {f.name: f.type for f in fields(cls)}
        for name, env_name in ENV_NAMES.items():
            raw = os.environ.get(env_name)
            if raw:
                values[name] = convert(raw, types[name], env_name)
        values.update({name: value for name, value in overrides.items() if value is not None})
        settings = replace(cls(), **values)
        settings.check()
        return settings

    def check(self) -> None:
        for name in ("workers", "batch_size", "max_file_bytes", "max_decompressed_bytes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"must be at least 1, got {getattr(self, name)}", subject=name)
        if self.extract_timeout_seconds <= 0:
            raise ConfigError(
                f"must be positive, got {self.extract_timeout_seconds}", subject="extract_timeout_seconds"
            )
        if self.min_words < 0:
            raise ConfigError(f"must not be negative, got {self.min_words}", subject="min_words")

    @property
    def archive_path(self) -> Path:
        return self.archive_dir or Path(self.db_path).parent / "archive"


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
    except ValueError as error:
        raise ConfigError(f"cannot read {raw!r}: {error}", subject=env_name) from None
    return raw
