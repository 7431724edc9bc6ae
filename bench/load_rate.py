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
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

import duckdb

from newsdag.flows.settings import Settings
from newsdag.tasks import load
from newsdag.tasks.dates import parse_iso_date
from newsdag.tasks.models import Article, RawDocument
from newsdag.warehouse.db import connect, named_queries
from newsdag.warehouse.keys import KeyIndex, close_key_indexes, key_index

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


def fill_warehouse(db: Path, rows: int, start: int = 0) -> None:
    """Articles `start` to `rows` (short texts), their documents and a reject for every tenth, written by SQL:
    a warehouse that ingests have grown. Called again with a larger `rows`, it grows the same warehouse.

    The stored URLs interleave with the batches' (same host, the same directories in turn): with stored
    URLs that all sort after the new ones, zone maps would skip every row group and flatter the scans.
    Written by SQL, not by write_batch: the key index is then rebuilt from them (build_key_index)."""
    with connect(db) as connection:
        bounds = {"start": start, "stop": rows}
        connection.execute(
            """
            INSERT INTO documents BY NAME
            SELECT sha256('old ' || i) AS doc_id,
                   'https://news.example.com/' || (i % 1000) || '/old-' || i || '.html' AS url,
                   '/data/pages/old-' || i || '.html' AS input, 200 AS http_status, 60000 AS bytes,
                   TIMESTAMPTZ '2024-01-01 00:00:00+00' AS fetched_at, 'old' AS run_id,
                   md5('old ' || i) AS article_id, sha256('text ' || i) AS article_text_sha256
            FROM range($start, $stop) AS t(i)
            """,
            bounds,
        )
        connection.execute(
            """
            INSERT INTO articles BY NAME
            SELECT md5('old ' || i) AS article_id, sha256('old ' || i) AS doc_id,
                   '/data/pages/old-' || i || '.html' AS input,
                   'https://news.example.com/' || (i % 1000) || '/old-' || i || '.html' AS url, 'old' AS source,
                   'Old story ' || i AS title,
                   'A short old text ' || i AS text, 5 AS word_count, sha256('text ' || i) AS text_sha256,
                   'old' AS first_seen_run, 'old' AS last_seen_run, 1 AS version,
                   TIMESTAMPTZ '2024-01-01 00:00:00+00' AS updated_at
            FROM range($start, $stop) AS t(i)
            """,
            bounds,
        )
        connection.execute(
            """
            INSERT INTO rejects BY NAME
            SELECT 'old' AS run_id, '/data/pages/rejected-' || i || '.html' AS input, 'extract' AS stage,
                   'no-text' AS rule, 'no main text found' AS detail, sha256('rejected ' || i) AS doc_id,
                   TIMESTAMPTZ '2024-01-01 00:00:00+00' AS rejected_at
            FROM range($start, $stop, 10) AS t(i)
            """,
            bounds,
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


BATCH_PARTS = ("open", "gather: unchanged files", "gather: seen documents", "write", "close")
LOOK_UPS = ("key index", "scans")


def build_key_index(db: Path) -> float:
    """Seconds to (re)build the warehouse's key index from its rows, as the first write after rows were added
    without it does."""
    started = time.perf_counter()
    with connect(db) as connection:
        connection.execute("BEGIN TRANSACTION")
        gate = load.writable_gate(connection, key_index(db))
        counts = {
            "gate_id": gate.gate_id,
            "generation": gate.generation,
            "articles": gate.articles,
            "documents": gate.documents,
        }
        connection.execute(named_queries()["set_key_gate"], counts)
        connection.execute("COMMIT")
    return time.perf_counter() - started


def index_written_batch(db: Path, documents: Sequence[RawDocument], articles: Sequence[Article]) -> None:
    """Add the keys of a batch written without the key index to it, as an indexed write would have: the
    batches measured with DuckDB scans then leave the index whole for the next indexed one (else each of
    those would first rebuild it, a minute at 10M)."""
    with connect(db) as connection:
        connection.execute("BEGIN TRANSACTION")
        gate = load.key_gate(connection)
        articles_now, documents_now = connection.execute(named_queries()["stored_counts"]).fetchall()[0]
        table = load.articles_table(articles, "index", datetime.now(UTC))
        keys = set().union(*load.batch_keys(table, load.documents_table(documents, articles, "index"), []))
        write_id = str(uuid.uuid4())
        key_index(db).add(keys, write_id, gate.generation + 1)
        counts = {
            "gate_id": write_id,
            "generation": gate.generation + 1,
            "articles": articles_now,
            "documents": documents_now,
        }
        connection.execute(named_queries()["set_key_gate"], counts)
        connection.execute("COMMIT")


def batch_parts_at_scale(
    db: Path, documents: Sequence[RawDocument], articles: Sequence[Article], run_id: str, keys: KeyIndex | None
) -> dict[str, float]:
    """Seconds of each part of one batch of new pages as an ingest pays them: the gather thread's two
    look-ups (files unchanged since loaded; bytes already loaded or rejected), each in a connection of its
    own, then the load's write; every open (with the migration check) and close (with its checkpoint) is
    counted under open and close. `keys`: the warehouse's key index, as a run uses it, or None (DuckDB
    scans, as before it)."""
    parts = dict.fromkeys(BATCH_PARTS, 0.0)
    stamps = {document.url: f"{len(document.content)}:1:1" for document in documents}
    steps = (
        ("gather: unchanged files", lambda connection: load.find_unchanged_files(connection, stamps, keys)),
        ("gather: seen documents", lambda connection: load.find_seen(connection, documents, keys)),
        (
            "write",
            lambda connection: load.write_batch(
                connection, run_id, documents=documents, articles=articles, rejects=[], keys=keys
            ),
        ),
    )
    for name, step in steps:
        started = time.perf_counter()
        with connect(db) as connection:
            opened = time.perf_counter()
            step(connection)
            done = time.perf_counter()
        parts["open"] += opened - started
        parts[name] += done - opened
        parts["close"] += time.perf_counter() - done
    return parts


def size_curve(
    documents: Sequence[RawDocument],
    articles: Sequence[Article],
    batch_size: int,
    sizes: Sequence[int],
    batches: int,
    scratch_dir: Path | None = None,
) -> list[tuple[int, str, dict[str, float], float]]:
    """Per warehouse size (grown in one file, smallest first) and way of looking keys up: the median seconds
    of each batch part over `batches` batches of new pages, and the seconds the key index took to build.

    At each size the batches alternate between the key index and DuckDB scans, so both meet the same
    machine load; the keys of a batch written by scans are added to the index afterwards, untimed.
    """
    rows = []
    with tempfile.TemporaryDirectory(prefix="newsdag-load-", dir=scratch_dir) as scratch:
        db = Path(scratch) / "bench.duckdb"
        with connect(db):
            pass
        filled, used = 0, 0
        for size in sorted(sizes):
            if size > filled:
                started = time.perf_counter()
                fill_warehouse(db, size, start=filled)
                print(f"(filled to {size:,} in {time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
                filled = size
            build_seconds = build_key_index(db)
            print(f"(key index built in {build_seconds:.1f} s)", file=sys.stderr, flush=True)
            measured: dict[str, dict[str, list[float]]] = {way: defaultdict(list) for way in LOOK_UPS}
            for number in range(batches):
                for way in LOOK_UPS:
                    first = used * batch_size % len(articles)  # new pages every time
                    used += 1
                    batch = slice(first, first + batch_size)
                    keys = key_index(db) if way == "key index" else None
                    cpu_started = time.process_time()
                    parts = batch_parts_at_scale(db, documents[batch], articles[batch], f"run-{size}-{number}", keys)
                    # The process's CPU (every thread's, DuckDB's included): what a busy machine does not inflate.
                    parts["cpu"] = time.process_time() - cpu_started
                    if keys is None:
                        index_written_batch(db, documents[batch], articles[batch])
                    for name, seconds in parts.items():
                        measured[way][name].append(seconds)
            for way in LOOK_UPS:
                medians = {name: median(values) for name, values in measured[way].items()}
                rows.append((size, way, medians, build_seconds))
        close_key_indexes()
    return rows


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
    parser.add_argument(
        "--sizes",
        help="comma-separated warehouse sizes (articles and documents; 0 = empty): a batch's parts at each, "
        "the warehouse grown in one file; only this measurement runs",
    )
    parser.add_argument("--batches", type=int, default=10, help="batches measured at each of --sizes")
    parser.add_argument("--scratch", type=Path, help="where --sizes builds its warehouse (default: the temp dir)")
    args = parser.parse_args()
    if args.sizes:
        print_size_curve(args)
        return
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


def print_size_curve(args: argparse.Namespace) -> None:
    sizes = [int(size) for size in args.sizes.split(",")]
    pool = max(args.rows, args.batch_size * args.batches * len(sizes) * len(LOOK_UPS))
    documents, articles = synthetic_batch(pool, args.text_bytes)
    load.articles_table(articles[:10], "warm-up", datetime.now(UTC))
    rows = size_curve(documents, articles, args.batch_size, sizes, args.batches, args.scratch)
    smallest = {way: sum(parts[name] for name in BATCH_PARTS) for size, way, parts, _ in rows if size == min(sizes)}
    smallest_cpu = {way: parts["cpu"] for size, way, parts, _ in rows if size == min(sizes)}
    print(f"batches of {args.batch_size} new pages, median of {args.batches} at each size, ms; {os.cpu_count()} cores")
    print(
        f"| stored articles and documents | look-ups | {' | '.join(BATCH_PARTS)} | whole batch | / smallest "
        "| CPU ms | CPU / smallest | key index built in |"
    )
    print("|---" * (len(BATCH_PARTS) + 7) + "|")
    for size, way, parts, build_seconds in rows:
        total = sum(parts[name] for name in BATCH_PARTS)
        cells = " | ".join(f"{parts[name] * 1000:.1f}" for name in BATCH_PARTS)
        built = f"{build_seconds:.1f} s" if way == "key index" else ""
        print(
            f"| {size:,} | {way} | {cells} | {total * 1000:.1f} | {total / smallest[way]:.2f} "
            f"| {parts['cpu'] * 1000:.1f} | {parts['cpu'] / smallest_cpu[way]:.2f} | {built} |"
        )
    print(
        f"command: .venv/bin/python bench/load_rate.py --sizes {args.sizes} --batches {args.batches} "
        f"--batch-size {args.batch_size} --text-bytes {args.text_bytes}"
    )


if __name__ == "__main__":
    main()
