"""Scheduled and manual runs through a real Prefect server on loopback, against a loopback news site."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from flows.cli import main
from tests.conftest import article_page
from warehouse.db import connect

NEWSDAG = [sys.executable, "-m", "flows.cli"]
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


@pytest.mark.slow
def test_served_sources_run_on_schedule_and_by_trigger(
    prefect_api: dict[str, str], httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    links = "".join(
        f"<item><title>Story {n}</title><link>{httpserver.url_for(f'/news/{n}')}</link></item>" for n in (1, 2, 3)
    )
    httpserver.expect_request("/feed.xml").respond_with_data(
        f"<?xml version='1.0'?><rss version='2.0'><channel><title>Gazette</title>{links}</channel></rss>",
        content_type="application/rss+xml",
    )
    for number in (1, 2, 3):
        httpserver.expect_request(f"/news/{number}").respond_with_data(
            article_page(number), content_type="text/html; charset=utf-8"
        )
    sources = tmp_path / "sources.toml"
    sources.write_text(
        f'[[source]]\nname = "gazette"\nfeed = "{httpserver.url_for("/feed.xml")}"\ninterval = "15s"\n\n'
        f'[[source]]\nname = "gazette-by-hand"\nfeed = "{httpserver.url_for("/feed.xml")}"\n'
        'schedule = "0 0 1 1 *"\n',  # once a year: runs only when triggered
        encoding="utf-8",
    )
    db = tmp_path / "news.duckdb"
    environment = {
        **prefect_api,
        "NEWSDAG_ALLOW_NETWORKS": "127.0.0.0/8",
        "NEWSDAG_PER_HOST_DELAY": "0",
        "NEWSDAG_WORKERS": "1",
    }
    serving = subprocess.Popen(
        [*NEWSDAG, "serve", "--sources", str(sources), "--db", str(db)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "serve.log").open("w"),
    )
    try:
        # 1. The interval schedule fires and its run loads the feed's articles.
        wait_for(
            lambda: any(row[0] == "schedule" and row[1] == "completed" for row in runs(db)),
            RUN_WAIT_SECONDS,
            "a scheduled run",
        )
        scheduled = next(row for row in runs(db) if row[0] == "schedule")
        assert scheduled[2] == 3 and scheduled[4]
        assert article_count(db) == 3

        # 2. A manual trigger with a parameter: that parameter is applied.
        triggered = subprocess.run(
            [*NEWSDAG, "trigger", "gazette-by-hand", "--param", "max_articles=1", "--wait", "--db", str(db)],
            env=environment,
            capture_output=True,
            text=True,
            timeout=RUN_WAIT_SECONDS,
        )
        assert triggered.returncode == 0, triggered.stderr
        assert "Completed" in triggered.stdout
        manual = [row for row in runs(db) if row[0] == "manual"]
        assert len(manual) == 1 and manual[0][1:3] == ("completed", 1)

        # 3. Two runs at once: both complete, and the articles are not doubled.
        before = len(runs(db))
        for _ in range(2):
            started = subprocess.run(
                [*NEWSDAG, "trigger", "gazette-by-hand"], env=environment, capture_output=True, text=True, timeout=60
            )
            assert started.returncode == 0, started.stderr
        wait_for(
            lambda: sum(1 for row in runs(db)[before:] if row[0] == "manual" and row[1] == "completed") >= 2,
            RUN_WAIT_SECONDS,
            "two concurrent manual runs",
        )
        assert article_count(db) == 3
    finally:
        serving.terminate()
        serving.wait(timeout=30)


def test_deployments_carry_the_sources_tags_and_its_parameters(tmp_path: Path) -> None:
    from flows.serve import source_deployments
    from flows.settings import Settings
    from tasks.sources import load_sources

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
    }
    assert plain.parameters["max_articles"] == 200  # the default cap, shown rather than implied


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
