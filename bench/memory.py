"""Benchmark: peak memory of `newsdag ingest DIR --workers N` at growing corpus sizes, per process.

Usage: .venv/bin/python bench/memory.py [--sizes 1000,10000,30000] [--workers 2] [--repeat 1]

For each size, builds a corpus the way bench/throughput.py does (the dev pages replicated, each copy a
distinct article), runs `newsdag ingest CORPUS --workers N --prefect never` into a fresh database,
and samples the whole process tree from /proc every 0.2 s: extraction runs in child processes
(a forkserver and its workers), so the peak is of the sum over the command and all descendants.
Two sums: RSS (counts pages shared between forked processes once per process) and PSS (shared pages
split between their sharers; the honest total, and the goal's figure).

Per process (the ingest process, the workers' forkserver, the workers, multiprocessing's resource
tracker) it prints PSS at the moment of the tree's peak, each one's own peak, and each one's PSS at the
end of each quarter of the run (is anything still growing?). The goal is flat memory: every size
within +-20% of the smallest size's peak. With --repeat, each size runs that many times and the
median peak is kept. Linux only (/proc). Not a test.

PYTHONPATH=DIR measures the code checked out in DIR with this venv (as for the figures "before").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import NEWSDAG, build_corpus

SAMPLE_SECONDS = 0.2
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
ROLES = ("ingest", "forkserver", "workers", "resource tracker", "other")


def parents_and_children() -> tuple[dict[int, int], dict[int, list[int]]]:
    """Every live process's parent and children, from /proc/*/stat (the ppid is the 4th field after the name)."""
    parents: dict[int, int] = {}
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended while we looked
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents[int(entry.name)] = ppid
        children.setdefault(ppid, []).append(int(entry.name))
    return parents, children


def process_tree(root: int) -> list[int]:
    _, children = parents_and_children()
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, ()))
    return tree


def role_of(pid: int, root: int, parents: dict[int, int]) -> str:
    """What a process of the tree is: the ingest process, the forkserver, a worker, the resource tracker."""
    if pid == root:
        return "ingest"
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return "other"
    if b"resource_tracker" in command:
        return "resource tracker"
    if b"forkserver" in command:  # workers fork from the server and keep its command line
        return "forkserver" if parents.get(pid) == root else "workers"
    return "other"


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


@dataclass
class TreeMemory:
    """What sampling one command's process tree found (MiB)."""

    wall: float = 0.0
    peak_rss: float = 0.0
    peak_pss: float = 0.0
    most_processes: int = 0
    at_peak: dict[str, float] = field(default_factory=dict)  # PSS by role when the tree's PSS peaked
    role_peaks: dict[str, float] = field(default_factory=dict)  # each role's own peak PSS
    samples: list[tuple[float, dict[str, float]]] = field(default_factory=list)  # (seconds, PSS by role)
    stdout: str = ""

    def quarter_ends(self) -> list[dict[str, float]]:
        """PSS by role at the last sample of each quarter of the run."""
        if not self.samples:
            return []
        ends = []
        for quarter in (1, 2, 3, 4):
            limit = self.wall * quarter / 4
            ends.append([by_role for seconds, by_role in self.samples if seconds <= limit][-1])
        return ends


def sample_tree(command: list[str], env: dict[str, str]) -> TreeMemory:
    """Run `command`, sampling the PSS and RSS of its process tree until it ends."""
    found = TreeMemory()
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env, text=True)
        while process.poll() is None:
            parents, children = parents_and_children()
            tree, pending = [], [process.pid]
            while pending:
                pid = pending.pop()
                tree.append(pid)
                pending.extend(children.get(pid, ()))
            by_role: dict[str, float] = defaultdict(float)
            rss_sum = pss_sum = 0
            for pid in tree:
                rss, pss = rss_and_pss_kib(pid)
                rss_sum, pss_sum = rss_sum + rss, pss_sum + pss
                by_role[role_of(pid, process.pid, parents)] += pss / 1024
            found.samples.append((time.perf_counter() - started, dict(by_role)))
            found.peak_rss = max(found.peak_rss, rss_sum / 1024)
            if pss_sum / 1024 > found.peak_pss:
                found.peak_pss, found.at_peak = pss_sum / 1024, dict(by_role)
            for role, pss in by_role.items():
                found.role_peaks[role] = max(found.role_peaks.get(role, 0.0), pss)
            found.most_processes = max(found.most_processes, len(tree))
            time.sleep(SAMPLE_SECONDS)
        found.wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            sys.exit(f"{' '.join(command)} failed:\n{err.read()[-2000:]}")
        found.stdout = out.read()
    return found


def measure(pages: int, workers: int) -> tuple[TreeMemory, int]:
    """One ingest of a fresh corpus of `pages` into a fresh database: its tree's memory and articles loaded."""
    with tempfile.TemporaryDirectory(prefix="newsdag-memory-") as scratch:
        corpus = Path(scratch) / "corpus"
        corpus.mkdir()
        build_corpus(corpus, pages)
        db = Path(scratch) / "bench.duckdb"
        command = [str(NEWSDAG), "ingest", str(corpus), "--db", str(db), "--workers", str(workers)]
        command += ["--json", "--prefect", "never"]
        env = {**os.environ, "NEWSDAG_ARCHIVE": str(Path(scratch) / "archive")}
        found = sample_tree(command, env)
        return found, json.loads(found.stdout).get("loaded")


def roles_cell(by_role: dict[str, float]) -> str:
    return ", ".join(f"{role} {by_role[role]:.0f}" for role in ROLES if by_role.get(role))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,30000", help="comma-separated page counts")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1, help="runs per size; the median peak is kept")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    rows = []
    for pages in sizes:
        runs = []
        for _ in range(args.repeat):
            found, loaded = measure(pages, args.workers)
            runs.append((found, loaded))
            print(
                f"measured {pages} pages: {found.wall:.0f} s, peak RSS {found.peak_rss:.0f} MiB, "
                f"PSS {found.peak_pss:.0f} MiB ({roles_cell(found.at_peak)})",
                flush=True,
            )
        runs.sort(key=lambda run: run[0].peak_pss)
        rows.append((pages, runs[len(runs) // 2], median(run[0].peak_pss for run in runs)))

    base_rss, base_pss = rows[0][1][0].peak_rss, rows[0][2]
    print(f"\nnewsdag ingest --workers {args.workers} --prefect never, {os.cpu_count()} cores, median of {args.repeat}")
    header = "| pages | wall s | loaded | processes | peak RSS sum MiB | RSS / smallest | peak PSS sum MiB"
    print(f"{header} | PSS / smallest |")
    print("|---|---|---|---|---|---|---|---|")
    for pages, (found, loaded), pss in rows:
        print(
            f"| {pages} | {found.wall:.0f} | {loaded} | {found.most_processes} | {found.peak_rss:.0f} | "
            f"{found.peak_rss / base_rss:.2f} | {pss:.0f} | {pss / base_pss:.2f} |"
        )
    print("\nPSS MiB by process: at the tree's peak; each one's own peak; at the end of each quarter of the run")
    print("| pages | at the tree's peak | own peaks | quarter ends |")
    print("|---|---|---|---|")
    for pages, (found, _), _ in rows:
        quarters = " / ".join(roles_cell(by_role) for by_role in found.quarter_ends())
        print(f"| {pages} | {roles_cell(found.at_peak)} | {roles_cell(found.role_peaks)} | {quarters} |")
    print("\ngoal: every PSS ratio within 0.80-1.20")
    command = f".venv/bin/python bench/memory.py --sizes {args.sizes} --workers {args.workers}"
    print(f"command: {command}" + (f" --repeat {args.repeat}" if args.repeat > 1 else ""))


if __name__ == "__main__":
    main()
