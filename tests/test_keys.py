"""warehouse/keys.py and its use by tasks/load.py: the key index beside a real DuckDB file stays exact."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsdag.tasks import load
from newsdag.tasks.models import Reject
from newsdag.warehouse import keys
from newsdag.warehouse.db import connect, named_queries
from newsdag.warehouse.keys import ARTICLE, DOCUMENT, URL, KeyIndex, close_key_indexes, index_path, key_index, key_of
from tests.conftest import make_article, make_document


@pytest.fixture(autouse=True)
def closed_indexes() -> Iterator[None]:
    yield
    close_key_indexes()


class RecordingConnection:
    """The DuckDB connection, passing every call through and noting which named statements ran."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self.connection = connection
        self.names = {body: name for name, body in named_queries().items()}
        self.ran: list[str] = []

    def execute(self, query: str, *parameters: Any) -> duckdb.DuckDBPyConnection:
        self.ran.append(self.names.get(query, query))
        return self.connection.execute(query, *parameters)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.connection, name)


def write(db: Path, run_id: str, articles: list, documents: list | None = None, rejects: list | None = None, **kw):
    with connect(db) as con:
        recording = RecordingConnection(con)
        counts = load.write_batch(
            recording,  # type: ignore[arg-type]
            run_id,
            documents=documents or [],
            articles=articles,
            rejects=rejects or [],
            keys=kw.get("keys", key_index(db)),
        )
    return counts, recording.ran


def test_keys_made_in_python_are_those_the_warehouse_sql_makes(tmp_path: Path) -> None:
    db = tmp_path / "news.duckdb"
    urls = ["https://例え.jp/記事?q=ä&x=1#top", "file:///tmp/naïve café.html", "https://example.com/" + "x" * 3000]
    documents = [make_document(content=f"<p>{n}</p>".encode(), url=url) for n, url in enumerate(urls)]
    rejected = make_document(content=b"<p>rejected</p>")
    reject = Reject(rejected.input, "extract", "no-text", "no main text", rejected.doc_id)
    article = make_article(article_id="0f" * 16, doc_id=documents[0].doc_id)
    write(db, "run1", [article], documents=documents, rejects=[reject])
    with connect(db, read_only=True) as con:
        stored = {row[0] for row in con.execute(named_queries()["stored_keys"]).fetchall()}
    expected = {key_of(ARTICLE, article.article_id), key_of(DOCUMENT, rejected.doc_id)}
    expected |= {key_of(DOCUMENT, d.doc_id) for d in documents} | {key_of(URL, d.url) for d in documents}
    assert stored == expected
    assert key_index(db).held(expected | {key_of(URL, "https://example.com/never")}) == expected


def test_a_batch_of_new_pages_reads_no_stored_row_and_a_stored_one_is_looked_up(tmp_path: Path) -> None:
    db = tmp_path / "news.duckdb"
    first = make_document(content=b"<p>first</p>", url="https://example.com/1")
    write(db, "run1", [make_article(doc_id=first.doc_id)], documents=[first])
    second = make_document(content=b"<p>second</p>", url="https://example.com/2")
    new = make_article(article_id="b" * 32, url=second.url, doc_id=second.doc_id)
    counts, ran = write(db, "run2", [new], documents=[second])
    assert counts.loaded == 1
    assert "classify_articles" not in ran and "update_seen_documents" not in ran
    assert {"insert_all_articles", "insert_all_documents"} <= set(ran)
    with connect(db) as con:
        assert load.find_seen(con, [make_document(content=b"<p>third</p>")], key_index(db)).loaded == frozenset()
        assert load.find_unchanged_files(con, {"https://example.com/3": "1:2:3"}, key_index(db)) == {}
    # The same article with a new text: found through the index, then merged by the usual statements.
    edited = make_article(article_id="b" * 32, doc_id=second.doc_id, text="Other words entirely, many more. " * 6)
    counts, ran = write(db, "run3", [edited], documents=[second])
    assert (counts.loaded, counts.updated) == (0, 1)
    assert {"classify_articles", "update_seen_documents", "replace_articles"} <= set(ran)


def test_rows_written_without_the_index_make_the_next_write_rebuild_it(tmp_path: Path) -> None:
    db = tmp_path / "news.duckdb"
    write(db, "run1", [make_article()])
    # Another writer (an older newsdag, a script) adds an article the index knows nothing of.
    other = make_article(article_id="c" * 32, url="https://example.com/other")
    write(db, "run2", [other], keys=None)
    assert key_of(ARTICLE, other.article_id) not in key_index(db).held({key_of(ARTICLE, other.article_id)})
    edited = make_article(article_id="c" * 32, url=other.url, text="A corrected body, with other words. " * 6)
    counts, ran = write(db, "run3", [edited])
    # Not taken for new and inserted twice: the moved row counts sent the write to rebuild the index first.
    assert (counts.loaded, counts.updated) == (0, 1) and "classify_articles" in ran
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM articles WHERE article_id = ?", [other.article_id]).fetchall() == [
            (1,)
        ]
    assert key_index(db).held({key_of(ARTICLE, other.article_id)}) == {key_of(ARTICLE, other.article_id)}


@pytest.mark.parametrize("damage", ["deleted", "another warehouse's", "garbage", "cut short"])
def test_a_missing_foreign_or_damaged_index_is_rebuilt_from_the_warehouse(tmp_path: Path, damage: str) -> None:
    db = tmp_path / "news.duckdb"
    article = make_article()
    write(db, "run1", [article])
    close_key_indexes()
    path = index_path(db)
    if damage == "cut short":
        path.write_bytes(path.read_bytes()[:-5])
    else:
        path.unlink()
    if damage == "another warehouse's":
        other = tmp_path / "other.duckdb"
        write(other, "run1", [make_article(article_id="d" * 32)])
        close_key_indexes()
        shutil.copy(index_path(other), path)
    elif damage == "garbage":
        path.write_bytes(b"not an index at all " * 100)
    # The gather step does not trust such an index: it asks the warehouse.
    with connect(db) as con:
        assert load.find_seen(con, [make_document()], key_index(db)) == load.find_seen(con, [make_document()])
    counts, ran = write(db, "run2", [article])
    assert counts.unchanged == 1 and "classify_articles" in ran
    assert key_index(db).held({key_of(ARTICLE, article.article_id)}) == {key_of(ARTICLE, article.article_id)}


def test_the_index_of_a_copy_that_went_its_own_way_is_not_taken_for_this_one(tmp_path: Path) -> None:
    """Two copies of one warehouse, written on their own, reach the same generation numbers with other keys:
    the index left beside one must not pass for the other's (it would say "new" of a stored article)."""
    db, copy = tmp_path / "news.duckdb", tmp_path / "copy.duckdb"
    write(db, "run1", [make_article()])
    close_key_indexes()
    shutil.copy(db, copy)
    shutil.copy(index_path(db), index_path(copy))
    kept = make_article(article_id="a1" * 16, url="https://example.com/kept")
    write(copy, "run2", [kept])
    write(db, "run2", [make_article(article_id="b2" * 16, url="https://example.com/other")])
    write(db, "run3", [make_article(article_id="c3" * 16, url="https://example.com/third")])
    close_key_indexes()
    shutil.copy(copy, db)  # the copy becomes the warehouse; the index beside it is the old warehouse's
    with connect(db) as con:
        assert not load.covers(key_index(db), load.key_gate(con))
    counts, ran = write(db, "run4", [kept])
    assert counts.unchanged == 1 and "classify_articles" in ran
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM articles").fetchall() == [(2,)]


class CommitFails(RecordingConnection):
    """A process that dies between the index's commit and the warehouse's: the COMMIT never happens."""

    def execute(self, query: str, *parameters: Any) -> duckdb.DuckDBPyConnection:
        if query == "COMMIT":
            raise RuntimeError("killed before the commit")
        return super().execute(query, *parameters)


def test_keys_of_a_batch_that_never_committed_only_cost_a_look_up(tmp_path: Path) -> None:
    db = tmp_path / "news.duckdb"
    write(db, "run1", [make_article()])
    new = make_article(article_id="e" * 32, url="https://example.com/e")
    with connect(db) as con, pytest.raises(RuntimeError, match="killed"):
        load.write_batch(CommitFails(con), "run2", documents=[], articles=[new], rejects=[], keys=key_index(db))  # type: ignore[arg-type]
    assert key_index(db).held({key_of(ARTICLE, new.article_id)})  # added before the commit that never came
    counts, ran = write(db, "run3", [new])
    assert counts.loaded == 1 and "classify_articles" in ran
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM articles").fetchall() == [(2,)]


def test_a_log_record_cut_short_by_a_crash_makes_the_index_stale_and_rebuilt(tmp_path: Path) -> None:
    db = tmp_path / "news.duckdb"
    write(db, "run1", [make_article()])
    later = make_article(article_id="9" * 32, url="https://example.com/9")
    write(db, "run2", [later])
    log = Path(f"{index_path(db)}-log")
    log.write_bytes(log.read_bytes()[:-3])  # the machine went down while the last append was on its way
    close_key_indexes()
    with connect(db) as con:
        assert not load.covers(key_index(db), load.key_gate(con))
    counts, ran = write(db, "run3", [later])
    assert counts.unchanged == 1 and "classify_articles" in ran


def test_the_log_is_merged_into_the_sorted_file_and_every_key_stays_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keys, "LOG_MIN_KEYS", 10)
    monkeypatch.setattr(keys, "BLOCK_KEYS", 4)  # several blocks and fences for a few keys
    db = tmp_path / "news.duckdb"
    articles = [make_article(article_id=f"{n:032x}", url=f"https://example.com/{n}") for n in range(40)]
    for number in range(0, 40, 5):
        write(db, f"run{number}", articles[number : number + 5])
    log = Path(f"{index_path(db)}-log")
    assert log.stat().st_size < 40 * 3 * 8  # merged at least once: the log holds fewer than all keys
    wanted = {key_of(ARTICLE, article.article_id) for article in articles}
    assert key_index(db).held(wanted | {key_of(ARTICLE, "f" * 32)}) == wanted
    close_key_indexes()
    assert key_index(db).held(wanted) == wanted  # read again from the files
    counts, ran = write(db, "run-again", articles[:3])
    assert counts.unchanged == 3 and "classify_articles" in ran


def test_an_index_opened_by_two_processes_sees_the_other_ones_keys(tmp_path: Path) -> None:
    db = tmp_path / "news.duckdb"
    write(db, "run1", [make_article()])
    elsewhere = KeyIndex(index_path(db))  # a second connection, as another run's process has
    try:
        assert elsewhere.state() == key_index(db).state()
        write(db, "run2", [make_article(article_id="f" * 32)])
        assert elsewhere.held({key_of(ARTICLE, "f" * 32)}) == {key_of(ARTICLE, "f" * 32)}
        assert elsewhere.state() == key_index(db).state()
    finally:
        elsewhere.close()


@settings(max_examples=200, deadline=None)
@given(
    stored=st.sets(st.integers(min_value=0, max_value=2**60)),
    extra=st.sets(st.integers(min_value=0, max_value=2**60)),
    chunk=st.integers(min_value=1, max_value=7),
)
def test_merging_the_log_keeps_every_key_once_in_order(stored: set[int], extra: set[int], chunk: int) -> None:
    ordered = np.array(sorted(stored), dtype=np.int64)
    chunks = [ordered[start : start + chunk] for start in range(0, len(ordered), chunk)]
    out = list(keys.merged(chunks, np.array(sorted(extra), dtype=np.int64)))
    joined = np.concatenate([np.empty(0, dtype=np.int64), *out])
    assert joined.tolist() == sorted(stored | extra)
