"""Clustering time at 1k, 10k, 100k synthetic articles (constant density per day): time per article should be flat.

Run: .venv/bin/python bench/stories_scale.py [SIZES...]
Articles are loaded with tasks.load.write_batch in batches of 200, each batch followed by its cluster step,
as in an ingest run; only the cluster step is timed, in wall time and in CPU time of the process (DuckDB's
threads included): on a shared machine the CPU time is the steadier of the two.
"""

from __future__ import annotations

import hashlib
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from newsdag.tasks import load, stories
from newsdag.tasks.models import Article, ArticleDate
from newsdag.warehouse.db import connect

ARTICLES_PER_DAY = 100  # a mid-sized news site mix; density, not total size, sets the window's work
ARTICLES_PER_STORY = 4
BATCH = 200
SEED = 7


def pseudo_word(rng: random.Random) -> str:
    """A pronounceable word: story terms are words cut to six letters, so numbered tokens would all collide."""
    return "".join(rng.choice("bdfgklmnprstvz") + rng.choice("aeiou") for _ in range(rng.randint(2, 4)))


def synthetic(n: int) -> list[Article]:
    rng = random.Random(SEED)
    vocabulary = [pseudo_word(rng) for _ in range(20000)]
    names = [pseudo_word(rng).title() for _ in range(5000)]
    articles = []
    for i in range(n):
        story = i // ARTICLES_PER_STORY
        story_rng = random.Random(story)
        topic = story_rng.sample(names, 4) + story_rng.sample(vocabulary, 20)
        words = [rng.choice(topic) if rng.random() < 0.3 else rng.choice(vocabulary) for _ in range(250)]
        text = " ".join(words)
        day = date(2024, 1, 1) + timedelta(days=i // ARTICLES_PER_DAY)
        articles.append(
            Article(
                article_id=hashlib.md5(str(i).encode()).hexdigest(),
                doc_id=hashlib.sha256(text.encode()).hexdigest(),
                input=f"/bench/{i}",
                url=f"https://outlet{i % 7}.example/{i}",
                canonical_url=None,
                source="bench",
                title=" ".join(topic[:6]),
                description=None,
                text=text,
                text_sha256=hashlib.sha256(text.encode()).hexdigest(),
                word_count=250,
                authors=(),
                site_name=f"Outlet {i % 7}",
                language="en",
                tags=(),
                published=ArticleDate(day=day, precision="day", source="bench", raw=day.isoformat()),
                modified=None,
            )
        )
    return articles


def measure(n: int) -> tuple[float, int]:
    articles = synthetic(n)
    with tempfile.TemporaryDirectory() as directory:
        db = Path(directory) / "bench.duckdb"
        spent = cpu = 0.0
        for start in range(0, n, BATCH):
            with connect(db) as connection:
                load.write_batch(
                    connection, "bench", documents=[], articles=articles[start : start + BATCH], rejects=[]
                )
                started, started_cpu = time.perf_counter(), time.process_time()
                stories.cluster_pending(connection, "bench", datetime.now(UTC))
                spent += time.perf_counter() - started
                cpu += time.process_time() - started_cpu
        with connect(db, read_only=True) as connection:
            count = connection.execute("SELECT count(*) FROM stories").fetchone()[0]
    return spent, cpu, count


def main(sizes: list[int]) -> None:
    print(f"{'articles':>8} {'cluster s':>10} {'ms/article':>11} {'CPU ms/article':>15} {'stories':>8}", flush=True)
    for n in sizes:
        spent, cpu, count = measure(n)
        print(f"{n:>8} {spent:>10.2f} {1000 * spent / n:>11.2f} {1000 * cpu / n:>15.2f} {count:>8}", flush=True)


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [1000, 10000, 100000])
