"""Benchmark: Prefect's overhead per page, a flow run against a real server vs the same ingest in-process.

Usage: .venv/bin/python bench/orchestration.py [--pages 500] [--workers 2] [--repeat 2]

Starts a temporary Prefect server (`prefect server start` on a free loopback port, PREFECT_HOME in
a temp dir, analytics and UI off) and waits for /api/health; that start is not counted. Then, on
a corpus built like bench/throughput.py's, alternates (`--repeat` times, fastest of each counts):
  - `newsdag ingest CORPUS --prefect never` (in-process, no Prefect import);
  - `newsdag ingest CORPUS --prefect auto` with PREFECT_API_URL set (a flow run with one task run
    per step and batch, reported to the server);
each whole command into a fresh database. The same pair on a 1-page corpus gives the fixed cost
(Prefect import, flow run creation, shutdown), so the report has both
  (flow wall - in-process wall) / pages, the brief's figure (goal < 1 ms/page), and
  the marginal cost per page, that difference minus the 1-page difference, divided by pages - 1,
and, from the flow run's own summary, what its task runs cost beyond the work they wrap (each step
is timed from outside the task call and inside the task body): the per-page figure without the noise
of two whole commands.
Not a test: numbers depend on the machine and on what else runs on it.
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
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import NEWSDAG, build_corpus

PREFECT = Path(sys.executable).parent / "prefect"
SERVER_START_TIMEOUT_SECONDS = 120


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def prefect_server(home: Path) -> Iterator[tuple[str, float]]:
    """(API URL, seconds it took to answer /api/health) of a server that lives for the block."""
    port = free_loopback_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)
    log = (home / "server.log").open("w")
    started = time.perf_counter()
    server = subprocess.Popen(
        [str(PREFECT), "server", "start", "--host", "127.0.0.1", "--port", str(port), "--no-ui", "--analytics-off"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    api = f"http://127.0.0.1:{port}/api"
    try:
        while True:
            if server.poll() is not None:
                sys.exit(f"prefect server exited with {server.returncode}; see {home / 'server.log'}")
            if time.perf_counter() - started > SERVER_START_TIMEOUT_SECONDS:
                sys.exit(f"prefect server did not answer within {SERVER_START_TIMEOUT_SECONDS} s")
            try:
                with urllib.request.urlopen(f"{api}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                time.sleep(0.5)
        yield api, time.perf_counter() - started
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def timed_ingest(corpus: Path, scratch: Path, workers: int, mode: str, env: dict[str, str]) -> tuple[float, dict]:
    """(wall seconds, JSON summary) of one whole `newsdag ingest` command into a fresh database."""
    db = Path(tempfile.mkdtemp(dir=scratch)) / "bench.duckdb"
    command = [str(NEWSDAG), "ingest", str(corpus), "--db", str(db), "--workers", str(workers)]
    command += ["--json", "--prefect", mode]
    started = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, env={**env, "NEWSDAG_ARCHIVE": str(db.parent / "a")}
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    # The warehouse records the Prefect flow run id: proof that the flow run really happened (or not).
    with duckdb.connect(str(db), read_only=True) as connection:
        summary["flow_run_id"] = connection.execute("SELECT max(flow_run_id) FROM runs").fetchall()[0][0]
    return wall, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="newsdag-orchestration-") as scratch_name:
        scratch = Path(scratch_name)
        corpora = {}
        for size in (1, args.pages):
            corpora[size] = scratch / f"corpus-{size}"
            corpora[size].mkdir()
            build_corpus(corpora[size], size)
        (scratch / "prefect-home").mkdir()
        with prefect_server(scratch / "prefect-home") as (api, server_start):
            never_env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
            flow_env = {
                **never_env,
                "PREFECT_HOME": str(scratch / "prefect-home"),
                "PREFECT_API_URL": api,
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            }
            walls: dict[tuple[int, str], list[float]] = {}
            summaries: dict[tuple[int, str], dict] = {}
            for _ in range(args.repeat):
                for size in (1, args.pages):
                    for mode, env in (("never", never_env), ("auto", flow_env)):
                        wall, summary = timed_ingest(corpora[size], scratch, args.workers, mode, env)
                        walls.setdefault((size, mode), []).append(wall)
                        summaries[(size, mode)] = summary
                        print(f"{size} pages, --prefect {mode}: {wall:.1f} s", flush=True)

    best = {key: min(values) for key, values in walls.items()}
    pages = args.pages
    per_page = (best[(pages, "auto")] - best[(pages, "never")]) / pages
    fixed = best[(1, "auto")] - best[(1, "never")]
    marginal = ((best[(pages, "auto")] - best[(pages, "never")]) - fixed) / (pages - 1)
    print(f"{pages} pages, {args.workers} workers, {os.cpu_count()} cores, fastest of {args.repeat}")
    print(f"prefect server start (not counted): {server_start:.1f} s")
    print("| run | 1 page wall s | N pages wall s | N pages loaded | flow_run_id set |")
    print("|---|---|---|---|---|")
    for mode, name in (("never", "in-process (--prefect never)"), ("auto", "Prefect flow run (--prefect auto)")):
        summary = summaries[(pages, mode)]
        print(
            f"| {name} | {best[(1, mode)]:.2f} | {best[(pages, mode)]:.2f} | {summary.get('loaded')} | "
            f"{bool(summary.get('flow_run_id'))} |"
        )
    print(f"(flow - in-process) / pages: {per_page * 1000:.1f} ms/page (goal < 1 ms/page)")
    print(f"fixed cost of a flow run (1-page difference): {fixed:.2f} s")
    print(f"marginal cost per page beyond the fixed cost: {marginal * 1000:.2f} ms/page")
    measured = summaries[(pages, "auto")]["orchestration"]
    print(
        f"measured inside the flow run (task-run wall - task-body wall): {measured['seconds']:.2f} s over "
        f"{measured['task_runs']} task runs ({measured['ms_per_task_run']:.1f} ms each), "
        f"{measured['seconds'] / pages * 1000:.2f} ms/page"
    )
    print(f"command: .venv/bin/python bench/orchestration.py --pages {pages} --workers {args.workers} ", end="")
    print(f"--repeat {args.repeat}")


if __name__ == "__main__":
    main()
