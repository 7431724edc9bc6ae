"""flows/ingest.py against a real (temporary) Prefect server: task retries, failed runs, progress logs, parameters.

One prefect_test_harness server for the module: starting one costs ~10 s.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from newsdag.flows import run
from newsdag.flows.cli import main
from newsdag.flows.settings import Settings
from newsdag.tasks.errors import WarehouseBusy, WarehouseError
from newsdag.tasks.models import Reject
from newsdag.warehouse.db import connect
from tests.conftest import another_process_writing, article_page
from tests.test_secrets import SECRET, with_credentials

pytestmark = pytest.mark.slow
HARNESS_START_SECONDS = 120


@pytest.fixture(scope="module")
def harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=HARNESS_START_SECONDS):
        yield


@pytest.fixture
def loopback_fetching(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSDAG_ALLOW_NETWORKS", "127.0.0.0/8")
    monkeypatch.setenv("NEWSDAG_PER_HOST_DELAY", "0")
    monkeypatch.setenv("NEWSDAG_FETCH_RETRIES", "0")
    # `newsdag ingest --prefect always` sets these for itself; set here, they are undone after the test.
    monkeypatch.setenv("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "true")
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def flow_run_logs(flow_run_id: str) -> list[str]:
    """The messages the flow run logged, as the Prefect server has them (what the UI shows)."""
    return [message for _level, message in flow_run_log_records(flow_run_id)]


def flow_run_log_records(flow_run_id: str) -> list[tuple[int, str]]:
    """(level, message) of what the flow run and its task runs logged, as the Prefect server has them."""
    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
    return [(log.level, log.message) for log in logs]


def run_artifacts(flow_run_id: Any) -> list[Any]:
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )


def read_flow_run(flow_run_id: Any) -> Any:
    from prefect import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id)


def test_a_load_task_is_retried_while_another_process_holds_the_database(harness: None, tmp_path: Path) -> None:
    from newsdag.flows.ingest import prefect_tasks

    db = tmp_path / "news.duckdb"
    with connect(db):
        pass  # created and migrated
    settings = Settings.from_env(db_path=db, lock_timeout_seconds=1, task_retries=3, task_retry_delay=1)
    clock = run.StepClock()  # counts the task body's calls: one per attempt
    reject = Reject(str(tmp_path / "page.html"), "extract", "no-text", "no main text found in the page")
    # A real lock, held by another process longer than one attempt waits (1 s), shorter than the retries.
    with another_process_writing(db, seconds=3):
        counts = prefect_tasks(run.StepClock(), run.StepClock(), settings).load(
            "run-1", run.PreparedBatch.of_rejects([reject]), settings, clock
        )
    assert counts.rejected == 1
    assert clock.calls["load"] >= 2  # the first attempt met the lock: WarehouseBusy, retried
    with connect(db, read_only=True) as connection:
        assert connection.execute("SELECT run_id, rule FROM rejects").fetchall() == [("run-1", "no-text")]


def test_a_permanent_warehouse_error_is_not_retried(harness: None, tmp_path: Path) -> None:
    from newsdag.flows.ingest import prefect_tasks

    not_a_database = tmp_path / "notes.duckdb"
    not_a_database.write_text("my notes")
    settings = Settings.from_env(db_path=not_a_database, task_retries=3, task_retry_delay=1)
    clock = run.StepClock()
    tasks = prefect_tasks(run.StepClock(), run.StepClock(), settings)
    with pytest.raises(WarehouseError, match="cannot open the database") as raised:
        tasks.load("run-1", run.PreparedBatch.of_rejects([]), settings, clock)
    assert not isinstance(raised.value, WarehouseBusy)
    assert clock.calls["load"] == 1
    # Extraction is deterministic: never retried, whatever it raises.
    assert tasks.extract.task.retries == 0
    assert (tasks.gather.task.retries, tasks.discover.task.retries, tasks.cluster.task.retries) == (3, 3, 3)


def test_a_run_whose_every_fetch_fails_ends_failed_in_prefect_and_in_runs(
    harness: None, loopback_fetching: None, httpserver: HTTPServer, tmp_path: Path
) -> None:
    from newsdag.flows.ingest import ingest_flow

    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    urls = [httpserver.url_for(f"/gone/{number}") for number in range(3)]
    for number in range(3):
        httpserver.expect_request(f"/gone/{number}").respond_with_data("gone", status=410)
    db = tmp_path / "news.duckdb"
    state = ingest_flow(inputs=urls, db=str(db), workers=1, trigger="manual", return_state=True)
    flow_run = read_flow_run(state.state_details.flow_run_id)
    assert flow_run.state.is_failed(), flow_run.state
    assert "every URL failed to fetch" in flow_run.state.message
    with connect(db, read_only=True) as connection:
        [(status, error, failed, flow_run_id)] = connection.execute(
            "SELECT status, error, failed, flow_run_id FROM runs"
        ).fetchall()
    assert (status, failed, flow_run_id) == ("failed", 3, str(flow_run.id))
    assert error.startswith("every URL failed to fetch")
    # The reason in one line at ERROR; the traceback only at DEBUG (kept here: the harness logs at DEBUG).
    records = flow_run_log_records(str(flow_run.id))
    errors = [message for level, message in records if level >= logging.ERROR]
    assert errors and all("\n" not in message for message in errors), errors
    assert any("every URL failed to fetch" in message for message in errors), errors
    assert not any("Traceback" in message for level, message in records if level > logging.DEBUG)


def test_a_cli_flow_run_logs_progress_per_batch_and_gives_prefect_no_credentials(
    harness: None,
    loopback_fetching: None,
    httpserver: HTTPServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEWSDAG_BATCH_SIZE", "1")
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    for number in range(3):
        httpserver.expect_request(f"/news/{number}").respond_with_data(article_page(number), content_type="text/html")
    urls = [with_credentials(httpserver.url_for(f"/news/{number}"), "reader") for number in range(3)]
    db = tmp_path / "news.duckdb"
    assert main(["ingest", *urls, "--db", str(db), "--workers", "1", "--json", "--prefect", "always"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["status"], summary["loaded"]) == ("completed", 3)
    with connect(db, read_only=True) as connection:
        [(flow_run_id,)] = connection.execute("SELECT flow_run_id FROM runs").fetchall()
    assert SECRET not in json.dumps(read_flow_run(flow_run_id).parameters)
    deadline = time.monotonic() + 30
    while True:  # logs reach the server in the background
        messages = flow_run_logs(flow_run_id)
        progress = [message for message in messages if " inputs (" in message and "ETA" in message]
        if len(progress) == 3 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert [message.split(": ", 1)[1].split(" inputs")[0] for message in progress] == ["1/3", "2/3", "3/3"]
    assert not any(SECRET in message for message in messages)


def flow_run_event_names(flow_run_id: str) -> list[str]:
    """The names of the events the Prefect server holds about a flow run."""
    from prefect import get_client
    from prefect.events.filters import EventFilter, EventResourceFilter
    from prefect.events.worker import EventsWorker

    EventsWorker.drain_all(timeout=10)
    about_the_run = EventFilter(resource=EventResourceFilter(id=[f"prefect.flow-run.{flow_run_id}"]))
    with get_client(sync_client=True) as client:
        # 50: the most the server returns (the client's default of 100 is refused)
        return [event.event for event in client.read_events(filter=about_the_run, limit=50).events]


@pytest.mark.parametrize("configured_frequency", [None, 30])
def test_a_cli_flow_run_sends_heartbeats_only_when_they_are_configured(
    harness: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], configured_frequency: int | None
) -> None:
    from prefect.settings import temporary_settings

    page = tmp_path / "pages" / "story.html"
    page.parent.mkdir()
    page.write_text(article_page(1), encoding="utf-8")
    db = tmp_path / "news.duckdb"
    configured = {"flows.heartbeat_frequency": configured_frequency} if configured_frequency else {}
    command = ["ingest", str(page.parent), "--db", str(db), "--workers", "1", "--json", "--prefect", "always"]
    with temporary_settings(updates=configured):  # as set in the environment or the Prefect profile
        assert main(command) == 0
    assert json.loads(capsys.readouterr().out)["loaded"] == 1
    with connect(db, read_only=True) as connection:
        [(flow_run_id,)] = connection.execute("SELECT flow_run_id FROM runs").fetchall()
    deadline = time.monotonic() + 30
    while "prefect.flow-run.Completed" not in (events := flow_run_event_names(flow_run_id)):
        assert time.monotonic() < deadline, f"the server has not stored the run's end: {events}"
        time.sleep(0.5)
    # A heartbeat is sent as the run starts, so a run of a second sends one if heartbeats are on.
    assert ("prefect.flow-run.heartbeat" in events) == (configured_frequency is not None), events


def test_a_cli_flow_run_is_named_after_its_run_tagged_with_its_source_and_leaves_a_markdown_artifact(
    harness: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pages = tmp_path / "pages"
    pages.mkdir()
    for number in range(2):
        (pages / f"story-{number}.html").write_text(article_page(number), encoding="utf-8")
    (pages / "empty.html").write_text("<html><body><nav>Home</nav></body></html>", encoding="utf-8")
    db = tmp_path / "news.duckdb"
    assert main(["ingest", str(pages), "--db", str(db), "--workers", "1", "--json", "--prefect", "always"]) == 0
    summary = json.loads(capsys.readouterr().out)
    with connect(db, read_only=True) as connection:
        [(flow_run_id,)] = connection.execute("SELECT flow_run_id FROM runs").fetchall()
    flow_run = read_flow_run(flow_run_id)
    assert flow_run.name == f"cli-{summary['run_id']}"
    assert {"newsdag", "source:cli"} <= set(flow_run.tags)
    [artifact] = [artifact for artifact in run_artifacts(flow_run_id) if artifact.type == "markdown"]
    assert artifact.key == "newsdag-run-cli"
    markdown = artifact.data
    assert f"newsdag run `{summary['run_id']}` of `cli`: completed" in markdown
    assert "| validate | expect_column_values_to_be_between:word_count | 1 |" in markdown  # the reject...
    assert "empty.html" in markdown  # ... with its example
    assert "### Slowest hosts" in markdown and "### Time by step" in markdown and "| extract |" in markdown
    assert f"`{(tmp_path / 'report.html').as_uri()}` (written after this run" in markdown
    assert (tmp_path / "report.html").exists()  # the page the link points at, written after the run


def test_allow_network_reaches_a_cli_flow_run(
    harness: None,
    httpserver: HTTPServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The flag alone (no NEWSDAG_ALLOW_NETWORKS) lets a flow run fetch from loopback; without it, the refusal
    says which networks are allowed."""
    monkeypatch.delenv("NEWSDAG_ALLOW_NETWORKS", raising=False)
    monkeypatch.setenv("NEWSDAG_PER_HOST_DELAY", "0")
    monkeypatch.setenv("NEWSDAG_FETCH_RETRIES", "0")
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    httpserver.expect_request("/news/1").respond_with_data(article_page(1), content_type="text/html")
    url = httpserver.url_for("/news/1")
    common = ["--workers", "1", "--json", "--prefect", "always"]
    assert main(["ingest", url, "--db", str(tmp_path / "refused.duckdb"), *common]) == 1
    assert json.loads(capsys.readouterr().out)["failed"] == 1
    with connect(tmp_path / "refused.duckdb", read_only=True) as connection:
        [(rule, detail)] = connection.execute("SELECT rule, detail FROM rejects").fetchall()
    assert rule == "refused-address" and "allowed networks (none; add one with --allow-network CIDR" in detail

    db = tmp_path / "allowed.duckdb"
    assert main(["ingest", url, "--db", str(db), "--allow-network", "127.0.0.0/8", *common]) == 0
    assert json.loads(capsys.readouterr().out)["loaded"] == 1
