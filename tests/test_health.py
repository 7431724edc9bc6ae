"""tasks/health.py and the health views: a source judged against its own baseline, on real DuckDB files and a
loopback news site whose article template loses its bodies between two runs."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from newsdag.flows import run
from newsdag.flows.settings import Settings
from newsdag.tasks.errors import ConfigError
from newsdag.tasks.health import DriftPolicy, RunHealth, drift
from newsdag.warehouse.db import connect
from tests.conftest import LOOPBACK_NETWORKS, article_page

START = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
POLICY = DriftPolicy()


def healthy(number: int, **changes: object) -> RunHealth:
    figures = RunHealth(
        run_id=f"run-{number}",
        source="gazette",
        status="completed",
        started_at=START + timedelta(hours=number),
        volume=20,
        reject_rate=0.05,
        blocked_rate=0.0,
        empty_text_rate=0.0,
        missing_date_share=0.1,
        missing_author_share=0.5,
        median_words=480.0,
    )
    return replace(figures, **changes)


BASELINE = [healthy(number) for number in range(5)]


def test_a_healthy_run_raises_nothing_and_every_figure_is_judged() -> None:
    check = drift(healthy(9, reject_rate=0.2, missing_author_share=0.7, median_words=300.0), BASELINE, POLICY)
    assert check.alerts == ()
    assert set(check.judged) == {
        "volume",
        "reject_rate",
        "blocked_rate",
        "empty_text_rate",
        "missing_date_share",
        "missing_author_share",
        "median_words",
    }


def test_each_figure_crossing_its_threshold_raises_one_alert_with_its_figures() -> None:
    broken = healthy(
        9,
        volume=0,
        reject_rate=0.30,  # +25 points
        blocked_rate=0.25,
        empty_text_rate=0.9,
        missing_date_share=0.4,  # +30 points
        missing_author_share=0.95,
        median_words=240.0,  # half the baseline's
    )
    check = drift(broken, BASELINE, POLICY)
    by_metric = {alert.metric: alert for alert in check.alerts}
    assert set(by_metric) == set(check.judged)
    empty = by_metric["empty_text_rate"]
    assert (empty.value, empty.baseline, empty.threshold, empty.baseline_runs) == (0.9, 0.0, 0.2, 5)
    assert empty.message == "empty-text rate 90% (baseline 0% over 5 runs; alert at +20 points)"
    assert by_metric["volume"].message == "volume dropped to 0 articles (baseline median 20 over 5 runs)"
    assert by_metric["median_words"].message.startswith("median words 240 (baseline 480 over 5 runs")


def test_the_median_of_the_baseline_ignores_one_odd_run() -> None:
    odd = [*BASELINE, healthy(6, empty_text_rate=1.0, volume=0)]
    check = drift(healthy(9, empty_text_rate=0.5), odd, POLICY)
    assert [alert.metric for alert in check.alerts] == ["empty_text_rate"]


def test_figures_without_evidence_or_history_are_not_judged() -> None:
    # No article extracted (all unchanged): the shares and median words say nothing about this run.
    unchanged = healthy(9, empty_text_rate=None, missing_date_share=None, missing_author_share=None, median_words=None)
    assert set(drift(unchanged, BASELINE, POLICY).judged) == {"volume", "reject_rate", "blocked_rate"}
    # Two earlier runs are no baseline under the default minimum of three.
    assert drift(healthy(9, volume=0), BASELINE[:2], POLICY) == drift(healthy(9), [], POLICY)
    assert drift(healthy(9, volume=0), BASELINE[:2], POLICY).alerts == ()


def test_drift_settings_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.from_env().drift_policy == DriftPolicy()  # the documented defaults are the policy's
    monkeypatch.setenv("NEWSDAG_DRIFT_EMPTY_TEXT_RATE", "1.5")
    with pytest.raises(ConfigError, match="NEWSDAG_DRIFT_EMPTY_TEXT_RATE"):
        Settings.from_env()
    monkeypatch.setenv("NEWSDAG_DRIFT_EMPTY_TEXT_RATE", "0.4")
    monkeypatch.setenv("NEWSDAG_DRIFT_MIN_HISTORY", "1")
    policy = Settings.from_env().drift_policy
    assert (policy.empty_text_rate_rise, policy.min_history) == (0.4, 1)


# --- a loopback news site whose template changes ---------------------------------------------------------


@dataclass
class NewsSite:
    """Feeds of article pages on a loopback server; `redesigned` sources serve their pages without bodies."""

    server: HTTPServer
    stories: dict[str, list[int]] = field(default_factory=dict)
    redesigned: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_source(self, name: str, numbers: range) -> str:
        self.stories[name] = list(numbers)
        self.server.expect_request(f"/{name}/feed.xml").respond_with_handler(self.feed)
        self.server.expect_request(re.compile(f"/{name}/news/[0-9]+")).respond_with_handler(self.page)
        return self.server.url_for(f"/{name}/feed.xml")

    def feed(self, request: Request) -> Response:
        name = request.path.strip("/").split("/")[0]
        with self.lock:
            links = "".join(
                f"<item><title>Story {n}</title><link>{self.server.url_for(f'/{name}/news/{n}')}</link></item>"
                for n in self.stories[name]
            )
        return Response(
            f"<?xml version='1.0'?><rss version='2.0'><channel><title>{name}</title>{links}</channel></rss>",
            content_type="application/rss+xml",
        )

    def page(self, request: Request) -> Response:
        name, _, number = request.path.strip("/").split("/")
        html = article_page(int(number))
        with self.lock:
            if name in self.redesigned:  # the new template renders the headline; the body comes by JavaScript
                start, end = html.index("<article>"), html.index("</article>")
                html = html[:start] + f"<article><h1>Story {number}</h1><div id='app'></div>" + html[end:]
        return Response(html, content_type="text/html; charset=utf-8")


@pytest.fixture
def news_site(httpserver: HTTPServer) -> Iterator[NewsSite]:
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    yield NewsSite(httpserver)


def site_settings(tmp_path: Path, site: NewsSite) -> Settings:
    sources = tmp_path / "sources.toml"
    sources.write_text(
        "".join(
            f'[[source]]\nname = "{name}"\nfeed = "{site.add_source(name, numbers)}"\n\n'
            for name, numbers in (("gazette", range(1, 5)), ("steady", range(10, 13)))
        ),
        encoding="utf-8",
    )
    return Settings.from_env(
        db_path=tmp_path / "news.duckdb",
        sources_file=sources,
        allow_networks=LOOPBACK_NETWORKS,
        per_host_delay=0,
        fetch_retries=0,
        workers=1,
        drift_min_history=1,
    )


def ingest_source(name: str, settings: Settings) -> dict:
    summary = run.run_ingest(run.build_request(source=name, settings=settings), settings, trigger="manual")
    assert summary["status"] == "completed", summary
    return summary


def test_a_source_whose_bodies_vanish_raises_alerts_and_a_healthy_one_none(news_site: NewsSite, tmp_path: Path) -> None:
    settings = site_settings(tmp_path, news_site)
    first = ingest_source("gazette", settings)
    assert first["loaded"] == 4 and first["alerts"] == []
    for _ in range(2):
        assert ingest_source("steady", settings)["alerts"] == []

    news_site.redesigned.add("gazette")
    broken = ingest_source("gazette", settings)
    assert broken["rejected"] == 4 and broken["loaded"] == 0
    metrics = {alert["metric"] for alert in broken["alerts"]}
    assert {"volume", "reject_rate", "empty_text_rate"} <= metrics
    with connect(settings.db_path, read_only=True) as connection:
        stored = connection.execute(
            "SELECT source, metric, value, baseline FROM source_alerts ORDER BY metric"
        ).fetchall()
        assert {row[1] for row in stored} == metrics and {row[0] for row in stored} == {"gazette"}
        assert ("gazette", "empty_text_rate", 1.0, 0.0) in stored
        health = connection.execute(
            "SELECT source, runs, discovered, loaded, rejects_extract + rejects_validate, empty_text_rate, alerts "
            "FROM source_health ORDER BY source"
        ).fetchall()
        assert health == [("gazette", 2, 8, 4, 4, 0.5, len(metrics)), ("steady", 2, 6, 3, 0, 0.0, 0)]
        assert {row[0] for row in connection.execute("SELECT metric FROM open_alerts").fetchall()} == metrics

    # The site is fixed and publishes a new story: the next run judges the figures again and closes their alerts.
    # (Without a new story its pages are the bytes loaded before, found unchanged and not extracted: no evidence
    # about the empty-text rate, whose alert would stay open until a page is extracted again.)
    news_site.redesigned.clear()
    news_site.stories["gazette"].append(5)
    fixed = ingest_source("gazette", settings)
    assert fixed["alerts"] == [] and (fixed["loaded"], fixed["unchanged"]) == (1, 4)
    with connect(settings.db_path, read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM open_alerts").fetchall() == [(0,)]
        assert connection.execute("SELECT count(*) FROM source_alerts WHERE closed_by_run IS NULL").fetchall() == [(0,)]
