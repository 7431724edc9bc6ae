"""kill -9 of a real ingest at several points: the database stays consistent and the next run finishes."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import duckdb
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.conftest import FIXTURE_PAGES, article_page
from warehouse.db import connect

NEWSDAG = Path(sys.executable).parent / "newsdag"
PAGES = 60
# Small batches so a run spends most of its time between and inside batch transactions.
POLL_SECONDS = 0.05
ENVIRONMENT = {"NEWSDAG_BATCH_SIZE": "6", "NEWSDAG_WORKERS": "1", "NEWSDAG_LOCK_TIMEOUT": "30"}


def make_corpus(directory: Path) -> None:
    """PAGES distinct pages: the fixture pages, each copy with its own canonical URL and text."""
    originals = sorted(FIXTURE_PAGES.glob("*.html"))
    directory.mkdir()
    for number in range(PAGES):
        html = originals[number % len(originals)].read_text(encoding="utf-8")
        html = html.replace("<head>", f'<head><link rel="canonical" href="https://example.org/copy/{number}">', 1)
        html = html.replace("</body>", f"<p>Copy number {number} of this page for the crash test.</p></body>", 1)
        (directory / f"page-{number:03d}.html.gz").write_bytes(gzip.compress(html.encode()))


def ingest(corpus: Path, db: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(NEWSDAG), "ingest", str(corpus), "--db", str(db), "--json", "--prefect", "never"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **ENVIRONMENT},
    )


def finish(corpus: Path, db: Path) -> dict:
    process = ingest(corpus, db)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    return json.loads(out)


def wait_until_loaded(db: Path, articles: int, process: subprocess.Popen[str]) -> None:
    """Return once `articles` rows are in the database (0: once the run has started)."""
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        if db.exists():
            with connect(db, read_only=True) as con, suppress(duckdb.CatalogException):  # tables not yet made
                if con.execute("SELECT count(*) FROM runs").fetchall()[0][0] and (
                    con.execute("SELECT count(*) FROM articles").fetchall()[0][0] >= articles
                ):
                    return
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"the run ended or stalled before {articles} articles were loaded")


@pytest.mark.slow
def test_kill_9_at_several_points_loses_and_doubles_nothing(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    make_corpus(corpus)
    reference = finish(corpus, tmp_path / "reference.duckdb")
    with connect(tmp_path / "reference.duckdb", read_only=True) as con:
        expected = con.execute("SELECT count(*), count(DISTINCT text_sha256) FROM articles").fetchall()[0]
    assert expected[0] == reference["loaded"] > 0

    loaded_when_killed = []
    # Kill before anything loads, then as soon as 1, 3 and 6 batches have landed (the next batch is
    # being extracted, validated or written then); polling makes the points independent of speed.
    for kill_after in (0, 6, 18, 36):
        db = tmp_path / f"killed-after-{kill_after}.duckdb"
        process = ingest(corpus, db)
        wait_until_loaded(db, kill_after, process)
        process.send_signal(signal.SIGKILL)
        process.wait()
        if db.exists():
            with connect(db, read_only=True) as con:  # opens: the kill left a consistent file
                loaded_when_killed.append(con.execute("SELECT count(*) FROM articles").fetchall()[0][0])
        finish(corpus, db)
        with connect(db, read_only=True) as con:
            articles = con.execute("SELECT count(*), count(DISTINCT text_sha256) FROM articles").fetchall()[0]
            statuses = [row[0] for row in con.execute("SELECT status FROM runs ORDER BY started_at").fetchall()]
            versions = con.execute("SELECT count(*) FROM article_versions").fetchall()[0][0]
            documents = con.execute("SELECT count(*), count(DISTINCT (doc_id, url)) FROM documents").fetchall()[0]
        assert articles == expected, f"killed after {kill_after} articles"
        assert versions == 0 and documents[0] == documents[1]
        if len(statuses) == 2:  # the killed run had recorded its start
            assert statuses == ["crashed", "completed"], f"killed after {kill_after} articles"
    # The kills must have hit runs in the middle, with part of the articles loaded.
    assert sum(0 < loaded < expected[0] for loaded in loaded_when_killed) >= 3, loaded_when_killed
    # A kill can leave a temp file, but every named archive entry is complete: its bytes hash to its name.
    entries = [path for path in (tmp_path / "archive").rglob("*") if path.is_file() and "partial" not in path.name]
    assert len(entries) >= PAGES
    assert all(hashlib.sha256(path.read_bytes()).hexdigest() == path.name for path in entries)


@pytest.mark.slow
def test_kill_9_during_fetching_then_the_rerun_fetches_only_what_is_missing(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    pages = 40
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)

    def page(request: Request) -> Response:
        time.sleep(0.05)  # a run spends its time fetching, so the kill lands there
        number = int(request.path.rsplit("/", 1)[1])
        etag = f'"v{number}"'
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304)
        return Response(article_page(number), content_type="text/html", headers={"ETag": etag})

    for number in range(pages):
        httpserver.expect_request(f"/news/{number}").respond_with_handler(page)
    url_list = tmp_path / "urls.txt"
    url_list.write_text("\n".join(httpserver.url_for(f"/news/{number}") for number in range(pages)), encoding="utf-8")
    db = tmp_path / "news.duckdb"
    command = [str(NEWSDAG), "ingest", "--urls-file", str(url_list), "--db", str(db), "--json", "--prefect", "never"]
    environment = {**os.environ, **ENVIRONMENT, "NEWSDAG_ALLOW_NETWORKS": "127.0.0.0/8", "NEWSDAG_PER_HOST_DELAY": "0"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
    wait_until_loaded(db, 12, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    with connect(db, read_only=True) as con:
        loaded_before = con.execute("SELECT count(*) FROM articles").fetchall()[0][0]
    assert 0 < loaded_before < pages
    rerun = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["not_modified"] == loaded_before  # already loaded: a 304, no download, no extraction
    assert summary["extracted"] == pages - loaded_before
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT url) FROM articles").fetchall()[0] == (pages, pages)
        assert [row[0] for row in con.execute("SELECT status FROM runs ORDER BY started_at").fetchall()] == [
            "crashed",
            "completed",
        ]
