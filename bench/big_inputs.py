"""Benchmark: discovery of very large inputs, a JSONL dump of millions of lines and a tree of many files.

Usage: .venv/bin/python bench/big_inputs.py [--lines 10000000] [--files 1000000] [--per-directory 1000]
                                            [--base REV] [--scratch DIR] [--keep]

Generates, in a scratch directory (deleted at the end unless --keep):
  - dump.jsonl: `lines` short records (a URL, a title, a date and a text of ~25 words: each an article),
    ~190 bytes a line, 1.9 GB at 10M lines;
  - pages/: `files` small text dumps (~200 bytes each, one 4 KiB block and one inode on disk),
    `per-directory` to a directory.
Then, for each input, in fresh processes:
  1. listing: discovery alone (`tasks.discover.discover_paths`), every item taken and dropped as a run
     does: time to the first item, to the last, and the process's peak RSS above what it held before
     listing (VmHWM against VmRSS); then the counting pass that feeds the progress total.
  2. first batch: `newsdag ingest INPUT --prefect never` into a fresh database, timed from the command's
     start to its first progress line (stderr is a pipe: one line per loaded batch), with the peak summed
     RSS of its process tree until then; the command is then interrupted (SIGINT), as a user would.
With --base REV (e.g. c65c1ae, the last commit that listed every item up front), the same two
measurements of the code at REV, from `git archive` (its run listed everything into a list first, so its
listing is measured as `list(discover_paths(...))`). Linux only (/proc). Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from memory import SAMPLE_SECONDS, process_tree, rss_and_pss_kib

PROJECT = Path(__file__).resolve().parent.parent
CONSONANTS = "bdfgjklmnprstvxz"
VOWELS = "aeiou"
# Made-up words, five syllables each: with a shared vocabulary every synthetic article would share its
# story terms with every other of its days (clustering then compares all pairs); these, like the
# names and rare words of real news, mostly do not.
VOCABULARY_SIZE = 200_000
# How long the first batch may take before the measurement gives up (a base run listing 10M lines first
# takes minutes).
FIRST_BATCH_TIMEOUT = 1800

LISTING = """
import json, os, sys, time
from pathlib import Path
from newsdag.tasks.discover import discover_paths

def memory_mib(field):  # VmRSS now, VmHWM the peak: of this process alone (ru_maxrss keeps its parent's
    for line in Path("/proc/self/status").read_text().splitlines():  # peak across fork and exec)
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024

mode, target = sys.argv[1], sys.argv[2]
before = memory_mib("VmRSS")
started = time.perf_counter()
stream = discover_paths([target])
if mode == "list":  # what a run did before streaming: every item in a list first
    stream = iter(list(stream))
first, items = None, 0
for item in stream:
    items += 1
    if first is None:
        first = time.perf_counter() - started
listed = time.perf_counter() - started
peak = memory_mib("VmHWM")
result = {"items": items, "first_s": first, "all_s": listed, "before_mib": before, "peak_mib": peak,
          "listing_mib": peak - before}
if mode == "stream":
    from newsdag.tasks.discover import count_work_items
    started = time.perf_counter()
    result["counted"] = count_work_items([target])
    result["count_s"] = time.perf_counter() - started
print(json.dumps(result))
"""


def vocabulary(size: int = VOCABULARY_SIZE, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(CONSONANTS) + rng.choice(VOWELS) for _ in range(5)) for _ in range(size)]


WORDS = vocabulary()


def text_of(number: int, words: int = 25) -> str:
    """Words picked by a multiplicative hash of the record's number: distinct texts, repeatable."""
    picked = [WORDS[(number * 2654435761 + position * 40503) % VOCABULARY_SIZE] for position in range(words)]
    return " ".join(picked).capitalize() + f" (record {number})."


def day_of(number: int) -> str:
    """A thousand records a day, as a busy news archive."""
    return (date(2020, 1, 1) + timedelta(days=number // 1000)).isoformat()


def write_dump(path: Path, lines: int) -> None:
    chunk = []
    with path.open("w", encoding="utf-8") as out:
        for number in range(lines):
            chunk.append(
                f'{{"url": "https://dump.example/{number}", "title": "Story {number}", '
                f'"date": "{day_of(number)}", "text": "{text_of(number)}"}}'
            )
            if len(chunk) == 100_000:
                out.write("\n".join(chunk) + "\n")
                chunk = []
        if chunk:
            out.write("\n".join(chunk) + "\n")


def write_tree(root: Path, files: int, per_directory: int) -> None:
    for number in range(files):
        directory = root / f"{number // per_directory:05d}"
        if number % per_directory == 0:
            directory.mkdir(parents=True)
        (directory / f"{number:07d}.txt").write_text(
            f"{day_of(number)} https://tree.example/{number}\nStory {number}\n\n{text_of(number)}\n", encoding="utf-8"
        )


def source_tree(revision: str, target: Path) -> Path:
    """The project's files at `revision`, unpacked into `target`: run with PYTHONPATH=target."""
    archive = subprocess.run(["git", "archive", revision], cwd=PROJECT, capture_output=True, check=True).stdout
    target.mkdir(parents=True)
    archive_path = target.parent / f"{target.name}.tar"
    archive_path.write_bytes(archive)
    with tarfile.open(archive_path) as tar:
        tar.extractall(target, filter="data")
    archive_path.unlink()
    return target


def environment(code: Path, scratch: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(code), "NEWSDAG_ARCHIVE": str(scratch / "archive")}


def listing(code: Path, mode: str, target: Path, scratch: Path) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", LISTING, mode, str(target)],
        cwd=scratch,
        env=environment(code, scratch),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def first_batch(code: Path, target: Path, scratch: Path) -> dict[str, float | str]:
    """Seconds from `newsdag ingest TARGET` to its first progress line, and the process tree's peak RSS."""
    db = scratch / "first-batch.duckdb"
    command = [sys.executable, "-c", "from flows.cli import console_main; console_main()", "ingest", str(target)]
    command += ["--db", str(db), "--prefect", "never"]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=scratch, env=environment(code, scratch), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], sum(rss for rss, _ in map(rss_and_pss_kib, process_tree(process.pid))))
            time.sleep(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    timer = threading.Timer(FIRST_BATCH_TIMEOUT, process.kill)
    timer.start()
    line, seconds = "", float("nan")
    assert process.stderr is not None
    for raw in process.stderr:
        text = raw.decode(errors="replace").strip()
        if " inputs" in text and "/s" in text:
            seconds, line = time.perf_counter() - started, text
            break
    timer.cancel()
    done.set()
    sampler.join()
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    for leftover in (db, db.with_name(db.name + ".wal"), scratch / "archive"):
        if leftover.is_dir():
            shutil.rmtree(leftover)
        else:
            leftover.unlink(missing_ok=True)
    return {"first_batch_s": seconds, "peak_tree_mib": peak[0] / 1024, "line": line}


def measure(name: str, target: Path, codes: dict[str, Path], scratch: Path) -> None:
    for label, code in codes.items():
        mode = "stream" if label == "this code" else "list"
        listed = listing(code, mode, target, scratch)
        batch = first_batch(code, target, scratch)
        count = ""
        if "count_s" in listed:
            count = f"{listed['count_s']:.1f} s ({listed['counted']:,} items)"
        print(
            f"| {name} | {label} | {listed['items']:,} | {listed['first_s'] * 1000:.1f} ms | {listed['all_s']:.1f} s | "
            f"{listed['listing_mib']:.0f} MiB ({listed['listing_mib'] * 2**20 / listed['items']:.0f} B/item) | "
            f"{count} | {batch['first_batch_s']:.1f} s | {batch['peak_tree_mib']:.0f} MiB |",
            flush=True,
        )
        print(f"  first progress line: {batch['line']}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=10_000_000, help="lines of the JSONL dump (0: none)")
    parser.add_argument("--files", type=int, default=1_000_000, help="files of the tree (0: none)")
    parser.add_argument("--per-directory", type=int, default=1000, help="files per directory of the tree")
    parser.add_argument("--base", metavar="REV", help="also measure the code at this git revision")
    parser.add_argument("--scratch", type=Path, help="where to generate (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the generated inputs")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="newsdag-big-", dir=args.scratch))
    try:
        codes = {"this code": PROJECT}
        if args.base:
            codes[f"base {args.base}"] = source_tree(args.base, scratch / "base")
        print(f"{os.cpu_count()} cores, python {sys.version.split()[0]}", flush=True)
        print(
            "| input | code | items | first item | all listed | listing peak RSS | counting pass | "
            "ingest: first batch loaded | ingest: tree peak RSS until then |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        if args.lines:
            dump = scratch / "dump.jsonl"
            started = time.perf_counter()
            write_dump(dump, args.lines)
            print(
                f"(generated {dump.stat().st_size / 1e9:.2f} GB in {time.perf_counter() - started:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
            measure(f"JSONL, {args.lines:,} lines", dump, codes, scratch)
            if not args.keep:
                dump.unlink()
        if args.files:
            tree = scratch / "pages"
            started = time.perf_counter()
            write_tree(tree, args.files, args.per_directory)
            print(f"(generated the tree in {time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
            measure(f"{args.files:,} files, {args.per_directory:,} a directory", tree, codes, scratch)
    finally:
        if args.keep:
            print(f"kept {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    print(
        f"command: .venv/bin/python bench/big_inputs.py --lines {args.lines} --files {args.files} "
        f"--per-directory {args.per_directory}" + (f" --base {args.base}" if args.base else "")
    )


if __name__ == "__main__":
    main()
