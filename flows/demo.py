"""`newsdag demo`: the bundled samples as a small news site with an RSS feed on 127.0.0.1, and a sources file that
points at it, so the scheduled loop (server, serve, trigger) can be tried on a machine with no network.

The saved pages of seeds/articles are served as they are; each plain-text dump is served as the article page it
was flattened from (title, date, paragraphs), as its site would have served it.
"""

from __future__ import annotations

import html
import threading
from dataclasses import dataclass
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from newsdag.tasks.dates import parse_iso_date
from newsdag.tasks.errors import ExtractError
from newsdag.tasks.extract import parse_html
from newsdag.tasks.htmlmeta import read_page_metadata
from newsdag.tasks.textdump import parse_text_dump

SAMPLES = Path(__file__).resolve().parent.parent / "seeds" / "articles"
DEMO_SOURCE = "demo-news"
DEFAULT_DEMO_PORT = 8765
# The demo source runs on this interval once served, and whenever triggered.
DEMO_INTERVAL = "10m"


@dataclass(frozen=True)
class DemoPage:
    path: str  # /news/<sample file stem>
    title: str
    published: str | None  # as the page gives it (ISO 8601)
    body: bytes


def text_dump_page(text: str) -> tuple[str, str | None, str]:
    """(title, published, HTML) of the article a text dump was flattened from."""
    fields = parse_text_dump(text)
    title = fields.title or "Untitled"
    published = fields.published.raw if fields.published else None
    paragraphs = "".join(f"<p>{html.escape(paragraph)}</p>" for paragraph in fields.text.split("\n") if paragraph)
    time = f"<time datetime='{html.escape(published)}'>{html.escape(published)}</time>" if published else ""
    page = (
        f"<!doctype html><html lang='{fields.language or 'en'}'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        + (f"<meta property='article:published_time' content='{html.escape(published)}'>" if published else "")
        + (f"<meta name='author' content='{html.escape(', '.join(fields.authors))}'>" if fields.authors else "")
        + f"</head><body><article><h1>{html.escape(title)}</h1>{time}{paragraphs}</article></body></html>"
    )
    return title, published, page


def demo_pages(samples: Path = SAMPLES) -> list[DemoPage]:
    """The samples as the site's pages, in file name order."""
    pages = []
    for sample in sorted(samples.iterdir()):
        path = f"/news/{sample.stem}"
        try:
            if sample.suffix == ".txt":
                title, published, page = text_dump_page(sample.read_text(encoding="utf-8"))
                pages.append(DemoPage(path, title, published, page.encode()))
            elif sample.suffix == ".html":
                content = sample.read_bytes()
                tree = parse_html(content.decode("utf-8", errors="replace"))[1]
                metadata = read_page_metadata(tree, url=None)
                published = metadata.published.raw if metadata.published else None
                pages.append(DemoPage(path, metadata.title or sample.stem, published, content))
        except (ExtractError, OSError, UnicodeDecodeError):
            continue  # a sample that is not an article page is not on the site
    return pages


def feed_xml(base: str, pages: list[DemoPage]) -> bytes:
    items = "".join(
        f"<item><title>{html.escape(page.title)}</title><link>{base}{page.path}</link>"
        + (f"<pubDate>{rss_date(page.published)}</pubDate>" if page.published and rss_date(page.published) else "")
        + "</item>"
        for page in pages
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>newsdag demo news</title>"
        f"<link>{base}/</link><description>the bundled samples</description>{items}</channel></rss>"
    ).encode()


def rss_date(published: str) -> str | None:
    parsed = parse_iso_date(published, "demo")
    return format_datetime(parsed.value) if parsed is not None and parsed.value is not None else None


class DemoSite:
    """The site on 127.0.0.1:`port` (0: any free port), served from a thread until `stop`."""

    def __init__(self, port: int = DEFAULT_DEMO_PORT) -> None:
        pages = demo_pages()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body, kind = site.routes.get(self.path.split("?", 1)[0], (None, ""))
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", kind or "text/plain")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, format: str, *args: object) -> None:  # quiet: serve's log is the one to read
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        html_type = "text/html; charset=utf-8"
        self.routes: dict[str, tuple[bytes, str]] = {page.path: (page.body, html_type) for page in pages}
        self.routes["/feed.xml"] = (feed_xml(self.base, pages), "application/rss+xml")
        self.routes["/robots.txt"] = (b"User-agent: *\nAllow: /\n", "text/plain")
        self.thread = threading.Thread(target=self.server.serve_forever, name="newsdag-demo-site", daemon=True)

    @property
    def feed_url(self) -> str:
        return f"{self.base}/feed.xml"

    def start(self) -> DemoSite:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def write_sources(self, path: Path) -> Path:
        """A sources file with the one source `demo-news`: the site's feed, every DEMO_INTERVAL."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            "# Written by `newsdag demo`: the bundled samples, served as a news site on this machine.\n"
            f'[[source]]\nname = "{DEMO_SOURCE}"\nfeed = "{self.feed_url}"\ninterval = "{DEMO_INTERVAL}"\n'
            'tags = ["demo"]\n',
            encoding="utf-8",
        )
        return path
