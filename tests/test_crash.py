"""kill -9 of a real ingest at several points: the database stays consistent and the next run finishes."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from contextlib import suppress
from pathlib import Path

import duckdb
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.conftest import FIXTURE_PAGES, WORDS, article_page
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


def ingest(
    corpus: Path, db: Path, environment: dict[str, str] | None = None, *, json_summary: bool = True
) -> subprocess.Popen[str]:
    """A run in its own process; without the JSON summary it prints a progress line per batch on stderr."""
    output = ["--json"] if json_summary else []
    return subprocess.Popen(
        [str(NEWSDAG), "ingest", str(corpus), "--db", str(db), "--prefect", "never", *output],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **ENVIRONMENT, **(environment or {})},
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
    # being extracted, validated or written then); watching the run makes the points independent of speed.
    # Each run has a directory of its own, so its archive is its own too.
    for kill_after in (0, 6, 18, 36):
        db = killed_run(corpus, tmp_path / f"killed-after-{kill_after}", kill_after)
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
        # killed_run waited at least until the killed run had recorded its start.
        assert statuses == ["crashed", "completed"], f"killed after {kill_after} articles"
        assert_archive_complete(db.parent / "archive", PAGES)
    # The kills must have hit runs in the middle, with part of the articles loaded.
    assert sum(0 < loaded < expected[0] for loaded in loaded_when_killed) >= 3, loaded_when_killed


LOADED_SO_FAR = re.compile(r"; loaded (\d+),")
# A run that prints no progress line for this long has stalled.
PROGRESS_TIMEOUT_SECONDS = 120


def killed_run(corpus: Path, directory: Path, kill_after: int) -> Path:
    """The database of a run killed with SIGKILL while it ran: once it recorded its start (kill_after 0),
    or once its progress line said `kill_after` articles were loaded. That line comes right after a
    batch's load, while the next batches are read and extracted; polling the database instead, a reader
    waiting for its turn at the file could see the run write its last batches and end first."""
    db = directory / "news.duckdb"
    directory.mkdir()
    process = ingest(corpus, db, json_summary=False)
    if kill_after == 0:
        wait_until_loaded(db, 0, process)
    else:
        wait_for_progress(process, kill_after)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, f"the run ended before it could be killed after {kill_after} articles"
    return db


def wait_for_progress(process: subprocess.Popen[str], articles: int) -> None:
    """Return once the run's progress lines on stderr say `articles` are loaded."""
    assert process.stderr is not None
    watchdog = threading.Timer(PROGRESS_TIMEOUT_SECONDS, process.kill)
    watchdog.start()
    try:
        for line in process.stderr:
            if (loaded := LOADED_SO_FAR.search(line)) and int(loaded.group(1)) >= articles:
                return
    finally:
        watchdog.cancel()
    raise AssertionError(f"the run ended or stalled before {articles} articles were loaded")


def assert_archive_complete(archive: Path, documents: int) -> None:
    """A kill can leave a temp file, but every named archive entry is complete (its bytes hash to its
    name), and after the finishing run there is one for every document."""
    entries = [path for path in archive.rglob("*") if path.is_file() and not path.name.startswith(".partial-")]
    assert len(entries) == documents
    assert all(hashlib.sha256(path.read_bytes()).hexdigest() == path.name for path in entries)


BIG_PAGES = 40
BIG_BATCH = 20
# The WAL is written in steps of about this size; a kill is aimed at a WAL at least this big, so that it
# is the load's (the schema's or the cluster step's stay smaller) and past its first step.
WAL_STEP_BYTES = 1024 * 1024
# Batches of equal pages write WALs of about the same size: below this share of one, the WAL is partial.
PARTIAL_WAL_SHARE = 0.9


def make_big_corpus(directory: Path) -> None:
    """BIG_PAGES pages of ~430 KB of distinct text each: a batch's articles make a WAL of several MB,
    written while its load transaction commits (long enough to be seen from outside and killed in)."""
    directory.mkdir()
    for number in range(BIG_PAGES):
        paragraphs = "".join(
            f"<p>Paragraph {part} of story {number}: the "
            + " ".join(WORDS[(number * 7 + part * 5 + index * 3) % len(WORDS)] for index in range(60))
            + f" went on, said witness number {part * 13 + number}.</p>"
            for part in range(900)
        )
        html = (
            f"<html><head><title>Long story {number}</title>"
            f"<link rel='canonical' href='https://example.org/long/{number}'></head>"
            f"<body><article><h1>Long story {number}</h1>{paragraphs}</article></body></html>"
        )
        (directory / f"long-{number:03d}.html.gz").write_bytes(gzip.compress(html.encode()))


def wal_size(db: Path) -> int:
    try:
        return (db.parent / f"{db.name}.wal").stat().st_size
    except FileNotFoundError:
        return 0


def largest_wal(process: subprocess.Popen[str], db: Path) -> int:
    """Watch a run to its end; the largest WAL it wrote (a batch's load at commit time)."""
    largest = 0
    while process.poll() is None:
        largest = max(largest, wal_size(db))
        time.sleep(0.001)
    assert process.returncode == 0, process.stderr.read() if process.stderr else ""
    return largest


@pytest.mark.slow
def test_kill_9_inside_a_load_transaction_loses_the_batch_whole_and_the_rerun_loads_it(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    make_big_corpus(corpus)
    environment = {"NEWSDAG_BATCH_SIZE": str(BIG_BATCH)}
    reference_db = tmp_path / "reference" / "news.duckdb"
    reference_db.parent.mkdir()
    full_wal = largest_wal(ingest(corpus, reference_db, environment), reference_db)
    assert full_wal >= 3 * WAL_STEP_BYTES, f"a batch's WAL of {full_wal} bytes is too small to aim at"
    with connect(reference_db, read_only=True) as con:
        expected = con.execute("SELECT count(*) FROM articles").fetchall()[0][0]
    assert expected == BIG_PAGES

    db = tmp_path / "killed" / "news.duckdb"
    db.parent.mkdir()
    process = ingest(corpus, db, environment)
    # The signal: a WAL past its first step but short of a whole batch's. DuckDB writes a transaction's
    # WAL during its COMMIT (and deletes it at the checkpoint after), so such a WAL means the run is in
    # the middle of committing a batch's load. Aimed at the second batch, once the first batch's whole
    # WAL has been seen (it committed).
    first_committed = False
    deadline = time.monotonic() + 240
    while process.poll() is None and time.monotonic() < deadline:
        size = wal_size(db)
        first_committed = first_committed or size >= PARTIAL_WAL_SHARE * full_wal
        if first_committed and WAL_STEP_BYTES <= size < PARTIAL_WAL_SHARE * full_wal:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.0002)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before a load's commit could be caught"
    assert 0 < size < full_wal  # killed with the WAL half written
    with connect(db, read_only=True) as con:  # opens: the torn WAL is not taken for a commit
        loaded_when_killed = con.execute("SELECT count(*) FROM articles").fetchall()[0][0]
    assert loaded_when_killed == BIG_BATCH  # the first batch whole, none of the torn second one

    process = ingest(corpus, db, environment)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert json.loads(out)["loaded"] == expected - loaded_when_killed  # the torn batch, loaded again
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT text_sha256) FROM articles").fetchall() == [
            (expected, expected)
        ]
        assert [row[0] for row in con.execute("SELECT status FROM runs ORDER BY started_at").fetchall()] == [
            "crashed",
            "completed",
        ]
    assert_archive_complete(db.parent / "archive", BIG_PAGES)


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
