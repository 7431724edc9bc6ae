"""Credentials written into URLs (`https://user:password@host/...`) are never sent, stored or printed."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from newsdag.flows.cli import main
from newsdag.warehouse.db import connect
from tests.conftest import article_page

SECRET = "s3cret"


def everything_stored(db: Path) -> str:
    """Every value of every table, as one text to search."""
    with connect(db, read_only=True) as connection:
        tables = [name for (name,) in connection.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        return "\n".join(str(connection.execute(f'SELECT * FROM "{table}"').fetchall()) for table in tables)


def with_credentials(url: str, who: str) -> str:
    return url.replace("http://", f"http://{who}:{SECRET}-{who}@", 1)


def loopback_site_with_credentials(httpserver: HTTPServer) -> None:
    """Three pages, a feed whose link carries credentials, a missing page and robots.txt."""
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    httpserver.expect_request("/missing").respond_with_data("gone", status=404)
    link = with_credentials(httpserver.url_for("/news/2"), "feedlink")
    httpserver.expect_request("/feed.xml").respond_with_data(
        f"<?xml version='1.0'?><rss version='2.0'><channel><title>T</title><item><link>{link}</link></item>"
        "</channel></rss>",
        content_type="application/rss+xml",
    )
    for number in (1, 2, 3):
        httpserver.expect_request(f"/news/{number}").respond_with_data(article_page(number), content_type="text/html")


def test_credentials_in_urls_are_not_sent_stored_or_printed(
    httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSDAG_PER_HOST_DELAY", "0")
    monkeypatch.setenv("NEWSDAG_FETCH_RETRIES", "0")
    loopback_site_with_credentials(httpserver)
    url_list = tmp_path / "urls.txt"
    url_list.write_text(
        f"{with_credentials(httpserver.url_for('/news/3'), 'listed')}\nftp://badline:{SECRET}-badline@example.com/x\n",
        encoding="utf-8",
    )
    db = tmp_path / "news.duckdb"
    arguments = [
        "ingest",
        with_credentials(httpserver.url_for("/news/1"), "page"),
        with_credentials(httpserver.url_for("/missing"), "failing"),
        *("--feed", with_credentials(httpserver.url_for("/feed.xml"), "feed")),
        *("--urls-file", str(url_list), "--db", str(db), "--allow-network", "127.0.0.0/8", "--prefect", "never"),
    ]
    assert main(arguments) == 0
    printed = capsys.readouterr()
    assert "3 loaded" in printed.out
    assert "rejected 1 x fetch/client-error" in printed.out and "rejected 1 x discover/bad-url" in printed.out
    assert SECRET not in printed.out + printed.err
    stored = everything_stored(db)
    assert httpserver.url_for("/news/1") in stored and "/missing" in stored  # the addresses are kept ...
    assert SECRET not in stored  # ... without their credentials: runs.inputs, documents, rejects, fetches
    # Nor sent: requests turns userinfo into an Authorization header, and none arrived.
    assert [request.path for request, _ in httpserver.log if "Authorization" in request.headers] == []
    assert {request.path for request, _ in httpserver.log} >= {"/news/1", "/news/2", "/news/3", "/missing"}
