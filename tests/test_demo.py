"""flows/demo.py: the bundled samples as a news site on loopback, which a declared source ingests offline."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

from newsdag.flows import run
from newsdag.flows.demo import DEMO_SOURCE, DemoSite, demo_pages
from newsdag.flows.settings import Settings
from newsdag.warehouse.db import connect
from tests.conftest import SEEDS


def test_every_sample_is_a_page_of_the_site_and_an_item_of_its_feed() -> None:
    pages = demo_pages()
    assert [page.path.rsplit("/", 1)[1] for page in pages] == sorted(sample.stem for sample in SEEDS.iterdir())
    site = DemoSite(0).start()
    try:
        with urllib.request.urlopen(site.feed_url, timeout=10) as answer:
            feed = answer.read().decode()
        with urllib.request.urlopen(f"{site.base}/nowhere", timeout=10) as answer:
            raise AssertionError(f"expected a 404, got {answer.status}")
    except urllib.error.HTTPError as error:
        assert error.code == 404
    finally:
        site.stop()
    assert feed.count("<item>") == len(pages) == 5
    assert "<pubDate>Fri, 07 Jan 2022 08:36:00 +0000</pubDate>" in feed


def test_the_demo_source_loads_every_sample_from_the_loopback_site(tmp_path: Path) -> None:
    site = DemoSite(0).start()
    try:
        sources = site.write_sources(tmp_path / "demo-sources.toml")
        settings = Settings.from_env(
            db_path=tmp_path / "news.duckdb",
            sources_file=sources,
            allow_networks=("127.0.0.1/32",),
            per_host_delay=0,
            workers=1,
        )
        summary = run.run_ingest(run.build_request(source=DEMO_SOURCE, settings=settings), settings, trigger="cli")
    finally:
        site.stop()
    assert (summary["status"], summary["discovered"], summary["loaded"], summary["rejected"]) == ("completed", 5, 5, 0)
    with connect(settings.db_path, read_only=True) as connection:
        titles = {row[0] for row in connection.execute("SELECT title FROM articles").fetchall()}
        sources_seen = connection.execute("SELECT DISTINCT source FROM articles").fetchall()
    assert {page.title for page in demo_pages()} == titles
    assert sources_seen == [(DEMO_SOURCE,)]
