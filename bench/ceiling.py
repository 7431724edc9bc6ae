"""Benchmark: the one writer's cost per page, and ingest pages/s with extraction on a Dask cluster.

Usage: .venv/bin/python bench/ceiling.py [--pages 1000] [--repeat 2] [--workers 1,2]

Builds the corpus of bench/throughput.py (real saved pages, every copy a distinct article) and ingests it
into a fresh database (`--prefect never`, `--json`) with extraction:
  - in local worker processes (`--workers 2`), as on one machine;
  - on a `distributed.LocalCluster` of N worker processes (one thread each) started here, for each N of
    --workers, through `--dask-address`;
  - on a cluster started as a user would: `dask scheduler` and `dask worker --nworkers 2 --nthreads 1`
    in processes of their own, through `--dask-address`.
For each, in rounds (the configurations in turn, so each meets the machine's load in the same way):
wall seconds, pages/s, the run's `seconds_by_step`, and the CPU seconds of the ingest process itself
(os.wait4: the writer's own work, the whole of it when extraction runs elsewhere): read, the look-ups of
what is unchanged, validation, the load and clustering, plus handing documents to the cluster.
The writer's ceiling is what one process of it can do: pages / its CPU seconds, when extraction costs it
nothing. Linux only (wait4 rusage). Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import NEWSDAG, build_corpus

DASK = Path(sys.executable).parent / "dask"
# Steps of the one writer process: the gather thread (read, find_unchanged) and the main thread
# (validate, load, cluster); extract is the wait for the workers (or the cluster), not the writer's work.
WRITER_STEPS = ("read", "find_unchanged", "validate", "load", "cluster")
WORKERS_UP_SECONDS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def ingest(corpus: Path, scratch: Path, name: str, options: list[str]) -> dict[str, Any]:
    """One `newsdag ingest` into a fresh database: wall, its own CPU seconds, and its JSON summary."""
    db = scratch / f"{name}.duckdb"
    command = [str(NEWSDAG), "ingest", str(corpus), "--db", str(db), "--json", "--prefect", "never", *options]
    env = {**os.environ, "NEWSDAG_ARCHIVE": str(scratch / f"{name}-archive")}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            sys.exit(f"{' '.join(command)} failed:\n{err.read()[-3000:]}")
        summary = json.loads(out.read())
    # wait4 counts the process and the children it waited for: with local workers, the forkserver's workers
    # are grandchildren reaped by the forkserver, so only the ingest process and the forkserver are counted.
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "summary": summary}


class CommandLineCluster:
    """`dask scheduler` and `dask worker` as a user starts them, on loopback, each in a process of its own."""

    def __init__(self, workers: int, scratch: Path) -> None:
        port = free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        logs = (scratch / "dask-scheduler.log").open("w"), (scratch / "dask-worker.log").open("w")
        self.scheduler = subprocess.Popen(
            [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            stdout=logs[0],
            stderr=subprocess.STDOUT,
        )
        self.worker = subprocess.Popen(
            [str(DASK), "worker", self.address, "--nworkers", str(workers), "--nthreads", "1", "--no-dashboard"],
            stdout=logs[1],
            stderr=subprocess.STDOUT,
        )
        import distributed

        with distributed.Client(self.address, timeout=WORKERS_UP_SECONDS) as client:
            client.wait_for_workers(workers, timeout=WORKERS_UP_SECONDS)

    def close(self) -> None:
        for process in (self.worker, self.scheduler):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=2, help="rounds of every configuration; medians quoted")
    parser.add_argument("--workers", default="1,2", help="LocalCluster worker processes to try, comma-separated")
    args = parser.parse_args()
    import distributed

    runs: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="newsdag-ceiling-") as directory:
        scratch = Path(directory)
        corpus = scratch / "corpus"
        corpus.mkdir()
        pages = build_corpus(corpus, args.pages)
        clusters: dict[str, Any] = {}
        try:
            for count in (int(value) for value in args.workers.split(",")):
                clusters[f"LocalCluster, {count} worker process{'es' if count > 1 else ''}"] = distributed.LocalCluster(
                    n_workers=count, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
                )
            clusters["dask scheduler + dask worker --nworkers 2"] = CommandLineCluster(2, scratch)
            for number in range(args.repeat):
                name = f"local pool, --workers {os.cpu_count()}"
                runs.setdefault(name, []).append(
                    ingest(corpus, scratch, f"local-{number}", ["--workers", str(os.cpu_count())])
                )
                for label, cluster in clusters.items():
                    address = cluster.scheduler_address if hasattr(cluster, "scheduler_address") else cluster.address
                    slug = "".join(character if character.isalnum() else "-" for character in label)
                    run = ingest(corpus, scratch, f"{slug}-{number}", ["--dask-address", address])
                    runs.setdefault(label, []).append(run)
                print(f"(round {number + 1} done)", file=sys.stderr, flush=True)
        finally:
            for cluster in clusters.values():
                cluster.close()

    print(f"{pages} pages, {os.cpu_count()} cores, {args.repeat} rounds (medians)")
    print(
        "| extraction on | wall s | pages/s | writer CPU s | writer CPU ms/page | writer steps, wall ms/page "
        "(read, find_unchanged, validate, load, cluster) | loaded |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, entries in runs.items():
        wall = median(entry["wall"] for entry in entries)
        cpu = median(entry["cpu"] for entry in entries)
        steps = [
            median(entry["summary"]["seconds_by_step"].get(step, 0.0) for entry in entries) * 1000 / pages
            for step in WRITER_STEPS
        ]
        loaded = entries[-1]["summary"]["loaded"]
        cells = ", ".join(f"{value:.1f}" for value in steps)
        print(
            f"| {label} | {wall:.1f} | {pages / wall:.1f} | {cpu:.1f} | {cpu * 1000 / pages:.1f} | {cells} "
            f"(sum {sum(steps):.1f}) | {loaded} |"
        )
    dask_cpu = [entry["cpu"] for label, entries in runs.items() if "local pool" not in label for entry in entries]
    per_page = median(dask_cpu) / pages
    print(
        f"the writer's own CPU with extraction elsewhere: {per_page * 1000:.1f} ms a page: one writer process "
        f"saturates near {1 / per_page:.0f} pages/s, however many workers extract"
    )
    options = f"--pages {args.pages} --repeat {args.repeat} --workers {args.workers}"
    print(f"command: .venv/bin/python bench/ceiling.py {options}")


if __name__ == "__main__":
    main()
