"""End to end: `newsdag ingest` on the seeds into a real DuckDB file, re-runs, versions, rejects, the CLI."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from newsdag.flows import cli, run
from newsdag.flows.cli import main
from newsdag.warehouse.db import connect
from tests.conftest import PROJECT, another_process_writing

SPUTNIK_TITLE = "Kazakh President Tokayev Orders to Open Fire on Terrorists Without Any Warning"
LIMITED_TITLE = "Kazakhstan: President approved use of deadly force against rebels"
BOILERPLATE = (
    "feedback@sputniknews.com",
    "/html/head/meta",
    "https://",
    "Trends 24h",
    "Were we wrong",
    "Source: israelhayom",
    "© Communities",
    "Now you can see non-English news",
    "Photo: AFP",
    "The information on this site is from external sources",
)


class RecordedProgress:
    """A stand-in for the CLI's progress display that keeps what the run reported."""

    def __init__(self, reports: list[run.Progress]) -> None:
        self.update = reports.append

    def close(self) -> None:
        pass


def ingest_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["ingest", *args, "--json", "--prefect", "never"]) == 0
    return json.loads(capsys.readouterr().out)


def query(db: Path, sql: str) -> list[tuple]:
    with connect(db, read_only=True) as con:
        return con.execute(sql).fetchall()


def test_seeds_load_with_exact_titles_dates_and_clean_bodies(
    seeds_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "news.duckdb"
    summary = ingest_json(capsys, str(seeds_copy), "--db", str(db))
    assert {k: summary[k] for k in ("status", "discovered", "extracted", "loaded", "rejected")} == {
        "status": "completed",
        "discovered": 2,
        "extracted": 2,
        "loaded": 2,
        "rejected": 0,
    }
    rows = query(
        db,
        "SELECT title, url, site_name, published_at, published_local, modified_at, modified_local, "
        "date_source, date_precision, text, language FROM articles ORDER BY title",
    )
    by_title = {row[0]: row for row in rows}
    assert set(by_title) == {SPUTNIK_TITLE, LIMITED_TITLE}

    sputnik = by_title[SPUTNIK_TITLE]
    assert sputnik[1].startswith("https://sputniknews.com/20220107/kazakh-president-tokayev")
    assert sputnik[3] == datetime(2022, 1, 7, 8, 36, tzinfo=UTC)
    assert sputnik[4] == "2022-01-07T08:36+00:00"
    assert sputnik[5] == datetime(2022, 1, 7, 9, 6, tzinfo=UTC)
    assert (sputnik[7], sputnik[8], sputnik[10]) == ("text", "minute", "en")
    assert sputnik[9].startswith("Kazakh President Kassym-Jomart Tokayev stated on Friday")
    assert sputnik[9].endswith("to stop the violence and restore order.")

    limited = by_title[LIMITED_TITLE]
    assert limited[2] == "The Limited Times"
    assert limited[3] == datetime(2022, 1, 7, 10, 38, 27, 509000, tzinfo=UTC)
    assert limited[4] == "2022-01-07T10:38:27.509+00:00"
    assert (limited[5], limited[6], limited[8]) == (None, None, "second")
    assert limited[9].startswith("Kazakh President Qassem-Jumert Tokayev said today (Friday)")
    assert "Said Tokaev." in limited[9]
    assert limited[9].endswith("where hundreds marched in protest on the city’s main streets.")
    for text in (sputnik[9], limited[9]):
        for boilerplate in BOILERPLATE:
            assert boilerplate not in text
    assert query(db, "SELECT count(*), min(status) FROM runs") == [(1, "completed")]
    assert query(db, "SELECT count(*) FROM documents") == [(2,)]


def test_second_run_adds_nothing_and_reports_unchanged(
    seeds_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "news.duckdb"
    ingest_json(capsys, str(seeds_copy), "--db", str(db))
    before = query(db, "SELECT article_id, version, text_sha256 FROM articles ORDER BY 1")
    second = ingest_json(capsys, str(seeds_copy), "--db", str(db))
    assert (second["loaded"], second["updated"], second["unchanged"], second["extracted"]) == (0, 0, 2, 0)
    assert query(db, "SELECT article_id, version, text_sha256 FROM articles ORDER BY 1") == before
    assert query(db, "SELECT count(*) FROM documents") == [(2,)]
    assert query(db, "SELECT count(DISTINCT last_seen_run) FROM articles") == [(1,)]
    assert query(db, "SELECT last_seen_run FROM articles LIMIT 1") == [(second["run_id"],)]


def test_a_warehouse_inside_the_input_directory_is_not_taken_for_input(
    seeds_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = seeds_copy / "news.duckdb"  # the database, its WAL and its archive beside the inputs
    first = ingest_json(capsys, str(seeds_copy), "--db", str(db))
    assert (seeds_copy / "archive").is_dir() and (first["discovered"], first["rejected"]) == (2, 0)
    second = ingest_json(capsys, str(seeds_copy), "--db", str(db))
    assert (second["discovered"], second["unchanged"], second["rejected"]) == (2, 2, 0)


def test_files_with_an_unchanged_stamp_are_not_read_again(
    seeds_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "news.duckdb"
    ingest_json(capsys, str(seeds_copy), "--db", str(db))
    second = ingest_json(capsys, str(seeds_copy), "--db", str(db))
    assert (second["fetched"], second["unchanged"], second["extracted"]) == (0, 2, 0)
    # Nothing read, so no step after reading runs (each would cost a Prefect task run) but the load, and
    # the run's one look for articles left unclustered by an earlier run.
    assert set(second["seconds_by_step"]) == {"read", "load", "cluster"}
    dump = next(seeds_copy.glob("003_*.txt"))
    old = dump.stat()
    os.utime(dump, ns=(old.st_atime_ns, old.st_mtime_ns + 10**9))  # touched: read again, same bytes
    touched = ingest_json(capsys, str(seeds_copy), "--db", str(db))
    assert (touched["fetched"], touched["unchanged"], touched["extracted"]) == (1, 2, 0)
    # Same size and modification time, other bytes (a copy that keeps times): the change time gives it away.
    text = dump.read_text(encoding="utf-8")
    assert "Said Tokaev." in text
    dump.write_text(text.replace("Said Tokaev.", "Said Tokayev"), encoding="utf-8")
    os.utime(dump, ns=(old.st_atime_ns, old.st_mtime_ns + 10**9))
    assert dump.stat().st_size == old.st_size
    rewritten = ingest_json(capsys, str(seeds_copy), "--db", str(db))
    assert (rewritten["fetched"], rewritten["updated"], rewritten["unchanged"]) == (1, 1, 1)


def test_a_rerun_repeats_earlier_rejects_without_extracting_again(
    seeds_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (seeds_copy / "short.txt").write_text("Site\n\nJust a few words here.\n")
    (seeds_copy / "empty.html").write_bytes(b"")
    db = tmp_path / "news.duckdb"
    first = ingest_json(capsys, str(seeds_copy), "--db", str(db))
    second = ingest_json(capsys, str(seeds_copy), "--db", str(db))
    assert (first["extracted"], first["rejected"]) == (2, 2)
    assert (second["extracted"], second["unchanged"], second["rejected"]) == (0, 2, 2)
    by_run = query(db, "SELECT run_id, input, stage, rule FROM rejects ORDER BY input, run_id")
    assert [row[1:] for row in by_run if row[0] == first["run_id"]] == [
        row[1:] for row in by_run if row[0] == second["run_id"]
    ]


def test_a_run_starts_by_removing_what_a_killed_run_left_half_written_in_the_archive(
    seeds_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    leftover = tmp_path / "archive" / "00" / ".partial-killed"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"half a page")
    two_hours_ago = time.time() - 2 * 3600
    os.utime(leftover, (two_hours_ago, two_hours_ago))
    ingest_json(capsys, str(seeds_copy), "--db", str(tmp_path / "news.duckdb"))
    assert not leftover.exists()
    assert len([path for path in (tmp_path / "archive").rglob("*") if path.is_file()]) == 2  # the two seeds


def test_a_changed_page_gets_a_new_version_and_keeps_the_old_text(
    seeds_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "news.duckdb"
    ingest_json(capsys, str(seeds_copy), "--db", str(db))
    dump = next(seeds_copy.glob("003_*.txt"))
    original = dump.read_text(encoding="utf-8")
    dump.write_text(
        original.replace("Said Tokaev.", "Said Tokaev, in a second televised address later that day."),
        encoding="utf-8",
    )
    summary = ingest_json(capsys, str(seeds_copy), "--db", str(db))
    assert (summary["updated"], summary["unchanged"], summary["loaded"]) == (1, 1, 0)
    [(version, text)] = query(db, f"SELECT version, text FROM articles WHERE title = '{LIMITED_TITLE}'")
    [(old_version, old_text)] = query(db, "SELECT version, text FROM article_versions")
    assert version == 2 and "second televised address" in text
    assert old_version == 1 and "Said Tokaev." in old_text and "second televised" not in old_text
    assert query(db, "SELECT count(*) FROM articles") == [(2,)]


def test_bad_files_become_rejects_and_the_rest_loads(
    seeds_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (seeds_copy / "empty.html").write_bytes(b"")
    (seeds_copy / "binary.html").write_bytes(b"\x00\x01\x02PNG" * 100)
    (seeds_copy / "broken.html.gz").write_bytes(gzip.compress(b"<html>" * 100)[:-10])
    (seeds_copy / "nav-only.html").write_text("<html><body><nav><a href='/'>Home</a></nav></body></html>")
    (seeds_copy / "short.txt").write_text("Site\n\nJust a few words here.\n")
    db = tmp_path / "news.duckdb"
    summary = ingest_json(capsys, str(seeds_copy), "--db", str(db))
    assert (summary["status"], summary["discovered"], summary["loaded"], summary["rejected"]) == (
        "completed",
        7,
        2,
        5,
    )
    rejects = dict(query(db, "SELECT regexp_extract(input, '[^/]+$'), stage || '/' || rule FROM rejects"))
    assert rejects["empty.html"] == "fetch/empty"
    assert rejects["binary.html"] == "fetch/binary"
    assert rejects["broken.html.gz"] == "fetch/bad-gzip"
    assert rejects["nav-only.html"].startswith(("extract/", "validate/"))
    assert rejects["short.txt"].startswith(("extract/", "validate/"))
    assert all(detail and "\n" not in detail for (detail,) in query(db, "SELECT detail FROM rejects"))


PAIR_RULE = "expect_column_pair_values_a_to_be_greater_than_b:modified_epoch,published_epoch"
RANGE_RULE = "expect_column_values_to_be_between:published_epoch"


def with_doubtful_dates(seeds: Path) -> None:
    """The Sputnik dump modified the day before it was published; the Limited Times dump dated 1989."""
    sputnik = next(seeds.glob("000_*.txt"))
    sputnik.write_text(sputnik.read_text(encoding="utf-8").replace("2022-01-07T09:06+0000", "2022-01-06T09:06+0000"))
    limited = next(seeds.glob("003_*.txt"))
    limited.write_text(
        limited.read_text(encoding="utf-8").replace("2022-01-07T10:38:27.509Z", "1989-01-07T10:38:27.509Z")
    )


def test_doubtful_dates_load_flagged_and_a_rerun_adds_no_flags(
    seeds_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with_doubtful_dates(seeds_copy)
    db = tmp_path / "news.duckdb"
    summary = ingest_json(capsys, str(seeds_copy), "--db", str(db))
    assert (summary["loaded"], summary["rejected"], summary["flagged"]) == (2, 0, 2)
    assert summary["flags_by_rule"] == {PAIR_RULE: 1, RANGE_RULE: 1}
    dates = query(
        db,
        "SELECT title, published_at, published_local, published_date, date_source, date_precision, modified_at, "
        "modified_local FROM articles",
    )
    by_title = {row[0]: row[1:] for row in dates}
    # Modified before published: the published date stays, the modified date is left out.
    assert by_title[SPUTNIK_TITLE] == (
        datetime(2022, 1, 7, 8, 36, tzinfo=UTC),
        "2022-01-07T08:36+00:00",
        date(2022, 1, 7),
        "text",
        "minute",
        None,
        None,
    )
    # Out of range: no date at all, as for a page without one.
    assert by_title[LIMITED_TITLE] == (None,) * 7
    flags = query(
        db,
        "SELECT a.title, f.run_id, f.rule, f.left_out, f.value, f.detail "
        "FROM article_flags AS f JOIN articles AS a USING (article_id) ORDER BY f.rule",
    )
    assert [row[:5] for row in flags] == [
        (SPUTNIK_TITLE, summary["run_id"], PAIR_RULE, "modified", "2022-01-06T09:06+0000"),
        (LIMITED_TITLE, summary["run_id"], RANGE_RULE, "published", "1989-01-07T10:38:27.509Z"),
    ]
    assert "'1989-01-07T10:38:27.509Z' is outside the allowed range 1990-01-01" in flags[1][5]
    assert query(db, "SELECT flagged FROM runs") == [(2,)]

    again = ingest_json(capsys, str(seeds_copy), "--db", str(db))
    assert (again["unchanged"], again["flagged"], again["flags_by_rule"]) == (2, 0, {})
    # Read again (touched), the same bytes: unchanged articles, not validated again, no more flag rows.
    for dump in seeds_copy.glob("*.txt"):
        os.utime(dump, ns=(dump.stat().st_atime_ns, dump.stat().st_mtime_ns + 10**9))
    touched = ingest_json(capsys, str(seeds_copy), "--db", str(db))
    assert (touched["fetched"], touched["unchanged"], touched["flagged"]) == (2, 2, 0)
    assert query(db, "SELECT count(*), min(run_id) FROM article_flags") == [(2, summary["run_id"])]

    assert main(["sql", "select source, rule, articles, left_out from flags_by_source", "--db", str(db)]) == 0
    table = capsys.readouterr().out
    assert PAIR_RULE in table and RANGE_RULE in table and "(2 rows)" in table


def test_an_article_carries_the_flags_of_its_latest_values(
    seeds_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with_doubtful_dates(seeds_copy)
    db = tmp_path / "news.duckdb"
    first = ingest_json(capsys, str(seeds_copy), "--db", str(db))
    sputnik = next(seeds_copy.glob("000_*.txt"))
    doubtful = sputnik.read_text(encoding="utf-8")
    modified = f"SELECT modified_local FROM articles WHERE title = '{SPUTNIK_TITLE}'"
    # The site fixes its modified date: same text, the row refreshed, and its flag gone with the doubt.
    sputnik.write_text(doubtful.replace("2022-01-06T09:06+0000", "2022-01-07T09:06+0000"), encoding="utf-8")
    fixed = ingest_json(capsys, str(seeds_copy), "--db", str(db))
    assert (fixed["updated"], fixed["unchanged"], fixed["flagged"]) == (0, 2, 0)
    assert query(db, modified) == [("2022-01-07T09:06+00:00",)]
    assert query(db, "SELECT rule FROM article_flags") == [(RANGE_RULE,)]
    # An edited text with the wrong date again: a new version, flagged as that version's values are.
    sputnik.write_text(doubtful.replace("stated on Friday", "said on Friday"), encoding="utf-8")
    edited = ingest_json(capsys, str(seeds_copy), "--db", str(db))
    assert (edited["updated"], edited["unchanged"], edited["flagged"]) == (1, 1, 1)
    assert query(db, modified) == [(None,)]
    assert query(db, "SELECT rule, run_id FROM article_flags ORDER BY rule") == [
        (PAIR_RULE, edited["run_id"]),
        (RANGE_RULE, first["run_id"]),  # the other dump was not read again: not validated again
    ]


def test_bytes_an_earlier_version_rejected_for_a_doubtful_value_are_extracted_again(
    seeds_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A warehouse where newsdag before issue 20 rejected the Sputnik dump (modified before published) and a
    short page (too few words): the dump's reject no longer holds, the short page's still does."""
    from newsdag.tasks import load, loaders
    from newsdag.tasks.models import RawDocument, Reject, WorkItem

    with_doubtful_dates(seeds_copy)
    (seeds_copy / "short.txt").write_text("Short page\n\nOfficials said the bridge would open next spring.\n")
    db = tmp_path / "news.duckdb"
    sputnik, short = next(seeds_copy.glob("000_*.txt")), seeds_copy / "short.txt"
    documents = [
        next(loaders.load_documents(WorkItem(str(path)), max_file_bytes=10**7, max_decompressed_bytes=10**7))
        for path in (sputnik, short)
    ]
    rules = (PAIR_RULE, "expect_column_values_to_be_between:word_count")
    earlier = [
        Reject(document.input, "validate", rule, "earlier", document.doc_id, document.url)
        for document, rule in zip(documents, rules, strict=True)
    ]
    assert all(isinstance(document, RawDocument) for document in documents)
    with connect(db) as connection:
        load.write_batch(connection, "before", documents=documents, articles=[], rejects=earlier)  # type: ignore[arg-type]
    summary = ingest_json(capsys, str(seeds_copy), "--db", str(db))
    # Extracted: the Sputnik dump and the Limited Times dump (new here); the short page's reject repeated.
    assert (summary["extracted"], summary["loaded"], summary["rejected"], summary["flagged"]) == (2, 2, 1, 2)
    assert query(db, f"SELECT input, rule FROM rejects WHERE run_id = '{summary['run_id']}'") == [
        (str(short), rules[1])
    ]
    assert query(db, "SELECT rule FROM article_flags ORDER BY rule") == [(PAIR_RULE,), (RANGE_RULE,)]


def test_not_an_article_is_rejected_and_a_doubtful_article_flagged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = "Officials said the new bridge over the river would open next spring after years of delay. " * 3
    short = "Officials said the new bridge would open next spring after delays."
    records = [
        {"url": "https://news.example/1", "title": "Bridge 1", "date": "2026-11-02", "text": f"{body} One."},
        {"url": "https://news.example/2", "title": "Bridge 2", "date": "2026-11-02", "text": f"Bridge 2\n\n{short}\n"},
        {"url": "https://news.example/1", "title": "Bridge 1 again", "date": "2026-11-02", "text": f"{body} Again."},
        {"url": "https://news.example/3", "date": "2026-11-02", "text": f"{body} Three."},
        {"url": "https://news.example/4", "title": "Bridge 4", "date": "1970-01-01", "text": f"{body} Four."},
    ]
    dump = tmp_path / "dump.jsonl"
    dump.write_text("\n".join(json.dumps(record) for record in records) + "\n")
    db = tmp_path / "news.duckdb"
    summary = ingest_json(capsys, str(dump), "--db", str(db))
    # Every input an article or a reject: too short and a duplicate in the batch are no articles.
    assert (summary["discovered"], summary["loaded"], summary["rejected"], summary["flagged"]) == (5, 3, 2, 2)
    assert query(db, "SELECT input, stage, rule FROM rejects ORDER BY input") == [
        (f"{dump}:2", "validate", "expect_column_values_to_be_between:word_count"),
        (f"{dump}:3", "validate", "expect_column_values_to_be_unique:article_id"),
    ]
    flags = query(
        db,
        "SELECT a.input, f.rule, a.title, a.published_local, f.value "
        "FROM article_flags AS f JOIN articles AS a USING (article_id) ORDER BY a.input",
    )
    assert flags == [
        (f"{dump}:4", "expect_column_values_to_not_be_null:title", None, "2026-11-02", None),
        (f"{dump}:5", RANGE_RULE, "Bridge 4", None, "1970-01-01"),
    ]
    again = ingest_json(capsys, str(dump), "--db", str(db))
    assert (again["unchanged"], again["rejected"], again["flagged"]) == (3, 2, 0)
    assert query(db, "SELECT count(*) FROM article_flags") == [(2,)]


def test_the_summary_line_counts_flagged_articles_and_names_their_rules(
    seeds_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with_doubtful_dates(seeds_copy)
    db = tmp_path / "news.duckdb"
    assert main(["ingest", str(seeds_copy), "--db", str(db), "--prefect", "never"]) == 0
    printed = capsys.readouterr().out
    assert "2 loaded, 0 updated, 0 unchanged, 0 rejected, 2 flagged" in printed
    assert f"  flagged 1 x {PAIR_RULE}, e.g. {next(seeds_copy.glob('000_*.txt'))}: modified date" in printed
    assert f"  flagged 1 x {RANGE_RULE}, e.g. " in printed
    assert 'newsdag sql "select * from flags_by_source"' in printed
    assert main(["runs", "--db", str(db)]) == 0
    assert "flagged" in capsys.readouterr().out


def test_sql_formats_runs_and_the_readme_commands(
    seeds_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "news.duckdb"
    ingest_json(capsys, str(seeds_copy), "--db", str(db))

    assert main(["sql", "select title, published_date from articles order by title", "--db", str(db)]) == 0
    table = capsys.readouterr().out
    assert LIMITED_TITLE[:40] in table and "(2 rows)" in table

    assert main(["sql", "select title from articles order by title", "--db", str(db), "--format", "csv"]) == 0
    assert list(csv.reader(io.StringIO(capsys.readouterr().out))) == [["title"], [SPUTNIK_TITLE], [LIMITED_TITLE]]

    assert main(["sql", "select published_at from articles order by 1", "--db", str(db), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"published_at": "2022-01-07T08:36:00+00:00"},
        {"published_at": "2022-01-07T10:38:27.509000+00:00"},
    ]

    assert main(["runs", "--db", str(db)]) == 0
    assert "completed" in capsys.readouterr().out


@pytest.fixture(scope="module")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ingest of the seeds, shared by the read-only SQL tests (none of them may change it)."""
    directory = tmp_path_factory.mktemp("seeded")
    for seed in sorted((PROJECT / "seeds" / "articles").glob("*.txt")):
        (directory / seed.name).write_bytes(seed.read_bytes())
    db = directory / "news.duckdb"
    assert main(["ingest", str(directory), "--db", str(db), "--json", "--prefect", "never"]) == 0
    return db


@pytest.mark.parametrize(
    "statement",
    [
        "delete from articles",
        "copy articles to '/tmp/newsdag-leak.csv'",
        "attach '/tmp/other.duckdb'",
        "install httpfs",
        "load httpfs",
        "load '/tmp/newsdag-evil.duckdb_extension'",
        "set enable_external_access = true",
        "pragma threads = 1",
        "pragma memory_limit = '1GB'",
        "pragma enable_profiling",
        "select * from read_csv('/etc/passwd')",
    ],
)
def test_sql_refuses_writes_files_extensions_and_settings(
    statement: str, seeded_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["sql", statement, "--db", str(seeded_db)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("newsdag: error: SQL error:") and error.count("\n") == 1
    assert query(seeded_db, "SELECT count(*) FROM articles") == [(2,)]


def test_sql_allows_pragmas_that_only_read(seeded_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["sql", "pragma table_info('articles')", "--db", str(seeded_db), "--format", "csv"]) == 0
    assert "published_at" in capsys.readouterr().out


def test_usage_errors_are_one_line_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", str(tmp_path / "missing"), "--db", str(tmp_path / "x.duckdb")]) == 2
    error = capsys.readouterr().err
    assert error == f"newsdag: error: {tmp_path / 'missing'}: no such file or directory\n"
    assert not (tmp_path / "x.duckdb").exists()
    assert main(["sql", "select", "--db", str(tmp_path / "none.duckdb")]) == 1
    assert "no warehouse here yet" in capsys.readouterr().err


def test_a_file_that_is_not_a_database_is_one_line_and_exit_1(
    seeds_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "notes.duckdb"
    db.write_text("not a database")
    assert main(["ingest", str(seeds_copy), "--db", str(db), "--prefect", "never"]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"newsdag: error: {db}: cannot open the database") and error.count("\n") == 1
    assert db.read_text() == "not a database"


def test_the_installed_command_prints_a_summary_and_no_traceback(seeds_copy: Path, tmp_path: Path) -> None:
    newsdag = Path(sys.executable).parent / "newsdag"
    db = tmp_path / "news.duckdb"
    done = subprocess.run(
        [str(newsdag), "ingest", str(seeds_copy), "--db", str(db)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "2 discovered, 2 extracted, 2 loaded, 0 updated, 0 unchanged, 0 rejected" in done.stdout
    with another_process_writing(db, seconds=5) as holder:
        busy = subprocess.run(
            [str(newsdag), "runs", "--db", str(db)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "NEWSDAG_LOCK_TIMEOUT": "1"},
        )
    assert busy.returncode == 1
    assert f"process {holder.pid} (" in busy.stderr and "Traceback" not in busy.stderr
    assert "newsdag process" not in busy.stderr  # the holder is a plain DuckDB connection, as a notebook's is
    # It said it was waiting, then that it gave up: two lines.
    assert busy.stderr.startswith(f"newsdag: waiting up to 1 s for {db}: process {holder.pid} (")
    assert busy.stderr.count("\n") == 2

    # A writer says so at once too, in its log, and then fails in one line.
    with another_process_writing(db, seconds=30) as holder:
        writer = subprocess.Popen(
            [str(newsdag), "ingest", str(seeds_copy), "--db", str(db), "--prefect", "never"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "NEWSDAG_LOCK_TIMEOUT": "20"},
        )
        assert writer.stderr is not None
        first = writer.stderr.readline()  # read while the lock is still held: said at once, not after 20 s
        assert first.startswith(f"waiting up to 20 s for {db}: process {holder.pid} (")
        assert "python" in first and "newsdag process" not in first
    _out, rest = writer.communicate(timeout=120)
    assert writer.returncode == 0, rest  # the holder went away; the run went on


@pytest.mark.slow
def test_ingest_runs_as_a_prefect_flow_run(seeds_copy: Path, tmp_path: Path) -> None:
    from prefect.testing.utilities import prefect_test_harness

    from newsdag.flows.ingest import ingest_flow

    db = tmp_path / "news.duckdb"
    with prefect_test_harness():
        summary = ingest_flow(inputs=[str(seeds_copy)], db=str(db), workers=1, trigger="manual")
    assert (summary["status"], summary["loaded"]) == ("completed", 2)
    # One batch of files: gather (read, find unchanged), extract, load (validate, write, cluster); each task
    # run costs Prefect time, and each step inside is still timed on its own.
    orchestration = summary["orchestration"]
    assert orchestration["task_runs"] == 3 and orchestration["seconds"] > 0
    assert set(summary["seconds_by_step"]) == {
        "read",
        "archive",
        "find_unchanged",
        "extract",
        "validate",
        "load",
        "cluster",
    }
    [(trigger, flow_run_id)] = query(db, "SELECT trigger, flow_run_id FROM runs")
    assert trigger == "manual" and flow_run_id and len(flow_run_id) == 36


def test_pages_and_jsonl_lines_are_batched_by_their_own_sizes() -> None:
    from newsdag.flows.run import batched
    from newsdag.flows.settings import Settings
    from newsdag.tasks.models import LineSpan, WorkItem

    def line(number: int, length: int = 10) -> WorkItem:
        return WorkItem("dump.jsonl", line=LineSpan(number, number * 100, length, "stamp"))

    def names(items: list[WorkItem], settings: Settings) -> list[list[str | int]]:
        return [[item.line.number if item.line else item.location for item in one] for one in batched(items, settings)]

    settings = Settings(batch_size=2, line_batch_size=3, line_batch_bytes=25, max_file_bytes=100)
    # Pages and lines side by side, as in a directory of pages and small dumps: each fill their own batches.
    alternating = [WorkItem("a"), line(1), WorkItem("b"), line(2), WorkItem("c"), line(3), line(4, length=5)]
    assert names(alternating, settings) == [["a", "b"], [1, 2], ["c"], [3, 4]]
    # Up to 3 lines or 25 bytes; a line over max_file_bytes is rejected unread and weighs nothing.
    lines = [line(1), line(2), line(3, length=30), line(4, length=500), line(5), line(6)]
    assert names(lines, settings) == [[1, 2], [3], [4, 5, 6]]
    roomy = Settings(batch_size=2, line_batch_size=3)
    assert [len(one) for one in batched([line(n) for n in range(1, 8)], roomy)] == [3, 3, 1]


def test_a_jsonl_dump_larger_than_the_file_limit_streams_through_batches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    body = "Officials said the new bridge over the river would open next spring after years of delay. " * 3
    records = [
        {
            "url": f"https://news.example/{number}",
            "title": f"Bridge story {number}",
            "date": "2026-11-02",
            "text": f"{body} Report {number}.",
        }
        for number in range(30)
    ]
    dump = tmp_path / "dump.jsonl"
    dump.write_text("\n".join(json.dumps(record) for record in records) + "\n{broken\n")
    monkeypatch.setenv("NEWSDAG_MAX_FILE_BYTES", str(dump.stat().st_size // 4))  # each line fits, the file not
    monkeypatch.setenv("NEWSDAG_LINE_BATCH_SIZE", "8")
    db = tmp_path / "news.duckdb"
    reports: list[run.Progress] = []
    monkeypatch.setattr(cli, "ProgressDisplay", lambda enabled: RecordedProgress(reports))
    summary = ingest_json(capsys, str(dump), "--db", str(db))
    assert [report.done for report in reports] == [0, 8, 16, 24, 31]  # discovered, then batch by batch
    # Listed as the batches need them: the first batch loaded with three batches' lines listed (the one
    # read next, the one extracted); the total, counted on the side, is exact from the stream's end.
    assert [report.counts["discovered"] for report in reports] == [0, 24, 31, 31, 31]
    assert [report.total for report in reports[2:]] == [31, 31, 31]
    assert (summary["discovered"], summary["loaded"], summary["rejected"]) == (31, 30, 1)
    assert query(db, "SELECT input, rule FROM rejects") == [(f"{dump}:31", "bad-json")]
    assert query(db, "SELECT count(DISTINCT url), min(title), max(title) FROM articles") == [
        (30, "Bridge story 0", "Bridge story 9")
    ]
    again = ingest_json(capsys, str(dump), "--db", str(db))
    assert (again["extracted"], again["unchanged"], again["loaded"]) == (0, 30, 0)


def test_every_command_keeps_prefect_analytics_off_unless_the_user_set_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DO_NOT_TRACK", raising=False)
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "true")  # the user's own choice stays
    main(["runs", "--db", str(tmp_path / "none.duckdb")])
    assert (os.environ["DO_NOT_TRACK"], os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"]) == ("1", "true")


ARENA_CHURN = """
import ctypes, sys, threading
from newsdag.flows import cli, run
if sys.argv[1] == "capped":
    run.share_malloc_arenas()
def churn():
    for _ in range(50):
        blocks = [bytearray(300_000) for _ in range(8)]  # past malloc's mmap threshold once one is freed
        del blocks
threads = [threading.Thread(target=churn) for _ in range(6)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
ctypes.CDLL(None).malloc_stats()  # glibc: one "Arena N:" block per arena, on stderr
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc arenas are glibc's")
@pytest.mark.parametrize(
    ("mode", "environment", "fewest", "most"),
    [("uncapped", {}, 3, 64), ("capped", {}, 1, run.MALLOC_ARENAS), ("capped", {"MALLOC_ARENA_MAX": "4"}, 3, 4)],
)
def test_an_ingest_process_shares_malloc_arenas_between_its_threads(
    mode: str, environment: dict[str, str], fewest: int, most: int
) -> None:
    env = {key: value for key, value in os.environ.items() if key != "MALLOC_ARENA_MAX"} | environment
    done = subprocess.run(
        [sys.executable, "-c", ARENA_CHURN, mode], cwd=PROJECT, env=env, capture_output=True, text=True, check=True
    )
    arenas = sum(line.startswith("Arena ") for line in done.stderr.splitlines())
    assert fewest <= arenas <= most, done.stderr


def test_runs_shows_the_source_in_about_120_columns(
    seeds_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "news.duckdb"
    ingest_json(capsys, str(seeds_copy), "--db", str(db))
    assert main(["runs", "--db", str(db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split(" | ")[:4] == ["run_id                ", "source", "trigger", "status   "]
    assert " | cli    | cli     | completed |" in lines[2]
    assert max(len(line) for line in lines) <= 120, lines
    assert lines[-1].startswith("found = discovered")
    assert main(["runs", "--db", str(db), "--all"]) == 0
    assert "not_modified" in capsys.readouterr().out  # every column on demand
