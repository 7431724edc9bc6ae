"""Hostile and broken inputs through the installed command: each ends as an article or a reject, nothing hangs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from newsdag.flows.cli import main
from newsdag.warehouse.db import connect
from tests.conftest import LOOPBACK_NETWORKS, article_page

NEWSDAG = Path(sys.executable).parent / "newsdag"
PARAGRAPH = "<p>" + "The council met on Tuesday to discuss the harbour budget and the new ferry line. " * 5 + "</p>"
# Long enough that a hang fails the test instead of stalling the suite; the run takes seconds.
RUN_TIMEOUT_SECONDS = 300
FIFTY_MB = 50 * 1024 * 1024
# Caps above the 50 MB pages, so they reach extraction instead of ending as too-large.
RAISED_CAPS = {"NEWSDAG_MAX_FILE_BYTES": str(2 * FIFTY_MB), "NEWSDAG_MAX_DECOMPRESSED_BYTES": str(2 * FIFTY_MB)}


def page(body: str, head: str = "") -> str:
    return f"<html><head><meta charset='utf-8'><title>Harbour budget</title>{head}</head><body>{body}</body></html>"


def hostile_inputs(directory: Path) -> dict[str, str | None]:
    """Write the inputs; returns each file's expected reject rule (None: it must load as an article)."""
    directory.mkdir()
    files: dict[str, tuple[bytes, str | None]] = {
        # libxml2 stops at depth 256 and at a 10 MB value: a page cut off before its text says so.
        "nested-100k.html": (page("<div>" * 100_000 + PARAGRAPH + "</div>" * 100_000).encode(), "parser-limit"),
        "fifty-mb-attribute-first.html": (
            page(PARAGRAPH.replace("<p>", "<p data-x='" + "a" * FIFTY_MB + "'>", 1)).encode(),
            "parser-limit",
        ),
        "fifty-mb-attribute-after-the-text.html": (
            page(PARAGRAPH + "<img src='x.jpg' data-x='" + "a" * FIFTY_MB + "'>").encode(),
            None,
        ),
        # Stray NULs are dropped (the same rule as for fetched pages); dense control bytes are binary.
        "nul-bytes.html": (page(PARAGRAPH).encode().replace(b"council", b"coun\0cil", 2), None),
        "binary-named-html.html": (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(range(256)) * 8, "binary"),
        # UTF-8 with a paragraph pasted in from a Windows-1252 page: the declaration holds, the few
        # foreign bytes become U+FFFD, the UTF-8 text is kept.
        "mixed-encodings.html": (
            page(PARAGRAPH.replace("harbour", "Zürich harbour") * 4)
            .encode()
            .replace(b"</body>", "<p>Genève, café «quoted».</p></body>".encode("cp1252")),
            None,
        ),
        "megabytes-of-script.html": (
            page("<script>" + "var x = 1;\n" * 300_000 + "</script>" + PARAGRAPH).encode(),
            None,
        ),
        "only-images.html": (page("".join(f"<img src='/i/{n}.jpg'>" for n in range(2000))).encode(), "no-text"),
        "charset-lie.html": (
            page(PARAGRAPH.replace("harbour", "Zürich harbour")).replace("utf-8", "shift_jis").encode(),
            None,
        ),
        "five-mb-attribute.html": (
            page(PARAGRAPH.replace("<p>", "<p data-x='" + "a" * 5_000_000 + "'>", 1)).encode(),
            None,
        ),
        "broken-utf8.html": (
            page(PARAGRAPH * 4).encode()[:900] + b"\xff\xfe" + page(PARAGRAPH * 4).encode()[900:],
            None,
        ),
        # Text without a title: an article all the same, which loads flagged (see the flags below).
        "ten-mb-single-line.txt": (b"word " * 2_000_000, None),
        "dump-without-body.txt": (b"date 2024-01-01 https://example.com/x\nTitle only\nTitle only\n", "no-body"),
        "only-boilerplate.txt": (b"Home\nNews\nSport\nContact us\nPrivacy policy\n(c) 2024 Example\n" * 20, "no-body"),
        "empty.html": (b"", "empty"),
        "truncated.html.gz": (b"\x1f\x8b\x08\x00" + b"\x00" * 20, "bad-gzip"),
    }
    for name, (content, _rule) in files.items():
        (directory / name).write_bytes(content)
    os.mkfifo(directory / "named-pipe.html")  # reading it would block forever
    expected = {str(directory / name): rule for name, (_content, rule) in files.items()}
    return {**expected, str(directory / "named-pipe.html"): "not-a-file"}


@pytest.mark.slow
def test_hostile_files_end_as_articles_or_rejects_within_bounds(tmp_path: Path) -> None:
    expected = hostile_inputs(tmp_path / "hostile")
    db = tmp_path / "news.duckdb"
    environment = {**os.environ, **RAISED_CAPS, "NEWSDAG_PARALLEL_MIN_DOCS": "1", "NEWSDAG_EXTRACT_TIMEOUT": "60"}
    result = subprocess.run(
        [str(NEWSDAG), "ingest", str(tmp_path / "hostile"), "--db", str(db), "--workers", "2", "--prefect", "never"],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        env=environment,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    with connect(db, read_only=True) as connection:
        loaded = {row[0] for row in connection.execute("select input from articles").fetchall()}
        rejected = dict(connection.execute("select input, rule from rejects").fetchall())
        texts = dict(connection.execute("select regexp_extract(input, '[^/]+$'), text from articles").fetchall())
        flags = connection.execute(
            "select regexp_extract(a.input, '[^/]+$'), f.rule from article_flags f join articles a using (article_id)"
        ).fetchall()
    for path, rule in expected.items():
        if rule is None:
            assert path in loaded, path
        else:
            assert rejected.get(path) == rule, path
    assert len(loaded) + len(rejected) == len(expected)
    assert "Zürich harbour" in texts["charset-lie.html"]  # valid UTF-8 wins over the lying declaration
    assert "council" in texts["nul-bytes.html"] and "\0" not in texts["nul-bytes.html"]
    assert "Zürich harbour" in texts["mixed-encodings.html"] and "Gen\ufffdve" in texts["mixed-encodings.html"]
    assert "ferry line" in texts["fifty-mb-attribute-after-the-text.html"]
    assert ("ten-mb-single-line.txt", "expect_column_values_to_not_be_null:title") in flags


def feed_and_sitemap_with_malformed_dates(httpserver: HTTPServer) -> dict[str, str]:
    """A feed and a sitemap on loopback whose links carry good and malformed dates; the page URL of each."""
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    feed_dates = {
        "feed-good": "Mon, 02 Mar 2026 08:00:00 +0100",
        "feed-day-30-february": "2026-02-30",  # feedparser rolls it over to 2 March
        "feed-hour-99": "2026-03-01T99:00:00Z",  # ... and this into 5 March
        "feed-words": "not a date",
        "feed-day-99": "Tue, 99 Mar 2026 25:61:00 +0100",
    }
    sitemap_dates = {
        "sitemap-good": "2026-03-03",
        "sitemap-month-13": "2026-13-45",
        "sitemap-words": "yesterday",
        "sitemap-hour-99": "2026-03-03T99:00:00+01:00",
        "sitemap-empty": "",
    }
    urls = {name: httpserver.url_for(f"/news/{name}") for name in (*feed_dates, *sitemap_dates)}
    items = "".join(
        f"<item><title>{name}</title><link>{urls[name]}</link><pubDate>{when}</pubDate></item>"
        for name, when in feed_dates.items()
    )
    httpserver.expect_request("/feed.xml").respond_with_data(
        f"<?xml version='1.0'?><rss version='2.0'><channel><title>Dates</title>{items}</channel></rss>",
        content_type="application/rss+xml",
    )
    entries = "".join(
        f"<url><loc>{urls[name]}</loc><lastmod>{when}</lastmod></url>" for name, when in sitemap_dates.items()
    )
    httpserver.expect_request("/sitemap.xml").respond_with_data(
        f"<?xml version='1.0'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>{entries}</urlset>",
        content_type="application/xml",
    )
    for number, name in enumerate(urls):
        httpserver.expect_request(f"/news/{name}").respond_with_data(
            article_page(number, published="2026-03-02T08:00:00+01:00"), content_type="text/html"
        )
    return urls


def test_malformed_feed_and_sitemap_dates_leave_their_links_out_of_a_date_window(
    httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSDAG_PER_HOST_DELAY", "0")
    urls = feed_and_sitemap_with_malformed_dates(httpserver)
    db = tmp_path / "news.duckdb"
    arguments = ["ingest", "--feed", httpserver.url_for("/feed.xml"), "--sitemap", httpserver.url_for("/sitemap.xml")]
    arguments += ["--since", "2026-03-01", "--until", "2026-03-31", "--db", str(db), "--json", "--prefect", "never"]
    for network in LOOPBACK_NETWORKS:
        arguments += ["--allow-network", network]
    assert main(arguments) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["status"], summary["discovered"], summary["loaded"]) == ("completed", 2, 2)
    with connect(db, read_only=True) as connection:
        loaded = {url for (url,) in connection.execute("select url from articles").fetchall()}
    # Only the links with a readable date in the window; an unreadable date is no date, not a guess.
    assert loaded == {urls["feed-good"], urls["sitemap-good"]}
    requested = {request.path for request, _response in httpserver.log}
    assert not any(path.startswith("/news/") and "good" not in path for path in requested), requested


def test_nul_bytes_get_the_same_rule_in_files_and_fetched_pages(
    httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSDAG_PER_HOST_DELAY", "0")
    stray = article_page(1).encode().replace(b"paragraph 1", b"para\0graph 1", 2)
    dense = article_page(2).encode().replace(b"</body>", b"\0\x01\x02\x03" * 200 + b"</body>")
    directory = tmp_path / "pages"
    directory.mkdir()
    (directory / "stray.html").write_bytes(stray)
    (directory / "dense.html").write_bytes(dense)
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    httpserver.expect_request("/stray").respond_with_data(stray, content_type="text/html; charset=utf-8")
    httpserver.expect_request("/dense").respond_with_data(dense, content_type="text/html; charset=utf-8")
    db = tmp_path / "news.duckdb"
    arguments = ["ingest", str(directory), httpserver.url_for("/stray"), httpserver.url_for("/dense")]
    arguments += ["--db", str(db), "--json", "--prefect", "never", "--allow-network", "127.0.0.0/8"]
    assert main(arguments) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["loaded"], summary["rejected"]) == (2, 2)
    with connect(db, read_only=True) as connection:
        texts = connection.execute("select text from articles").fetchall()
        rejects = connection.execute("select stage, rule from rejects order by input").fetchall()
    # A few stray NULs: an article from either place, the same text, the NULs dropped.
    assert len({text for (text,) in texts}) == 1 and "\0" not in texts[0][0] and "paragraph 1" in texts[0][0]
    # Dense control bytes: binary, rejected from either place (the fetcher calls such bytes undecodable).
    assert sorted(rejects) == [("fetch", "binary"), ("fetch", "undecodable")]
