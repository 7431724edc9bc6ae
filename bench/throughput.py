"""Benchmark: newsdag ingest vs bare trafilatura on the same pages, plus the unchanged re-run.

Usage: .venv/bin/python bench/throughput.py [--pages 1000] [--workers 2] [--repeat 3]

Builds a corpus of real saved pages (the dev sets in ../shared/eval, replicated under distinct
file names, each copy's links moved to a host of its own so that every copy is a distinct
article), then times, in this run:
  1. `newsdag ingest CORPUS --workers N` into a fresh database (whole command, in-process mode);
  2. bare trafilatura: `bare_extraction(html, with_metadata=True)` over the same files in a
     process pool of N workers (reading and gunzipping included, like newsdag);
  3. the same `newsdag ingest` again (every document unchanged).
and prints pages/s and the ratios: --repeat rounds of all three, each ratio taken within its round,
the median quoted. Each command runs in its own process; peak RSS is read from a wrapper process's
getrusage. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EVAL_DEV = REPO.parent / "shared" / "eval" / "dev"
NEWSDAG = Path(sys.executable).parent / "newsdag"

BARE_TRAFILATURA = """
import gzip, sys, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
import trafilatura

def extract(path):
    html = gzip.decompress(Path(path).read_bytes()).decode("utf-8", "replace")
    document = trafilatura.bare_extraction(html, with_metadata=True)
    return 0 if document is None else len(document.text or "")

if __name__ == "__main__":
    files = sorted(str(p) for p in Path(sys.argv[1]).glob("*.html.gz"))
    with ProcessPoolExecutor(int(sys.argv[2])) as pool:
        chars = sum(pool.map(extract, files, chunksize=8))
    print(len(files), chars)
"""


def build_corpus(target: Path, pages: int) -> int:
    """`pages` gzipped HTML files made from the dev sets, each copy a distinct article."""
    sources = sorted(EVAL_DEV.glob("*/pages/*.html.gz"))
    if not sources:
        sys.exit(f"no dev pages under {EVAL_DEV}")
    originals = [gzip.decompress(path.read_bytes()) for path in sources]
    for number in range(pages):
        # Every copy its own article: its links (canonical URL, og:url included) on a host of its own.
        html = originals[number % len(originals)].replace(b"://", f"://copy{number}.".encode())
        (target / f"page-{number:06d}.html.gz").write_bytes(gzip.compress(html, compresslevel=1))
    return pages


# Runs a command and reports its peak RSS alone (getrusage of children is cumulative per process).
PEAK_RSS_WRAPPER = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)"
)


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MiB of the command's largest process, stdout) of one command."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS_WRAPPER, *command], capture_output=True, text=True, env=env, check=False
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    peak_kib = int(done.stderr.strip().splitlines()[-1])
    return wall, peak_kib / 1024, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the three commands; medians are quoted")
    args = parser.parse_args()
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="newsdag-bench-") as scratch:
        corpus = Path(scratch) / "corpus"
        corpus.mkdir()
        pages = build_corpus(corpus, args.pages)
        for number in range(args.repeat):
            # Each round in a fresh database and archive: the first ingest extracts every page.
            db = Path(scratch) / f"bench-{number}.duckdb"
            ingest = [str(NEWSDAG), "ingest", str(corpus), "--db", str(db), "--workers", str(args.workers)]
            ingest += ["--json", "--prefect", "never"]
            env = {**os.environ, "NEWSDAG_ARCHIVE": str(Path(scratch) / f"archive-{number}")}
            bare_wall, bare_peak, _ = timed([sys.executable, "-c", BARE_TRAFILATURA, str(corpus), str(args.workers)])
            first_wall, first_peak, first_out = timed(ingest, env)
            again_wall, _, again_out = timed(ingest, env)
            rounds.append(
                {
                    "bare": (bare_wall, bare_peak),
                    "first": (first_wall, first_peak),
                    "again": (again_wall, None),
                    "first_summary": json.loads(first_out),
                    "again_summary": json.loads(again_out),
                }
            )

    print(f"{pages} pages, {args.workers} workers, {os.cpu_count()} cores, {args.repeat} rounds (medians)")
    print("| command | wall s (min-max) | pages/s | peak RSS MiB |")
    print("|---|---|---|---|")
    names = {
        "bare": "bare trafilatura (process pool)",
        "first": "newsdag ingest, fresh database",
        "again": "newsdag ingest, unchanged re-run",
    }
    for key, name in names.items():
        walls = [entry[key][0] for entry in rounds]
        peak = rounds[0][key][1]
        spread = f"{median(walls):.1f} ({min(walls):.1f}-{max(walls):.1f})"
        print(f"| {name} | {spread} | {pages / median(walls):.1f} | {'' if peak is None else f'{peak:.0f}'} |")
    speed = [entry["bare"][0] / entry["first"][0] for entry in rounds]
    rerun = [entry["again"][0] / entry["first"][0] for entry in rounds]
    print(f"newsdag / bare trafilatura pages/s: {median(speed):.2f} per round {fmt(speed)} (goal >= 0.8)")
    print(f"unchanged re-run / first run wall: {median(rerun):.2f} per round {fmt(rerun)} (goal <= 0.10)")
    first, again = rounds[-1]["first_summary"], rounds[-1]["again_summary"]
    print(f"first run: {json.dumps({k: first[k] for k in ('loaded', 'unchanged', 'rejected')})}")
    print(f"re-run: {json.dumps({k: again[k] for k in ('loaded', 'unchanged', 'rejected', 'extracted')})}")
    print(f"first run, wall seconds by step (steps overlap): {json.dumps(first['seconds_by_step'])}")


def fmt(ratios: list[float]) -> str:
    return "[" + ", ".join(f"{ratio:.2f}" for ratio in ratios) + "]"


if __name__ == "__main__":
    main()
