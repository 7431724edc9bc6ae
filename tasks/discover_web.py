"""Discovery on the web: the article links of feeds, sitemaps and URL lists, and the date window over them.

Pure: the flow fetches a feed's or sitemap's bytes (tasks/crawl.py) and hands them here; for a sitemap
index it fetches each child and calls `parse_sitemap` again. Nothing here touches the network.
"""

from __future__ import annotations

import calendar
import io
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from urllib.parse import urljoin, urlsplit, urlunsplit
from xml.etree.ElementTree import ParseError

import courlan
import defusedxml.ElementTree as SafeElementTree
import feedparser
from defusedxml import DefusedXmlException

from newsdag.tasks.dates import feed_date, hint_day, hint_instant
from newsdag.tasks.decompress import GZIP, decompress_bounded
from newsdag.tasks.errors import DecompressError, DiscoveryError
from newsdag.tasks.models import DocumentHints, Reject, WorkItem, strip_userinfo

WEB_SCHEMES = ("http", "https")
ABSOLUTE_PREFIXES = ("http://", "https://")
# The sitemaps protocol caps one sitemap at 50,000 URLs and 50 MiB uncompressed; feeds get the same byte cap.
SITEMAP_MAX_URLS = 50_000
MAX_XML_BYTES = 50 * 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
# A regex fallback for documents expat cannot parse at all: feedparser's loose parser still reads
# them, so entity declarations are refused on sight rather than left to its DOCTYPE handling.
ENTITY_DECLARATION = re.compile(rb"<!\s*ENTITY", re.IGNORECASE)
DATE_WORD = re.compile(r"[a-z]+|\d+")
# Feed entry date fields in order of preference: a backfill window is about publication.
FEED_DATE_FIELDS = ("published", "updated", "created")
SITEMAP_ROOTS = ("urlset", "sitemapindex")
# A URL cannot hold whitespace, so " #" after one starts a comment while "#" inside it is a fragment.
INLINE_COMMENT = re.compile(r"\s+#")


@dataclass(frozen=True)
class SitemapPage:
    """What one sitemap document lists.

    A `<urlset>` fills `articles` (kind "url", hints from `<lastmod>` or Google News tags);
    a `<sitemapindex>` fills `children` (child sitemap URLs, to fetch and parse in turn) and
    `child_dates` (each child's `<lastmod>` as ISO 8601, or None; same order and length).
    `truncated` is True when the document held more than `max_urls` entries and only the first were kept.
    """

    articles: tuple[WorkItem, ...] = ()
    children: tuple[str, ...] = ()
    child_dates: tuple[str | None, ...] = ()
    truncated: bool = False


@dataclass(frozen=True)
class DateSelection:
    """The items a date window kept (newest first) and how many it dropped, by reason."""

    items: tuple[WorkItem, ...]
    undated: int = 0
    outside: int = 0


def normalize_url(url: str, base: str | None = None) -> str | None:
    """An absolute http(s) URL in canonical form, or None when `url` is not one.

    Relative URLs are resolved against `base`. The host is lowercased, default ports, the
    fragment, credentials (`user:password@`) and tracking parameters (utm_*, fbclid, gclid, mc_cid,
    ref, ... as courlan knows them) are removed, and the remaining query parameters are sorted, so
    one article found through two feeds gets one address.
    """
    candidate = strip_userinfo("".join(url.split()))  # feeds wrap long <link>s over lines
    if not candidate:
        return None
    try:
        if base and not candidate.lower().startswith(ABSOLUTE_PREFIXES):  # urljoin is the slow part of a sitemap
            candidate = urljoin(base, candidate)
        parts = urlsplit(candidate)
        if parts.scheme.lower() not in WEB_SCHEMES or not parts.hostname:
            return None
        return courlan.normalize_url(urlunsplit(parts._replace(fragment="")), strict=False)
    except ValueError:  # an unparsable port or IPv6 literal
        return None


def parse_feed(content: bytes, feed_url: str, source: str, *, max_bytes: int = MAX_XML_BYTES) -> list[WorkItem]:
    """The articles an RSS 0.9x/1.0/2.0 or Atom feed links to, in feed order, each URL once.

    Links are resolved against `feed_url` and normalised; entries without an http(s) link are
    skipped. Hints carry the entry's title and its published (else updated) date as ISO 8601.
    Raises DiscoveryError: 'xml-entities' (entity declarations are refused, never expanded),
    'not-a-feed' (no feed markup, e.g. an HTML page), 'bad-gzip' or 'too-large'.
    """
    content = prepare_xml(content, feed_url, max_bytes)
    refuse_entities(content, feed_url)
    # A stream, never bytes or str: feedparser treats a string argument as a URL or file name to open.
    parsed = feedparser.parse(io.BytesIO(content), response_headers={"content-location": feed_url})
    if not parsed.get("version") and not parsed.entries:
        problem = parsed.get("bozo_exception")
        detail = f": {problem}" if problem else ""
        raise DiscoveryError(f"no RSS or Atom feed found{detail}", rule="not-a-feed", subject=feed_url)
    items: list[WorkItem] = []
    seen: set[str] = set()
    for entry in parsed.entries:
        url = normalize_url(entry.get("link") or "", base=feed_url)
        if url is None or url in seen:
            continue
        seen.add(url)
        hints = DocumentHints(url=url, title=clean_title(entry.get("title")), date=feed_entry_date(entry))
        items.append(WorkItem(location=url, source=source, kind="url", hints=hints))
    return items


def feed_entry_date(entry: feedparser.FeedParserDict) -> str | None:
    """The entry's date as written (offset kept); feedparser's UTC reading only when the raw string defeats
    us and feedparser read it without inventing a day (see `reads_as_written`)."""
    for name in FEED_DATE_FIELDS:
        written = feed_date(entry.get(name))
        if written:
            return written
    for name in FEED_DATE_FIELDS:
        parsed: time.struct_time | None = entry.get(f"{name}_parsed")
        if parsed and reads_as_written(entry.get(name) or "", parsed):
            return datetime(*parsed[:6], tzinfo=UTC).isoformat()
    return None


def reads_as_written(raw: str, parsed: time.struct_time) -> bool:
    """Whether feedparser's reading of a date we could not read keeps the year, month and day written there.

    feedparser reads dates like "Thursday, May 16, 2024" that we cannot, but it also rolls a malformed
    "2026-02-30" over to 2 March and "T99:00" into later days. So its reading counts only for dates that
    name their month in words, and only when the day, month and year it found are the ones written.
    """
    words = set(DATE_WORD.findall(raw.lower()))
    numbers = {int(word) for word in words if word.isdigit()}
    month_names = {calendar.month_abbr[parsed.tm_mon].lower(), calendar.month_name[parsed.tm_mon].lower()}
    return bool(month_names & words) and parsed.tm_year in numbers and parsed.tm_mday in numbers


def clean_title(title: str | None) -> str | None:
    text = " ".join((title or "").split())
    return text or None


def parse_sitemap(
    content: bytes,
    sitemap_url: str,
    source: str,
    *,
    max_urls: int = SITEMAP_MAX_URLS,
    max_bytes: int = MAX_XML_BYTES,
) -> SitemapPage:
    """The article URLs of a `<urlset>` or the child sitemaps of a `<sitemapindex>` (gzip accepted).

    Dates: Google News `<news:publication_date>` wins over `<lastmod>`; `<news:title>` becomes the
    title hint. Only the first `max_urls` entries are read (`truncated` says so). URLs are
    normalised and deduplicated in document order. Raises DiscoveryError: 'bad-xml',
    'xml-entities', 'not-a-sitemap', 'bad-gzip' or 'too-large' (more than `max_bytes` uncompressed).
    """
    content = prepare_xml(content, sitemap_url, max_bytes)
    entries: list[tuple[str, dict[str, str]]] = []
    root_name = ""
    truncated = False
    stack: list[str] = []
    fields: dict[str, str] = {}
    try:
        events = SafeElementTree.iterparse(io.BytesIO(content), events=("start", "end"), forbid_dtd=False)
        root = None
        for event, element in events:
            name = local_name(element.tag)
            if event == "start":
                stack.append(name)
                if root is None:
                    root, root_name = element, name
                    if name not in SITEMAP_ROOTS:
                        raise DiscoveryError(
                            f"the root element is <{name}>, not <urlset> or <sitemapindex>",
                            rule="not-a-sitemap",
                            subject=sitemap_url,
                        )
                elif len(stack) == 2:
                    if len(entries) >= max_urls:
                        truncated = True
                        break
                    fields = {}
                continue
            stack.pop()
            depth = len(stack) + 1
            if depth == 2 and root is not None:
                entries.append((name, fields))
                root.clear()  # a 50,000-URL sitemap is read entry by entry, not held as a tree
            elif depth == 3 and name in ("loc", "lastmod"):
                fields[name] = (element.text or "").strip()
            elif depth == 4 and stack[-1] == "news" and name in ("publication_date", "title"):
                fields[f"news_{name}"] = (element.text or "").strip()
    except DefusedXmlException as error:
        raise DiscoveryError(
            f"the sitemap declares XML entities or external references, refused: {error}",
            rule="xml-entities",
            subject=sitemap_url,
        ) from error
    except ParseError as error:
        raise DiscoveryError(f"not well-formed XML: {error}", rule="bad-xml", subject=sitemap_url) from error
    if root_name == "sitemapindex":
        children: dict[str, str | None] = {}  # insertion-ordered: document order, each child once
        for tag, entry in entries:
            url = normalize_url(entry.get("loc", ""), base=sitemap_url) if tag == "sitemap" else None
            if url is not None and url not in children:
                children[url] = feed_date(entry.get("lastmod"))
        return SitemapPage(children=tuple(children), child_dates=tuple(children.values()), truncated=truncated)
    articles: list[WorkItem] = []
    seen: set[str] = set()
    for tag, entry in entries:
        url = normalize_url(entry.get("loc", ""), base=sitemap_url) if tag == "url" else None
        if url is None or url in seen:
            continue
        seen.add(url)
        day = feed_date(entry.get("news_publication_date")) or feed_date(entry.get("lastmod"))
        hints = DocumentHints(url=url, title=clean_title(entry.get("news_title")), date=day)
        articles.append(WorkItem(location=url, source=source, kind="url", hints=hints))
    return SitemapPage(articles=tuple(articles), truncated=truncated)


def children_since(page: SitemapPage, since: date | None) -> tuple[str, ...]:
    """The child sitemaps worth fetching for a window starting at `since`.

    A child last modified before `since` cannot list an article published after it; children
    without a `<lastmod>` are always kept.
    """
    if since is None:
        return page.children
    pairs = zip(page.children, page.child_dates, strict=True)
    return tuple(url for url, when in pairs if when is None or hint_day(when) >= since)


def local_name(tag: str) -> str:
    """`{namespace}name` -> `name`: sitemaps appear with the 0.9 namespace, older ones, or none."""
    return tag.rsplit("}", 1)[-1]


def prepare_xml(content: bytes, subject: str, max_bytes: int) -> bytes:
    """Gunzip (bounded) when the bytes are gzip, refuse oversize input, drop a BOM and leading blanks."""
    if content.startswith(GZIP_MAGIC):
        content = gunzip_bounded(content, subject, max_bytes)
    elif len(content) > max_bytes:
        raise DiscoveryError(f"{len(content)} bytes; the limit is {max_bytes}", rule="too-large", subject=subject)
    content = content.removeprefix(UTF8_BOM).lstrip()
    if not content:
        raise DiscoveryError("the document is empty", rule="bad-xml", subject=subject)
    return content


def gunzip_bounded(content: bytes, subject: str, limit: int) -> bytes:
    """Decompress gzip without ever holding more than `limit` bytes (a gzip bomb stops at the cap)."""
    try:
        return decompress_bounded(content, limit, GZIP)
    except DecompressError as error:
        rule = "too-large" if error.rule == "too-large" else "bad-gzip"
        raise DiscoveryError(str(error), rule=rule, subject=subject) from error


def refuse_entities(content: bytes, subject: str) -> None:
    """DiscoveryError 'xml-entities' when a feed declares entities or external references.

    feedparser's own expat setup already refuses to expand them; this makes the refusal explicit
    and testable. A feed that is not well-formed passes: feedparser's loose parser reads many of those.
    """
    try:
        SafeElementTree.fromstring(content, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as error:
        raise DiscoveryError(
            f"the document declares XML entities or external references, refused: {error}",
            rule="xml-entities",
            subject=subject,
        ) from error
    except ParseError as error:
        if ENTITY_DECLARATION.search(content):
            raise DiscoveryError(
                "the document declares XML entities, refused", rule="xml-entities", subject=subject
            ) from error


def parse_url_list(text: str, source: str, origin: str = "urls") -> tuple[list[WorkItem], list[Reject]]:
    """One URL per line ('#' comments and blank lines skipped), normalised, each once, in order.

    A line that is no http(s) URL becomes a Reject (input `origin:line`, rule 'bad-url'), so a
    typo in a list is reported instead of silently dropped.
    """
    items: list[WorkItem] = []
    rejects: list[Reject] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        raw = INLINE_COMMENT.split(line.strip(), maxsplit=1)[0]
        if not raw or raw.startswith("#"):
            continue
        url = normalize_url(raw) if not any(character.isspace() for character in raw) else None
        if url is None:
            detail = f"not an http(s) URL: {strip_userinfo(raw)[:200]}"
            rejects.append(Reject(f"{origin}:{number}", "discover", "bad-url", detail))
            continue
        if url not in seen:
            seen.add(url)
            items.append(WorkItem(location=url, source=source, kind="url", hints=DocumentHints(url=url)))
    return items, rejects


def filter_by_date(items: Iterable[WorkItem], since: date | None = None, until: date | None = None) -> DateSelection:
    """Items whose hint date falls on a day from `since` through `until`, both inclusive, newest first.

    "--since 2024-05-01 --until 2024-05-03" reads as three days, so `until` is inclusive. The day
    is the one the feed wrote (its own offset), as for extracted dates. With a window, undated
    items and unreadable dates are dropped and counted in `undated`: a backfill asked for those days.
    Without a window every item is kept, dated ones newest first, then undated ones in their order.
    """
    windowed = since is not None or until is not None
    dated: list[tuple[datetime, WorkItem]] = []
    undated: list[WorkItem] = []
    outside = 0
    for item in items:
        try:
            day = hint_day(item.hints.date) if item.hints.date else None
            instant = hint_instant(item.hints.date) if item.hints.date else None
        except ValueError:
            day = instant = None
        if day is None or instant is None:
            undated.append(item)
            continue
        if (since is not None and day < since) or (until is not None and day > until):
            outside += 1
            continue
        dated.append((instant, item))
    dated.sort(key=lambda pair: pair[0], reverse=True)
    kept = [item for _, item in dated]
    if windowed:
        return DateSelection(items=tuple(kept), undated=len(undated), outside=outside)
    return DateSelection(items=(*kept, *undated))
