"""`newsdag ingest` of WARC files end to end: real DuckDB files, local archives and loopback HTTP servers.

Resume per record, provenance without copies, filters, broken archives as rejects, Range requests, and a
kill -9 of a real run at a named point: a remote WARC that stops sending after a given record.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from newsdag.warehouse.db import connect
from tests.conftest import SHARED_WARC, article_page, warc_response, write_warc
from tests.test_ingest_e2e import ingest_json, query

NEWSDAG = Path(sys.executable).parent / "newsdag"
PAGES = 24
BATCH = 5
ENVIRONMENT = {"NEWSDAG_BATCH_SIZE": str(BATCH), "NEWSDAG_WORKERS": "1", "NEWSDAG_LOCK_TIMEOUT": "30"}


def news_records(count: int = PAGES, host: str = "example.com", day: str = "2026-11-20") -> list[dict]:
    return [
        warc_response(f"https://{host}/news/{number}", article_page(number).encode(), date=f"{day}T08:30:00Z")
        for number in range(count)
    ]


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)


def test_a_warc_loads_like_pages_keeps_provenance_and_copies_no_bytes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], small_batches: None
) -> None:
    archive = tmp_path / "news.warc.gz"
    offsets = write_warc(archive, news_records(), with_requests=True)
    db = tmp_path / "db" / "news.duckdb"
    summary = ingest_json(capsys, str(archive), "--db", str(db))
    assert (summary["loaded"], summary["rejected"], summary["skipped"]) == (PAGES, 0, PAGES)
    rows = query(
        db,
        "SELECT d.url, d.input, d.warc_file, d.warc_offset, d.warc_record_id, d.http_status, d.fetched_at, a.title "
        "FROM documents AS d JOIN articles AS a USING (article_id) ORDER BY d.warc_offset",
    )
    assert [row[3] for row in rows] == offsets
    assert all(row[2] == str(archive.resolve()) and row[1] == f"{row[2]}@{row[3]}" for row in rows)
    assert all(row[4].startswith("<urn:uuid:") and row[5] == 200 for row in rows)
    assert rows[0][0] == "https://example.com/news/0" and rows[0][6].isoformat() == "2026-11-20T08:30:00+00:00"
    assert rows[0][7].startswith("Headline number 0")
    assert not (db.parent / "archive").exists()  # the WARC holds the bytes
    assert query(db, "SELECT next_offset, next_skip, finished, documents, skipped FROM warc_files") == [
        (offsets[-1], 1, True, PAGES, PAGES)
    ]
    assert query(db, "SELECT reason, sum(records) FROM warc_skips GROUP BY reason") == [("not-response", PAGES)]

    # Read to its end: the next run does not read it again.
    again = ingest_json(capsys, str(archive), "--db", str(db))
    assert (again["discovered"], again["loaded"], again["skipped"]) == (0, 0, 0)


def test_the_same_pages_in_a_copied_warc_are_unchanged_not_extracted_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], small_batches: None
) -> None:
    first, copy = tmp_path / "a.warc", tmp_path / "b.warc"
    write_warc(first, news_records(6))
    copy.write_bytes(first.read_bytes())
    db = tmp_path / "news.duckdb"
    ingest_json(capsys, str(first), "--db", str(db))
    summary = ingest_json(capsys, str(copy), "--db", str(db))
    assert (summary["extracted"], summary["unchanged"], summary["loaded"]) == (0, 6, 0)


def test_a_run_resumes_each_file_at_the_record_after_the_last_committed_batch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], small_batches: None
) -> None:
    archive = tmp_path / "news.warc.gz"
    offsets = write_warc(archive, news_records())
    db = tmp_path / "news.duckdb"
    # What a run killed after two batches leaves: their articles, and the resume point after their last record.
    with connect(db) as con:
        con.execute(
            "INSERT INTO warc_files VALUES ($file, $offset, 1, $stamp, false, 10, 0, 0, 'r0', 'r0', now())",
            {"file": str(archive.resolve()), "offset": offsets[9], "stamp": stamp(archive)},
        )
    summary = ingest_json(capsys, str(archive), "--db", str(db))
    assert summary["loaded"] == PAGES - 10
    assert query(db, "SELECT min(warc_offset), count(*) FROM documents") == [(offsets[10], PAGES - 10)]


def stamp(path: Path) -> str:
    info = path.stat()
    return f"{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}"


def test_cheap_filters_and_the_language_filter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = tmp_path / "mixed.warc"
    german = (
        "<html lang='de'><head><title>Der Stadtrat beschließt den Haushalt</title></head><body><article>"
        + "<p>Der Stadtrat hat am Montag den Haushalt für das kommende Jahr beschlossen, nachdem die Fraktionen "
        "wochenlang über die Ausgaben für Schulen, Straßen und den öffentlichen Nahverkehr gestritten hatten.</p>"
        * 4
        + "</article></body></html>"
    ).encode()
    records = [
        *news_records(3, host="www.example.com", day="2026-11-20"),
        *news_records(2, host="other.org", day="2026-11-20"),
        *news_records(2, host="example.com", day="2026-10-01"),
        warc_response("https://example.com/de", german, date="2026-11-21T10:00:00Z"),
    ]
    records[1]["url"] = "https://www.example.com/news/other-1"
    write_warc(archive, records)
    db = tmp_path / "news.duckdb"
    summary = ingest_json(
        capsys, str(archive), "--db", str(db), "--domain", "example.com", "--since", "2026-11-01", "--language", "en"
    )
    assert (summary["loaded"], summary["skipped"]) == (3, 4)
    assert query(db, "SELECT rule, url FROM rejects") == [("other-language", "https://example.com/de")]
    assert query(db, "SELECT reason, sum(records) FROM warc_skips GROUP BY reason ORDER BY reason") == [
        ("off-domain", 2),
        ("outside-window", 2),
    ]


def test_every_shared_sample_loads_or_rejects_in_one_run_and_nothing_is_lost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "news.duckdb"
    summary = ingest_json(capsys, str(SHARED_WARC), "--db", str(db))
    assert summary["status"] == "completed"
    rejects = dict(query(db, "SELECT rule, count(*) FROM rejects WHERE rule LIKE 'warc-%' GROUP BY rule"))
    assert rejects == {"warc-truncated": 2, "warc-bad-record": 1}
    finished = query(db, "SELECT count(*), bool_and(finished) FROM warc_files")
    assert finished == [(13, True)]
    # Every HTML response became a document (then an article or a reject): 50, of which five are warcio's one
    # example.com page with the same bytes (one documents row, where it was first read).
    assert summary["fetched"] == 50
    assert query(db, "SELECT count(*) FROM documents") == [(46,)]
    assert query(db, "SELECT count(*) FROM documents WHERE url = 'http://example.com/'") == [(1,)]


def test_a_listed_file_that_is_missing_or_no_archive_is_a_reject_and_the_rest_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_warc(tmp_path / "good.warc.gz", news_records(3))
    (tmp_path / "noise.warc.gz").write_bytes(bytes(range(256)) * 4)
    missing = tmp_path / "later" / "missing.warc.gz"  # absolute: it may be a path only the workers see
    listing = tmp_path / "files.txt"
    listing.write_text(f"good.warc.gz\nnoise.warc.gz\n{missing}\n", encoding="utf-8")
    db = tmp_path / "news.duckdb"
    summary = ingest_json(capsys, "--warc-list", str(listing), "--db", str(db))
    assert (summary["status"], summary["loaded"], summary["rejected"]) == ("completed", 3, 2)
    assert query(db, "SELECT input, rule FROM rejects ORDER BY rule") == [
        (f"{(tmp_path / 'noise.warc.gz').resolve()}@0", "warc-bad-record"),
        (str(missing), "warc-unreadable"),
    ]
    # The missing file was not read to its end: once it is there, the next run reads it.
    missing.parent.mkdir()
    write_warc(missing, news_records(2, host="example.org"))
    summary = ingest_json(capsys, "--warc-list", str(listing), "--db", str(db))
    assert (summary["loaded"], summary["rejected"]) == (2, 0)


# --- remote archives: the fetch guard, Range requests, the cap per record ------------------------------------


class RangeServer:
    """Serves one WARC file with Range support from a loopback HTTPServer; records the Range of each request.
    With `stall_at`, a response stops sending at that byte until `release` is set (a named point to kill at)."""

    def __init__(self, server: HTTPServer, data: bytes, stall_at: int | None = None, cut_at: int | None = None) -> None:
        self.data = data
        self.stall_at = stall_at
        self.cut_at = cut_at  # the first response ends there, short of its Content-Length (a dropped connection)
        self.release = threading.Event()
        self.ranges: list[str | None] = []
        name = "news.warc.gz" if data[:2] == b"\x1f\x8b" else "news.warc"
        server.expect_request(f"/cc-news/{name}").respond_with_handler(self.respond)
        self.url = server.url_for(f"/cc-news/{name}")

    def respond(self, request: Request) -> Response:
        asked = request.headers.get("Range")
        self.ranges.append(asked)
        start = int(re.match(r"bytes=(\d+)-", asked).group(1)) if asked else 0  # type: ignore[union-attr]
        body = self.data[start:]
        headers = {"ETag": '"v1"', "Accept-Ranges": "bytes", "Content-Length": str(len(body))}
        if asked:
            headers["Content-Range"] = f"bytes {start}-{len(self.data) - 1}/{len(self.data)}"

        def chunks() -> Iterator[bytes]:
            if self.cut_at is not None and len(self.ranges) == 1:
                yield body[: self.cut_at]
                return
            if self.stall_at is None or self.stall_at <= start:
                yield body
                return
            yield body[: self.stall_at - start]
            self.release.wait(120)
            yield body[self.stall_at - start :]

        return Response(chunks(), status=206 if asked else 200, headers=headers, content_type="application/warc")


def test_a_remote_warc_streams_under_the_guard_with_the_cap_per_record(
    httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "news.warc"
    records = news_records(6)
    records[2]["body"] = article_page(2).encode() + b"<!--" + b"x" * 30_000 + b"-->"
    write_warc(archive, records)
    server = RangeServer(httpserver, archive.read_bytes())
    listing = tmp_path / "warc.paths"
    listing.write_text(server.url + "\n", encoding="utf-8")
    db = tmp_path / "news.duckdb"
    # The whole file is over the cap; each record but one is under it.
    monkeypatch.setenv("NEWSDAG_MAX_FETCH_BYTES", "20000")
    assert archive.stat().st_size > 20_000
    refused = ingest_json(capsys, "--warc-list", str(listing), "--db", str(db))
    assert query(db, "SELECT rule FROM rejects") == [("refused-address",)]  # loopback is not public
    assert refused["loaded"] == 0 and server.ranges == []

    monkeypatch.setenv("NEWSDAG_ALLOW_NETWORKS", "127.0.0.0/8")
    summary = ingest_json(capsys, "--warc-list", str(listing), "--db", str(db))
    assert summary["loaded"] == 5
    assert query(db, "SELECT rule, url FROM rejects WHERE rule = 'too-large'") == [
        ("too-large", "https://example.com/news/2")
    ]
    assert query(db, "SELECT DISTINCT warc_file FROM documents") == [(server.url,)]


def test_a_dropped_connection_resumes_in_the_run_with_a_range_request(
    httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "news.warc.gz"
    offsets = write_warc(archive, news_records(8))
    server = RangeServer(httpserver, archive.read_bytes(), cut_at=offsets[5] + 50)
    listing = tmp_path / "warc.paths"
    listing.write_text(server.url + "\n", encoding="utf-8")
    monkeypatch.setenv("NEWSDAG_ALLOW_NETWORKS", "127.0.0.0/8")
    monkeypatch.setenv("NEWSDAG_BACKOFF", "0")
    summary = ingest_json(capsys, "--warc-list", str(listing), "--db", str(tmp_path / "news.duckdb"))
    assert (summary["loaded"], summary["rejected"]) == (8, 0)
    # Cut off inside record 6: read again from the last record read (record 5, passed over), not from the start.
    assert server.ranges == [None, f"bytes={offsets[4]}-"]


@pytest.mark.slow
def test_kill_9_mid_warc_resumes_with_a_range_request_and_nothing_doubled_or_lost(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    archive = tmp_path / "news.warc.gz"
    offsets = write_warc(archive, news_records(), with_requests=True)
    # The server stops sending inside record 23 (of 24): the run reads on until it waits for those bytes, with
    # its main thread, which lists the items and then loads each batch, blocked there. Batches 1 and 2
    # (records 1-10) are loaded by then and no further batch can be: the named point the run is killed at.
    server = RangeServer(httpserver, archive.read_bytes(), stall_at=offsets[22] + 100)
    listing = tmp_path / "warc.paths"
    listing.write_text(server.url + "\n", encoding="utf-8")
    db = tmp_path / "news.duckdb"
    command = [str(NEWSDAG), "ingest", "--warc-list", str(listing), "--db", str(db), "--prefect", "never"]
    environment = {**os.environ, **ENVIRONMENT, "NEWSDAG_ALLOW_NETWORKS": "127.0.0.0/8"}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=environment)
    try:
        assert process.stderr is not None
        watchdog = threading.Timer(120, process.kill)
        watchdog.start()
        for line in process.stderr:
            if "; loaded 10," in line:
                break
        watchdog.cancel()
        process.send_signal(signal.SIGKILL)
        assert process.wait() == -signal.SIGKILL
    finally:
        server.release.set()
    assert query(db, "SELECT count(*) FROM articles") == [(10,)]
    assert query(db, "SELECT next_offset, next_skip, finished FROM warc_files") == [(offsets[9], 1, False)]

    rerun = subprocess.run([*command, "--json"], capture_output=True, text=True, env=environment, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["loaded"] == PAGES - 10
    assert server.ranges[-1] == f"bytes={offsets[9]}-"  # resumed from the committed record, not the start
    assert query(db, "SELECT count(*), count(DISTINCT url) FROM articles") == [(PAGES, PAGES)]
    assert query(db, "SELECT count(*), count(DISTINCT warc_offset) FROM documents") == [(PAGES, PAGES)]
    assert query(db, "SELECT status FROM runs ORDER BY started_at") == [("crashed",), ("completed",)]
    assert query(db, "SELECT finished, documents, skipped FROM warc_files") == [(True, PAGES, PAGES)]
