"""`newsdag export --warc`: the raw pages of runs as WARC files that ingest back into the same articles."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from warcio.archiveiterator import ArchiveIterator

from newsdag.flows.cli import main
from newsdag.warehouse.db import connect
from tests.conftest import SHARED_WARC, article_page, fixture_pages

ARTICLE_COLUMNS = (
    "article_id, url, canonical_url, title, text_sha256, published_local, modified_local, authors, language, "
    "site_name, description, tags"
)


def ingest(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["ingest", *args, "--json", "--prefect", "never", "--workers", "1"]) == 0
    return json.loads(capsys.readouterr().out)


def articles(db: Path) -> list[tuple]:
    with connect(db, read_only=True) as con:
        return con.execute(f"SELECT {ARTICLE_COLUMNS} FROM articles ORDER BY article_id").fetchall()


def run_ids(db: Path) -> list[str]:
    with connect(db, read_only=True) as con:
        return [row[0] for row in con.execute("SELECT run_id FROM runs ORDER BY started_at").fetchall()]


def test_fetched_and_saved_pages_round_trip_through_an_exported_warc(
    httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSDAG_ALLOW_NETWORKS", "127.0.0.0/8")
    monkeypatch.setenv("NEWSDAG_PER_HOST_DELAY", "0")
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    for number in range(4):
        latin = article_page(number, lead="Le café de la gare a rouvert lundi.").encode("iso-8859-1", "replace")
        httpserver.expect_request(f"/news/{number}").respond_with_data(
            latin.replace(b"charset='utf-8'", b"charset='iso-8859-1'"),
            content_type="text/html; charset=iso-8859-1",
            headers={"ETag": f'"v{number}"', "Last-Modified": "Fri, 20 Nov 2026 08:00:00 GMT"},
        )
    urls = tmp_path / "urls.txt"
    urls.write_text("\n".join(httpserver.url_for(f"/news/{number}") for number in range(4)), encoding="utf-8")
    saved = tmp_path / "saved"
    saved.mkdir()
    for page in fixture_pages()[:4]:
        shutil.copy(page, saved / page.name)
    db = tmp_path / "first.duckdb"
    fetched = ingest(capsys, "--urls-file", str(urls), "--db", str(db))
    files = ingest(capsys, str(saved), "--db", str(db))
    assert fetched["loaded"] == 4 and files["loaded"] >= 3

    out = tmp_path / "export"
    assert main(["export", "--warc", str(out), "--db", str(db)]) == 0
    assert "wrote" in capsys.readouterr().out
    exported = sorted(out.glob("*.warc.gz"))
    # Run ids begin with their second: two runs of one second sort by their random part, not by time.
    assert [path.name for path in exported] == sorted(f"newsdag-{run}.warc.gz" for run in run_ids(db))
    with (out / f"newsdag-{run_ids(db)[0]}.warc.gz").open("rb") as handle:  # the fetching run, the first
        record = next(record for record in ArchiveIterator(handle) if record.rec_type == "response")
        assert record.http_headers.get_header("ETag") == '"v0"'
        assert record.http_headers.get_header("Content-Type") == "text/html; charset=iso-8859-1"
        assert record.rec_headers.get_header("WARC-Target-URI") == httpserver.url_for("/news/0")

    again = tmp_path / "again.duckdb"
    summary = ingest(capsys, str(out), "--db", str(again))
    assert summary["loaded"] == fetched["loaded"] + files["loaded"]
    assert articles(again) == articles(db)


def test_pages_read_from_a_warc_are_exported_as_their_original_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "first.duckdb"
    ingest(
        capsys,
        str(SHARED_WARC / "resiliparse-warcfile.warc.gz"),
        str(SHARED_WARC / "warcio-example.arc.gz"),
        "--db",
        str(db),
    )
    out = tmp_path / "export"
    (run,) = run_ids(db)
    assert main(["export", "--warc", str(out), "--run", run, "--db", str(db)]) == 0
    assert capsys.readouterr().out.startswith("wrote 16 records to 1 WARC files")
    with (out / f"newsdag-{run}.warc.gz").open("rb") as handle:
        records = [record for record in ArchiveIterator(handle)]
        # The original HTTP headers, of the ARC record too.
        by_url = {record.rec_headers.get_header("WARC-Target-URI"): record for record in records}
        assert by_url["http://example.com/"].http_headers.get_header("X-Cache") == "HIT"
        assert by_url["http://01spb.ru/company/"].http_headers.get_statuscode() == "200"
        assert len(records) == 16  # 15 pages of the Common Crawl excerpt and one of the ARC file
    again = tmp_path / "again.duckdb"
    ingest(capsys, str(out), "--db", str(again))
    assert articles(again) == articles(db)


def test_exporting_an_unknown_run_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "news.duckdb"
    ingest(capsys, str(SHARED_WARC / "warcio-example.warc"), "--db", str(db))
    assert main(["export", "--warc", str(tmp_path / "out"), "--run", "19990101T000000-000000", "--db", str(db)]) == 2
    assert "no such run: 19990101T000000-000000" in capsys.readouterr().err
