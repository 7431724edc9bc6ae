"""Export: the warehouse's tables as Hive-partitioned Parquet (or JSONL, CSV) files, incremental and atomic.

Layout of an export directory (docs/export.md has the whole contract and how to read it):

    DIR/articles/source=<source>/published_date=<day>/part-<export>-<chunk>-<n>.parquet
    DIR/<table>/part-<export>-<chunk>.parquet          tables that are not partitioned
    DIR/article_flags/article_flags.parquet            tables exported whole, replaced as one file
    DIR/_newsdag/manifest.json                         what was exported: runs, files, rows, checksums
    DIR/_newsdag/state/<table>-<export>.arrow          the keys exported so far (what the next export skips)

Each export adds only rows whose key and change columns were not exported before, so a changed article
is a new row with its new `version`; readers take the latest row per key (EXPORT_TABLES says which).
Files are written beside their final place under a hidden name ending in `.tmp` (`.part-...tmp`: no
`*.parquet` glob matches it, and Spark, Hive and pyarrow skip names starting with a dot), renamed, and
the manifest is replaced last: that rename is the commit. `_newsdag/in-progress` marks an export that
has not committed; the next export removes what it left (hidden files, and renamed ones, each complete,
that the manifest does not list) and writes those rows again, with whatever else is new.

The warehouse is read on read-only connections of at most `chunk_rows` rows each, so a run waiting to
write gets the file between chunks (DuckDB has one writer, and a reader's lock keeps it out).

Over 500 lines on purpose: the export is one commit protocol (hidden files, renames, the manifest
replaced last, the exported keys' state); its parts are correct only together, so they are read together.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from newsdag.tasks.errors import ConfigError, ExportBusy, ExportError
from newsdag.tasks.models import ExportSummary

# DuckDB and pyarrow (0.6 s to import) load when an export runs: the CLI imports this module at every
# start for its declarations (EXPORT_TABLES, EXPORT_FORMATS), which its --help and defaults show.
if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

MANIFEST_VERSION = 1
META_DIR = "_newsdag"  # a leading underscore: Spark, pyarrow and Hive skip it when they list a table
MANIFEST = "manifest.json"
IN_PROGRESS = "in-progress"
STATE = "state"
LOCK = "lock"
STAGED_SUFFIX = ".tmp"
# The name DuckDB, Spark, Hive and pyarrow all give a partition whose value is NULL, and read back as NULL:
# an article without a written day stays without one (a day first seen would be an invented date, and a
# name of our own, such as __unknown__, turns the column into strings in every reader).
UNDATED_PARTITION = "__HIVE_DEFAULT_PARTITION__"
# Seconds between two read connections of one export: longer than a waiting process's retry interval
# (warehouse/db.py's LOCK_RETRY_SECONDS), so a run waiting to write gets the file before the next chunk.
GIVE_WAY_SECONDS = 0.5
DATA_FILE = re.compile(r"^part-(\d{6})-")
HASH_BLOCK_BYTES = 1 << 20

# Named points of an export, in order, for a caller's `on_step` (tests stop the process at one).
EXPORT_STEPS = ("read-keys", "staged", "renamed-one", "renamed", "state-written", "committed")
StepListener = Callable[[str], None]


@dataclass(frozen=True)
class ExportTable:
    """One exported table; its statements are `<name>_keys` and `<name>_rows` in warehouse/export.sql
    (`<name>_checksum` and `<name>_rows` when `whole`).

    `key` identifies a row's entity and `change` the columns that differ between its versions: together
    they say whether a row was exported already. `latest` tells a reader which exported row of a key is the
    current one. A `whole` table (its rows can be deleted in the warehouse) is written as one file, replaced
    when the table's checksum changes. `partition_columns`: what --partition-by may split this table by.
    """

    name: str
    key: tuple[str, ...] = ()
    change: tuple[str, ...] = ()
    latest: str = "every row (rows are never changed once written)"
    partition_columns: tuple[str, ...] = ()
    whole: bool = False

    @property
    def identity(self) -> list[str]:
        return [*self.key, *self.change]


# What `newsdag export` can write, in --tables' default order. A new table needs an entry here and its
# statements in warehouse/export.sql.
EXPORT_TABLES: Mapping[str, ExportTable] = MappingProxyType(
    {
        table.name: table
        for table in (
            ExportTable(
                "articles",
                key=("article_id",),
                change=("version", "updated_at"),
                latest="per article_id, the row with the highest version, then the latest updated_at",
                partition_columns=("source", "published_date"),
            ),
            ExportTable("article_versions", key=("article_id", "version")),
            ExportTable(
                "stories", key=("story_id",), change=("updated_at",), latest="per story_id, the latest updated_at"
            ),
            ExportTable("story_articles", key=("article_id",)),
            ExportTable("rejects", key=("run_id", "input", "stage", "rule", "rejected_at")),
            ExportTable("runs", key=("run_id",), latest="every row (only runs that ended are exported)"),
            ExportTable("article_flags", whole=True, latest="the one file holds the current flags"),
        )
    }
)
DEFAULT_PARTITION_BY = ("source", "published_date")


@dataclass(frozen=True)
class ExportFormat:
    """How DuckDB writes a format: the file extension, COPY's options, and whether COPY reports each file's
    rows (RETURN_STATS, Parquet only) or only the files (RETURN_FILES)."""

    name: str
    extension: str
    copy_options: str
    file_stats: bool


EXPORT_FORMATS: Mapping[str, ExportFormat] = MappingProxyType(
    {
        # zstd level 1: a quarter less CPU than DuckDB's default level 3, for files 13 % larger; no dictionary
        # pages for strings: DuckDB tries one for every string column of every file, which on article texts
        # (all distinct) cost 8 % more CPU for a file no smaller. Measured in bench/results.md, section 8.
        "parquet": ExportFormat(
            "parquet",
            ".parquet",
            "FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, STRING_DICTIONARY_PAGE_SIZE_LIMIT 1",
            True,
        ),
        "jsonl": ExportFormat("jsonl", ".jsonl", "FORMAT json", False),
        "csv": ExportFormat("csv", ".csv", "FORMAT csv, HEADER true", False),
    }
)


@dataclass(frozen=True)
class ExportOptions:
    """What to export and how; checked by `check_options` against EXPORT_TABLES and EXPORT_FORMATS."""

    tables: tuple[str, ...] = tuple(EXPORT_TABLES)
    format: str = "parquet"
    partition_by: tuple[str, ...] = DEFAULT_PARTITION_BY
    since_run: str | None = None


@dataclass(frozen=True)
class StagedFile:
    """A file written under its hidden name, with where it goes (relative to the export directory)."""

    staged: Path
    relative: str
    table: str
    rows: int | None  # None: counted when hashed (JSONL lines) or read back (CSV)


def check_options(options: ExportOptions) -> None:
    """ConfigError for an unknown table, format or partition column."""
    unknown = [name for name in options.tables if name not in EXPORT_TABLES]
    if unknown:
        raise ConfigError(f"unknown table {unknown[0]!r}; known: {', '.join(EXPORT_TABLES)}", subject="--tables")
    if not options.tables:
        raise ConfigError("no table to export", subject="--tables")
    if options.format not in EXPORT_FORMATS:
        raise ConfigError(f"unknown format {options.format!r}; known: {', '.join(EXPORT_FORMATS)}", "--format")
    known = dict.fromkeys(column for table in EXPORT_TABLES.values() for column in table.partition_columns)
    for column in options.partition_by:
        if column not in known:
            raise ConfigError(f"cannot partition by {column!r}; known: {', '.join(known)}", subject="--partition-by")


def partitions_of(table: ExportTable, partition_by: Sequence[str]) -> list[str]:
    """The columns a table is split by: those of --partition-by it has, in the order given."""
    return [column for column in partition_by if column in table.partition_columns]


def export_warehouse(
    db_path: Path,
    directory: Path,
    options: ExportOptions = ExportOptions(),  # frozen: a shared default is safe
    *,
    chunk_rows: int = 100_000,
    lock_timeout_seconds: float = 60.0,
    on_step: StepListener | None = None,
) -> ExportSummary:
    """Write what the warehouse at `db_path` holds and `directory` does not yet, then commit the manifest."""
    check_options(options)
    started = time.monotonic()
    step = on_step or (lambda _name: None)
    if not db_path.exists():
        raise ExportError("no warehouse here yet; run `newsdag ingest` first", subject=str(db_path))
    directory.mkdir(parents=True, exist_ok=True)
    with export_lock(directory, lock_timeout_seconds):
        manifest = read_manifest(directory, options)
        finish_killed_export(directory, manifest)
        number = manifest["last_export"] + 1
        fmt = EXPORT_FORMATS[options.format]
        copy = CopyContext(directory, options, fmt, number)
        # The keys and the first group of rows on one connection; each further group on its own, after a pause.
        with read_connection(db_path, lock_timeout_seconds) as con:
            plan = read_plan(con, directory, manifest, options)
            step("read-keys")
            groups = copy_groups(plan, chunk_rows)
            if groups:
                # Until the commit, what this export writes is not the directory's: the mark tells the next
                # export to clear it away if this one is killed.
                (directory / META_DIR / IN_PROGRESS).write_text(f"{number}\n", encoding="utf-8")
                staged = stage_group(con, groups[0], copy)
        if not groups:
            return ExportSummary(str(directory), None, {}, 0, 0, (), round(time.monotonic() - started, 3))
        for group in groups[1:]:
            time.sleep(GIVE_WAY_SECONDS)
            with read_connection(db_path, lock_timeout_seconds) as con:
                staged += stage_group(con, group, copy)
        step("staged")
        files = place_files(directory, staged, fmt, step)
        step("renamed")
        states = write_states(directory, plan, number)
        step("state-written")
        entry = manifest_entry(number, db_path, options, plan, files)
        commit_manifest(directory, manifest, entry, plan, states, options)
        step("committed")
        remove_leftovers(directory, manifest)
    rows = {table: sum(file["rows"] for file in table_files) for table, table_files in files.items()}
    return ExportSummary(
        directory=str(directory),
        export=number,
        rows=rows,
        files=sum(len(table_files) for table_files in files.values()),
        bytes=sum(file["bytes"] for table_files in files.values() for file in table_files),
        runs=tuple(plan.new_runs),
        seconds=round(time.monotonic() - started, 3),
    )


@contextmanager
def read_connection(db_path: Path, wait_seconds: float) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the warehouse, without DuckDB's progress bar (it would draw on the
    terminal of `newsdag export`, or in a flow run's log, during a long COPY)."""
    from newsdag.warehouse.db import connect

    with connect(db_path, read_only=True, wait_seconds=wait_seconds) as con:
        con.execute("SET enable_progress_bar = false")
        yield con


@contextmanager
def export_lock(directory: Path, wait_seconds: float) -> Iterator[None]:
    """One export at a time per directory (two scheduled runs may end together); the lock dies with its
    process, so a killed export never leaves the directory locked."""
    meta = directory / META_DIR
    meta.mkdir(exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    with (meta / LOCK).open("a") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ExportBusy(
                        f"another export is writing this directory; gave up after {wait_seconds:.0f} s",
                        subject=str(directory),
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_manifest(directory: Path, options: ExportOptions) -> dict[str, Any]:
    """The directory's manifest, or a new one; ConfigError if it was written in another format or layout
    (a reader's glob over both would mix them)."""
    path = directory / META_DIR / MANIFEST
    if not path.exists():
        strangers = [name for name in EXPORT_TABLES if (directory / name).exists()]
        # A first export killed before its commit leaves table directories and its mark: ours to finish.
        if strangers and not (directory / META_DIR / IN_PROGRESS).exists():
            raise ConfigError(
                f"holds {strangers[0]}/ but no newsdag manifest; export to a new or empty directory",
                subject=str(directory),
            )
        return {
            "newsdag_export": MANIFEST_VERSION,
            "format": options.format,
            "partition_by": list(options.partition_by),
            "undated_partition": UNDATED_PARTITION,
            "last_export": 0,
            "tables": {},
            "exports": [],
        }
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ExportError(f"cannot read the manifest: {error}", subject=str(path)) from None
    if manifest.get("newsdag_export") != MANIFEST_VERSION:
        raise ExportError("not a manifest this newsdag writes", subject=str(path))
    for field, given in (("format", options.format), ("partition_by", list(options.partition_by))):
        if manifest[field] != given:
            flag = f"--{field.replace('_', '-')}"
            raise ConfigError(
                f"this directory holds an export with {flag} {describe(manifest[field])}, not {describe(given)}; "
                "use the same or another directory",
                subject=str(directory),
            )
    return manifest


def describe(value: str | list[str]) -> str:
    return value if isinstance(value, str) else (",".join(value) or "''")


def finish_killed_export(directory: Path, manifest: dict[str, Any]) -> None:
    """Remove what an export killed before its commit left: its hidden files, the data files it had
    renamed into place (numbered after the last committed export) and its state files. Its rows are still
    new to the manifest, so this export writes them again."""
    mark = directory / META_DIR / IN_PROGRESS
    if not mark.exists():
        return
    last = manifest["last_export"]
    for name in EXPORT_TABLES:
        for path in data_files(directory / name):
            match = DATA_FILE.match(path.name)
            if (path.name.startswith(".") and path.suffix == STAGED_SUFFIX) or (match and int(match.group(1)) > last):
                path.unlink()
    for path in (directory / META_DIR / STATE).glob("*.arrow*"):
        if state_number(path) > last:
            path.unlink()
    mark.unlink()


def data_files(table_directory: Path) -> Iterator[Path]:
    if table_directory.is_dir():
        for root, _, names in os.walk(table_directory):
            for name in names:
                yield Path(root) / name


def state_number(path: Path) -> int:
    match = re.search(r"-(\d{6})\.arrow", path.name)
    return int(match.group(1)) if match else 0


@dataclass
class ExportPlan:
    """What one export writes: per appended table the keys not exported yet (and the state they join), per
    whole table its checksum when it changed, and the runs that ended since the last export."""

    since: datetime | None
    new_keys: dict[str, pa.Table]
    old_states: dict[str, pa.Table | None]
    whole: dict[str, dict[str, Any]]
    new_runs: list[str]


def read_plan(
    con: duckdb.DuckDBPyConnection, directory: Path, manifest: dict[str, Any], options: ExportOptions
) -> ExportPlan:
    """The keys of every table's rows that the directory lacks (only key columns are read: a no-op export
    reads no text), the whole tables that changed, and the runs that ended since the last export."""
    from newsdag.warehouse.db import named_queries

    queries = named_queries("export.sql")
    states = {name: read_state(directory, manifest, name) for name in options.tables if not EXPORT_TABLES[name].whole}
    new_keys: dict[str, pa.Table] = {}
    whole: dict[str, dict[str, Any]] = {}
    since = None
    if options.since_run is not None:
        found = con.execute(queries["since_run_started"], {"run_id": options.since_run}).fetchall()
        if not found:
            raise ConfigError("no run with this id in the warehouse (see `newsdag runs`)", options.since_run)
        since = found[0][0]
    for name in options.tables:
        table = EXPORT_TABLES[name]
        if table.whole:
            count, checksum = con.execute(queries[f"{name}_checksum"]).fetchall()[0]
            recorded = manifest["tables"].get(name, {})
            if (recorded.get("rows"), recorded.get("checksum")) != (count, checksum):
                whole[name] = {"rows": count, "checksum": checksum}
            continue
        keys = con.sql(queries[f"{name}_keys"], params={"since": since})
        state = states[name]
        if state is not None:
            keys = keys.join(con.from_arrow(state), table.identity, how="anti")
        partitions = partitions_of(table, options.partition_by)
        if partitions:  # a chunk then covers few partitions: fewer, larger files
            keys = keys.order(", ".join(partitions))
        found_keys = keys.to_arrow_table()
        if found_keys.num_rows:
            new_keys[name] = found_keys
    finished = [row[0] for row in con.execute(queries["finished_runs"]).fetchall()]
    covered = {run for entry in manifest["exports"] for run in entry["runs"]}
    return ExportPlan(since, new_keys, states, whole, [run for run in finished if run not in covered])


def read_state(directory: Path, manifest: dict[str, Any], name: str) -> pa.Table | None:
    import pyarrow as pa
    import pyarrow.feather as feather

    relative = manifest["tables"].get(name, {}).get("state")
    if relative is None:
        return None
    try:
        return feather.read_table(directory / META_DIR / relative)
    except (OSError, pa.ArrowInvalid) as error:
        raise ExportError(
            f"cannot read the export state: {error}", subject=str(directory / META_DIR / relative)
        ) from None


@dataclass(frozen=True)
class CopyContext:
    """Where and how this export writes its files."""

    directory: Path
    options: ExportOptions
    fmt: ExportFormat
    number: int


@dataclass(frozen=True)
class CopyJob:
    """One COPY: a chunk of a table's new keys (its `chunk_number`), or a whole table (`keys` None)."""

    table: str
    keys: pa.Table | None
    chunk_number: int = 0


def copy_groups(plan: ExportPlan, chunk_rows: int) -> list[list[CopyJob]]:
    """The COPYs of this export in groups of at most `chunk_rows` rows, one read connection each: an
    export after a run is one group, a first export of a large warehouse many."""
    jobs = [
        CopyJob(name, keys.slice(first, chunk_rows), number)
        for name, keys in plan.new_keys.items()
        for number, first in enumerate(range(0, keys.num_rows, chunk_rows))
    ]
    jobs += [CopyJob(name, None) for name in plan.whole]
    groups: list[list[CopyJob]] = []
    rows = 0
    for job in jobs:
        size = job.keys.num_rows if job.keys is not None else plan.whole[job.table]["rows"]
        if not groups or (rows and rows + size > chunk_rows):
            groups.append([])
            rows = 0
        groups[-1].append(job)
        rows += size
    return groups


def stage_group(con: duckdb.DuckDBPyConnection, jobs: Sequence[CopyJob], copy: CopyContext) -> list[StagedFile]:
    """COPY each job's rows into its table's directory, under hidden .tmp names; the files written."""
    from newsdag.warehouse.db import named_queries

    queries = named_queries("export.sql")
    staged: list[StagedFile] = []
    for job in jobs:
        table = EXPORT_TABLES[job.table]
        target = copy.directory / job.table
        target.mkdir(exist_ok=True)
        if job.keys is None:
            statement = copy_statement(queries[f"{job.table}_rows"], copy.fmt, [])
            written = run_copy(con, statement, {"target": str(target / f".{job.table}{STAGED_SUFFIX}")}, copy.fmt)
            staged += [
                StagedFile(path, f"{job.table}/{job.table}{copy.fmt.extension}", job.table, rows)
                for path, rows in written
            ]
            continue
        partitions = partitions_of(table, copy.options.partition_by)
        statement = copy_statement(queries[f"{job.table}_rows"], copy.fmt, partitions)
        stem = f".part-{copy.number:06d}-{job.chunk_number:04d}"
        if partitions:
            parameters = {"target": str(target), "pattern": f"{stem}-{{i}}"}
        else:
            parameters = {"target": str(target / f"{stem}{STAGED_SUFFIX}")}
        con.register("export_keys", job.keys)
        try:
            written = run_copy(con, statement, parameters, copy.fmt)
        finally:
            con.unregister("export_keys")
        for path, rows in written:
            final = path.with_name(path.name.removeprefix(".")).with_suffix(copy.fmt.extension)
            staged.append(StagedFile(path, str(final.relative_to(copy.directory)), job.table, rows))
    return staged


def copy_statement(rows_query: str, fmt: ExportFormat, partitions: Sequence[str]) -> str:
    """COPY of a named rows query to $target. Only our own declared names are spliced in (the format's
    options, the partition columns); the paths are bound parameters."""
    options = [fmt.copy_options]
    if partitions:
        # Hidden .tmp names ($pattern starts with a dot) beside the table's files, which OVERWRITE_OR_IGNORE
        # keeps (only a file of the same name would be replaced, and names are unique per export and chunk).
        options += [
            f"PARTITION_BY ({', '.join(partitions)})",
            "FILENAME_PATTERN $pattern",
            "FILE_EXTENSION 'tmp'",
            "OVERWRITE_OR_IGNORE",
        ]
    options.append("RETURN_STATS" if fmt.file_stats else "RETURN_FILES")
    return f"COPY ({rows_query.rstrip(';')}) TO $target ({', '.join(options)})"


def run_copy(
    con: duckdb.DuckDBPyConnection, statement: str, parameters: dict[str, str], fmt: ExportFormat
) -> list[tuple[Path, int | None]]:
    """Run a COPY; the files it wrote, with their rows when the format reports them."""
    import duckdb

    try:
        result = con.execute(statement, parameters).fetchall()
    except duckdb.Error as error:
        raise ExportError(f"cannot write the export: {' '.join(str(error).split())}", parameters["target"]) from None
    if fmt.file_stats:  # one row per file: filename, count, ...
        return [(Path(row[0]), int(row[1])) for row in result]
    return [(Path(path), None) for row in result for path in row[1]]


def place_files(
    directory: Path, staged: Sequence[StagedFile], fmt: ExportFormat, step: StepListener
) -> dict[str, list[dict[str, Any]]]:
    """Hash each staged file (its checksum and size for the manifest), then rename it into place; by table,
    the manifest's file entries."""
    files: dict[str, list[dict[str, Any]]] = {}
    described = [(file, describe_file(file, fmt)) for file in staged]
    for number, (file, entry) in enumerate(described):
        os.replace(file.staged, directory / file.relative)
        if number == 0:
            step("renamed-one")
        files.setdefault(file.table, []).append(entry)
    return files


def describe_file(file: StagedFile, fmt: ExportFormat) -> dict[str, Any]:
    """The manifest entry of a staged file: path, rows, bytes and sha256 (one read of the file)."""
    digest = hashlib.sha256()
    size = newlines = 0
    with file.staged.open("rb") as handle:
        while block := handle.read(HASH_BLOCK_BYTES):
            digest.update(block)
            size += len(block)
            if fmt.name == "jsonl":
                newlines += block.count(b"\n")
    rows = file.rows
    if rows is None:
        rows = newlines if fmt.name == "jsonl" else count_csv_rows(file.staged)
    return {"path": file.relative, "rows": rows, "bytes": size, "sha256": digest.hexdigest()}


def count_csv_rows(path: Path) -> int:
    """Rows of a CSV file DuckDB wrote (texts hold newlines, so lines are not rows), read back in memory."""
    import duckdb

    with duckdb.connect() as con:
        query = "SELECT count(*) FROM read_csv($path, header = true, all_varchar = true, quote = '\"', escape = '\"')"
        return int(con.execute(query, {"path": str(path)}).fetchall()[0][0])


def write_states(directory: Path, plan: ExportPlan, number: int) -> dict[str, str]:
    """Per appended table with new rows, the keys exported so far (the old state and this export's keys),
    as a new state file named after this export; relative paths by table."""
    import pyarrow as pa
    import pyarrow.feather as feather

    states: dict[str, str] = {}
    folder = directory / META_DIR / STATE
    folder.mkdir(parents=True, exist_ok=True)
    for name, keys in plan.new_keys.items():
        exported = keys.select(EXPORT_TABLES[name].identity)
        old = plan.old_states.get(name)
        if old is not None:
            exported = pa.concat_tables([old, exported.cast(old.schema)])
        relative = f"{STATE}/{name}-{number:06d}.arrow"
        temporary = folder / f"{name}-{number:06d}.arrow{STAGED_SUFFIX}"
        feather.write_feather(exported, temporary, compression="zstd")
        fsync_file(temporary)
        os.replace(temporary, directory / META_DIR / relative)
        states[name] = relative
    return states


def manifest_entry(
    number: int,
    db_path: Path,
    options: ExportOptions,
    plan: ExportPlan,
    files: Mapping[str, list[dict[str, Any]]],
) -> dict[str, Any]:
    return {
        "export": number,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": str(db_path.resolve()),
        "since_run": options.since_run,
        "runs": plan.new_runs,
        "tables": {
            name: {"rows": sum(file["rows"] for file in table_files), "files": table_files}
            for name, table_files in files.items()
        },
    }


def commit_manifest(
    directory: Path,
    manifest: dict[str, Any],
    entry: dict[str, Any],
    plan: ExportPlan,
    states: Mapping[str, str],
    options: ExportOptions,
) -> None:
    """Record the export and replace the manifest in one rename: until then, the export did not happen."""
    manifest["last_export"] = entry["export"]
    manifest["exports"].append(entry)
    for name, written in entry["tables"].items():
        table = EXPORT_TABLES[name]
        summary = manifest["tables"].setdefault(name, {})
        summary.update(
            {
                "mode": "whole" if table.whole else "append",
                "key": list(table.key),
                "change": list(table.change),
                "latest": table.latest,
                "partition_by": partitions_of(table, options.partition_by),
            }
        )
        if table.whole:
            summary.update(plan.whole[name])  # the rows and checksum of the table the file holds
            summary["file"] = written["files"][0]
        else:
            summary["rows"] = summary.get("rows", 0) + written["rows"]
            summary["files"] = summary.get("files", 0) + len(written["files"])
            summary["state"] = states[name]
    path = directory / META_DIR / MANIFEST
    temporary = path.with_name(MANIFEST + STAGED_SUFFIX)
    temporary.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    fsync_file(temporary)
    os.replace(temporary, path)
    fsync_directory(path.parent)


def remove_leftovers(directory: Path, manifest: dict[str, Any]) -> None:
    """After the commit: the in-progress mark, and state files the manifest no longer names."""
    (directory / META_DIR / IN_PROGRESS).unlink(missing_ok=True)
    named = {summary.get("state") for summary in manifest["tables"].values()}
    for path in (directory / META_DIR / STATE).glob("*.arrow"):
        if f"{STATE}/{path.name}" not in named:
            path.unlink(missing_ok=True)


def fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
