"""Benchmark: peak memory of `newsdag ingest DIR --workers N` at growing corpus sizes.

Usage: .venv/bin/python bench/memory.py [--sizes 1000,5000,10000] [--workers 2]

For each size, builds a corpus the way bench/throughput.py does (the dev pages replicated with a
marker comment), runs `newsdag ingest CORPUS --workers N --prefect never` into a fresh database,
and samples the whole process tree from /proc every 0.2 s: extraction runs in child processes
(a forkserver and its workers), so the peak is of the sum over the command and all descendants.
Two sums: RSS (what the brief asks; counts pages shared between forked processes once per process)
and PSS (shared pages split between their sharers; the honest total). The goal is flat memory:
every size within +-20% of the smallest size's peak. Linux only (/proc). Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import NEWSDAG, build_corpus

SAMPLE_SECONDS = 0.2
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def children_by_parent() -> dict[int, list[int]]:
    """Every live process's children, from /proc/*/stat (the ppid is the 4th field after the name)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended while we looked
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def process_tree(root: int) -> list[int]:
    children = children_by_parent()
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, ()))
    return tree


def rss_and_pss_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in KiB; zeros when it has gone."""
    try:
        rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KIB
        pss = 0
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
                break
    except (OSError, IndexError, ValueError):
        return 0, 0
    return rss, pss


def peak_tree_memory(command: list[str], env: dict[str, str]) -> tuple[float, float, float, int, str]:
    """(wall s, peak summed RSS MiB, peak summed PSS MiB, most processes seen, stdout) of one command."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env, text=True)
        peak_rss = peak_pss = most = 0
        while process.poll() is None:
            tree = process_tree(process.pid)
            sizes = [rss_and_pss_kib(pid) for pid in tree]
            peak_rss = max(peak_rss, sum(rss for rss, _ in sizes))
            peak_pss = max(peak_pss, sum(pss for _, pss in sizes))
            most = max(most, len(tree))
            time.sleep(SAMPLE_SECONDS)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            sys.exit(f"{' '.join(command)} failed:\n{err.read()[-2000:]}")
        return wall, peak_rss / 1024, peak_pss / 1024, most, out.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,5000,10000", help="comma-separated page counts")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    rows = []
    for pages in sizes:
        with tempfile.TemporaryDirectory(prefix="newsdag-memory-") as scratch:
            corpus = Path(scratch) / "corpus"
            corpus.mkdir()
            build_corpus(corpus, pages)
            db = Path(scratch) / "bench.duckdb"
            command = [str(NEWSDAG), "ingest", str(corpus), "--db", str(db), "--workers", str(args.workers)]
            command += ["--json", "--prefect", "never"]
            env = {**os.environ, "NEWSDAG_ARCHIVE": str(Path(scratch) / "archive")}
            wall, rss, pss, most, out = peak_tree_memory(command, env)
            loaded = json.loads(out).get("loaded")
        rows.append((pages, wall, rss, pss, most, loaded))
        print(f"measured {pages} pages: {wall:.0f} s, peak RSS {rss:.0f} MiB, PSS {pss:.0f} MiB", flush=True)

    base_rss, base_pss = rows[0][2], rows[0][3]
    print(f"newsdag ingest --workers {args.workers} --prefect never, {os.cpu_count()} cores")
    header = "| pages | wall s | loaded | processes | peak RSS sum MiB | RSS / smallest | peak PSS sum MiB"
    print(f"{header} | PSS / smallest |")
    print("|---|---|---|---|---|---|---|---|")
    for pages, wall, rss, pss, most, loaded in rows:
        print(
            f"| {pages} | {wall:.0f} | {loaded} | {most} | {rss:.0f} | {rss / base_rss:.2f} | "
            f"{pss:.0f} | {pss / base_pss:.2f} |"
        )
    print("goal: every ratio within 0.80-1.20")
    print(f"command: .venv/bin/python bench/memory.py --sizes {args.sizes} --workers {args.workers}")


if __name__ == "__main__":
    main()
