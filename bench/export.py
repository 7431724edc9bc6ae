"""Benchmark: `newsdag export` rows/s, size on disk against the DuckDB file, and the no-op re-export.

Usage: .venv/bin/python bench/export.py [--articles 100000] [--text-bytes 3000] [--sources 10] [--days 30]
                                        [--partition-by source,published_date] [--repeat 2] [--db PATH]

Builds (or reuses, with --db) a warehouse of `articles` synthetic articles written by SQL: texts of about
`text-bytes` characters of words drawn from the test fixture pages' vocabulary (log-uniform ranks, so
they compress about as news text does), `sources` sources, published over `days` days with a time and an
offset, tags and authors as lists. Then, `repeat` times into a fresh directory:
  1. the first export (every row new): wall seconds, CPU seconds of the process, rows/s;
  2. the same export again (nothing new): wall seconds, median of 3;
  3. after 1 % of the articles changed (a new version) and 1,000 new ones: the incremental export.
Size: the export directory against the DuckDB file. Goal: >= 100,000 rows/s on 2 cores, no-op < 1 s.
--dictionary tries DuckDB's string dictionaries (the default that tasks/export.py turns off). Not a test.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import duckdb

from newsdag.tasks import export
from newsdag.tasks.export import ExportOptions, export_warehouse
from newsdag.warehouse.db import connect

PROJECT = Path(__file__).resolve().parent.parent
GOAL_ROWS_PER_SECOND = 100_000
GOAL_NO_OP_SECONDS = 1.0

FILL = """
INSERT INTO articles BY NAME
WITH numbers AS (SELECT i, TIMESTAMP '2026-01-01 00:00:00' + to_seconds(CAST(i * $spacing AS BIGINT)) AS local_time
                 FROM range($first, $first + $rows) AS r(i))
SELECT md5('article ' || i) AS article_id, sha256('document ' || i) AS doc_id, '/data/pages/' || i || '.html' AS input,
       'https://news' || (i % $sources) || '.example.com/' || i || '.html' AS url,
       'https://news' || (i % $sources) || '.example.com/' || i || '.html' AS canonical_url,
       'source-' || (i % $sources) AS source, 'News ' || (i % $sources) AS site_name,
       array_to_string(list_transform(range(9), lambda j: $vocabulary[word(i * 1000 + j, $n)]), ' ') AS title,
       array_to_string(list_transform(range(25), lambda j: $vocabulary[word(i * 1000 + 100 + j, $n)]), ' ')
           AS description,
       array_to_string(list_transform(range($words), lambda j: $vocabulary[word(i * 100000 + 1000 + j, $n)]), ' ')
           AS text,
       'Reporter ' || (i % 97) AS author, ['Reporter ' || (i % 97)] AS authors, 'en' AS language,
       CAST(local_time - INTERVAL 1 HOUR AS TIMESTAMPTZ) AS published_at,
       strftime(local_time, '%Y-%m-%dT%H:%M:%S+01:00') AS published_local,
       CAST(local_time AS DATE) AS published_date,
       'json-ld' AS date_source, 'second' AS date_precision, ['politics', 'region-' || (i % 20)] AS tags,
       $words AS word_count, sha256('text ' || i) AS text_sha256, 'bench-run' AS first_seen_run,
       'bench-run' AS last_seen_run, 1 AS version, TIMESTAMPTZ '2026-06-01 00:00:00+00' AS updated_at
FROM numbers
"""
# A word of rank 1..n drawn log-uniformly from a hash: common words often, rare ones rarely, like text.
WORD_MACRO = "CREATE TEMP MACRO word(seed, n) AS CAST(floor(exp((hash(seed) % 1000003) / 1000003.0 * ln(n))) AS BIGINT)"
CHANGE = """
UPDATE articles SET text = text || ' Update: the story was corrected.', version = version + 1,
       updated_at = TIMESTAMPTZ '2026-06-02 00:00:00+00', last_seen_run = 'bench-run-2'
WHERE hash(article_id) % 100 = 0
"""


def vocabulary() -> list[str]:
    """Words of the fixture pages (real news pages in several languages), most frequent first."""
    saved = [*(PROJECT / "tests/fixtures/pages").glob("*.html"), *(PROJECT / "seeds/articles").glob("*.html")]
    pages = " ".join(path.read_text(errors="ignore") for path in sorted(saved, key=lambda path: path.name))
    return [word for word, _ in Counter(word.lower() for word in re.findall(r"[^\W\d_]{2,}", pages)).most_common(5000)]


def build_warehouse(db: Path, articles: int, text_bytes: int, sources: int, days: int) -> None:
    words = max(1, text_bytes // 7)  # ~6 characters a word and a space
    spacing = days * 86400 / articles
    words_list = vocabulary()
    with connect(db) as con:
        con.execute(WORD_MACRO)
        con.execute(
            "INSERT INTO runs (run_id, trigger, started_at, finished_at, status) VALUES "
            "('bench-run', 'cli', TIMESTAMPTZ '2026-06-01 00:00:00+00', TIMESTAMPTZ '2026-06-01 01:00:00+00', "
            "'completed')"
        )
        for first in range(0, articles, 20_000):
            parameters = {
                "first": first,
                "rows": min(20_000, articles - first),
                "spacing": spacing,
                "sources": sources,
                "words": words,
                "vocabulary": words_list,
                "n": len(words_list),
            }
            con.execute(FILL, parameters)
        con.execute("CHECKPOINT")


def add_changes(db: Path, new_articles: int, text_bytes: int, sources: int, first: int) -> None:
    """1 % of the articles changed (new version), `new_articles` new ones, and the run that did it."""
    with connect(db) as con:
        con.execute(WORD_MACRO)
        con.execute(CHANGE)
        parameters = {
            "first": first,
            "rows": new_articles,
            "spacing": 60,
            "sources": sources,
            "words": max(1, text_bytes // 7),
            "vocabulary": vocabulary(),
            "n": len(vocabulary()),
        }
        con.execute(FILL, parameters)
        con.execute(
            "INSERT INTO runs (run_id, trigger, started_at, finished_at, status) VALUES "
            "('bench-run-2', 'cli', TIMESTAMPTZ '2026-06-02 00:00:00+00', TIMESTAMPTZ '2026-06-02 01:00:00+00', "
            "'completed')"
        )


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed_export(db: Path, directory: Path, options: ExportOptions) -> tuple[float, float, export.ExportSummary]:
    cpu, started = cpu_seconds(), time.perf_counter()
    summary = export_warehouse(db, directory, options)
    return time.perf_counter() - started, cpu_seconds() - cpu, summary


def size_of(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--text-bytes", type=int, default=3000)
    parser.add_argument("--sources", type=int, default=10)
    parser.add_argument("--days", type=int, default=30, help="articles spread over this many days")
    parser.add_argument("--partition-by", default="source,published_date", help="'' for none")
    parser.add_argument("--repeat", type=int, default=2, help="fresh export directories; the fastest counts")
    parser.add_argument("--db", type=Path, help="keep the built warehouse here and reuse it (built if missing)")
    parser.add_argument("--dictionary", action="store_true", help="let DuckDB try string dictionaries")
    parser.add_argument("--zstd-level", type=int, help="another zstd level than tasks/export.py's")
    args = parser.parse_args()
    parquet = export.EXPORT_FORMATS["parquet"]
    copy_options = parquet.copy_options
    if args.dictionary:
        copy_options = copy_options.replace(", STRING_DICTIONARY_PAGE_SIZE_LIMIT 1", "")
    if args.zstd_level is not None:
        copy_options = re.sub(r"COMPRESSION_LEVEL \d+", f"COMPRESSION_LEVEL {args.zstd_level}", copy_options)
    export.EXPORT_FORMATS = MappingProxyType(  # type: ignore[misc]
        {**export.EXPORT_FORMATS, "parquet": replace(parquet, copy_options=copy_options)}
    )
    partition_by = tuple(part for part in args.partition_by.split(",") if part)
    options = ExportOptions(partition_by=partition_by)
    with tempfile.TemporaryDirectory(prefix="newsdag-export-") as scratch:
        db = args.db or Path(scratch) / "bench.duckdb"
        started = time.perf_counter()
        if not db.exists():
            build_warehouse(db, args.articles, args.text_bytes, args.sources, args.days)
        built = time.perf_counter() - started
        with duckdb.connect(str(db), read_only=True) as con:
            articles, mean_text, partitions, sources, days = con.execute(
                "SELECT count(*), avg(length(text)), count(DISTINCT (source, published_date)), "
                "count(DISTINCT source), count(DISTINCT published_date) FROM articles"
            ).fetchall()[0]
        db_bytes = db.stat().st_size
        firsts, no_ops, incrementals = [], [], []
        for trial in range(args.repeat):
            target = Path(scratch) / f"export-{trial}"
            firsts.append(timed_export(db, target, options))
            if trial == 0:
                export_bytes = size_of(target)
                files = firsts[0][2].files
            no_ops.append(statistics.median(timed_export(db, target, options)[0] for _ in range(3)))
            shutil.rmtree(target)
        # The incremental export: on a copy of the warehouse, exported once, then changed.
        changed_db = Path(scratch) / "changed.duckdb"
        shutil.copyfile(db, changed_db)
        target = Path(scratch) / "export-incremental"
        export_warehouse(changed_db, target, options)
        add_changes(changed_db, 1000, args.text_bytes, args.sources, first=articles)
        incrementals.append(timed_export(changed_db, target, options))

    wall, cpu, summary = min(firsts, key=lambda result: result[0])
    rows = sum(summary.rows.values())
    print(
        f"{articles:,} articles, mean text {mean_text:,.0f} characters, {sources} sources over {days} days: "
        f"{partitions:,} (source, day) partitions; partition by {','.join(partition_by) or 'nothing'}"
    )
    print(
        f"duckdb {duckdb.__version__}, python {sys.version.split()[0]}, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f}; warehouse built in {built:.0f} s" + (" (reused)" if args.db and built < 1 else "")
    )
    print()
    print("| export | wall s | CPU s | rows | rows/s (wall) | rows/s if the 2 cores were ours (CPU / 2) |")
    print("|---|---|---|---|---|---|")
    print(
        f"| first, every row new (best of {args.repeat}) | {wall:.2f} | {cpu:.2f} | {rows:,} | {rows / wall:,.0f} "
        f"| {rows / (cpu / 2):,.0f} |"
    )
    inc_wall, inc_cpu, inc = incrementals[0]
    inc_rows = sum(inc.rows.values())
    print(f"| after 1 % changed + 1,000 new | {inc_wall:.2f} | {inc_cpu:.2f} | {inc_rows:,} ({dict(inc.rows)}) | | |")
    print(f"| again, nothing new (median of 3, best trial) | {min(no_ops):.3f} | | 0 | | |")
    print()
    print(
        f"size: export {export_bytes / 1e6:.1f} MB in {files:,} files, DuckDB file {db_bytes / 1e6:.1f} MB "
        f"(export / DuckDB = {export_bytes / db_bytes:.2f})"
    )
    print(f"parquet COPY options: {copy_options}")
    print(f"goal: >= {GOAL_ROWS_PER_SECOND:,} rows/s; no-op < {GOAL_NO_OP_SECONDS:.0f} s")
    print(
        f"command: .venv/bin/python bench/export.py --articles {args.articles} --text-bytes {args.text_bytes} "
        f"--sources {args.sources} --days {args.days} --partition-by '{args.partition_by}' --repeat {args.repeat}"
        + (f" --db {args.db}" if args.db else "")
        + (" --dictionary" if args.dictionary else "")
        + (f" --zstd-level {args.zstd_level}" if args.zstd_level is not None else "")
    )


if __name__ == "__main__":
    main()
