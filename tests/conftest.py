"""Shared test helpers: article factories and paths to the bundled seeds."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from newsdag.tasks.dates import parse_iso_date
from newsdag.tasks.models import Article, RawDocument

PROJECT = Path(__file__).resolve().parent.parent
SEEDS = PROJECT / "seeds" / "articles"
FIXTURE_PAGES = Path(__file__).parent / "fixtures" / "pages"


def fixture_pages() -> list[Path]:
    """The saved pages of the tests, by name: those in FIXTURE_PAGES, and the three the README's first command
    ingests, which are kept once, in seeds/articles (their expected values are in FIXTURE_PAGES all the same)."""
    return sorted([*FIXTURE_PAGES.glob("*.html"), *SEEDS.glob("*.html")], key=lambda path: path.name)


def fixture_page(expected_file: Path) -> Path:
    """The saved page an `<name>.expected.json` of FIXTURE_PAGES describes."""
    name = expected_file.name.replace(".expected.json", ".html")
    return next(path for path in (FIXTURE_PAGES / name, SEEDS / name) if path.exists())


def make_article(**changes: Any) -> Article:
    """A valid article; keyword arguments replace fields (text changes update the hash and count)."""
    text = changes.pop("text", "A body of text with enough words to pass validation. " * 5).strip()
    article = Article(
        article_id="a" * 32,
        doc_id=hashlib.sha256(text.encode()).hexdigest(),
        input="/tmp/page.html",
        url="https://example.com/news/1",
        canonical_url=None,
        source="test",
        title="A headline",
        description=None,
        text=text,
        text_sha256=hashlib.sha256(" ".join(text.split()).encode()).hexdigest(),
        word_count=len(text.split()),
        authors=("Jane Doe",),
        site_name="Example",
        language="en",
        tags=(),
        published=parse_iso_date("2024-05-31T14:05:00+02:00", "json-ld"),
        modified=None,
    )
    return replace(article, **changes)


def make_document(content: bytes = b"<html>page</html>", url: str = "file:///tmp/page.html") -> RawDocument:
    return RawDocument(
        input=url.removeprefix("file://"),
        url=url,
        content=content,
        kind="html",
        fetched_at=datetime(2026, 1, 1, tzinfo=UTC),
        doc_id=hashlib.sha256(content).hexdigest(),
    )


@contextmanager
def another_process_writing(db: Path, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """A second process holding the database's write lock for `seconds` (or until the block ends)."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(db)!r}); print('held', flush=True); time.sleep({seconds})",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        holder.kill()
        holder.wait()


@pytest.fixture
def seeds_copy(tmp_path: Path) -> Path:
    """The two seed dumps in a fresh directory."""
    target = tmp_path / "seeds"
    target.mkdir()
    for seed in sorted(SEEDS.glob("*.txt")):
        (target / seed.name).write_bytes(seed.read_bytes())
    return target


# --- the loopback web ------------------------------------------------------------------------------

LOOPBACK_NETWORKS = ("127.0.0.0/8", "::1/128")
WORDS = [
    "council",
    "budget",
    "harbour",
    "transit",
    "school",
    "library",
    "river",
    "bridge",
    "election",
    "market",
    "housing",
    "energy",
    "water",
    "festival",
    "museum",
    "hospital",
    "rail",
    "coast",
    "farm",
    "court",
    "police",
    "fire",
    "storm",
    "season",
    "report",
    "study",
    "plan",
    "vote",
]


# A first paragraph (article_page's `lead`) that a wrong decoding would garble.
ACCENTED_LEAD = "The café on the Bahnhofstraße in Zürich reopened on Monday."


def article_page(
    number: int, *, title: str | None = None, published: str = "2026-11-20T08:30:00+01:00", lead: str = ""
) -> str:
    """A news page with a unique headline and body (enough words to pass validation), a date and an author;
    `lead` is a first paragraph of your own (text to look for after extraction)."""
    words = [WORDS[(number * 7 + index * 3) % len(WORDS)] for index in range(60)]
    body = (f"<p>{lead}</p>" if lead else "") + "".join(
        f"<p>Article {number} paragraph {part}: the {' '.join(words[part * 12 : part * 12 + 12])} story went on.</p>"
        for part in range(5)
    )
    headline = title or f"Headline number {number} about the {words[0]} and the {words[1]}"
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{headline}</title>"
        f"<meta property='article:published_time' content='{published}'>"
        f"<meta name='author' content='Reporter {number}'></head>"
        f"<body><header><nav><a href='/'>Home</a></nav></header><article><h1>{headline}</h1>{body}</article>"
        "<footer>Copyright the loopback gazette</footer></body></html>"
    )


# --- WARC files --------------------------------------------------------------------------------------------

# The shared sample archives (../shared/warc), copied so that a clean clone tests on its own (README there).
SHARED_WARC = PROJECT / "tests" / "fixtures" / "warc"


def warc_response(
    url: str,
    body: bytes,
    *,
    date: str = "2026-11-20T08:30:00Z",
    status: str = "200 OK",
    content_type: str = "text/html; charset=utf-8",
    headers: tuple[tuple[str, str], ...] = (),
) -> dict[str, Any]:
    """A response record for write_warc."""
    return {"url": url, "body": body, "date": date, "status": status, "content_type": content_type, "headers": headers}


def write_warc(path: Path, records: list[dict[str, Any]], *, with_requests: bool = False) -> list[int]:
    """A WARC file of response records (each gzip member its own when the name ends .gz), written with
    warcio's writer as archives are; the offset of each response record."""
    import io

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    offsets = []
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=path.name.endswith(".gz"))
        for record in records:
            if with_requests:
                request_headers = StatusAndHeaders(f"GET {record['url']} HTTP/1.1", [], is_http_request=True)
                writer.write_record(writer.create_warc_record(record["url"], "request", http_headers=request_headers))
            fields = [("Content-Type", record["content_type"]), *record["headers"]]
            http = StatusAndHeaders(record["status"], fields, protocol="HTTP/1.1")
            warc_headers = {"WARC-Date": record["date"]}
            made = writer.create_warc_record(
                record["url"],
                "response",
                payload=io.BytesIO(record["body"]),
                http_headers=http,
                warc_headers_dict=warc_headers,
            )
            offsets.append(handle.tell())
            writer.write_record(made)
    return offsets
