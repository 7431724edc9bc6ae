"""tasks/load.py and warehouse/db.py against a real DuckDB file: merge, versions, atomic batches, locks."""

from __future__ import annotations

import functools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from newsdag.tasks import load
from newsdag.tasks.errors import WarehouseBusy
from newsdag.tasks.models import Flag, Reject
from newsdag.warehouse.db import MIGRATIONS, SCHEMA_VERSION, SQL_DIR, connect
from newsdag.warehouse.keys import close_key_indexes, key_index
from tests.conftest import another_process_writing, make_article, make_document

LOOK_UPS = ("write_batch", "find_seen", "find_unchanged_files", "find_validators")


@pytest.fixture(autouse=True, params=["scans", "key index"])
def look_ups(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Every test twice: the warehouse's look-ups as DuckDB scans, and through the key index as a run makes them."""
    if request.param == "key index":
        for name in LOOK_UPS:
            monkeypatch.setattr(load, name, with_key_index(getattr(load, name)))
    yield request.param
    close_key_indexes()


def with_key_index(look_up: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(look_up)
    def indexed(connection: duckdb.DuckDBPyConnection, *args: Any, **kwargs: Any) -> Any:
        # A warehouse from before migration 13 (a test of migrations) has no key index yet.
        if connection.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'key_gate'").fetchall()[0][0]:
            path = connection.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()")
            kwargs.setdefault("keys", key_index(Path(path.fetchall()[0][0])))
        return look_up(connection, *args, **kwargs)

    return indexed


def count(db: Path, table: str) -> int:
    with connect(db, read_only=True) as con:
        return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]


def write(db: Path, run_id: str, articles: list, rejects: list | None = None, documents: list | None = None):
    with connect(db) as con:
        return load.write_batch(con, run_id, documents=documents or [], articles=articles, rejects=rejects or [])


def test_migration_creates_tables_views_and_version(tmp_path: Path) -> None:
    db = tmp_path / "news.duckdb"
    with connect(db) as con:
        tables = {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        version = con.execute("SELECT max(version) FROM schema_version").fetchall()[0][0]
    expected = {"runs", "documents", "articles", "article_versions", "rejects", "latest_runs"}
    assert expected <= tables and "reject_reasons" in tables
    assert {"stg_articles", "stg_rejects"} <= tables
    assert "sources" not in tables  # migration 14: nothing wrote it; the sources file is the one truth
    assert {"article_flags", "flags_by_source"} <= tables
    assert version == SCHEMA_VERSION
    with connect(db) as con:  # a second open does not re-apply anything
        assert con.execute("SELECT count(*) FROM schema_version").fetchall()[0][0] == len(MIGRATIONS)


def test_articles_and_documents_of_a_keyed_warehouse_move_to_unkeyed_tables_whole(tmp_path: Path) -> None:
    db = tmp_path / "news.duckdb"
    document = make_document()
    article = make_article(doc_id=document.doc_id, input=document.input)
    with duckdb.connect(str(db)) as con:  # a warehouse as migration 6 left it: both tables keyed
        con.execute("CREATE TABLE schema_version (version INTEGER, applied_at TIMESTAMPTZ)")
        for version, filename in enumerate(MIGRATIONS[:6], start=1):
            con.execute((SQL_DIR / filename).read_text(encoding="utf-8"))
            con.execute("INSERT INTO schema_version VALUES (?, now())", [version])
        # The rows as that warehouse held them: the columns later migrations add are not there yet.
        now = datetime.now(UTC)
        rows = {
            "articles": load.articles_table([article], "run0", now),
            "documents": load.documents_table([replace(document, file_stamp="old")], [article], "run0"),
        }
        old_columns = {}
        for table, arrow in rows.items():
            names = [row[0] for row in con.execute(f"DESCRIBE {table}").fetchall()]
            old_columns[table] = ", ".join(names)
            con.register("old_rows", arrow.select([name for name in arrow.column_names if name in names]))
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM old_rows")
            con.unregister("old_rows")
        before = {table: con.execute(f"SELECT {old_columns[table]} FROM {table}").fetchall() for table in rows}
    with connect(db) as con:
        after = {table: con.execute(f"SELECT {old_columns[table]} FROM {table}").fetchall() for table in rows}
        keys = con.execute(
            "SELECT count(*) FROM duckdb_constraints() "
            "WHERE table_name IN ('articles', 'documents') AND constraint_type = 'PRIMARY KEY'"
        ).fetchall()[0][0]
        again = load.write_batch(
            con, "run1", documents=[replace(document, file_stamp="new")], articles=[article], rejects=[]
        )
        documents = con.execute("SELECT run_id, file_stamp FROM documents").fetchall()
        articles = con.execute("SELECT article_id, last_seen_run FROM articles").fetchall()
    assert after == before and len(before["articles"]) == len(before["documents"]) == 1 and keys == 0
    # Still one row per key, as the keys made sure.
    assert (again.loaded, again.unchanged) == (0, 1)
    assert documents == [("run0", "new")] and articles == [(article.article_id, "run1")]


def test_new_then_unchanged_then_changed(tmp_path: Path) -> None:
    db = tmp_path / "news.duckdb"
    first = make_article()
    assert write(db, "run1", [first]).loaded == 1
    again = write(db, "run2", [first])
    assert (again.loaded, again.updated, again.unchanged) == (0, 0, 1)
    changed = make_article(text="An edited body of text, with different words and enough of them. " * 4)
    result = write(db, "run3", [changed])
    assert (result.loaded, result.updated, result.unchanged) == (0, 1, 0)
    with connect(db, read_only=True) as con:
        version, text, first_seen, last_seen = con.execute(
            "SELECT version, text, first_seen_run, last_seen_run FROM articles"
        ).fetchall()[0]
        old = con.execute("SELECT version, text, superseded_by_run FROM article_versions").fetchall()
    assert (version, first_seen, last_seen) == (2, "run1", "run3") and text == changed.text
    assert old == [(1, first.text, "run3")]


def test_same_text_with_better_metadata_refreshes_the_row_without_a_version(tmp_path: Path) -> None:
    db = tmp_path / "news.duckdb"
    first = make_article()
    write(db, "run1", [first])
    with connect(db) as con:  # the cluster step's mark: the replaced row must keep it
        con.execute("UPDATE articles SET duplicate_of = 'b' || repeat('0', 31)")
    better = make_article(title="A better headline", authors=("Jane Doe", "John Roe"), tags=("politics",))
    result = write(db, "run2", [better])
    assert (result.loaded, result.updated, result.unchanged) == (0, 0, 1)
    with connect(db, read_only=True) as con:
        row = con.execute(
            "SELECT title, author, tags, version, first_seen_run, last_seen_run, duplicate_of FROM articles"
        ).fetchall()
        versions = count(db, "article_versions")
    assert row == [("A better headline", "Jane Doe, John Roe", ["politics"], 1, "run1", "run2", "b" + "0" * 31)]
    assert versions == 0


def test_dates_are_stored_as_instant_local_text_and_day(tmp_path: Path) -> None:
    db = tmp_path / "news.duckdb"
    write(db, "run1", [make_article()])
    with connect(db, read_only=True) as con:
        row = con.execute(
            "SELECT published_at, published_local, published_date::VARCHAR, date_source, date_precision FROM articles"
        ).fetchall()[0]
    assert row[0] == datetime(2024, 5, 31, 12, 5, tzinfo=UTC)
    assert row[1:] == ("2024-05-31T14:05:00+02:00", "2024-05-31", "json-ld", "second")


def test_day_only_date_has_no_instant(tmp_path: Path) -> None:
    from newsdag.tasks.dates import parse_iso_date

    db = tmp_path / "news.duckdb"
    write(db, "run1", [make_article(published=parse_iso_date("2024-05-31", "meta"))])
    with connect(db, read_only=True) as con:
        row = con.execute("SELECT published_at, published_local, published_date::VARCHAR FROM articles").fetchall()
    assert row == [(None, "2024-05-31", "2024-05-31")]


def test_a_failing_batch_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    db = tmp_path / "news.duckdb"
    write(db, "run1", [make_article()])
    bad_reject = Reject(input="x", stage="extract", rule="r", detail=None)  # type: ignore[arg-type]
    new_article = make_article(article_id="b" * 32, url="https://example.com/news/2")
    changed = make_article(text="Changed words in this body, quite a lot of them in fact. " * 4)
    with pytest.raises(duckdb.ConstraintException):
        write(db, "run2", [new_article, changed], rejects=[bad_reject], documents=[make_document()])
    assert (count(db, "articles"), count(db, "article_versions"), count(db, "documents")) == (1, 0, 0)
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT version, last_seen_run FROM articles").fetchall() == [(1, "run1")]


def test_duplicate_article_ids_in_a_batch_keep_the_last(tmp_path: Path) -> None:
    db = tmp_path / "news.duckdb"
    result = write(db, "run1", [make_article(title="first"), make_article(title="second")])
    assert result.loaded == 1
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT title FROM articles").fetchall() == [("second",)]


def test_unchanged_documents_are_found_by_bytes_and_address(tmp_path: Path) -> None:
    db = tmp_path / "news.duckdb"
    document = make_document()
    article = make_article(doc_id=document.doc_id)
    with connect(db) as con:
        load.write_batch(con, "run1", documents=[document], articles=[article], rejects=[])
        moved = make_document(url="file:///elsewhere/page.html")
        edited = make_document(content=b"<html>edited</html>")
        seen = load.find_seen(con, [document, moved, edited])
    assert seen.loaded == {(document.doc_id, document.url)} and seen.rejects == {}


def test_a_document_seen_again_keeps_its_row_and_gains_its_article_and_latest_stamp(tmp_path: Path) -> None:
    db = tmp_path / "news.duckdb"
    document = make_document()
    rejected = Reject(document.input, "validate", "too-short", "2 words", document.doc_id)
    article = make_article(doc_id=document.doc_id, input=document.input)
    with connect(db) as con:
        load.write_batch(con, "run1", documents=[replace(document, file_stamp="a")], articles=[], rejects=[rejected])
        load.write_batch(con, "run2", documents=[replace(document, file_stamp="b")], articles=[article], rejects=[])
        load.write_batch(con, "run3", documents=[replace(document, file_stamp=None)], articles=[], rejects=[])
        rows = con.execute("SELECT run_id, article_id, article_text_sha256, file_stamp FROM documents").fetchall()
    assert rows == [("run1", article.article_id, article.text_sha256, "b")]


def test_a_document_twice_in_one_batch_is_one_row(tmp_path: Path) -> None:
    db = tmp_path / "news.duckdb"
    document = make_document()
    write(db, "run1", [], documents=[document, replace(document, file_stamp="later")])
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT file_stamp FROM documents").fetchall() == [("later",)]


def test_copies_under_several_addresses_are_all_unchanged(tmp_path: Path) -> None:
    db = tmp_path / "news.duckdb"
    amp = make_document(content=b"<html>amp copy</html>", url="file:///tmp/amp.html")
    main = make_document(content=b"<html>main copy</html>", url="file:///tmp/main.html")
    # Both copies name the same canonical article, so the article row keeps only one doc_id.
    articles = [make_article(doc_id=amp.doc_id, input=amp.input), make_article(doc_id=main.doc_id, input=main.input)]
    with connect(db) as con:
        load.write_batch(con, "run1", documents=[amp, main], articles=articles, rejects=[])
        assert load.find_seen(con, [amp, main]).loaded == {(amp.doc_id, amp.url), (main.doc_id, main.url)}


def test_a_page_reverted_to_old_bytes_is_not_unchanged(tmp_path: Path) -> None:
    db = tmp_path / "news.duckdb"
    old = make_document(content=b"<html>old</html>")
    new = make_document(content=b"<html>new</html>")
    old_article = make_article(doc_id=old.doc_id)
    new_article = make_article(doc_id=new.doc_id, text="Entirely new words make up this revised body text. " * 5)
    with connect(db) as con:
        load.write_batch(con, "run1", documents=[old], articles=[old_article], rejects=[])
        load.write_batch(con, "run2", documents=[new], articles=[new_article], rejects=[])
        assert load.find_seen(con, [old, new]).loaded == {(new.doc_id, new.url)}


def test_earlier_rejects_of_the_same_bytes_are_found_for_replay(tmp_path: Path) -> None:
    db = tmp_path / "news.duckdb"
    short = make_document(content=b"<html>too short</html>")
    reject = Reject(short.input, "validate", "expect_column_values_to_be_between:word_count", "2 words", short.doc_id)
    fetch_reject = Reject("/tmp/empty.html", "fetch", "empty", "the file is empty", None)
    with connect(db) as con:
        load.write_batch(con, "run1", documents=[short], articles=[], rejects=[reject, fetch_reject])
        seen = load.find_seen(con, [short, make_document(content=b"<html>too short, edited</html>")])
    assert seen.loaded == frozenset()
    assert seen.rejects == {(short.doc_id, short.input): reject}


def test_archive_is_content_addressed_and_complete(tmp_path: Path) -> None:
    document = make_document(content=b"<html>archived</html>")
    load.archive_documents([document, document], tmp_path / "archive")
    stored = tmp_path / "archive" / document.doc_id[:2] / document.doc_id
    assert stored.read_bytes() == document.content
    assert [p.name for p in stored.parent.iterdir()] == [document.doc_id]  # no temp files left


def test_a_document_loaded_without_its_bytes_still_records_their_number(tmp_path: Path) -> None:
    # A batch drops its page bytes once they are archived and extracted (flows/run.py, GatheredBatch.prepared).
    document = make_document(content=b"<html>twenty-seven bytes</html>")
    db = tmp_path / "news.duckdb"
    write(db, "run-1", [], documents=[document.without_content()])
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT bytes FROM documents").fetchall() == [(len(document.content),)]


def test_crashed_runs_are_marked_and_live_ones_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "news.duckdb"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    now = datetime.now(UTC)
    with connect(db) as con:
        load.start_run(con, load.RunRecord("live", "cli", None, (), now))
        con.execute("UPDATE runs SET pid = $pid WHERE run_id = 'live'", {"pid": int(dead.stdout)})
        load.start_run(con, load.RunRecord("other", "cli", None, (), now))
        con.execute("UPDATE runs SET run_id = 'dead' WHERE run_id = 'live'")
        load.start_run(con, load.RunRecord("next", "cli", None, (), now))
        statuses = dict(con.execute("SELECT run_id, status FROM runs").fetchall())
    assert statuses == {"dead": "crashed", "other": "running", "next": "running"}


def test_a_live_process_that_reused_a_dead_runs_pid_does_not_keep_it_running(tmp_path: Path) -> None:
    db = tmp_path / "news.duckdb"
    now = datetime.now(UTC)
    # A process that is alive now; the first run's record names its pid but an earlier start, which is
    # what the table holds when a crashed run's pid has gone to a new process since.
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = load.process_started_at(other.pid)
        assert started is not None and abs(started - now) < timedelta(minutes=1)
        with connect(db) as con:
            for run_id in ("reused", "same-process", "unknown-start"):
                load.start_run(con, load.RunRecord(run_id, "cli", None, (), now))
            con.execute("UPDATE runs SET pid = $pid", {"pid": other.pid})
            con.execute(
                "UPDATE runs SET process_started_at = $at WHERE run_id = 'reused'", {"at": started - timedelta(hours=3)}
            )
            con.execute("UPDATE runs SET process_started_at = $at WHERE run_id = 'same-process'", {"at": started})
            con.execute("UPDATE runs SET process_started_at = NULL WHERE run_id = 'unknown-start'")  # older schema
            load.start_run(con, load.RunRecord("next", "cli", None, (), now))
            statuses = dict(con.execute("SELECT run_id, status FROM runs").fetchall())
            [recorded] = con.execute("SELECT process_started_at FROM runs WHERE run_id = 'next'").fetchall()[0]
    finally:
        other.kill()
        other.wait()
    assert statuses == {"reused": "crashed", "same-process": "running", "unknown-start": "running", "next": "running"}
    assert recorded == load.process_started_at(os.getpid())


def test_stale_partial_archive_files_are_removed_and_fresh_ones_kept(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    (archive / "ab").mkdir(parents=True)
    stale, fresh, entry = archive / "ab" / ".partial-old", archive / "ab" / ".partial-new", archive / "ab" / "abcd"
    for path in (stale, fresh, entry):
        path.write_bytes(b"x")
    two_hours_ago = time.time() - 2 * 3600
    os.utime(stale, (two_hours_ago, two_hours_ago))
    os.utime(entry, (two_hours_ago, two_hours_ago))  # a finished entry is never touched, however old
    assert load.remove_stale_partials(archive) == 1
    assert sorted(path.name for path in (archive / "ab").iterdir()) == [".partial-new", "abcd"]
    assert load.remove_stale_partials(tmp_path / "no-archive-yet") == 0


def test_a_second_process_waits_for_the_writer_then_gives_up_clearly(tmp_path: Path) -> None:
    db = tmp_path / "news.duckdb"
    with connect(db):
        pass
    with another_process_writing(db, seconds=3) as holder:
        started = time.monotonic()
        # Named by its pid and command line: any DuckDB connection locks the file, not only newsdag's.
        with (
            pytest.raises(WarehouseBusy, match=rf"process {holder.pid} \(\S*python\S* -c import duckdb.*\) holds"),
            connect(db, read_only=True, wait_seconds=0.5),
        ):
            pass
        assert time.monotonic() - started >= 0.5
        with connect(db, read_only=True, wait_seconds=20) as con:  # waits until the holder exits
            assert con.execute("SELECT 1").fetchall() == [(1,)]


def test_rejects_caused_by_the_machine_are_not_replayed(tmp_path: Path) -> None:
    db = tmp_path / "news.duckdb"
    documents = [make_document(content=f"<html>page {n}</html>".encode()) for n in range(3)]
    rejects = [
        Reject(document.input, "extract", rule, "lost", document.doc_id)
        for document, rule in zip(documents, ("worker-crashed", "extract-timeout", "worker-failed"), strict=True)
    ]
    with connect(db) as con:
        load.write_batch(con, "run1", documents=documents, articles=[], rejects=rejects)
        assert load.find_seen(con, documents).rejects == {}


def flag_for(article_id: str, rule: str = "expect_column_values_to_be_in_set:language", **changes: str) -> Flag:
    values = {"doc_id": "d" * 64, "detail": "language 'xx' is not an ISO 639-1 code", "left_out": "language"}
    values["value"] = "xx"
    return Flag(article_id=article_id, rule=rule, **(values | changes))


def write_flagged(db: Path, run_id: str, articles: list, flags: list[Flag]) -> load.BatchCounts:
    with connect(db) as con:
        return load.write_batch(con, run_id, documents=[], articles=articles, rejects=[], flags=flags)


def stored_flags(db: Path) -> list[tuple]:
    with connect(db, read_only=True) as con:
        return con.execute(
            "SELECT article_id, run_id, rule, detail, left_out, value FROM article_flags ORDER BY article_id, rule"
        ).fetchall()


def test_flags_are_stored_with_their_article_and_counted(tmp_path: Path) -> None:
    db = tmp_path / "news.duckdb"
    flagged = make_article(language=None)
    clean = make_article(article_id="b" * 32, url="https://example.com/news/2")
    pair = "expect_column_pair_values_a_to_be_greater_than_b:modified_epoch,published_epoch"
    flags = [flag_for(flagged.article_id), flag_for(flagged.article_id, pair, left_out="modified", value="2020")]
    counts = write_flagged(db, "run1", [flagged, clean], flags)
    assert (counts.loaded, counts.flagged) == (2, 1)
    assert counts.flags_by_rule == {"expect_column_values_to_be_in_set:language": 1, pair: 1}
    assert stored_flags(db) == [
        (flagged.article_id, "run1", pair, flags[1].detail, "modified", "2020"),
        (flagged.article_id, "run1", *[getattr(flags[0], name) for name in ("rule", "detail", "left_out", "value")]),
    ]
    with connect(db, read_only=True) as con:
        by_source = con.execute("SELECT source, rule, articles, left_out FROM flags_by_source ORDER BY rule").fetchall()
    assert by_source == [("test", pair, 1, 1), ("test", "expect_column_values_to_be_in_set:language", 1, 1)]


def test_an_article_validated_again_keeps_one_set_of_flags(tmp_path: Path) -> None:
    db = tmp_path / "news.duckdb"
    article = make_article(language=None)
    write_flagged(db, "run1", [article], [flag_for(article.article_id)])
    again = write_flagged(db, "run2", [article], [flag_for(article.article_id)])
    assert (again.unchanged, again.flagged) == (1, 1)
    # The same doubt found again: one row, from the run that validated the article last.
    assert [row[:3] for row in stored_flags(db)] == [(article.article_id, "run2", flag_for("").rule)]


def test_a_changed_article_carries_the_flags_of_its_new_version_only(tmp_path: Path) -> None:
    db = tmp_path / "news.duckdb"
    first = make_article(language=None)
    write_flagged(db, "run1", [first], [flag_for(first.article_id)])
    edited = make_article(text="An edited body of text, with different words and enough of them. " * 4)
    title_rule = "expect_column_values_to_not_be_null:title"
    new_flag = flag_for(edited.article_id, title_rule, detail="title is missing", left_out=None, value=None)
    assert write_flagged(db, "run2", [replace(edited, title=None)], [new_flag]).updated == 1
    assert stored_flags(db) == [(edited.article_id, "run2", title_rule, "title is missing", None, None)]
    # Fixed at the source: the next version loads without flags, and none is left behind.
    fixed = make_article(text="A third body of text, fixed at last, with enough words for it to pass. " * 4)
    assert write_flagged(db, "run3", [fixed], []).flagged == 0
    assert stored_flags(db) == []


def test_a_failing_batch_leaves_the_flags_as_they_were(tmp_path: Path) -> None:
    db = tmp_path / "news.duckdb"
    article = make_article(language=None)
    write_flagged(db, "run1", [article], [flag_for(article.article_id)])
    bad_reject = Reject(input="x", stage="extract", rule="r", detail=None)  # type: ignore[arg-type]
    with pytest.raises(duckdb.ConstraintException), connect(db) as con:
        load.write_batch(con, "run2", documents=[], articles=[article], rejects=[bad_reject], flags=[])
    assert [row[:2] for row in stored_flags(db)] == [(article.article_id, "run1")]


def test_the_genre_is_stored_and_a_re_extract_that_reads_it_refreshes_the_row(tmp_path: Path) -> None:
    db = tmp_path / "news.duckdb"
    assert write(db, "run1", [make_article()]).loaded == 1  # an article loaded before genres were read
    again = write(db, "run2", [make_article(genre="opinion")])
    assert (again.loaded, again.updated, again.unchanged) == (0, 0, 1)  # same text: no new version
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT genre, version FROM articles").fetchall() == [("opinion", 1)]


def test_a_killed_run_whose_process_is_not_yet_reaped_counts_as_crashed(tmp_path: Path) -> None:
    """A zombie (killed, its exit status not yet collected by a busy parent) still answers kill(pid, 0)."""
    db = tmp_path / "news.duckdb"
    now = datetime.now(UTC)
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        started = load.process_started_at(victim.pid)
        with connect(db) as con:
            load.start_run(con, load.RunRecord("killed", "cli", None, (), now))
            con.execute("UPDATE runs SET pid = $pid, process_started_at = $at", {"pid": victim.pid, "at": started})
        os.kill(victim.pid, signal.SIGKILL)  # and not reaped: this test is its parent and has not waited
        os.waitid(os.P_PID, victim.pid, os.WEXITED | os.WNOWAIT)  # returns once it has died, leaving it a zombie
        assert load.process_state(victim.pid) == "Z"
        assert not load.process_is_alive(socket.gethostname(), victim.pid, started)
        with connect(db) as con:
            load.start_run(con, load.RunRecord("next", "cli", None, (), now))
            statuses = dict(con.execute("SELECT run_id, status FROM runs").fetchall())
    finally:
        victim.kill()
        victim.wait()
    assert statuses == {"killed": "crashed", "next": "running"}


def test_a_migration_numbered_below_the_latest_applied_one_still_applies(tmp_path: Path) -> None:
    # Branches reserve migration numbers; one that lands after a higher-numbered one must still run.
    db = tmp_path / "news.duckdb"
    with connect(db) as con:
        con.execute("DROP TABLE event_articles")
        con.execute("DELETE FROM schema_version WHERE version = 12")
    with connect(db) as con:
        versions = [row[0] for row in con.execute("SELECT version FROM schema_version ORDER BY version").fetchall()]
        assert con.execute("SELECT count(*) FROM event_articles").fetchall()[0][0] == 0
    assert versions == sorted(int(name.split("_")[0]) if name != "schema.sql" else 1 for name in MIGRATIONS)
