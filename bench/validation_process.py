"""Benchmark: Great Expectations in the ingest process, or in a process of its own (issue 26's question).

Usage: .venv/bin/python bench/validation_process.py [--pages 1000] [--workers 2] [--repeat 3]

Each round runs the same in-process ingest of a fresh corpus (bench/throughput.py's) three ways, back
to back, sampling the whole process tree's PSS as bench/memory.py does:

  in-process   validation as newsdag does it: GX imported on a thread of the ingest process while the
               workers extract, each batch validated there;
  spawned      GX imported in one process of its own (multiprocessing's spawn), each batch's articles
               sent to it and the outcome sent back; the ingest process never imports GX or pandas;
  forkserver   GX preloaded by the extraction workers' forkserver (beside trafilatura), each batch
               validated in one more process forked from it, so GX's pages are shared.

It prints each way's wall seconds and its ratio to in-process within the round (the median over rounds
is the figure: wall times drift on a shared machine), the tree's peak PSS and the ingest process's
share of it, and checks that the three databases hold the same articles, rejects and flags. Not a test.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent))
from memory import sample_tree
from throughput import build_corpus

BENCH = Path(__file__).resolve().parent

WAYS = ("in-process", "spawned", "forkserver")
# Set in the forkserver's environment: importing this module there warms GX up (see below).
PRELOAD_GX = "NEWSDAG_BENCH_PRELOAD_GX"
RESULT_QUERIES = {
    "articles": "SELECT article_id, title, text, language, published_local, modified_local FROM articles ORDER BY 1",
    "rejects": "SELECT input, stage, rule, detail FROM rejects ORDER BY 1, 3",
    "flags": "SELECT article_id, rule, detail, left_out, value FROM article_flags ORDER BY 1, 2",
}

if os.environ.get(PRELOAD_GX) and __name__ != "__main__":
    # Imported by the forkserver as a preload module (the `forkserver` way): GX and its context are built
    # before any worker forks, so that the validation process forks with them.
    from newsdag.expectations.validate import warm_up

    warm_up()


def validate_there(articles: list, **limits: object) -> object:
    """expectations.validate.validation_of, imported where it runs: the ingest process never imports
    GX, nor pandas (which that module imports)."""
    from newsdag.expectations.validate import validation_of

    return validation_of(articles, **limits)  # type: ignore[arg-type]


def validate_remotely(pool: ProcessPoolExecutor) -> object:
    """flows.run.validate_batch, run in `pool`'s one process."""

    from newsdag.tasks.models import Validation

    def validate_batch(articles: Sequence, settings: object) -> Validation:
        if not articles:
            return Validation()
        latest = datetime.now(UTC) + timedelta(hours=settings.future_skew_hours)  # type: ignore[attr-defined]
        future = pool.submit(
            validate_there,
            list(articles),
            min_words=settings.min_words,  # type: ignore[attr-defined]
            earliest=settings.earliest_date,  # type: ignore[attr-defined]
            latest=latest,
        )
        return future.result()

    return validate_batch


def child(way: str, corpus: str, db: str, workers: int) -> None:
    """The ingest, run in this process with validation placed the `way` asked for."""
    import multiprocessing

    from newsdag.flows import run
    from newsdag.flows.settings import Settings
    from newsdag.tasks import extract_pool

    pool = None
    if way == "spawned":
        from newsdag.expectations.validate import warm_up

        pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=warm_up)
    elif way == "forkserver":
        extract_pool.FORKSERVER_PRELOAD = [*extract_pool.FORKSERVER_PRELOAD, "validation_process"]
        os.environ[PRELOAD_GX] = "1"
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BENCH), os.environ.get("PYTHONPATH")]))
        pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver"), initializer=gc.freeze)
    if pool is not None:
        run.start_validation_warm_up = lambda: None  # GX is imported in the pool's process instead
        run.validate_batch = validate_remotely(pool)  # type: ignore[assignment]
    settings = Settings.from_env(db_path=Path(db), workers=workers)
    summary = run.run_ingest(run.build_request([corpus], settings=settings), settings)
    if pool is not None:
        pool.shutdown()
    print(summary["loaded"], "pandas" in sys.modules)


def results_digest(db: Path) -> str:
    import duckdb

    connection = duckdb.connect(str(db), read_only=True)
    rows = [connection.execute(query).fetchall() for query in RESULT_QUERIES.values()]
    connection.close()
    return hashlib.sha256(repr(rows).encode()).hexdigest()[:12]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=4, metavar=("WAY", "CORPUS", "DB", "WORKERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        way, corpus, db, workers = args.child
        child(way, corpus, db, int(workers))
        return
    walls: dict[str, list[float]] = {way: [] for way in WAYS}
    ratios: dict[str, list[float]] = {way: [] for way in WAYS}
    peaks: dict[str, list[float]] = {way: [] for way in WAYS}
    ingest_share: dict[str, list[float]] = {way: [] for way in WAYS}
    digests: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="newsdag-validation-") as scratch:
        corpus = Path(scratch) / "corpus"
        corpus.mkdir()
        build_corpus(corpus, args.pages)
        for round_number in range(args.repeat):
            for way in WAYS:
                db = Path(scratch) / f"{way}-{round_number}.duckdb"
                command = [sys.executable, __file__, "--child", way, str(corpus), str(db), str(args.workers)]
                env = {**os.environ, "NEWSDAG_ARCHIVE": str(Path(scratch) / f"archive-{way}-{round_number}")}
                found = sample_tree(command, env)
                walls[way].append(found.wall)
                peaks[way].append(found.peak_pss)
                ingest_share[way].append(found.at_peak.get("ingest", 0.0))
                digests.add(results_digest(db))
                print(
                    f"round {round_number + 1} {way}: {found.wall:.1f} s, peak PSS {found.peak_pss:.0f} MiB "
                    f"(ingest process {found.at_peak.get('ingest', 0):.0f}), out: {found.stdout.strip()}",
                    flush=True,
                )
            for way in WAYS:
                ratios[way].append(walls[way][-1] / walls["in-process"][-1])
    print(f"\n{args.pages} pages, --workers {args.workers}, {os.cpu_count()} cores, {args.repeat} rounds")
    print("| validation | wall s (median) | wall / in-process (median; rounds) | peak PSS MiB | ingest process MiB |")
    print("|---|---|---|---|---|")
    for way in WAYS:
        rounds = ", ".join(f"{ratio:.2f}" for ratio in ratios[way])
        print(
            f"| {way} | {median(walls[way]):.1f} | {median(ratios[way]):.2f} ({rounds}) | "
            f"{median(peaks[way]):.0f} | {median(ingest_share[way]):.0f} |"
        )
    print(f"results identical in every run: {len(digests) == 1}")
    print(f"command: .venv/bin/python bench/validation_process.py --pages {args.pages} --repeat {args.repeat}")


if __name__ == "__main__":
    main()
