"""Main-process cost of clustering's fingerprints (normalised words, MinHash, LSH bands, story terms) per article.

Run: .venv/bin/python bench/fingerprint_cost.py WAREHOUSE.duckdb [--repeat 5]
Reads the articles of a warehouse (for real pages: `newsdag ingest ../shared/eval/dev/fundus/pages
../shared/eval/dev/wcxb/pages --db WAREHOUSE.duckdb`) and times tasks.stories.fingerprint over all of them,
as cluster_pending does in the one writer process; prints the median CPU ms per article of the repeats. The
same script runs against an older checkout (PYTHONPATH=that checkout) for a before/after pair.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date
from pathlib import Path

import duckdb

from newsdag.tasks import stories


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("db", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with duckdb.connect(str(args.db), read_only=True) as con:
        rows = con.execute(
            "SELECT article_id, url, site_name, source, title, description, text, text_sha256, "
            "coalesce(published_date, DATE '2026-01-01') FROM articles ORDER BY article_id"
        ).fetchall()
    articles = [stories.ClusterInput(*row) for row in rows]
    stories.word_hash.cache_clear()  # a fresh process: the caches fill as they would in a run
    timings = []
    for _ in range(args.repeat):
        started = time.process_time()  # CPU time: the machine is shared, wall time varies by 30 %
        for article in articles:
            stories.fingerprint(article)
        timings.append((time.process_time() - started) * 1000 / len(articles))
    words = statistics.median(len(article.text.split()) for article in articles)
    print(
        f"{len(articles)} articles (median {words:.0f} words): {statistics.median(timings):.2f} ms/article "
        f"(runs {', '.join(f'{t:.2f}' for t in timings)}); first run includes filling the word caches "
        f"({date.today().isoformat()})"
    )


if __name__ == "__main__":
    main()
