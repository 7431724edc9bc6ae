"""`newsdag export`: Parquet (JSONL, CSV) files that DuckDB, pyarrow and Polars read back as the warehouse
holds them; incremental, idempotent, and whole after a kill -9 at any named step."""

from __future__ import annotations

import fcntl
import hashlib
import json
import signal
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from newsdag.flows.cli import main
from newsdag.tasks import load, stories
from newsdag.tasks.dates import parse_iso_date
from newsdag.tasks.errors import ExportBusy
from newsdag.tasks.export import (
    EXPORT_STEPS,
    EXPORT_TABLES,
    META_DIR,
    UNDATED_PARTITION,
    CopyJob,
    ExportOptions,
    ExportPlan,
    copy_groups,
    export_warehouse,
)
from newsdag.tasks.models import COUNT_NAMES, Article, Flag, RawDocument, Reject
from newsdag.warehouse.db import connect
from tests.conftest import PROJECT, another_process_writing, make_article

STARTED = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
# What a reader needs for the latest state of an appended table (docs/export.md shows the same).
LATEST_ARTICLES = """
    SELECT * FROM read_parquet($glob, hive_partitioning = true)
    QUALIFY row_number() OVER (PARTITION BY article_id ORDER BY version DESC, updated_at DESC) = 1
"""


def body(number: int, extra: str = "") -> str:
    words = " ".join(f"word{(number * 7 + index) % 50}" for index in range(40))
    return f"Story {number} begins here. {words}. {extra}".strip()


def article(number: int, *, source: str = "gazette", published: str | None = None, text: str | None = None) -> Article:
    """A distinct article; `published` as written (None: the page gave no date)."""
    made = make_article(
        article_id=f"{number:032x}",
        url=f"https://example.com/news/{number}",
        input=f"/data/news/{number}.html",
        source=source,
        title=f"Headline {number}",
        tags=("world", f"tag-{number % 3}"),
        authors=(f"Reporter {number}", "Desk"),
        published=parse_iso_date(published, "json-ld") if published else None,
        text=text or body(number),
    )
    return replace(made, doc_id=hashlib.sha256(made.text.encode()).hexdigest())


def document(item: Article) -> RawDocument:
    content = item.text.encode()
    return RawDocument(
        input=item.input,
        url=f"file://{item.input}",
        content=content,
        kind="html",
        fetched_at=STARTED,
        doc_id=hashlib.sha256(content).hexdigest(),
    )


def ingest(
    db: Path,
    run_id: str,
    articles: Sequence[Article],
    *,
    started: datetime = STARTED,
    rejects: Sequence[Reject] = (),
    flags: Sequence[Flag] = (),
) -> None:
    """One finished run that loads `articles` (and clusters them), as an ingest would."""
    with connect(db) as connection:
        load.start_run(connection, load.RunRecord(run_id, "cli", "gazette", ("/data/news",), started))
        load.write_batch(
            connection,
            run_id,
            documents=[document(item) for item in articles],
            articles=articles,
            rejects=rejects,
            flags=flags,
            now=started + timedelta(minutes=1),
        )
        stories.cluster_pending(connection, run_id, now=started + timedelta(minutes=2))
        load.finish_run(connection, run_id, status="completed", counts=dict.fromkeys(COUNT_NAMES, 0), error=None)


FIRST_ARTICLES = (
    article(1, published="2026-02-27T08:36:00+02:00"),  # a time with its offset: published_at is its instant
    article(2, published="2026-02-27"),  # only a day
    article(3, published="2026-02-28T23:30:00-05:00"),  # the day as written, though UTC is already the next
    article(4),  # no date at all
    article(5, source="odd source/=é", published="2026-02-27T10:00:00+00:00"),  # quoted in its partition name
)


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    db = tmp_path / "news.duckdb"
    rejects = [Reject("/data/news/empty.html", "validate", "too-short", "3 words", doc_id="d" * 64)]
    flags = [Flag(FIRST_ARTICLES[0].article_id, FIRST_ARTICLES[0].doc_id, "no-title", "the title is missing")]
    ingest(db, "20260301T090000-aaaaaa", FIRST_ARTICLES, rejects=rejects, flags=flags)
    return db


def warehouse_rows(db: Path, table: str) -> pa.Table:
    with connect(db, read_only=True) as con:
        return con.sql(f"SELECT * FROM {table}").to_arrow_table()


def sorted_rows(rows: list[dict[str, Any]], key: Sequence[str]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: tuple(str(row[column]) for column in key))


def test_duckdb_pyarrow_and_polars_read_the_warehouse_rows_and_types(warehouse: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    summary = export_warehouse(warehouse, out)
    assert summary.export == 1
    assert summary.rows == {
        "articles": 5,
        "stories": summary.rows["stories"],
        "story_articles": 5,
        "rejects": 1,
        "runs": 1,
        "article_flags": 1,
    }
    # Hive partitions: the source percent-encoded, the day as written, no day: the Hive name for NULL.
    days = sorted(path.name for path in (out / "articles" / "source=gazette").iterdir())
    assert days == ["published_date=2026-02-27", "published_date=2026-02-28", f"published_date={UNDATED_PARTITION}"]
    assert (out / "articles" / "source=odd%20source%2F%3D%C3%A9").is_dir()
    assert not list(out.rglob("*.tmp"))

    for table_name in ("articles", "rejects", "runs", "story_articles", "stories", "article_flags"):
        table = EXPORT_TABLES[table_name]
        key = table.identity or ["article_id", "rule"]
        expected = warehouse_rows(warehouse, table_name)
        glob = str(out / table_name / "**" / "*.parquet")

        # DuckDB: the types it stores, the rows it holds.
        with duckdb.connect() as con:
            con.execute("SET TimeZone = 'UTC'")
            relation = con.sql("SELECT * FROM read_parquet($glob, hive_partitioning = true)", params={"glob": glob})
            described = dict(zip(relation.columns, [str(kind) for kind in relation.types], strict=True))
            read = relation.to_arrow_table()
        with connect(warehouse, read_only=True) as con:
            stored = con.sql(f"SELECT * FROM {table_name}")
            assert described == dict(zip(stored.columns, [str(kind) for kind in stored.types], strict=True))
        assert sorted_rows(read.to_pylist(), key) == sorted_rows(expected.to_pylist(), key)

        # pyarrow.dataset, with the partition columns' types given (pyarrow infers only ints and strings).
        partitioning = None
        if table_name == "articles":
            partitioning = ds.partitioning(
                pa.schema([("source", pa.string()), ("published_date", pa.date32())]), flavor="hive"
            )
        dataset = ds.dataset(out / table_name, format="parquet", partitioning=partitioning)
        assert {field.name: field.type for field in dataset.schema} == {
            field.name: field.type for field in expected.schema
        }
        assert sorted_rows(dataset.to_table().to_pylist(), key) == sorted_rows(expected.to_pylist(), key)

        # Polars: hive partitions and types inferred.
        frame = pl.scan_parquet(glob, hive_partitioning=True).collect()
        expected_frame = pl.from_arrow(expected)
        assert dict(frame.schema) == dict(expected_frame.schema)
        assert sorted_rows(frame.to_dicts(), key) == sorted_rows(expected_frame.to_dicts(), key)

    # Dates: the instant in UTC, the local time exactly as written, the day as written, lists as lists.
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        first, late, undated = con.execute(
            "SELECT published_at, published_local, published_date, tags, authors FROM read_parquet($glob, "
            "hive_partitioning = true) WHERE article_id IN ($a, $b, $c) ORDER BY article_id",
            {
                "glob": str(out / "articles" / "**" / "*.parquet"),
                "a": FIRST_ARTICLES[0].article_id,
                "b": FIRST_ARTICLES[2].article_id,
                "c": FIRST_ARTICLES[3].article_id,
            },
        ).fetchall()
    assert first[0] == datetime(2026, 2, 27, 6, 36, tzinfo=UTC) and first[1] == "2026-02-27T08:36:00+02:00"
    assert str(first[2]) == "2026-02-27" and first[3] == ["world", "tag-1"] and first[4] == ["Reporter 1", "Desk"]
    assert late[0] == datetime(2026, 3, 1, 4, 30, tzinfo=UTC) and str(late[2]) == "2026-02-28"
    assert undated[:3] == (None, None, None)


def test_again_writes_nothing_then_only_new_and_changed_rows(warehouse: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    export_warehouse(warehouse, out)
    listing = snapshot(out)
    again = export_warehouse(warehouse, out)
    assert again.export is None and again.rows == {} and snapshot(out) == listing

    # Another run: article 2's text changes (version 2), article 6 is new, the others are seen unchanged.
    changed = article(2, published="2026-02-27", text=body(2, "A correction was added."))
    ingest(
        warehouse,
        "20260302T090000-bbbbbb",
        [*FIRST_ARTICLES[:1], changed, article(6, published="2026-03-02T07:00:00+01:00")],
        started=STARTED + timedelta(days=1),
    )
    second = export_warehouse(warehouse, out)
    assert second.export == 2 and second.runs == ("20260302T090000-bbbbbb",)
    assert second.rows["articles"] == 2 and second.rows["article_versions"] == 1 and second.rows["runs"] == 1
    assert "rejects" not in second.rows  # the run rejected nothing
    new_files = set(snapshot(out)) - set(listing)
    assert all("part-000002-" in name or name.startswith(META_DIR) for name in new_files)
    assert {name for name in listing if not name.startswith(META_DIR)} <= set(snapshot(out))  # nothing rewritten

    # Readers take the highest version: the latest state is the warehouse's articles.
    glob = str(out / "articles" / "**" / "*.parquet")
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        latest = con.sql(LATEST_ARTICLES, params={"glob": glob}).to_arrow_table()
        every_row = con.execute("SELECT count(*) FROM read_parquet($glob)", {"glob": glob}).fetchall()[0][0]
    assert every_row == 7
    stored = warehouse_rows(warehouse, "articles")
    key = ["article_id"]
    ignore = ("last_seen_run",)  # an unchanged article seen again is not a new row (docs/export.md)
    assert sorted_rows(drop(latest.to_pylist(), ignore), key) == sorted_rows(drop(stored.to_pylist(), ignore), key)
    articles = pl.scan_parquet(glob, hive_partitioning=True)  # as docs/export.md reads the latest state
    polars_latest = articles.sort("version", "updated_at", descending=True).unique("article_id", keep="first").collect()
    assert polars_latest.filter(pl.col("article_id") == changed.article_id)["version"].to_list() == [2]
    assert polars_latest.height == 6

    manifest = json.loads((out / META_DIR / "manifest.json").read_text())
    assert [entry["export"] for entry in manifest["exports"]] == [1, 2]
    assert manifest["tables"]["articles"]["rows"] == 7
    # Every file as the manifest describes it; a whole table's one file as its latest export wrote it.
    described = [
        file
        for entry in manifest["exports"]
        for name, table in entry["tables"].items()
        if not EXPORT_TABLES[name].whole
        for file in table["files"]
    ]
    described.append(manifest["tables"]["article_flags"]["file"])
    for file in described:
        data = (out / file["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == file["sha256"] and len(data) == file["bytes"]
    assert export_warehouse(warehouse, out).export is None


def drop(rows: list[dict[str, Any]], columns: Sequence[str]) -> list[dict[str, Any]]:
    return [{name: value for name, value in row.items() if name not in columns} for row in rows]


def snapshot(directory: Path) -> dict[str, str]:
    """Every file under `directory` (but the lock) with the sha256 of its bytes."""
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name != "lock"
    }


def test_flags_are_replaced_whole_when_they_change(warehouse: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    export_warehouse(warehouse, out)
    flags_file = out / "article_flags" / "article_flags.parquet"
    assert pl.read_parquet(flags_file).height == 1
    # Article 1 validated again without a doubt: its flag is gone from the warehouse, and from the export.
    ingest(
        warehouse,
        "20260302T090000-cccccc",
        [replace(FIRST_ARTICLES[0], title="Now titled")],
        started=STARTED + timedelta(days=1),
    )
    second = export_warehouse(warehouse, out)
    assert second.rows["article_flags"] == 0 and pl.read_parquet(flags_file).height == 0
    assert [path.name for path in flags_file.parent.iterdir()] == ["article_flags.parquet"]


@pytest.mark.parametrize("step", ["staged", "renamed-one", "state-written", "committed"])
def test_kill_9_at_a_step_leaves_nothing_partial_and_the_next_export_completes(
    warehouse: Path, tmp_path: Path, step: str
) -> None:
    assert step in EXPORT_STEPS
    out = tmp_path / "export"
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from newsdag.tasks.export import export_warehouse

        def stop(name):
            if name == {step!r}:
                os.kill(os.getpid(), signal.SIGKILL)

        export_warehouse(Path({str(warehouse)!r}), Path({str(out)!r}), on_step=stop)
        """
    )
    killed = subprocess.run([sys.executable, "-c", script], cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    # Nothing half-written where readers look: every visible data file is whole; the others are hidden .tmp
    # files, which neither a *.parquet glob nor pyarrow's directory listing takes.
    files = [path for path in out.rglob("*") if path.is_file() and META_DIR not in path.parts]
    visible = [path for path in files if not path.name.startswith(".")]
    assert all(path.suffix == ".parquet" for path in visible)
    assert all(path.suffix == ".tmp" for path in files if path not in visible)
    if step == "staged":
        assert files and not visible
    for path in visible:
        pl.read_parquet(path)
    ds.dataset(out / "articles", format="parquet", partitioning="hive").to_table()
    manifest = out / META_DIR / "manifest.json"
    assert manifest.exists() == (step == "committed")

    finished = export_warehouse(warehouse, out)
    assert (finished.export is None) == (step == "committed")
    assert not (out / META_DIR / "in-progress").exists() and not list(out.rglob("*.tmp"))
    for table in ("articles", "rejects", "runs", "story_articles"):
        read = pl.read_parquet(str(out / table / "**" / "*.parquet"), hive_partitioning=True)
        assert read.height == warehouse_rows(warehouse, table).num_rows, table  # each row once
    recorded = json.loads(manifest.read_text())
    assert recorded["last_export"] == 1
    files = {file["path"] for table in recorded["exports"][0]["tables"].values() for file in table["files"]}
    on_disk = {str(path.relative_to(out)) for path in out.rglob("*.parquet")}
    assert files == on_disk
    assert [path.name for path in (out / META_DIR / "state").iterdir()] != []


def test_since_run_takes_that_run_and_later_ones(warehouse: Path, tmp_path: Path) -> None:
    ingest(
        warehouse, "20260302T090000-dddddd", [article(7, published="2026-03-02")], started=STARTED + timedelta(days=1)
    )
    summary = export_warehouse(warehouse, tmp_path / "export", ExportOptions(since_run="20260302T090000-dddddd"))
    assert summary.rows["articles"] == 1 and summary.rows["runs"] == 1 and "rejects" not in summary.rows
    # Later, everything: the rows before that run are new to this directory.
    everything = export_warehouse(warehouse, tmp_path / "export")
    assert everything.rows["articles"] == 5 and everything.rows["rejects"] == 1


@pytest.mark.parametrize("chunk_rows", [1, 2])
def test_small_chunks_give_the_same_export(warehouse: Path, tmp_path: Path, chunk_rows: int) -> None:
    whole = export_warehouse(warehouse, tmp_path / "whole", ExportOptions(tables=("articles", "rejects")))
    chunked = export_warehouse(
        warehouse, tmp_path / "chunked", ExportOptions(tables=("articles", "rejects")), chunk_rows=chunk_rows
    )
    assert chunked.rows == whole.rows
    read = pl.read_parquet(str(tmp_path / "chunked" / "articles" / "**" / "*.parquet"), hive_partitioning=True)
    assert sorted(read["article_id"].to_list()) == sorted(item.article_id for item in FIRST_ARTICLES)


def test_copies_are_grouped_up_to_the_chunk_rows() -> None:
    def keys(rows: int) -> pa.Table:
        return pa.table({"run_id": [str(n) for n in range(rows)]})

    plan = ExportPlan(None, {"articles": keys(5), "runs": keys(2)}, {}, {"article_flags": {"rows": 1}}, [])
    groups = copy_groups(plan, chunk_rows=3)
    sizes = [[job.keys.num_rows if job.keys is not None else "whole" for job in group] for group in groups]
    assert sizes == [[3], [2], [2, "whole"]]
    assert [job.chunk_number for group in groups for job in group if job.table == "articles"] == [0, 1]
    assert groups[-1][-1] == CopyJob("article_flags", None)


def test_jsonl_and_csv_hold_the_same_rows(warehouse: Path, tmp_path: Path) -> None:
    for fmt in ("jsonl", "csv"):
        out = tmp_path / fmt
        summary = export_warehouse(warehouse, out, ExportOptions(format=fmt, tables=("articles", "runs")))
        assert summary.rows == {"articles": 5, "runs": 1}
        reader = "read_json" if fmt == "jsonl" else "read_csv"
        with duckdb.connect() as con:
            con.execute("SET TimeZone = 'UTC'")
            rows = con.execute(
                f"SELECT article_id, published_at, tags FROM {reader}($glob, hive_partitioning = true) ORDER BY 1",
                {"glob": str(out / "articles" / "**" / f"*.{fmt}")},
            ).fetchall()
        assert len(rows) == 5
        assert rows[0][1] == datetime(2026, 2, 27, 6, 36, tzinfo=UTC)
        assert rows[0][2] in (["world", "tag-1"], "[world, tag-1]")  # JSON keeps the list; CSV writes it as text
        manifest = json.loads((out / META_DIR / "manifest.json").read_text())
        assert sum(file["rows"] for file in manifest["exports"][0]["tables"]["articles"]["files"]) == 5


def test_a_second_export_into_the_directory_waits_for_the_first(warehouse: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    (out / META_DIR).mkdir(parents=True)
    with (out / META_DIR / "lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(ExportBusy, match="another export is writing"):
            export_warehouse(warehouse, out, lock_timeout_seconds=0.3)
    assert export_warehouse(warehouse, out).export == 1


def test_an_export_waits_for_a_load_then_reads(warehouse: Path, tmp_path: Path) -> None:
    # Another process holds the write lock (a run's load) for a second: the export waits, as readers do.
    with another_process_writing(warehouse, 1.0) as writer:
        summary = export_warehouse(warehouse, tmp_path / "export", lock_timeout_seconds=30)
        assert writer.poll() is not None  # the export read only once the writer had let go
    assert summary.export == 1 and summary.rows["articles"] == len(FIRST_ARTICLES)


def test_command_line(warehouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "export"
    assert main(["export", "--to", str(out), "--db", str(warehouse)]) == 0
    assert capsys.readouterr().out.startswith(f"export 1 to {out} in ")
    assert main(["export", "--to", str(out), "--db", str(warehouse), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["export"] is None
    for arguments, message in (
        (["--format", "csv"], "holds an export with --format parquet, not csv"),
        (["--partition-by", "source"], "--partition-by source,published_date, not source"),
        (["--tables", "articles,nope"], "unknown table 'nope'"),
        (["--partition-by", "title"], "cannot partition by 'title'"),
        (["--since-run", "no-such-run"], "no run with this id"),
    ):
        assert main(["export", "--to", str(out), "--db", str(warehouse), *arguments]) == 2, arguments
        error = capsys.readouterr().err
        assert message in error and error.count("\n") == 1, error
    assert main(["export", "--to", "ducklake:lake.ducklake", "--db", str(warehouse)]) == 2
    assert "docs/export.md" in capsys.readouterr().err
    assert main(["export", "--to", str(out), "--db", str(tmp_path / "none.duckdb")]) == 1
    assert "no warehouse here yet" in capsys.readouterr().err


def test_an_undated_article_reads_back_without_a_day_in_every_reader(warehouse: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    export_warehouse(warehouse, out, ExportOptions(tables=("articles",)))
    undated = FIRST_ARTICLES[3].article_id
    frame = pl.read_parquet(str(out / "articles" / "**" / "*.parquet"), hive_partitioning=True)
    assert frame.filter(pl.col("article_id") == undated)["published_date"].to_list() == [None]
    assert frame.schema["published_date"] == pl.Date
    table = ds.dataset(out / "articles", format="parquet", partitioning="hive").to_table()
    assert table.filter(pa.compute.equal(table["article_id"], undated))["published_date"].to_pylist() == [None]


def test_the_export_page_names_every_option_table_and_setting() -> None:
    from newsdag.flows.cli import build_parser

    page = (PROJECT / "docs" / "export.md").read_text(encoding="utf-8")
    subparsers = next(action for action in build_parser()._actions if action.dest == "command")
    export = subparsers.choices["export"]  # type: ignore[attr-defined]
    for action in export._actions:
        for option in action.option_strings:
            if option not in ("-h", "--help"):
                assert f"`{option}" in page, option
    for name, table in EXPORT_TABLES.items():
        assert f"| `{name}` |" in page, name
        assert all(f"`{column}`" in page for column in table.identity), name
    assert "NEWSDAG_EXPORT_CHUNK_ROWS" in page and UNDATED_PARTITION in page
    assert "QUALIFY row_number() OVER (PARTITION BY article_id ORDER BY version DESC, updated_at DESC) = 1" in page
