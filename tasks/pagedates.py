"""Dates from markup: published and modified dates from JSON-LD, <meta>, <time>, the headline's line and the URL."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import lxml.etree
import lxml.html

from newsdag.tasks.dates import is_plausible, parse_date
from newsdag.tasks.jsonld import main_values, url_path
from newsdag.tasks.models import ArticleDate
from newsdag.tasks.pageauthors import BYLINE_SCAN_ELEMENTS, MAX_BYLINE_CHARS, MONTH, spaced_text
from newsdag.tasks.pageparts import PageParts, meta_values

EARLIEST_DATE = date(1990, 1, 1)
UTC_OFFSET = "+00:00"
# Two markups of one publication time differ by seconds at most (one drops them, or rounds).
SAME_INSTANT = timedelta(minutes=1)
FUTURE_SKEW = timedelta(days=2)
PUBLISHED_META = (
    "article:published_time",
    "og:article:published_time",
    "og:published_time",
    "article:published",
    "datepublished",
    "pubdate",
    "publishdate",
    "publish-date",
    "publish_date",
    "publication_date",
    "article.published",
    "date",
    "dc.date",
    "dc.date.issued",
    "dcterms.date",
    "dcterms.issued",
    "dcterms.created",
    "sailthru.date",
    "parsely-pub-date",
    "cxenseparse:recs:publishtime",
)
MODIFIED_META = (
    "article:modified_time",
    "og:article:modified_time",
    "og:updated_time",
    "datemodified",
    "dc.date.modified",
    "dcterms.modified",
    "last-modified",
)
URL_DATE_SLASHED = re.compile(r"/((?:19|20)\d{2})/(\d{1,2})/(\d{1,2})(?:/|$)")
URL_DATE_DASHED = re.compile(r"/((?:19|20)\d{2})-(\d{2})-(\d{2})(?=/|-|$)")
URL_DATE_COMPACT = re.compile(r"/((?:19|20)\d{2})(\d{2})(\d{2})(?=/|$|[^\d])")
# A day as bylines write it: "Dec 26, 2025", "26 December 2025", "2025-12-26", "26.12.2025".
WRITTEN_DAY = re.compile(
    rf"\b(?:{MONTH}\.?\s+\d{{1,2}},?\s+\d{{4}}|\d{{1,2}}\.?\s+{MONTH}\.?,?\s+\d{{4}}"
    r"|\d{4}-\d{2}-\d{2}|\d{1,2}\.\d{1,2}\.\d{4})\b",
    re.I,
)
UPDATED_WORDS = re.compile(r"\b(?:updated|modified|aktualisiert|geändert|mis à jour)\b", re.I)


def read_dates(tree: lxml.html.HtmlElement, parts: PageParts) -> tuple[ArticleDate | None, ArticleDate | None]:
    now = datetime.now(UTC)
    itemprops = itemprop_dates(tree)
    modified_sources: list[Callable[[], Iterable[ArticleDate | None]]] = [
        lambda: (parse_date(value, "json-ld") for value in main_strings(parts, "dateModified")),
        lambda: meta_dates(parts, MODIFIED_META),
        lambda: (parse_date(value, "meta") for value in itemprops.get("datemodified", ())),
    ]
    published_sources: list[Callable[[], Iterable[ArticleDate | None]]] = [
        lambda: (parse_date(value, "json-ld") for value in main_strings(parts, "datePublished")),
        lambda: (parse_date(value, "json-ld") for value in main_strings(parts, "dateCreated")),
        lambda: meta_dates(parts, PUBLISHED_META),
        lambda: (parse_date(value, "meta") for value in itemprops.get("datepublished", ())),
        lambda: time_element_dates(tree),
        lambda: [url_date(parts.url)],
        lambda: [headline_date(tree)],
    ]
    published = pick_date(plausible(published_sources + modified_sources, now))
    modified = pick_date(plausible(modified_sources, now))
    return with_url_day(published, url_date(parts.url)), modified


def with_url_day(published: ArticleDate | None, in_url: ArticleDate | None) -> ArticleDate | None:
    """The published date, checked against a day in the page's URL (written by the publisher's CMS in its
    own time zone when the article was published).

    - A date more than a day away from it is some other date on the page (a comment's, a sidebar's):
      the URL's day is the publication day.
    - A UTC instant on the day after or before it is the publisher's evening or morning told in UTC
      ('2023-11-09T05:30:59Z' under /2023/11/08/): the instant stays, the day is the URL's.
    """
    if published is None or in_url is None or published.day == in_url.day:
        return published
    if abs(published.day - in_url.day) > timedelta(days=1):
        return in_url
    if published.utc_offset == UTC_OFFSET:
        return replace(published, day=in_url.day)
    return published


def plausible(sources: list[Callable[[], Iterable[ArticleDate | None]]], now: datetime) -> Iterator[ArticleDate]:
    for source in sources:
        for candidate in source():
            if candidate and is_plausible(candidate, now=now, earliest=EARLIEST_DATE, future_skew=FUTURE_SKEW):
                yield candidate


def pick_date(candidates: Iterator[ArticleDate]) -> ArticleDate | None:
    """The first candidate, told more fully by later sources that say more about the same moment: a time
    for a day-only date, an offset for the same wall-clock time, and the publisher's own offset for the
    same instant given in UTC (JSON-LD's '2020-02-25T02:25:54Z' is the page's '2020-02-24T21:25:54-05:00':
    the day the publisher wrote is the 24th)."""
    best = next(candidates, None)
    for other in candidates:
        if best is None or (best.utc_offset is not None and best.utc_offset != UTC_OFFSET):
            break
        if adds_detail(best, other):
            best = other
    return best


def adds_detail(best: ArticleDate, other: ArticleDate) -> bool:
    """Whether `other` is `best` told more fully (see pick_date)."""
    if other.value is None:
        return False
    if best.utc_offset == UTC_OFFSET:
        return other.utc_offset not in (None, UTC_OFFSET) and abs(other.value - best.value) < SAME_INSTANT
    if other.day != best.day:
        return False
    if best.value is None:
        return True
    same_minute = best.value.replace(second=0, microsecond=0)
    return other.utc_offset is not None and other.value.replace(tzinfo=None, second=0, microsecond=0) == same_minute


def main_strings(parts: PageParts, key: str) -> Iterator[str]:
    for value in main_values(parts, key):
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                yield item


def meta_dates(parts: PageParts, keys: tuple[str, ...]) -> Iterator[ArticleDate | None]:
    for key in keys:
        for value in meta_values(parts, key):
            yield parse_date(value, "meta")


def itemprop_dates(tree: lxml.html.HtmlElement) -> dict[str, list[str]]:
    """datePublished / dateModified given by itemprop on non-meta elements (meta ones are in `meta`)."""
    found: dict[str, list[str]] = {}
    for element in tree.xpath("//*[@itemprop='datePublished' or @itemprop='dateModified']"):
        if element.tag == "meta":
            continue
        value = element.get("datetime") or element.get("content")
        if value:
            found.setdefault(element.get("itemprop").lower(), []).append(value)
    return found


def time_element_dates(tree: lxml.html.HtmlElement) -> list[ArticleDate | None]:
    """<time datetime> values: ones marked pubdate first, then ones in an article or header, then any."""
    elements = [element for element in tree.iter("time") if element.get("datetime")]
    marked = [element for element in elements if element.get("pubdate") is not None]
    in_article = [
        element
        for element in elements
        if any(ancestor.tag in ("article", "header") for ancestor in element.iterancestors())
    ]
    ordered = dict.fromkeys([*marked, *in_article, *elements])
    return [parse_date(element.get("datetime") or "", "time") for element in ordered]


def headline_date(tree: lxml.html.HtmlElement) -> ArticleDate | None:
    """A day written under the first <h1>, where bylines give it ("Dec 26, 2025 • Jane Doe"): the first of
    the next elements in reading order whose text holds a written date, unless it says the page was
    updated (that is the modified date)."""
    h1 = next(tree.iter("h1"), None)
    if h1 is None:
        return None
    for element in h1.xpath(f"following::*[position() <= {BYLINE_SCAN_ELEMENTS}]"):
        text = spaced_text(element)
        if not text or len(text) > MAX_BYLINE_CHARS or UPDATED_WORDS.search(text):
            continue
        for match in WRITTEN_DAY.finditer(text):
            found = parse_date(match.group().rstrip(".,"), "text")
            if found is not None:
                return replace(found, precision="day", value=None, utc_offset=None) if found.value else found
    return None


def url_date(url: str | None) -> ArticleDate | None:
    """A /2024/05/31/ or /20240531/ date in the URL path, as a day."""
    path = url_path(url)
    if not path:
        return None
    match = URL_DATE_SLASHED.search(path) or URL_DATE_DASHED.search(path) or URL_DATE_COMPACT.search(path)
    if not match:
        return None
    try:
        day = date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None
    return ArticleDate(day=day, precision="day", source="url", raw=match[0].strip("/"))
