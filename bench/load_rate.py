"""Benchmark: article rows/s into DuckDB through tasks.load.write_batch (Arrow tables + MERGE).

Usage: .venv/bin/python bench/load_rate.py [--rows 10000] [--text-bytes 3000]

Builds `rows` synthetic articles (texts of about `text-bytes` bytes of words, dates, authors, tags)
with one document each, then times write_batch into a fresh database file:
  1. the first batch: every article new;
  2. a second batch of the same articles where half have a changed text (new version, old one kept
     in article_versions) and half are identical.
Each write is broken down into the Python -> Arrow conversion (articles_table, documents_table,
measured by calling them on the same rows) and every SQL statement write_batch executes (timed by
a pass-through wrapper around the connection). Then, as an ingest loads them, the same rows in
batches of NEWSDAG_BATCH_SIZE (default 200), each in a connection of its own (open, migrate check,
transaction, close with its checkpoint): the rate a run sees. With --existing N, also batches into a
warehouse that already holds N articles and documents. Goal: >= 50,000 rows/s. Not a test.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

import duckdb

from flows.settings import Settings
from tasks import load
from tasks.dates import parse_iso_date
from tasks.models import Article, RawDocument
from warehouse.db import connect, named_queries

GOAL_ROWS_PER_SECOND = 50_000
VOCABULARY = (
    "the government said on tuesday that a new budget for schools and hospitals would be presented "
    "next month after weeks of talks between the parties minister council city police report market "
    "prices rose sharply while workers in the region called for higher wages and better conditions"
)
WORDS = VOCABULARY.split(" ")


def synthetic_text(rng: random.Random, size: int) -> str:
    """Paragraphs of words, about `size` characters."""
    paragraphs, length = [], 0
    while length < size:
        paragraph = " ".join(rng.choice(WORDS) for _ in range(rng.randint(30, 70))).capitalize() + "."
        paragraphs.append(paragraph)
        length += len(paragraph) + 2
    return "\n\n".join(paragraphs)


def synthetic_batch(rows: int, text_bytes: int, seed: int = 7) -> tuple[list[RawDocument], list[Article]]:
    rng = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    documents, articles = [], []
    for number in range(rows):
        text = synthetic_text(rng, text_bytes)
        url = f"https://news.example.com/{number // 1000}/story-{number}.html"
        content = f"<html><body><p>{text}</p></body></html>".encode()
        doc_id = hashlib.sha256(content).hexdigest()
        published = parse_iso_date((start + timedelta(minutes=7 * number)).isoformat(), "json-ld")
        documents.append(
            RawDocument(
                input=f"/data/pages/story-{number}.html",
                url=url,
                content=content,
                kind="html",
                fetched_at=start,
                doc_id=doc_id,
                source="bench",
            )
        )
        articles.append(
            Article(
                article_id=hashlib.sha256(f"url:{url}".encode()).hexdigest()[:32],
                doc_id=doc_id,
                input=f"/data/pages/story-{number}.html",
                url=url,
                canonical_url=url,
                source="bench",
                title=" ".join(rng.choice(WORDS) for _ in range(9)).capitalize(),
                description=" ".join(rng.choice(WORDS) for _ in range(25)),
                text=text,
                text_sha256=hashlib.sha256(" ".join(text.split()).encode()).hexdigest(),
                word_count=len(text.split()),
                authors=(f"Reporter {number % 97}",) + ((f"Editor {number % 13}",) if number % 3 == 0 else ()),
                site_name="Example News",
                language="en",
                tags=("politics", f"region-{number % 20}"),
                published=published,
                modified=None,
            )
        )
    return documents, articles


def changed_half(articles: Sequence[Article]) -> list[Article]:
    """Every other article with one more paragraph (a new text hash), the rest identical."""
    changed = []
    for number, article in enumerate(articles):
        if number % 2 == 0:
            text = article.text + "\n\nUpdate: the story was corrected."
            article = replace(
                article, text=text, text_sha256=hashlib.sha256(" ".join(text.split()).encode()).hexdigest()
            )
        changed.append(article)
    return changed


class TimedConnection:
    """The DuckDB connection, passing every call through and adding up execute() time per named statement."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self.connection = connection
        self.names = {body: name for name, body in named_queries().items()}
        self.seconds: dict[str, float] = defaultdict(float)

    def execute(self, query: str, *parameters: Any) -> duckdb.DuckDBPyConnection:
        started = time.perf_counter()
        result = self.connection.execute(query, *parameters)
        self.seconds[self.names.get(query, query)] += time.perf_counter() - started
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.connection, name)


def timed_write(
    db: Path, run_id: str, documents: Sequence[RawDocument], articles: Sequence[Article]
) -> tuple[float, dict[str, float], load.BatchCounts]:
    """(wall seconds of write_batch, seconds by step, counts) of one batch into `db`."""
    now = datetime.now(UTC)
    steps: dict[str, float] = {}
    started = time.perf_counter()
    load.articles_table(articles, run_id, now)
    steps["python -> arrow: articles_table"] = time.perf_counter() - started
    started = time.perf_counter()
    load.documents_table(documents, articles, run_id)
    steps["python -> arrow: documents_table"] = time.perf_counter() - started
    with connect(db) as connection:
        timed = TimedConnection(connection)
        started = time.perf_counter()
        counts = load.write_batch(timed, run_id, documents=documents, articles=articles, rejects=[], now=now)  # type: ignore[arg-type]
        wall = time.perf_counter() - started
    steps.update({f"sql: {name}": seconds for name, seconds in timed.seconds.items()})
    return wall, steps, counts


def pipeline_rate(documents: Sequence[RawDocument], articles: Sequence[Article], batch_size: int) -> float:
    """Rows/s of a fresh load in batches of `batch_size`, a connection each, open and close included."""
    with tempfile.TemporaryDirectory(prefix="newsdag-load-") as scratch:
        db = Path(scratch) / "bench.duckdb"
        with connect(db):
            pass  # the schema exists before the first batch, as after a run's start
        started = time.perf_counter()
        for first in range(0, len(articles), batch_size):
            with connect(db) as connection:
                batch = slice(first, first + batch_size)
                load.write_batch(
                    connection, "run-batches", documents=documents[batch], articles=articles[batch], rejects=[]
                )
        return len(articles) / (time.perf_counter() - started)


def fill_warehouse(db: Path, rows: int) -> None:
    """`rows` articles (short texts) and their documents, written by SQL: a warehouse that ingests have grown."""
    with connect(db) as connection:
        connection.execute(
            """
            INSERT INTO documents BY NAME
            SELECT sha256('old ' || i) AS doc_id, 'https://old.example.com/' || i || '.html' AS url,
                   '/data/old/' || i || '.html' AS input, 200 AS http_status, 60000 AS bytes,
                   TIMESTAMPTZ '2024-01-01 00:00:00+00' AS fetched_at, 'old' AS run_id,
                   md5('old ' || i) AS article_id, sha256('text ' || i) AS article_text_sha256
            FROM range($rows) AS t(i)
            """,
            {"rows": rows},
        )
        connection.execute(
            """
            INSERT INTO articles BY NAME
            SELECT md5('old ' || i) AS article_id, sha256('old ' || i) AS doc_id, '/data/old/' || i || '.html' AS input,
                   'https://old.example.com/' || i || '.html' AS url, 'old' AS source, 'Old story ' || i AS title,
                   'A short old text ' || i AS text, 5 AS word_count, sha256('text ' || i) AS text_sha256,
                   'old' AS first_seen_run, 'old' AS last_seen_run, 1 AS version,
                   TIMESTAMPTZ '2024-01-01 00:00:00+00' AS updated_at
            FROM range($rows) AS t(i)
            """,
            {"rows": rows},
        )


def batch_seconds_at_scale(
    documents: Sequence[RawDocument], articles: Sequence[Article], batch_size: int, existing: int, batches: int
) -> list[float]:
    """Seconds per batch (open, write_batch, close with its checkpoint), one connection each, into a
    warehouse that already holds `existing` articles and documents: what a batch costs as it grows."""
    with tempfile.TemporaryDirectory(prefix="newsdag-load-") as scratch:
        db = Path(scratch) / "bench.duckdb"
        fill_warehouse(db, existing)
        seconds = []
        for first in range(0, batch_size * batches, batch_size):
            batch = slice(first, first + batch_size)
            started = time.perf_counter()
            with connect(db) as connection:
                load.write_batch(
                    connection, "run-at-scale", documents=documents[batch], articles=articles[batch], rejects=[]
                )
            seconds.append(time.perf_counter() - started)
        return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--text-bytes", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3, help="fresh databases to try; the fastest counts")
    parser.add_argument("--batch-size", type=int, default=Settings().batch_size, help="documents per ingest batch")
    parser.add_argument(
        "--existing",
        type=int,
        default=0,
        help="also time batches into a warehouse already holding this many articles and documents",
    )
    args = parser.parse_args()
    documents, articles = synthetic_batch(args.rows, args.text_bytes)
    changed = changed_half(articles)
    mean_text = sum(len(article.text) for article in articles) / len(articles)
    # Warm-up: the first Arrow conversion pays for lazy imports and time zone tables.
    load.articles_table(articles[:10], "warm-up", datetime.now(UTC))
    trials = []
    for trial in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="newsdag-load-") as scratch:
            db = Path(scratch) / "bench.duckdb"
            first = timed_write(db, f"run-{trial}-1", documents, articles)
            second = timed_write(db, f"run-{trial}-2", documents, changed)
        trials.append((first, second))
    batched_rate = max(pipeline_rate(documents, articles, args.batch_size) for _ in range(args.repeat))
    first = min((trial[0] for trial in trials), key=lambda result: result[0])
    second = min((trial[1] for trial in trials), key=lambda result: result[0])

    print(f"{args.rows} articles (+1 document row each), mean text {mean_text:.0f} chars, {os.cpu_count()} cores")
    print(f"best of {args.repeat} fresh databases")
    print(f"duckdb {duckdb.__version__}, python {sys.version.split()[0]}")
    print("| batch | wall s | rows/s | loaded | updated | unchanged |")
    print("|---|---|---|---|---|---|")
    for name, (wall, _, counts) in (("fresh database", first), ("second batch, half changed", second)):
        rate = args.rows / wall
        print(f"| {name} | {wall:.2f} | {rate:,.0f} | {counts.loaded} | {counts.updated} | {counts.unchanged} |")
    print(f"| fresh, in batches of {args.batch_size} with a connection each | | {batched_rate:,.0f} | | | |")
    for name, (_, steps, _) in (("fresh database", first), ("second batch, half changed", second)):
        in_duckdb = sum(seconds for step, seconds in steps.items() if step.startswith("sql: "))
        print(f"| {name}: DuckDB statements and COMMIT only | {in_duckdb:.2f} | {args.rows / in_duckdb:,.0f} | | | |")
    print(f"goal: >= {GOAL_ROWS_PER_SECOND:,} rows/s")
    print()
    print("| step | fresh s | half changed s |")
    print("|---|---|---|")
    for step in dict.fromkeys([*first[1], *second[1]]):
        print(f"| {step} | {first[1].get(step, 0):.3f} | {second[1].get(step, 0):.3f} |")
    print("(the python -> arrow rows are measured separately and are also inside each wall time)")
    if args.existing:
        batches = min(10, args.rows // args.batch_size)
        seconds = batch_seconds_at_scale(documents, articles, args.batch_size, args.existing, batches)
        print(
            f"\nbatches of {args.batch_size} into a warehouse of {args.existing:,} articles and documents, "
            f"a connection each (open, write, close): median {median(seconds) * 1000:.0f} ms per batch "
            f"(min {min(seconds) * 1000:.0f}, max {max(seconds) * 1000:.0f}, {batches} batches)"
        )
    print(
        f"command: .venv/bin/python bench/load_rate.py --rows {args.rows} --text-bytes {args.text_bytes} "
        f"--repeat {args.repeat} --batch-size {args.batch_size}"
        + (f" --existing {args.existing}" if args.existing else "")
    )


if __name__ == "__main__":
    main()
