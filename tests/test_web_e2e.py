"""`newsdag ingest` over a loopback news site: feeds, sitemaps, URL lists, faults, robots, conditional GET."""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import select
import socket
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from newsdag.flows.cli import main
from newsdag.warehouse.db import SCHEMA_VERSION, connect
from tests.conftest import ACCENTED_LEAD, article_page

HTML = "text/html; charset=utf-8"
LAST_MODIFIED = format_datetime(datetime(2026, 11, 20, 9, 0, tzinfo=UTC), usegmt=True)
FAST_FETCHING = {
    "NEWSDAG_PER_HOST_DELAY": "0",
    "NEWSDAG_BACKOFF": "0.05",
    "NEWSDAG_READ_TIMEOUT": "1",
    "NEWSDAG_FETCH_RETRIES": "1",
}


@pytest.fixture(autouse=True)
def fast_fetching(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in FAST_FETCHING.items():
        monkeypatch.setenv(name, value)


@dataclass
class Served:
    path: str
    arrived: float  # time.monotonic() when the request was read
    done: float  # the last moment the server was busy with it: its handler returned, or it wrote a chunk


class LoggedServer(HTTPServer):
    """A pytest-httpserver that serves each connection on its own thread, so requests a client sends at
    once would overlap here, and logs when each request arrived and when the server was done with it."""

    def __init__(self) -> None:
        super().__init__(host="127.0.0.1", port=0, threaded=True)
        self.served: list[Served] = []

    def dispatch(self, request: Request) -> Response:
        served = Served(request.path, time.monotonic(), time.monotonic())
        self.served.append(served)
        response = super().dispatch(request)
        served.done = time.monotonic()
        # A new response around the body: a handler may hand out the same Response object every time.
        return Response(self.writing(served, response.iter_encoded()), status=response.status, headers=response.headers)

    @staticmethod
    def writing(served: Served, chunks: Iterable[bytes]) -> Iterator[bytes]:
        # The server asks for the next chunk once it wrote this one. (Werkzeug's own close hook is no
        # clock: it is skipped when the client hangs up before reading the whole response.)
        for chunk in chunks:
            yield chunk
            served.done = time.monotonic()


@pytest.fixture
def site_server() -> Iterator[LoggedServer]:
    server = LoggedServer()
    server.start()
    yield server
    server.clear()
    server.stop()


class NewsSite:
    """A loopback news site: a feed, a sitemap index with a gzipped child and a news sitemap, articles with
    ETag and Last-Modified (304 when they match), robots.txt with a disallowed path (and a Crawl-delay
    when given one), and fault pages."""

    def __init__(self, server: HTTPServer, *, crawl_delay: float | None = None) -> None:
        self.server = server
        robots = "User-agent: *\nDisallow: /private/\n" + (f"Crawl-delay: {crawl_delay}\n" if crawl_delay else "")
        server.expect_request("/robots.txt").respond_with_data(robots, content_type="text/plain")
        for number in range(1, 8):
            server.expect_request(f"/news/{number}").respond_with_handler(self.article)
        server.expect_request("/private/secret").respond_with_handler(self.article)
        server.expect_request("/feed.xml").respond_with_data(self.feed(), content_type="application/rss+xml")
        server.expect_request("/sitemap_index.xml").respond_with_data(
            self.sitemap_index(), content_type="application/xml"
        )
        server.expect_request("/sitemap-news.xml").respond_with_data(
            self.news_sitemap(), content_type="application/xml"
        )
        server.expect_request("/sitemap-old.xml.gz").respond_with_data(
            gzip.compress(self.old_sitemap().encode()), content_type="application/gzip"
        )
        # Faults.
        server.expect_oneshot_request("/fault/flaky").respond_with_data("busy", status=503)
        server.expect_request("/fault/flaky").respond_with_data(article_page(20), content_type=HTML)
        server.expect_request("/fault/gone").respond_with_data("gone", status=404)
        server.expect_request("/fault/loop").respond_with_data("", status=302, headers={"Location": "/fault/loop2"})
        server.expect_request("/fault/loop2").respond_with_data("", status=302, headers={"Location": "/fault/loop"})
        server.expect_request("/fault/private").respond_with_data(
            "", status=302, headers={"Location": "http://10.255.255.1/admin"}
        )
        server.expect_request("/fault/bomb").respond_with_data(
            gzip.compress(b"\0" * 80_000_000), content_type=HTML, headers={"Content-Encoding": "gzip"}
        )
        server.expect_request("/fault/consent").respond_with_data(
            "<html><body><h1>We value your privacy</h1><p>Accept all cookies to continue.</p></body></html>",
            content_type=HTML,
        )
        server.expect_request("/fault/pdf").respond_with_data(b"%PDF-1.7", content_type="application/pdf")
        server.expect_oneshot_request("/fault/limited").respond_with_data(
            "slow down", status=429, headers={"Retry-After": "1"}
        )
        server.expect_request("/fault/limited").respond_with_data(article_page(21), content_type=HTML)
        server.expect_request("/fault/slow").respond_with_handler(self.answer_when_too_late)
        server.expect_request("/fault/cut").respond_with_handler(self.truncated)
        server.expect_request("/fault/stream").respond_with_handler(self.endless)
        # UTF-8 bytes under a header that says ISO-8859-1.
        page = article_page(24, title="Zürich café reopens", lead=ACCENTED_LEAD).encode("utf-8")
        server.expect_request("/fault/charset").respond_with_data(page, content_type="text/html; charset=iso-8859-1")

    def url(self, path: str) -> str:
        return self.server.url_for(path)

    def article(self, request: Request) -> Response:
        number = int(request.path.rsplit("/", 1)[1]) if request.path.startswith("/news/") else 99
        etag = f'"article-{number}"'
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        page = article_page(number, published=f"2026-11-{10 + number:02d}T08:30:00+01:00")
        return Response(page, content_type=HTML, headers={"ETag": etag, "Last-Modified": LAST_MODIFIED})

    def feed(self) -> str:
        items = "".join(
            f"<item><title>Story {number}</title><link>{link}</link>"
            f"<pubDate>{11 + number} Nov 2026 08:30:00 +0100</pubDate></item>"
            for number, link in (
                (1, self.url("/news/1")),
                (2, self.url("/news/2") + "?utm_source=rss&utm_medium=feed"),
                (2, self.url("/news/2")),  # the same story twice
                (3, self.url("/news/3")),
                (9, self.url("/private/secret")),
            )
        )
        return (
            f"<?xml version='1.0'?><rss version='2.0'><channel><title>Loopback Gazette</title>{items}</channel></rss>"
        )

    def sitemap_index(self) -> str:
        children = "".join(
            f"<sitemap><loc>{self.url(path)}</loc></sitemap>" for path in ("/sitemap-news.xml", "/sitemap-old.xml.gz")
        )
        return f"<?xml version='1.0'?><sitemapindex xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>{children}</sitemapindex>"

    def news_sitemap(self) -> str:
        urls = "".join(
            f"<url><loc>{self.url(f'/news/{number}')}</loc><news:news><news:publication>"
            f"<news:name>Loopback Gazette</news:name><news:language>en</news:language></news:publication>"
            f"<news:publication_date>2026-11-{10 + number:02d}T08:30:00+01:00</news:publication_date>"
            f"<news:title>Story {number}</news:title></news:news></url>"
            for number in (4, 5)
        )
        return (
            "<?xml version='1.0'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9' "
            f"xmlns:news='http://www.google.com/schemas/sitemap-news/0.9'>{urls}</urlset>"
        )

    def old_sitemap(self) -> str:
        urls = "".join(
            f"<url><loc>{self.url(f'/news/{number}')}</loc><lastmod>2026-11-{10 + number:02d}</lastmod></url>"
            for number in (6, 7)
        )
        return f"<?xml version='1.0'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>{urls}</urlset>"

    def answer_when_too_late(self, request: Request) -> Response:
        """A response slower than any read timeout: nothing until the client hangs up."""
        connection = request.environ["werkzeug.socket"]
        give_up = time.monotonic() + 10
        while time.monotonic() < give_up:
            readable, _, _ = select.select([connection], [], [], 0.1)
            if readable and not connection.recv(1, socket.MSG_PEEK):
                break  # the client closed the connection
        return Response(article_page(22), content_type=HTML)

    def truncated(self, _request: Request) -> Response:
        """A body that ends at 200 of the bytes its Content-Length announces, then the connection closes."""
        body = article_page(23).encode()
        response = Response(body[:200], content_type=HTML, headers={"Connection": "close"})
        response.headers["Content-Length"] = str(len(body))
        return response

    def endless(self, _request: Request) -> Response:
        """A page without Content-Length (sent chunked) that goes on and on: only the streaming cap stops it."""
        chunk = b"<p>" + b"more " * 13_000 + b"</p>"
        return Response((chunk for _ in range(400)), content_type=HTML)

    def requests(self, path: str) -> list[Request]:
        return [request for request, _ in self.server.log if request.path == path]


@pytest.fixture
def news_site(site_server: LoggedServer) -> Iterator[NewsSite]:
    yield NewsSite(site_server)


def ingest(capsys: pytest.CaptureFixture[str], db: Path, *args: str, expect_exit: int = 0) -> dict:
    options = ["--db", str(db), "--workers", "1", "--json", "--prefect", "never", "--allow-network", "127.0.0.0/8"]
    code = main(["ingest", *args, *options])
    output = capsys.readouterr().out
    assert code == expect_exit, output
    return json.loads(output)


def query(db: Path, sql: str) -> list[tuple]:
    with connect(db, read_only=True) as connection:
        return connection.execute(sql).fetchall()


# Fault pages and the reject rule each must end with.
FAULTS = {
    "/fault/gone": "client-error",
    "/fault/loop": "redirect-loop",
    "/fault/private": "refused-address",
    "/fault/bomb": "too-large",
    "/fault/consent": "blocked",
    "/fault/pdf": "wrong-type",
    "/fault/slow": "timeout",
    "/fault/cut": "truncated",
    "/fault/stream": "too-large",
}
# Fault pages that must load all the same: 503 then 200, 429 with Retry-After then 200, a wrong charset.
RECOVERED = ("/fault/flaky", "/fault/limited", "/fault/charset")
PER_HOST_DELAY = 0.1
CRAWL_DELAY = 0.2  # robots.txt's: longer than the per-host delay, so the gaps show it was honoured
STREAM_CAP = 1_000_000  # NEWSDAG_MAX_FETCH_BYTES, for the endless page
TIMING_SLACK = 0.02  # the server logs a moment after the client acts


def test_feed_sitemaps_and_urls_load_and_every_fault_is_a_reject(
    site_server: LoggedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSDAG_PER_HOST_DELAY", str(PER_HOST_DELAY))
    monkeypatch.setenv("NEWSDAG_MAX_FETCH_BYTES", str(STREAM_CAP))
    news_site = NewsSite(site_server, crawl_delay=CRAWL_DELAY)
    db = tmp_path / "news.duckdb"
    urls = [news_site.url(path) for path in (*FAULTS, *RECOVERED)]
    summary = ingest(
        capsys, db, *urls, "--feed", news_site.url("/feed.xml"), "--sitemap", news_site.url("/sitemap_index.xml")
    )
    loaded = {url for (url,) in query(db, "select url from articles")}
    expected = {news_site.url(f"/news/{number}") for number in range(1, 8)} | {news_site.url(p) for p in RECOVERED}
    assert loaded == expected
    assert summary["loaded"] == len(expected) and summary["status"] == "completed"
    # Each fault with its rule, and nothing else rejected.
    rules = dict(query(db, "select input, rule from rejects where stage = 'fetch'"))
    disallowed = news_site.url("/private/secret")
    assert rules == {news_site.url(path): rule for path, rule in FAULTS.items()} | {disallowed: "robots-disallowed"}
    assert news_site.requests("/private/secret") == []
    assert len(news_site.requests("/robots.txt")) == 1
    # Dates from the page keep their offset; the tracking-parameter copy of story 2 was not fetched.
    assert query(db, f"select published_local from articles where url = '{news_site.url('/news/2')}'") == [
        ("2026-11-12T08:30:00+01:00",)
    ]
    assert all(not request.args for request in news_site.requests("/news/2"))
    failures = query(db, "select host, rule, failures from fetch_failures_by_host order by rule")
    assert {rule for _, rule, _ in failures} == set(FAULTS.values()) | {"robots-disallowed"}
    assert {host for host, _, _ in failures} == {urlsplit(news_site.url("/")).netloc}
    attempts = dict(query(db, "select url, attempts from fetches"))
    for path in ("/fault/flaky", "/fault/limited", "/fault/slow", "/fault/cut"):
        assert attempts[news_site.url(path)] == 2, path  # transient: retried once

    # The page with a wrong charset declaration is stored as the text it is.
    charset = news_site.url("/fault/charset")
    [(title, text)] = query(db, f"select title, text from articles where url = '{charset}'")
    assert title == "Zürich café reopens" and ACCENTED_LEAD in text
    assert query(db, f"select encoding_declared from documents where url = '{charset}'") == [("iso-8859-1",)]
    # The endless page came without Content-Length: the cap was applied while streaming.
    [streamed] = [response for request, response in site_server.log if request.path == "/fault/stream"]
    assert "Content-Length" not in streamed.headers
    [(detail,)] = query(db, f"select detail from rejects where input = '{news_site.url('/fault/stream')}'")
    assert "announced" not in detail

    # Politeness, seen from the server: one request at a time, each at least the crawl delay after the
    # one before was done, and the 429's retry only after its Retry-After.
    served = sorted(site_server.served, key=lambda request: request.arrived)
    for earlier, later in itertools.pairwise(served):
        assert later.arrived >= earlier.done, f"{later.path} overlapped {earlier.path}"
        assert later.arrived - earlier.done >= CRAWL_DELAY - TIMING_SLACK, f"{earlier.path} -> {later.path}"
    limited = [request for request in served if request.path == "/fault/limited"]
    assert len(limited) == 2 and limited[1].arrived - limited[0].done >= 1.0 - TIMING_SLACK


def test_a_second_run_sends_conditional_headers_and_extracts_nothing(
    news_site: NewsSite, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "news.duckdb"
    first = ingest(capsys, db, "--feed", news_site.url("/feed.xml"))
    assert first["loaded"] == 3
    second = ingest(capsys, db, "--feed", news_site.url("/feed.xml"))
    assert (second["extracted"], second["loaded"], second["not_modified"]) == (0, 0, 3)
    for number in (1, 2, 3):
        sent = [request.headers.get("If-None-Match") for request in news_site.requests(f"/news/{number}")]
        assert sent == [None, f'"article-{number}"']
        modified_since = news_site.requests(f"/news/{number}")[-1].headers.get("If-Modified-Since")
        assert modified_since == LAST_MODIFIED
    seen = query(db, f"select count(*) from articles where last_seen_run = '{second['run_id']}'")
    assert seen == [(3,)]
    assert query(db, "select count(*) from fetches where outcome = 'not_modified' and conditional") == [(3,)]


def test_a_page_changed_on_the_server_becomes_a_new_version_and_both_are_archived(
    httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    pages = [article_page(40), article_page(40, lead="Update: the council met again on Tuesday evening.")]
    served: list[Request] = []

    def changing(request: Request) -> Response:
        served.append(request)
        current = 1 if len(served) == 1 else 2
        etag = f'"v{current}"'
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        return Response(pages[current - 1], content_type=HTML, headers={"ETag": etag})

    httpserver.expect_request("/news/changing").respond_with_handler(changing)
    db, url = tmp_path / "news.duckdb", httpserver.url_for("/news/changing")
    assert ingest(capsys, db, url)["loaded"] == 1
    [(first_text,)] = query(db, "select text from articles")
    assert ingest(capsys, db, url)["updated"] == 1
    assert served[1].headers.get("If-None-Match") == '"v1"'  # asked conditionally, got the new page
    [(version, text)] = query(db, "select version, text from articles")
    assert version == 2 and "met again on Tuesday" in text
    assert query(db, "select version, text from article_versions") == [(1, first_text)]
    # Both pages' raw bytes, content-addressed in the archive beside the database.
    digests = [hashlib.sha256(page.encode()).hexdigest() for page in pages]
    assert {doc_id for (doc_id,) in query(db, "select doc_id from documents")} == set(digests)
    for page, digest in zip(pages, digests, strict=True):
        assert (tmp_path / "archive" / digest[:2] / digest).read_bytes() == page.encode()


def test_ingest_source_fetches_a_source_of_the_sources_file(
    news_site: NewsSite, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sources = tmp_path / "sources.toml"
    sources.write_text(
        f'[[source]]\nname = "loopback-gazette"\nfeed = "{news_site.url("/feed.xml")}"\nmax_articles = 3\n',
        encoding="utf-8",
    )
    db = tmp_path / "news.duckdb"
    summary = ingest(capsys, db, "--source", "loopback-gazette", "--sources", str(sources))
    # The three newest feed links: the disallowed page, then stories 3 and 2.
    assert (summary["status"], summary["discovered"], summary["loaded"]) == ("completed", 3, 2)
    assert query(db, "select url, source from articles order by url") == [
        (news_site.url("/news/2"), "loopback-gazette"),
        (news_site.url("/news/3"), "loopback-gazette"),
    ]
    assert query(db, "select source, trigger from runs") == [("loopback-gazette", "cli")]
    assert news_site.requests("/news/1") == []


def test_the_next_run_asks_with_the_validators_of_the_latest_document_only(
    httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The first version had an ETag; the next (same text, other bytes) only a Last-Modified. The old
    # ETag must not ride along: the server would judge the page by a version it no longer serves.
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    newer = format_datetime(datetime(2026, 11, 21, 9, 0, tzinfo=UTC), usegmt=True)
    page = article_page(30)
    served: list[Request] = []

    def revised(request: Request) -> Response:
        served.append(request)
        if len(served) == 1:
            return Response(page, content_type=HTML, headers={"ETag": '"v1"'})
        if request.headers.get("If-Modified-Since") == newer:
            return Response(status=304)
        return Response(page + "<!-- the new CMS -->", content_type=HTML, headers={"Last-Modified": newer})

    httpserver.expect_request("/news/revised").respond_with_handler(revised)
    db, url = tmp_path / "news.duckdb", httpserver.url_for("/news/revised")
    assert ingest(capsys, db, url)["loaded"] == 1
    assert ingest(capsys, db, url)["unchanged"] == 1
    assert ingest(capsys, db, url)["not_modified"] == 1
    sent = [(request.headers.get("If-None-Match"), request.headers.get("If-Modified-Since")) for request in served]
    assert sent == [(None, None), ('"v1"', None), (None, newer)]


def test_feeds_and_sitemaps_that_cannot_be_fetched_show_in_fetch_failures_by_host(
    news_site: NewsSite, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "news.duckdb"
    gone, private, page = news_site.url("/fault/gone"), news_site.url("/fault/private"), news_site.url("/news/1")
    ingest(capsys, db, page, "--feed", gone, "--sitemap", private, "--feed", page)  # a page is not a feed
    discover = query(db, "select input, rule from rejects where stage = 'discover' order by rule")
    assert discover == [(gone, "client-error"), (page, "not-a-feed"), (private, "refused-address")]
    failures = [("client-error", 1, gone), ("refused-address", 1, private)]  # fetching failed; parsing is not here
    shown = "select rule, failures, example_url from fetch_failures_by_host order by rule"
    assert query(db, shown) == failures
    # A database from before this view changed has the old one; the next migration (views.sql runs after
    # every one) brings the new view.
    old_view = (
        "CREATE OR REPLACE VIEW fetch_failures_by_host AS SELECT rule, count(*) AS failures, "
        "any_value(url) AS example_url FROM rejects WHERE stage = 'fetch' GROUP BY rule"
    )
    with connect(db) as connection:
        connection.execute(old_view)
        # The latest migration runs again (each is idempotent where it is the latest), then views.sql.
        connection.execute("DELETE FROM schema_version WHERE version = $latest", {"latest": SCHEMA_VERSION})
    assert query(db, shown) == []
    with connect(db):
        pass
    assert query(db, shown) == failures


def test_a_date_window_keeps_only_links_dated_inside_it(
    news_site: NewsSite, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "news.duckdb"
    summary = ingest(
        capsys, db, "--sitemap", news_site.url("/sitemap_index.xml"), "--since", "2026-11-15", "--until", "2026-11-16"
    )
    assert summary["loaded"] == 2
    assert {url for (url,) in query(db, "select url from articles")} == {
        news_site.url("/news/5"),
        news_site.url("/news/6"),
    }
    assert news_site.requests("/news/4") == [] and news_site.requests("/news/7") == []


def test_max_articles_takes_the_newest_links(
    news_site: NewsSite, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "news.duckdb"
    summary = ingest(capsys, db, "--sitemap", news_site.url("/sitemap_index.xml"), "--max-articles", "2")
    assert summary["discovered"] == 2
    assert {url for (url,) in query(db, "select url from articles")} == {
        news_site.url("/news/7"),
        news_site.url("/news/6"),
    }


def test_max_articles_caps_urls_and_url_lists_too(
    news_site: NewsSite, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listed = tmp_path / "reading-list.txt"
    listed.write_text("".join(news_site.url(f"/news/{number}") + "\n" for number in (2, 3, 4)), encoding="utf-8")
    db = tmp_path / "news.duckdb"
    summary = ingest(capsys, db, news_site.url("/news/1"), "--urls-file", str(listed), "--max-articles", "2")
    assert summary["discovered"] == 2
    assert {url for (url,) in query(db, "select url from articles")} == {
        news_site.url("/news/1"),
        news_site.url("/news/2"),
    }
    assert news_site.requests("/news/3") == [] and news_site.requests("/news/4") == []


def test_a_run_where_every_fetch_fails_is_failed_with_a_reason(
    news_site: NewsSite, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "news.duckdb"
    summary = ingest(capsys, db, news_site.url("/fault/gone"), news_site.url("/fault/pdf"), expect_exit=1)
    assert summary["status"] == "failed" and "fetch_failures_by_host" in summary["error"]
    assert query(db, "select status, failed from runs") == [("failed", 2)]


def test_loopback_is_refused_without_allow_network(
    news_site: NewsSite, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "news.duckdb"
    code = main(["ingest", news_site.url("/news/1"), "--db", str(db), "--json", "--prefect", "never"])
    assert code == 1
    assert query(db, "select rule from rejects") == [("refused-address",)]
    assert news_site.server.log == []


def test_recursive_sitemap_indexes_and_huge_sitemaps_stay_bounded(
    httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    namespace = "xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'"

    def index(*children: str) -> str:
        entries = "".join(f"<sitemap><loc>{httpserver.url_for(child)}</loc></sitemap>" for child in children)
        return f"<?xml version='1.0'?><sitemapindex {namespace}>{entries}</sitemapindex>"

    httpserver.expect_request("/index-a.xml").respond_with_data(index("/index-b.xml", "/huge.xml"))
    httpserver.expect_request("/index-b.xml").respond_with_data(index("/index-a.xml", "/index-b.xml"))
    urls = "".join(f"<url><loc>{httpserver.url_for(f'/news/{n}')}</loc></url>" for n in range(100_000))
    httpserver.expect_request("/huge.xml").respond_with_data(
        f"<?xml version='1.0'?><urlset {namespace}>{urls}</urlset>"
    )
    for number in range(3):
        httpserver.expect_request(f"/news/{number}").respond_with_data(article_page(number), content_type=HTML)
    summary = ingest(
        capsys, tmp_path / "news.duckdb", "--sitemap", httpserver.url_for("/index-a.xml"), "--max-articles", "3"
    )
    assert summary["discovered"] == 3 and summary["loaded"] == 3
    sitemap_requests = [request.path for request, _ in httpserver.log if request.path.endswith(".xml")]
    assert sorted(sitemap_requests) == ["/huge.xml", "/index-a.xml", "/index-b.xml"]  # each read once
