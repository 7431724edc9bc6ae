"""Benchmark: Prefect's overhead per page, a flow run against a real server vs the same ingest in-process.

Usage: .venv/bin/python bench/orchestration.py [--pages 500] [--workers 2] [--repeat 2]

Starts a temporary Prefect server (`prefect server start` on a free loopback port, PREFECT_HOME in
a temp dir, analytics and UI off) and waits for /api/health; that start is not counted. Then, on
a corpus built like bench/throughput.py's, alternates (`--repeat` times, fastest of each counts):
  - `newsdag ingest CORPUS --prefect never` (in-process, no Prefect import);
  - `newsdag ingest CORPUS --prefect auto` with PREFECT_API_URL set (a flow run with four task runs
    per batch, reported to the server);
each whole command into a fresh database. The same pair on a 1-page corpus gives the fixed cost
(Prefect import, flow run creation, shutdown), so the report has both
  (flow wall - in-process wall) / pages, the brief's figure (goal < 1 ms/page), and
  the marginal cost per page, that difference minus the 1-page difference, divided by pages - 1,
and, from the flow run's own summary, what its task runs cost beyond the work they wrap (each step
is timed from outside the task call and inside the task run): the per-page figure without the noise
of two whole commands. On a machine whose cores the extraction workers keep busy, wall time is noisy;
CPU time is not, so each command's CPU is counted too: the newsdag process's own (what it waited
for included), and the server's during the command and SERVER_SETTLE_SECONDS after it (an
in-process run's server CPU is what its background services burn meanwhile: the difference is
what the flow run cost the server).
Not a test: numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from statistics import median

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import NEWSDAG, build_corpus

PREFECT = Path(sys.executable).parent / "prefect"
SERVER_START_TIMEOUT_SECONDS = 120
# The server records a run's events and logs after the client has sent them: counted this long after.
SERVER_SETTLE_SECONDS = 2.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime: fields 14, 15 of proc(5)


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def prefect_server(home: Path) -> Iterator[tuple[str, float, int]]:
    """(API URL, seconds it took to answer /api/health, pid) of a server that lives for the block."""
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
        yield api, time.perf_counter() - started, server.pid
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@dataclass(frozen=True)
class Measured:
    wall: float
    client_cpu: float
    server_cpu: float


def timed_ingest(
    corpus: Path, scratch: Path, workers: int, mode: str, env: dict[str, str], server_pid: int
) -> tuple[Measured, dict]:
    """(wall and CPU seconds, JSON summary) of one whole `newsdag ingest` command into a fresh database."""
    db = Path(tempfile.mkdtemp(dir=scratch)) / "bench.duckdb"
    command = [str(NEWSDAG), "ingest", str(corpus), "--db", str(db), "--workers", str(workers)]
    command += ["--json", "--prefect", mode]
    client_before, server_before = children_cpu_seconds(), process_cpu_seconds(server_pid)
    started = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, env={**env, "NEWSDAG_ARCHIVE": str(db.parent / "a")}
    )
    wall = time.perf_counter() - started
    client_cpu = children_cpu_seconds() - client_before
    time.sleep(SERVER_SETTLE_SECONDS)
    server_cpu = process_cpu_seconds(server_pid) - server_before
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    # The warehouse records the Prefect flow run id: proof that the flow run really happened (or not).
    with duckdb.connect(str(db), read_only=True) as connection:
        summary["flow_run_id"] = connection.execute("SELECT max(flow_run_id) FROM runs").fetchall()[0][0]
    return Measured(wall, client_cpu, server_cpu), summary


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
        with prefect_server(scratch / "prefect-home") as (api, server_start, server_pid):
            never_env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
            flow_env = {
                **never_env,
                "PREFECT_HOME": str(scratch / "prefect-home"),
                "PREFECT_API_URL": api,
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            }
            runs: dict[tuple[int, str], list[Measured]] = {}
            summaries: dict[tuple[int, str], dict] = {}
            for _ in range(args.repeat):
                for size in (1, args.pages):
                    for mode, env in (("never", never_env), ("auto", flow_env)):
                        measured, summary = timed_ingest(corpora[size], scratch, args.workers, mode, env, server_pid)
                        runs.setdefault((size, mode), []).append(measured)
                        summaries[(size, mode)] = summary
                        print(
                            f"{size} pages, --prefect {mode}: {measured.wall:.1f} s, CPU {measured.client_cpu:.2f} s "
                            f"newsdag + {measured.server_cpu:.2f} s server",
                            flush=True,
                        )

    best = {key: min(run.wall for run in values) for key, values in runs.items()}
    cpu = {key: median(run.client_cpu + run.server_cpu for run in values) for key, values in runs.items()}
    pages = args.pages
    per_page = (best[(pages, "auto")] - best[(pages, "never")]) / pages
    fixed = best[(1, "auto")] - best[(1, "never")]
    marginal = ((best[(pages, "auto")] - best[(pages, "never")]) - fixed) / (pages - 1)
    cpu_fixed = cpu[(1, "auto")] - cpu[(1, "never")]
    cpu_whole = cpu[(pages, "auto")] - cpu[(pages, "never")]
    print(f"{pages} pages, {args.workers} workers, {os.cpu_count()} cores, fastest of {args.repeat} (CPU: median)")
    print(f"prefect server start (not counted): {server_start:.1f} s")
    print(
        "| run | 1 page wall s | N pages wall s | N pages CPU s, newsdag + server | N pages loaded | flow_run_id set |"
    )
    print("|---|---|---|---|---|---|")
    for mode, name in (("never", "in-process (--prefect never)"), ("auto", "Prefect flow run (--prefect auto)")):
        summary = summaries[(pages, mode)]
        client = median(run.client_cpu for run in runs[(pages, mode)])
        on_server = median(run.server_cpu for run in runs[(pages, mode)])
        print(
            f"| {name} | {best[(1, mode)]:.2f} | {best[(pages, mode)]:.2f} | {client:.2f} + {on_server:.2f} | "
            f"{summary.get('loaded')} | {bool(summary.get('flow_run_id'))} |"
        )
    print(f"(flow - in-process) / pages: {per_page * 1000:.1f} ms/page (goal < 1 ms/page)")
    print(f"fixed cost of a flow run (1-page difference): {fixed:.2f} s")
    print(f"marginal cost per page beyond the fixed cost: {marginal * 1000:.2f} ms/page")
    print(
        f"CPU, newsdag + server: a flow run costs {cpu_fixed:.2f} s fixed and {cpu_whole:.2f} s at {pages} pages: "
        f"{cpu_whole / pages * 1000:.2f} ms/page in all, "
        f"{(cpu_whole - cpu_fixed) / (pages - 1) * 1000:.2f} beyond the fixed"
    )
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
