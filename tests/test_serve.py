"""Scheduled and manual runs through a real Prefect server on loopback, against a loopback news site."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from newsdag.flows.cli import main
from newsdag.warehouse.db import connect
from tests.conftest import PROJECT, article_page

NEWSDAG = [sys.executable, "-m", "newsdag.flows.cli"]
SERVER_START_SECONDS = 90
RUN_WAIT_SECONDS = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A Prefect server of its own (temporary PREFECT_HOME, free loopback port); the environment to reach it."""
    port = free_port()
    home = tmp_path_factory.mktemp("prefect-home")
    environment = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "2",
    }
    log = (home / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    api = f"http://127.0.0.1:{port}/api"

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"{api}/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    try:
        wait_for(healthy, SERVER_START_SECONDS, "the Prefect server")
        yield {**environment, "PREFECT_API_URL": api}
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def runs(db: Path) -> list[tuple]:
    if not db.exists():
        return []
    with connect(db, read_only=True, wait_seconds=30) as connection:
        return connection.execute(
            "select trigger, status, discovered, loaded, flow_run_id from runs order by started_at"
        ).fetchall()


def article_count(db: Path) -> int:
    with connect(db, read_only=True, wait_seconds=30) as connection:
        return connection.execute("select count(*) from articles").fetchall()[0][0]


def run_rows(db: Path, source: str) -> list[tuple]:
    with connect(db, read_only=True, wait_seconds=30) as connection:
        return connection.execute(
            "select status, started_at, finished_at, pid from runs where source = $source order by started_at",
            {"source": source},
        ).fetchall()


def news_feed(httpserver: HTTPServer, path: str, numbers: Sequence[int], *, delay: float = 0.0) -> str:
    """An RSS feed at `path` linking the article pages `numbers`, each answered after `delay` s; its URL."""
    links = "".join(
        f"<item><title>Story {n}</title><link>{httpserver.url_for(f'/news/{n}')}</link></item>" for n in numbers
    )
    httpserver.expect_request(path).respond_with_data(
        f"<?xml version='1.0'?><rss version='2.0'><channel><title>Gazette</title>{links}</channel></rss>",
        content_type="application/rss+xml",
    )

    def page(request: Request) -> Response:
        time.sleep(delay)  # a run spends its time fetching: long enough to overlap, or to be killed in
        return Response(article_page(int(request.path.rsplit("/", 1)[1])), content_type="text/html; charset=utf-8")

    for number in numbers:
        httpserver.expect_request(f"/news/{number}").respond_with_handler(page)
    return httpserver.url_for(path)


def serve_environment(prefect_api: dict[str, str]) -> dict[str, str]:
    return {
        **prefect_api,
        "PYTHONPATH": str(PROJECT),  # absolute: some commands run from another directory
        "NEWSDAG_ALLOW_NETWORKS": "127.0.0.0/8",
        "NEWSDAG_PER_HOST_DELAY": "0",
        "NEWSDAG_WORKERS": "1",
        "NEWSDAG_BATCH_SIZE": "4",
    }


def start_serving(
    sources: Path, db: Path, environment: dict[str, str], log: Path, *options: str
) -> subprocess.Popen[bytes]:
    """`newsdag serve` in a process group of its own (so a test can kill it with all its children)."""
    return subprocess.Popen(
        [*NEWSDAG, "serve", "--sources", str(sources), "--db", str(db), *options],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=log.open("a"),
        start_new_session=True,
    )


def trigger_when_served(source: str, environment: dict[str, str]) -> None:
    """Start a run of `source` as soon as serve has registered its deployment."""
    deadline = time.monotonic() + RUN_WAIT_SECONDS
    while True:
        started = subprocess.run(
            [*NEWSDAG, "trigger", source], env=environment, capture_output=True, text=True, timeout=60
        )
        if started.returncode == 0 or time.monotonic() > deadline:
            assert started.returncode == 0, started.stderr
            return
        time.sleep(1)


@pytest.mark.slow
def test_served_sources_run_on_schedule_and_by_trigger(
    prefect_api: dict[str, str], httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    feed = news_feed(httpserver, "/feed.xml", (1, 2, 3))
    fresh_feed = news_feed(httpserver, "/fresh.xml", range(10, 30), delay=0.1)
    sources = tmp_path / "sources.toml"
    sources.write_text(
        f'[[source]]\nname = "gazette"\nfeed = "{feed}"\ninterval = "15s"\ntags = ["local"]\n\n'
        f'[[source]]\nname = "gazette-by-hand"\nfeed = "{feed}"\nschedule = "0 0 1 1 *"\n\n'  # yearly: by hand
        f'[[source]]\nname = "fresh"\nfeed = "{fresh_feed}"\nmax_articles = 50\n',
        encoding="utf-8",
    )
    db = tmp_path / "news.duckdb"
    environment = serve_environment(prefect_api)
    export = tmp_path / "export"
    serving = start_serving(sources, db, environment, tmp_path / "serve.log", "--export", str(export))
    try:
        # 1. The interval schedule fires and its run loads the feed's articles, then exports them.
        wait_for(
            lambda: any(row[0] == "schedule" and row[1] == "completed" for row in runs(db)),
            RUN_WAIT_SECONDS,
            "a scheduled run",
        )
        scheduled = next(row for row in runs(db) if row[0] == "schedule")
        assert scheduled[2] == 3 and scheduled[4]
        assert article_count(db) == 3
        manifest = export / "_newsdag" / "manifest.json"
        wait_for(manifest.exists, RUN_WAIT_SECONDS, "the export after the scheduled run")
        first_export = json.loads(manifest.read_text())["exports"][0]
        assert first_export["tables"]["articles"]["rows"] == 3 and len(first_export["runs"]) >= 1
        with urllib.request.urlopen(f"{prefect_api['PREFECT_API_URL']}/deployments/name/ingest/gazette") as answer:
            deployment = json.load(answer)
        assert deployment["tags"] == ["newsdag", "source:gazette", "local"]
        assert {key: deployment["parameters"][key] for key in ("source", "db", "max_articles", "since", "until")} == {
            "source": "gazette",
            "db": str(db),
            "max_articles": 200,
            "since": None,
            "until": None,
        }

        # 2. A manual trigger with a parameter, from another directory and without --db: the parameter is
        # applied, and --wait prints the run's row from the database the deployment names.
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        triggered = subprocess.run(
            [*NEWSDAG, "trigger", "gazette-by-hand", "--param", "max_articles=1", "--wait"],
            env=environment,
            cwd=elsewhere,
            capture_output=True,
            text=True,
            timeout=RUN_WAIT_SECONDS,
        )
        assert triggered.returncode == 0, triggered.stderr
        assert "Completed" in triggered.stdout and "(1 row)" in triggered.stdout
        assert " | manual " in triggered.stdout and " | completed " in triggered.stdout
        manual = [row for row in runs(db) if row[0] == "manual"]
        assert len(manual) == 1 and manual[0][1:3] == ("completed", 1)

        # 3. Two runs of pages never loaded before, started at once, while `newsdag sql` readers run one
        # after another: the runs overlap and their loads contend, both complete, nothing is doubled,
        # and every reader waits for the loads instead of failing.
        before = article_count(db)
        assert before == 3
        for _ in range(2):
            trigger_when_served("fresh", environment)
        readers = []
        while sum(1 for row in run_rows(db, "fresh") if row[0] == "completed") < 2:
            assert len(readers) < 200, "the two runs did not complete"
            readers.append(
                subprocess.run(
                    [*NEWSDAG, "sql", "select count(*) as n from articles", "--db", str(db)],
                    env=environment,
                    capture_output=True,
                    text=True,
                    timeout=RUN_WAIT_SECONDS,
                )
            )
        first, second = run_rows(db, "fresh")
        assert first[1] < second[2] and second[1] < first[2], "the two runs did not overlap"
        assert article_count(db) == before + 20
        assert all(reader.returncode == 0 and "(1 row)" in reader.stdout for reader in readers)
        waited = [reader for reader in readers if "waiting up to" in reader.stderr]
        assert waited, f"none of {len(readers)} readers met a load"
    finally:
        serving.terminate()
        serving.wait(timeout=30)


@pytest.mark.slow
def test_kill_9_of_serve_during_a_run_then_the_next_run_finishes_the_work(
    prefect_api: dict[str, str], httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    feed = news_feed(httpserver, "/slow.xml", range(100, 124), delay=0.2)
    sources = tmp_path / "sources.toml"
    sources.write_text(f'[[source]]\nname = "slow"\nfeed = "{feed}"\n', encoding="utf-8")
    environment = serve_environment(prefect_api)
    for name in ("NEWSDAG_PER_HOST_DELAY", "NEWSDAG_BATCH_SIZE", "NEWSDAG_WORKERS"):
        monkeypatch.setenv(name, environment[name])
    reference = tmp_path / "reference.duckdb"  # what an uninterrupted run loads
    assert (
        main(["ingest", "--feed", feed, "--db", str(reference), "--allow-network", "127.0.0.0/8", "--prefect", "never"])
        == 0
    )
    expected = article_count(reference)
    assert expected == 24

    db = tmp_path / "news.duckdb"
    serving = start_serving(sources, db, environment, tmp_path / "serve.log")
    try:
        trigger_when_served("slow", environment)
        wait_for(lambda: db.exists() and article_count(db) >= 4, RUN_WAIT_SECONDS, "the first batch of the run")
    finally:
        os.killpg(serving.pid, signal.SIGKILL)  # serve, its flow run's process, the extraction workers
        serving.wait(timeout=30)
    [(status, _started, _finished, pid)] = run_rows(db, "slow")
    assert status == "running"
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), 30, "the flow run's process to be gone")
    killed_at = article_count(db)  # the file opens: consistent
    assert 0 < killed_at < expected

    serving = start_serving(sources, db, environment, tmp_path / "serve.log")
    try:
        finished = subprocess.run(
            [*NEWSDAG, "trigger", "slow", "--wait"],
            env=environment,
            capture_output=True,
            text=True,
            timeout=RUN_WAIT_SECONDS,
        )
    finally:
        serving.terminate()
        serving.wait(timeout=30)
    assert finished.returncode == 0, finished.stderr
    assert article_count(db) == expected
    assert [row[0] for row in run_rows(db, "slow")] == ["crashed", "completed"]
    with connect(db, read_only=True) as connection:
        assert connection.execute("select count(*), count(distinct (doc_id, url)) from documents").fetchall() == [
            (expected, expected)
        ]


def test_deployments_carry_the_sources_tags_and_its_parameters(tmp_path: Path) -> None:
    from newsdag.flows.serve import source_deployments
    from newsdag.flows.settings import Settings
    from newsdag.tasks.sources import load_sources

    sources = tmp_path / "sources.toml"
    sources.write_text(
        '[[source]]\nname = "gazette"\nfeed = "https://example.com/rss.xml"\ninterval = "15m"\n'
        'max_articles = 7\ntags = ["world", "local"]\n\n'
        '[[source]]\nname = "plain"\nfeed = "https://example.com/other.xml"\n',
        encoding="utf-8",
    )
    settings = Settings.from_env(sources_file=sources, db_path=Path("relative/news.duckdb"))
    gazette, plain = source_deployments(load_sources(sources), settings)
    assert gazette.tags == ["newsdag", "source:gazette", "world", "local"]
    assert plain.tags == ["newsdag", "source:plain"]
    assert gazette.parameters == {
        "source": "gazette",
        "sources": str(sources.resolve()),
        "db": str(Path("relative/news.duckdb").resolve()),
        "max_articles": 7,
        "since": None,
        "until": None,
        "export_to": None,
    }
    assert plain.parameters["max_articles"] == 200  # the default cap, shown rather than implied
    # serve --export DIR: every source's runs export there, to an absolute path (runs start elsewhere).
    exporting, _ = source_deployments(load_sources(sources), settings, Path("relative/export"))
    assert exporting.parameters["export_to"] == str(Path("relative/export").resolve())


def test_trigger_needs_a_server_and_valid_parameters(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert main(["trigger", "gazette"]) == 2
    assert "newsdag server" in capsys.readouterr().err
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    for bad, message in (
        ("colour=red", "unknown parameter"),
        ("since=yesterday", "bad value"),
        ("max_articles", "key=value"),
    ):
        assert main(["trigger", "gazette", "--param", bad]) == 2
        error = capsys.readouterr().err
        assert message in error and error.count("\n") == 1


@pytest.mark.slow
def test_trigger_of_an_unknown_source_is_a_clear_error(prefect_api: dict[str, str]) -> None:
    result = subprocess.run(
        [*NEWSDAG, "trigger", "no-such-source"], env=prefect_api, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "no deployment ingest/no-such-source" in result.stderr and "Traceback" not in result.stderr


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (Linux /proc children lists)."""
    found: set[int] = set()
    pending = [pid]
    while pending:
        parent = pending.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(child) for child in (task / "children").read_text().split()]
            except OSError:  # the task ended meanwhile
                continue
            found.update(children)
            pending.extend(children)
    return found


@pytest.mark.slow
def test_sigterm_to_newsdag_server_stops_its_prefect_server_too(tmp_path: Path) -> None:
    port = free_port()
    environment = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
    }
    with (tmp_path / "server.log").open("w") as log:
        server = subprocess.Popen(
            [*NEWSDAG, "server", "--port", str(port)], env=environment, stdout=log, stderr=subprocess.STDOUT
        )

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    try:
        wait_for(healthy, SERVER_START_SECONDS, "the Prefect server")
        children = descendants(server.pid)
        assert children, "newsdag server runs the Prefect server as a child process"
        server.send_signal(signal.SIGTERM)  # what systemd and `kill` send
        assert server.wait(timeout=60) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    wait_for(lambda: not any(Path(f"/proc/{child}").exists() for child in children), 30, "the server's children")
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "the port is still served"
