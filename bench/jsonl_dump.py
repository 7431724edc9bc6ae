"""Benchmark: one large JSONL dump through `newsdag ingest`, by batch size.

Usage: .venv/bin/python bench/jsonl_dump.py [--lines 3000] [--batch-sizes 200,1000,2000] [--repeat 2]

Writes one .jsonl of `lines` records (the true texts, titles and dates of ../shared/eval/dev,
replicated under distinct URLs: 3,000 lines are ~20 MB, over the 10 MiB file limit) and ingests it
into a fresh database with each NEWSDAG_LINE_BATCH_SIZE (lines per batch), `--prefect never`, fastest of
`--repeat`.
Prints wall seconds, peak RSS of the largest process and the run's seconds by step: a dump of cheap
text is bound by what each batch costs (validation, load, clustering), not by extraction.
Not a test: numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import EVAL_DEV, NEWSDAG, timed


def write_dump(path: Path, lines: int) -> None:
    records = []
    for truth in sorted(EVAL_DEV.glob("*/truth.jsonl")):
        for line in truth.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if record.get("text"):
                records.append(record)
    with path.open("w", encoding="utf-8") as out:
        for number in range(lines):
            record = records[number % len(records)]
            copy = number // len(records)
            fields = {
                "url": f"https://copy{copy}.example/{number}",
                "title": record.get("title"),
                "text": record["text"],
            }
            if record.get("date"):
                fields["date"] = record["date"]
            out.write(json.dumps(fields) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=3000)
    parser.add_argument("--batch-sizes", default="200,1000,2000")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="newsdag-jsonl-") as directory:
        work = Path(directory)
        dump = work / "dump.jsonl"
        write_dump(dump, args.lines)
        print(f"{args.lines} lines, {dump.stat().st_size / 1e6:.1f} MB, {os.cpu_count()} cores")
        print("| NEWSDAG_LINE_BATCH_SIZE | wall s | peak RSS MiB | loaded | rejected | seconds by step |")
        print("|---|---|---|---|---|---|")
        for size in (int(value) for value in args.batch_sizes.split(",")):
            best = None
            for round_number in range(args.repeat):
                db = work / f"news-{size}-{round_number}.duckdb"
                env = {
                    **os.environ,
                    "NEWSDAG_LINE_BATCH_SIZE": str(size),
                    "NEWSDAG_ARCHIVE": str(work / f"archive-{db.stem}"),
                }
                command = [str(NEWSDAG), "ingest", str(dump), "--db", str(db), "--prefect", "never", "--json"]
                wall, peak, out = timed(command, env)
                if best is None or wall < best[0]:
                    best = (wall, peak, json.loads(out))
            wall, peak, summary = best
            steps = ", ".join(
                f"{name} {seconds:.1f}" for name, seconds in summary["seconds_by_step"].items() if seconds
            )
            print(f"| {size} | {wall:.1f} | {peak:.0f} | {summary['loaded']} | {summary['rejected']} | {steps} |")
    options = f"--lines {args.lines} --batch-sizes {args.batch_sizes} --repeat {args.repeat}"
    print(f"command: .venv/bin/python bench/jsonl_dump.py {options}")


if __name__ == "__main__":
    main()
