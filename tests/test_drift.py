"""Drift alerts end to end: `newsdag serve` on a real Prefect server, a loopback news site whose article template
loses its bodies between two runs, and a loopback webhook that the registered automation notifies."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from newsdag.warehouse.db import connect
from tests.test_health import NewsSite, site_settings
from tests.test_serve import NEWSDAG, RUN_WAIT_SECONDS, prefect_api, serve_environment, start_serving, wait_for

__all__ = ["prefect_api"]  # the module's own Prefect server (a module-scoped fixture of tests/test_serve.py)
pytestmark = pytest.mark.slow
NOTIFICATION_SECONDS = 60


def api_post(api: str, path: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        f"{api}{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def drift_events(api: str) -> list[dict[str, Any]]:
    """The newsdag.source.drift events the server holds (of the last day, its default window)."""
    answer = api_post(api, "/events/filter", {"filter": {"event": {"name": ["newsdag.source.drift"]}}, "limit": 50})
    return answer["events"]


def latest_artifact(api: str, key: str) -> dict[str, Any]:
    [artifact] = api_post(api, "/artifacts/latest/filter", {"artifacts": {"key": {"any_": [key]}}})
    return artifact


def trigger_and_wait(source: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`newsdag trigger SOURCE --wait`, once serve has registered the source's deployment."""
    deadline = time.monotonic() + RUN_WAIT_SECONDS
    while True:
        done = subprocess.run(
            [*NEWSDAG, "trigger", source, "--wait"],
            env=environment,
            capture_output=True,
            text=True,
            timeout=RUN_WAIT_SECONDS,
        )
        if "no deployment" not in done.stderr or time.monotonic() > deadline:
            assert done.returncode == 0, done.stdout + done.stderr
            return done
        time.sleep(1)


def test_a_redesigned_source_raises_an_alert_row_an_event_and_a_notification_and_a_healthy_one_none(
    prefect_api: dict[str, str], httpserver: HTTPServer, tmp_path: Path
) -> None:
    api = prefect_api["PREFECT_API_URL"]
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    site = NewsSite(httpserver)
    settings = site_settings(tmp_path, site)  # sources gazette and steady in tmp_path/sources.toml
    environment = serve_environment(prefect_api)
    # Loopback is allowed by `serve --allow-network` alone: the flag reaches the served runs.
    del environment["NEWSDAG_ALLOW_NETWORKS"]
    environment["NEWSDAG_DRIFT_MIN_HISTORY"] = "1"
    serving = subprocess.Popen(
        [
            *NEWSDAG,
            "serve",
            "--sources",
            str(tmp_path / "sources.toml"),
            "--db",
            str(settings.db_path),
            "--allow-network",
            "127.0.0.0/8",
            "--notify-url",
            httpserver.url_for("/hook"),
        ],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "serve.log").open("w"),
        start_new_session=True,
    )
    assert start_serving  # the same way tests/test_serve.py starts it, with the flags above
    try:
        trigger_and_wait("gazette", environment)
        trigger_and_wait("steady", environment)
        trigger_and_wait("steady", environment)
        site.redesigned.add("gazette")
        broken = trigger_and_wait("gazette", environment)
    finally:
        serving.terminate()
        serving.wait(timeout=30)
    assert " | gazette " in broken.stdout and " | completed " in broken.stdout
    # trigger --wait says where the run is in the UI and each state as it comes, not only the end.
    assert f"{api.removesuffix('/api')}/runs/flow-run/" in broken.stdout
    states = re.findall(r"^\s+\d+\.\d s  (\w+)  ", broken.stdout, re.MULTILINE)
    assert states[-2:] == ["Running", "Completed"], broken.stdout

    # 1. The alert rows, in the warehouse.
    with connect(settings.db_path, read_only=True) as connection:
        alerts = connection.execute("SELECT source, metric, value, baseline, message FROM source_alerts").fetchall()
        [(broken_run,)] = connection.execute(
            "SELECT run_id FROM runs WHERE source = 'gazette' ORDER BY started_at DESC LIMIT 1"
        ).fetchall()
    assert {row[0] for row in alerts} == {"gazette"}
    metrics = {row[1] for row in alerts}
    assert {"volume", "reject_rate", "empty_text_rate"} <= metrics
    assert ("gazette", "empty_text_rate", 1.0, 0.0) in {row[:4] for row in alerts}

    # 2. The events, on the Prefect server: one per alert, about newsdag.source.gazette, with the figures.
    wait_for(lambda: len(drift_events(api)) >= len(alerts), 30, "the drift events")
    events = drift_events(api)
    assert {event["resource"]["prefect.resource.id"] for event in events} == {"newsdag.source.gazette"}
    payloads = {event["payload"]["metric"]: event["payload"] for event in events}
    assert set(payloads) == metrics
    empty = payloads["empty_text_rate"]
    assert (empty["value"], empty["baseline"], empty["threshold"], empty["run_id"]) == (1.0, 0.0, 0.2, broken_run)
    assert any(related["prefect.resource.id"].startswith("prefect.flow-run.") for related in events[0]["related"])

    # 3. The artifact of the source's latest run says so too.
    markdown = latest_artifact(api, "newsdag-run-gazette")["data"]
    assert f"`{broken_run}` of `gazette`" in markdown and "empty-text rate 100%" in markdown

    # 4. The automation serve registered turned the events into notifications to the webhook.
    def notified() -> list[dict[str, Any]]:
        return [json.loads(request.get_data()) for request, _response in httpserver.log if request.path == "/hook"]

    wait_for(lambda: len(notified()) >= len(alerts), NOTIFICATION_SECONDS, "the drift notifications")
    notes = notified()
    assert all(note["subject"] == "newsdag: source gazette drifted" for note in notes)
    assert any("empty-text rate 100%" in note["body"] and broken_run in note["body"] for note in notes)


def test_the_offline_demo_loop_serves_the_samples_and_a_trigger_loads_them(
    prefect_api: dict[str, str], tmp_path: Path
) -> None:
    """The README's three terminals, offline: `newsdag server` (here the fixture's), `newsdag demo`, then
    `newsdag trigger demo-news --wait`. No network is allowed but what demo allows for its own site."""
    environment = {**serve_environment(prefect_api)}
    del environment["NEWSDAG_ALLOW_NETWORKS"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    db = tmp_path / "news.duckdb"
    demo = subprocess.Popen(
        [*NEWSDAG, "demo", "--port", str(port), "--db", str(db)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "demo.log").open("w"),
        text=True,
        start_new_session=True,
    )
    try:
        assert demo.stdout is not None
        assert demo.stdout.readline().startswith(f"demo news site: http://127.0.0.1:{port}/")
        done = trigger_and_wait("demo-news", environment)
    finally:
        demo.terminate()
        demo.wait(timeout=30)
    assert " | demo-news " in done.stdout and " | completed " in done.stdout
    with connect(db, read_only=True) as connection:
        assert connection.execute("SELECT count(*), count(DISTINCT source) FROM articles").fetchall() == [(5, 1)]
