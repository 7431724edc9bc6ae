"""kill -9 of a real ingest at named points: the database stays consistent and the next run finishes.

Each run stops itself at a named fault point (NEWSDAG_FAULT, tasks/faults.py), never by a signal timed from
outside, so every test gives the same result however busy the machine is."""

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

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from newsdag.warehouse.db import connect
from tests.conftest import WORDS, article_page, fixture_pages

NEWSDAG = Path(sys.executable).parent / "newsdag"
PAGES = 60
# Small batches, so a run has many batch transactions to be killed between and inside.
ENVIRONMENT = {"NEWSDAG_BATCH_SIZE": "6", "NEWSDAG_WORKERS": "1", "NEWSDAG_LOCK_TIMEOUT": "30"}


def make_corpus(directory: Path) -> None:
    """PAGES distinct pages: the fixture pages, each copy with its own canonical URL and text."""
    originals = fixture_pages()
    directory.mkdir()
    for number in range(PAGES):
        html = originals[number % len(originals)].read_text(encoding="utf-8")
        html = html.replace("<head>", f'<head><link rel="canonical" href="https://example.org/copy/{number}">', 1)
        html = html.replace("</body>", f"<p>Copy number {number} of this page for the crash test.</p></body>", 1)
        (directory / f"page-{number:03d}.html.gz").write_bytes(gzip.compress(html.encode()))


def ingest(corpus: Path, db: Path, environment: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """A run in its own process, which prints its JSON summary on stdout."""
    return subprocess.Popen(
        [str(NEWSDAG), "ingest", str(corpus), "--db", str(db), "--prefect", "never", "--json"],
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


@pytest.mark.slow
def test_kill_9_at_several_points_loses_and_doubles_nothing(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    make_corpus(corpus)
    reference = finish(corpus, tmp_path / "reference.duckdb")
    with connect(tmp_path / "reference.duckdb", read_only=True) as con:
        expected = con.execute("SELECT count(*), count(DISTINCT text_sha256) FROM articles").fetchall()[0]
    assert expected[0] == reference["loaded"] == PAGES

    # Killed once the run is recorded, then right after the commit of its 1st, 3rd and 6th batch (the next
    # batch being read and extracted). Each run has a directory of its own, so its archive is its own too.
    loaded_when_killed = []
    for fault in ("run-started", "load-committed:1", "load-committed:3", "load-committed:6"):
        db = killed_run(corpus, tmp_path / f"killed-{fault.replace(':', '-')}", fault)
        with connect(db, read_only=True) as con:  # opens: the kill left a consistent file
            loaded_when_killed.append(con.execute("SELECT count(*) FROM articles").fetchall()[0][0])
        finish(corpus, db)
        with connect(db, read_only=True) as con:
            articles = con.execute("SELECT count(*), count(DISTINCT text_sha256) FROM articles").fetchall()[0]
            statuses = [row[0] for row in con.execute("SELECT status FROM runs ORDER BY started_at").fetchall()]
            versions = con.execute("SELECT count(*) FROM article_versions").fetchall()[0][0]
            documents = con.execute("SELECT count(*), count(DISTINCT (doc_id, url)) FROM documents").fetchall()[0]
        assert articles == expected, f"killed at {fault}"
        assert versions == 0 and documents[0] == documents[1]
        assert statuses == ["crashed", "completed"], f"killed at {fault}"
        assert_archive_complete(db.parent / "archive", PAGES)
    batch = int(ENVIRONMENT["NEWSDAG_BATCH_SIZE"])
    assert loaded_when_killed == [0, batch, 3 * batch, 6 * batch]


def killed_run(corpus: Path, directory: Path, fault: str, environment: dict[str, str] | None = None) -> Path:
    """The database of a run that killed itself (SIGKILL) at the fault point `fault` (tasks/faults.py)."""
    db = directory / "news.duckdb"
    directory.mkdir()
    command = [str(NEWSDAG), "ingest", str(corpus), "--db", str(db), "--prefect", "never", "--json"]
    run_to_fault(command, {**os.environ, **ENVIRONMENT, **(environment or {})}, fault, directory / "killed.log")
    return db


def run_to_fault(command: list[str], environment: dict[str, str], fault: str, log: Path) -> None:
    """Run `command` with NEWSDAG_FAULT=`fault` and expect it to kill itself there. Its output goes to a file.
    Its extraction processes (forkserver and workers) must end on their own once it is gone; its session is
    killed after it all the same, so a failing check leaves nothing running."""
    with log.open("w") as output:
        process = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**environment, "NEWSDAG_FAULT": fault},
            start_new_session=True,
        )
        try:
            returncode = process.wait(timeout=300)
            left = processes_left(process.pid)
        finally:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
    assert returncode == -signal.SIGKILL, f"the run did not stop at {fault}: {log.read_text()}"
    assert left == [], f"processes of the killed run still running: {left}"


def processes_left(session: int, wait_seconds: float = 20.0) -> list[str]:
    """The command lines of the processes still in `session`, once they have had `wait_seconds` to end
    (the extraction processes check for their parent every half second)."""
    deadline = time.monotonic() + wait_seconds
    while True:
        left = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with suppress(OSError):
                fields = stat.read_text().rpartition(")")[2].split()
                if int(fields[3]) == session and fields[0] != "Z":  # field 6 of stat: the session id
                    left.append((stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def assert_archive_complete(archive: Path, documents: int) -> None:
    """A kill can leave a temp file, but every named archive entry is complete (its bytes hash to its
    name), and after the finishing run there is one for every document."""
    entries = [path for path in archive.rglob("*") if path.is_file() and not path.name.startswith(".partial-")]
    assert len(entries) == documents
    assert all(hashlib.sha256(path.read_bytes()).hexdigest() == path.name for path in entries)


BIG_PAGES = 40
BIG_BATCH = 20


def make_big_corpus(directory: Path) -> None:
    """BIG_PAGES pages of ~430 KB of distinct text each: a batch's articles make a WAL of several MB."""
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


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["load-commit:2", "load-torn-commit:2"])
def test_kill_9_inside_a_load_transaction_loses_the_batch_whole_and_the_rerun_loads_it(
    tmp_path: Path, fault: str
) -> None:
    """Killed in the second batch's transaction: before its COMMIT, or with its WAL half written (the WAL
    of a commit cut to half its length, as a kill while DuckDB writes it leaves it)."""
    corpus = tmp_path / "corpus"
    make_big_corpus(corpus)
    environment = {"NEWSDAG_BATCH_SIZE": str(BIG_BATCH)}
    db = killed_run(corpus, tmp_path / "killed", fault, environment)
    if fault.startswith("load-torn-commit"):
        assert (db.parent / f"{db.name}.wal").stat().st_size > 0  # the torn WAL is there to be read
    with connect(db, read_only=True) as con:  # opens: a torn WAL is not taken for a commit
        loaded_when_killed = con.execute("SELECT count(*) FROM articles").fetchall()[0][0]
    assert loaded_when_killed == BIG_BATCH  # the first batch whole, none of the second

    process = ingest(corpus, db, environment)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert json.loads(out)["loaded"] == BIG_PAGES - loaded_when_killed  # the lost batch, loaded again
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT text_sha256) FROM articles").fetchall() == [
            (BIG_PAGES, BIG_PAGES)
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
    # Killed right after the second batch's commit, while the next pages are being fetched.
    run_to_fault(command, environment, "load-committed:2", tmp_path / "killed.log")
    with connect(db, read_only=True) as con:
        loaded_before = con.execute("SELECT count(*) FROM articles").fetchall()[0][0]
    assert loaded_before == 2 * int(ENVIRONMENT["NEWSDAG_BATCH_SIZE"])
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
