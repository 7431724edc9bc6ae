"""The warehouse's layers: migrations give the current schema; staging and analysis views all run."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from newsdag.tasks import load, stories
from newsdag.tasks.models import Reject
from newsdag.warehouse.db import SCHEMA_VERSION, SQL_DIR, connect
from tests.conftest import make_article, make_document

COLUMNS = """
    SELECT table_name, column_name, ordinal_position, data_type, is_nullable, column_default
    FROM information_schema.columns
    JOIN information_schema.tables USING (table_schema, table_name)
    WHERE table_type = 'BASE TABLE'
    ORDER BY table_name, ordinal_position
"""
KEYS = """
    SELECT table_name, constraint_type, constraint_column_names
    FROM duckdb_constraints()
    WHERE constraint_type IN ('PRIMARY KEY', 'UNIQUE')
    ORDER BY table_name, constraint_type
"""


def schema_of(connection: duckdb.DuckDBPyConnection) -> tuple[list[tuple], list[tuple]]:
    return connection.execute(COLUMNS).fetchall(), connection.execute(KEYS).fetchall()


def test_migrations_give_exactly_the_current_schema(tmp_path: Path) -> None:
    with connect(tmp_path / "migrated.duckdb") as migrated:
        from_migrations = schema_of(migrated)
    with duckdb.connect(str(tmp_path / "current.duckdb")) as current:
        current.execute((SQL_DIR / "current_schema.sql").read_text(encoding="utf-8"))
        from_current = schema_of(current)
    assert from_migrations[0] == from_current[0]  # tables, columns in order, types, nullability, defaults
    assert from_migrations[1] == from_current[1]  # keys


def test_current_schema_names_the_latest_version() -> None:
    text = (SQL_DIR / "current_schema.sql").read_text(encoding="utf-8")
    assert re.search(r"\(schema version (\d+)\)", text).group(1) == str(SCHEMA_VERSION)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse with a row in the tables the views read: an article and its exact copy at another host, a
    local file's article, fetch and discovery rejects, clustering done."""
    db = tmp_path_factory.mktemp("views") / "news.duckdb"
    text = "Parliament passed the budget after a long night of votes in the capital. " * 5
    original = make_article(article_id="a" * 32, url="https://Example.com/news/1", text=text)
    copy = make_article(article_id="b" * 32, url="https://other.example.org/story?id=1", text=text)
    local = make_article(article_id="c" * 32, url="file:///tmp/page.html", text="A local page. " * 30)
    rejects = [
        Reject("https://down.example.com/a", "fetch", "timeout", "no answer", url="https://down.example.com/a"),
        Reject("https://x.example.com/feed", "discover", "http-404", "gone", url="https://x.example.com/feed"),
        Reject("https://x.example.com/rss", "discover", "not-a-feed", "html", url="https://x.example.com/rss"),
        Reject("/tmp/empty.html", "extract", "no-text", "no main text"),
    ]
    with connect(db) as con:
        documents = [make_document(content=a.url.encode(), url=a.url) for a in (original, copy, local)]
        articles = [replace(a, doc_id=d.doc_id) for a, d in zip((original, copy, local), documents, strict=True)]
        load.write_batch(con, "run-1", documents=documents, articles=articles, rejects=rejects)
        stories.cluster_pending(con, "run-1")
    return db


def test_stg_articles_marks_duplicates_and_hosts(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute("SELECT article_id, is_duplicate, host FROM stg_articles ORDER BY article_id").fetchall()
    assert rows == [("a" * 32, False, "example.com"), ("b" * 32, True, "other.example.org"), ("c" * 32, False, None)]


def test_stg_rejects_marks_fetch_failures_of_pages_feeds_and_sitemaps(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "SELECT rule, host, is_fetch_failure, is_empty_text FROM stg_rejects ORDER BY rule"
        ).fetchall()
    assert rows == [
        ("http-404", "x.example.com", True, False),
        ("no-text", None, False, True),
        ("not-a-feed", "x.example.com", False, False),  # fetched, but not a feed
        ("timeout", "down.example.com", True, False),
    ]


def test_every_view_runs(warehouse: Path) -> None:
    """Listed from the catalogue, so a new view is covered without touching this test."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        views = [row[0] for row in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()]
        assert {"stg_articles", "stg_rejects", "fetch_failures_by_host", "latest_stories"} <= set(views)
        counts = {view: con.execute(f'SELECT count(*) FROM "{view}"').fetchall()[0][0] for view in views}
        [(per_day,)] = con.execute("SELECT articles FROM articles_per_source_day").fetchall()
    assert per_day == 2  # the exact copy is not counted
    assert counts["fetch_failures_by_host"] == 2
    assert counts["latest_stories"] >= 1
