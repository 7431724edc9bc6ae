"""Benchmark: newsdag ingest vs bare trafilatura on the same pages, plus the unchanged re-run.

Usage: .venv/bin/python bench/throughput.py [--pages 1000] [--workers 2]

Builds a corpus of real saved pages (the dev sets in ../shared/eval, replicated under distinct
file names with a marker comment so every copy is a distinct document), then times, in this run:
  1. `newsdag ingest CORPUS --workers N` into a fresh database (whole command, in-process mode);
  2. bare trafilatura: `bare_extraction(html, with_metadata=True)` over the same files in a
     process pool of N workers (reading and gunzipping included, like newsdag);
  3. the same `newsdag ingest` again (every document unchanged).
and prints pages/s and the ratios. Each command runs in its own process; peak RSS is read from
a wrapper process's getrusage. Not a test: numbers depend on the machine.
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
    """`pages` gzipped HTML files made from the dev sets, each copy with a distinct marker."""
    sources = sorted(EVAL_DEV.glob("*/pages/*.html.gz"))
    if not sources:
        sys.exit(f"no dev pages under {EVAL_DEV}")
    originals = [gzip.decompress(path.read_bytes()) for path in sources]
    for number in range(pages):
        html = originals[number % len(originals)] + f"\n<!-- newsdag bench copy {number} -->\n".encode()
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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="newsdag-bench-") as scratch:
        corpus = Path(scratch) / "corpus"
        corpus.mkdir()
        pages = build_corpus(corpus, args.pages)
        db = Path(scratch) / "bench.duckdb"
        ingest = [str(NEWSDAG), "ingest", str(corpus), "--db", str(db), "--workers", str(args.workers)]
        ingest += ["--json", "--prefect", "never"]
        env = {**os.environ, "NEWSDAG_ARCHIVE": str(Path(scratch) / "archive")}

        bare_wall, bare_peak, _ = timed([sys.executable, "-c", BARE_TRAFILATURA, str(corpus), str(args.workers)])
        first_wall, first_peak, first_out = timed(ingest, env)
        again_wall, _, again_out = timed(ingest, env)
        first, again = json.loads(first_out), json.loads(again_out)

    rows = [
        ("bare trafilatura (process pool)", bare_wall, pages / bare_wall, bare_peak),
        ("newsdag ingest, fresh database", first_wall, pages / first_wall, first_peak),
        ("newsdag ingest, unchanged re-run", again_wall, pages / again_wall, None),
    ]
    print(f"{pages} pages, {args.workers} workers, {os.cpu_count()} cores")
    print("| command | wall s | pages/s | peak RSS MiB |")
    print("|---|---|---|---|")
    for name, wall, rate, peak in rows:
        print(f"| {name} | {wall:.1f} | {rate:.1f} | {'' if peak is None else f'{peak:.0f}'} |")
    print(f"newsdag / bare trafilatura pages/s: {bare_wall / first_wall:.2f} (goal >= 0.8)")
    print(f"unchanged re-run / first run wall: {again_wall / first_wall:.2f} (goal <= 0.10)")
    print(f"first run: {json.dumps({k: first[k] for k in ('loaded', 'unchanged', 'rejected')})}")
    print(f"re-run: {json.dumps({k: again[k] for k in ('loaded', 'unchanged', 'rejected', 'extracted')})}")


if __name__ == "__main__":
    main()
