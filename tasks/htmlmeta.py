"""Page metadata (title, site, authors, dates, canonical URL, language, tags, genre) read from a parsed HTML tree."""

from __future__ import annotations

import html
import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import lxml.etree
import lxml.html
import trafilatura.metadata

from tasks.dates import is_plausible, parse_date
from tasks.jsonld import main_values, names_in, node_types, url_path
from tasks.models import ArticleDate
from tasks.pageparts import PageParts, clean_text, first_meta, first_text, meta_values, read_parts
from tasks.rights import NO_MARKUP_RIGHTS, MarkupRights, markup_rights

T = TypeVar("T")

EARLIEST_DATE = date(1990, 1, 1)
UTC_OFFSET = "+00:00"
# Two markups of one publication time differ by seconds at most (one drops them, or rounds).
SAME_INSTANT = timedelta(minutes=1)
FUTURE_SKEW = timedelta(days=2)
MAX_AUTHOR_WORDS = 6
MAX_BYLINE_CHARS = 200
# An <h1> counts as the headline when this share of its words also appear in <title>.
H1_TITLE_OVERLAP = 0.6
# Pages put the site's name, a section or a login box in an <h1> too; the headline is among the first few.
MAX_H1S = 5
MAX_HEADLINE_WORDS = 40
# Without a JSON-LD headline, a visible <h1> replaces an og:title / <title> worded otherwise when it has
# at least this many words (fewer: "Log In", "Blog") and shares fewer than this share of the title's words
# (more: the same headline cut or extended, where og:title is the site's own short form). On the dev
# sets: wcxb title exact +0.02, fundus unchanged.
H1_MIN_WORDS = 3
MARKDOWN_EMPHASIS = re.compile(r"(?<!\w)[*_]{1,2}(\w(?:[^*_]*[^\s*_])?)[*_]{1,2}(?!\w)")
H1_MAX_SHARED_WORDS = 0.6

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
AUTHOR_META = (
    "author",
    "article:author",
    "og:article:author",
    "parsely-author",
    "sailthru.author",
    "dc.creator",
    "dcterms.creator",
    "twitter:misc:written by",  # Yoast's label for the post author
)
DESCRIPTION_META = ("description", "og:description", "twitter:description")
# Keyword lists (the names trafilatura reads for its tags), then the section (its categories fallback).
TAG_META = (
    "article:tag",
    "news_keywords",
    "keywords",
    "parsely-tags",
    "citation_keywords",
    "dcterms.subject",
    "shareaholic:keywords",
    "tags",
    "article:section",
)
# JSON-LD keys that hold the same, used when the page has no such <meta>.
TAG_JSON_LD_KEYS = ("keywords", "articleSection")
# Keyword lists are comma-separated (some sites use semicolons); a longer "tag" is a sentence, not a tag.
TAG_SEPARATORS = re.compile(r"[,;]")
MAX_TAG_CHARS = 80
# SEO keyword lists run to hundreds of entries; the first ones are the article's own.
MAX_TAGS = 30

# Genre, where the page says it. schema.org's NewsArticle subtypes name it outright; Review and
# SatiricalArticle are CreativeWork types news sites use for the same. A plain NewsArticle or Reportage is news.
GENRE_TYPES = {
    "opinionnewsarticle": "opinion",
    "analysisnewsarticle": "analysis",
    "backgroundnewsarticle": "background",
    "reviewnewsarticle": "review",
    "review": "review",
    "criticreview": "review",
    "satiricalarticle": "satire",
}
NEWS_TYPES = {"newsarticle", "reportagenewsarticle"}
# Section names (article:section, parsely-section, JSON-LD articleSection) and URL path segments (/opinion/)
# that name a genre. A section is searched word by word ("Opinion - Columnists", "Meinung & Debatte"); in a
# URL only a whole segment counts, so /opinion-polls/ is no opinion page.
GENRE_SECTION_WORDS = {
    "opinion": "opinion",
    "opinions": "opinion",
    "op-ed": "opinion",
    "op-eds": "opinion",
    "oped": "opinion",
    "commentary": "opinion",
    "commentisfree": "opinion",
    "editorial": "opinion",
    "editorials": "opinion",
    "columnists": "opinion",
    "meinung": "opinion",
    "meinungen": "opinion",
    "kommentar": "opinion",
    "kommentare": "opinion",
    "leitartikel": "opinion",
    "gastbeitrag": "opinion",
    "opinión": "opinion",
    "opiniao": "opinion",
    "opinião": "opinion",
    "opinioni": "opinion",
    "opinie": "opinion",
    "tribune": "opinion",
    "tribuna": "opinion",
    "analysis": "analysis",
    "analyse": "analysis",
    "analysen": "analysis",
    "análisis": "analysis",
    "analisi": "analysis",
    "review": "review",
    "reviews": "review",
    "rezension": "review",
    "rezensionen": "review",
    "kritik": "review",
    "kritiken": "review",
}
SECTION_META = ("article:section", "parsely-section", "section")
SECTION_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")

URL_DATE_SLASHED = re.compile(r"/((?:19|20)\d{2})/(\d{1,2})/(\d{1,2})(?:/|$)")
URL_DATE_DASHED = re.compile(r"/((?:19|20)\d{2})-(\d{2})-(\d{2})(?=/|-|$)")
URL_DATE_COMPACT = re.compile(r"/((?:19|20)\d{2})(\d{2})(\d{2})(?=/|$|[^\d])")

# A trailing title part is the site when it contains a site name this long and is this short.
MIN_FUZZY_SITE_KEY = 5
MAX_SITE_WORDS = 5
TITLE_SEPARATOR = re.compile(r"(\s+[|\-—–·•»/]\s+|\s*\|\s*|:\s+)")
# Separators after which a trailing title part names the site or section ("Headline | Brand",
# "Headline - Section"); after a colon it is the headline itself ("Kicker: Headline").
SITE_SEPARATORS = frozenset("|-—–·•»/")
# An unconfirmed 'Headline | Label' loses a label of up to this many words, when this many are left: on
# the dev sets wcxb title exact +0.011, fundus unchanged (other separators with it cost fundus 0.02).
PIPE_LABEL_MAX_WORDS = 3
PIPE_HEAD_MIN_WORDS = 3
WORDS = re.compile(r"\w+")
# Typographic quotes, apostrophes and dashes as ASCII; soft hyphens and zero-width characters removed.
TITLE_FOLDS = str.maketrans(
    {
        "‘": "'",
        "’": "'",
        "‚": "'",
        "‛": "'",
        "“": '"',
        "”": '"',
        "„": '"',
        "«": '"',
        "»": '"',
        "–": "-",
        "—": "-",
        "‐": "-",
        "‑": "-",
        "‒": "-",
        "−": "-",
        "\u00ad": None,
        "\u200b": None,
        "\u200c": None,
        "\u200d": None,
        "\ufeff": None,
    }
)
NON_ALNUM = re.compile(r"[\W_]+")
# Trailing TLDs and second-level labels dropped when comparing a site name with a host or title part.
HOST_SUFFIX = re.compile(r"\.(?:co|com|org|net|gov|ac)?\.?[a-z]{2,6}$")
LANGUAGE_CODE = re.compile(r"^([A-Za-z]{2})(?:[-_].*)?$")

BYLINE_PREFIX = re.compile(
    r"^(by|von|par|por|door|di|from|written by|posted by|words by|text|texte|authors?|autor(?:in|en)?|auteur"
    r"|contributors?)"
    r"\s*:?\s+",
    re.I,
)
# Elements after the <h1>, in reading order, searched for its byline (kicker, standfirst, byline, date,
# share bar and the inline elements inside them).
BYLINE_SCAN_ELEMENTS = 30
# A byline's label on its own, the name in the next element ("Written by" / "Jane Doe").
BYLINE_LABEL = re.compile(r"(?:written by|by|author|authors|autor(?:in)?|auteur|von)\s*:?", re.I)
ORGANISATION_TYPES = {"organization", "newsmediaorganization", "corporation", "educationalorganization"}
# Containers whose names are other articles' (related boxes, teasers) or readers' (comments).
TEASER_TAGS = {"aside", "footer", "nav"}
# A class or id word naming such a box ("related-posts", "c-recommended", "comment-list"); layout words
# ("sidebar", "widget", "teaser" view modes) wrap whole articles on some sites and are not read.
TEASER_MARKS = re.compile(
    r"(?:^|[-_])(?:related|recommend|trending|popular|comments?|read-?next|more-?from)(?:$|[-_])", re.I
)
SURNAME_PARTICLES = {"Di", "Von"}
NAME_TRIM = " \t-–—:·•,.;/"
PARENTHESIZED = re.compile(r"\([^)]*\)?|\[[^\]]*\]?")
REL_AUTHOR_XPATH = "//a[contains(concat(' ', normalize-space(@rel), ' '), ' author ')]"
AUTHOR_LINK_XPATH = (
    "//a[contains(@href, '/author/') or contains(@href, '/authors/') or contains(@href, '/autor/')"
    " or contains(@href, '/autoren/') or contains(@href, '/auteur/')]"
)
# A line of its own that names the author: "By Jane Doe", "Written by Jane Doe", "View all posts by Jane
# Doe", "Contributors: Jane Doe".
BYLINE_SENTENCE = re.compile(
    r"(?:(?:view\s+)?(?:all\s+|more\s+)?(?:articles|posts|stories)\s+by|(?:written|posted|words)\s+by|by"
    r"|contributors?)\s*:?\s+",
    re.I,
)
MAX_BYLINE_SENTENCE_CHARS = 100
# Last resorts, in order, for pages whose author sits in a classed or id'd element only (the same
# patterns trafilatura's author search ends with): a class naming the name, then an id naming authors.
AUTHOR_ELEMENT_XPATHS = tuple(
    lxml.etree.XPath(expression, namespaces={"re": "http://exslt.org/regular-expressions"})
    for expression in (
        "//*[re:test(@class, 'author[-_]?name', 'i')]",
        "//*[re:test(@id, 'author', 'i')]",
    )
)
BYLINE_XPATH = (
    "//*[contains(concat(' ', normalize-space(@class), ' '), ' byline ')"
    " or contains(concat(' ', normalize-space(@class), ' '), ' author ')]"
)
# "and" in the languages of the pages we read; only between spaces, so never inside a name.
CONJUNCTIONS = {"and", "und", "et", "y", "e", "en", "og", "och", "ve", "a", "i", "és"}
NAME_PARTICLES = {"van", "von", "der", "den", "de", "del", "della", "da", "di", "du", "la", "le", "dos", "das", "ten"}
# More lower-case words than this (besides particles and conjunctions) make a byline piece prose.
MAX_LOWERCASE_WORDS = 2
LIST_SEPARATOR = re.compile(r"\s*[,;]\s*")
AUTHOR_SPLIT = re.compile(r"\s*&\s*|\s+(?:" + "|".join(CONJUNCTIONS) + r")\s+", re.I)
EMAIL = re.compile(r"\S+@\S+\.\S+")
URL_LIKE = re.compile(r"https?://|www\.|\.(?:com|org|net|html?)(?:/|$)", re.I)
DATE_OR_TIME = re.compile(r"\b\d{1,4}[./-]\d{1,2}[./-]\d{1,4}\b|\b\d{1,2}:\d{2}(?::\d{2})?\s*(?:am|pm|uhr|h)?\b", re.I)
# Words after which a byline goes on to say when, not who.
# A written date ends many bylines ("Jane Doe Dec 17, 2025", "Jane Doe • 20 Dec 2025"): a month name with a
# day or year beside it, and whatever follows. A month name alone is left ("June Smith").
MONTH = (
    r"(?:jan(?:uary|uar)?|feb(?:ruary|ruar)?|mar(?:ch)?|märz|apr(?:il)?|ma[yi]|jun[ei]?|jul[yi]?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|o[ck]t(?:ober)?|nov(?:ember)?|de[cz](?:ember)?)"
)
# Separators after which a byline goes on with a role, a date or a share bar: "Jane Doe | Reuters",
# "Jane Doe • 20 Dec 2025", "Jane Doe ⋅ Review Editor".
BYLINE_BREAK = re.compile(r"[|•⋅·]|\s[-–—]\s")
# A day as bylines write it: "Dec 26, 2025", "26 December 2025", "2025-12-26", "26.12.2025".
WRITTEN_DAY = re.compile(
    rf"\b(?:{MONTH}\.?\s+\d{{1,2}},?\s+\d{{4}}|\d{{1,2}}\.?\s+{MONTH}\.?,?\s+\d{{4}}"
    r"|\d{4}-\d{2}-\d{2}|\d{1,2}\.\d{1,2}\.\d{4})\b",
    re.I,
)
UPDATED_WORDS = re.compile(r"\b(?:updated|modified|aktualisiert|geändert|mis à jour)\b", re.I)
# Other things bylines end with: a weekday ("APA Donnerstag, 12. ..."), a reading time ("15 min read").
BYLINE_TAIL = re.compile(
    r"\b(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day|montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag)\b.*$"
    r"|\b\d+(?:\s*[–-]\s*\d+)?\s*min(?:ute)?s?\b.*$",
    re.I,
)
MONTH_DATE = re.compile(rf"(?:\b\d{{1,2}}\.?\s*{MONTH}\b|\b{MONTH}\.?\s*\d{{1,4}}\b).*$", re.I)
BYLINE_DATE_WORDS = re.compile(r"\b(?:last\s+)?(?:updated|published|veröffentlicht|aktualisiert|posted)\b.*$", re.I)
ROLE_WORDS = {
    "staff",
    "writer",
    "correspondent",
    "reporter",
    "editor",
    "senior",
    "chief",
    "contributor",
    "contributing",
    "columnist",
    "journalist",
    "political",
    "foreign",
    "deputy",
    "associate",
    "special",
    "redakteur",
    "redakteurin",
    "korrespondent",
    "korrespondentin",
    "기자",
}
# Words a byline element also holds that are not a name: its label alone, a share bar after the name.
NOT_NAMES = {"author", "the author", "authors", "admin", "administrator", "guest author", "editorial team"}
SHARE_WORDS = {"facebook", "twitter", "tweet", "pin", "share", "email", "linkedin", "whatsapp", "reddit", "print"}
# A calendar word alone ("Dec", "Sat") is what is left of a date cut from a byline.
CALENDAR_WORD = re.compile(rf"(?:{MONTH}|mon|tue|wed|thu|fri|sat|sun)\.?", re.I)
# A class name, not a name: "wp-block-co-authors-plus-coauthors.is-layout-flow".
CLASS_LIKE = re.compile(r"[a-z0-9]+(?:[-_.][a-z0-9]+){2,}")
DIGIT = re.compile(r"\d")
HAS_LETTER = re.compile(r"[^\W\d_]")


@dataclass(frozen=True)
class PageMetadata:
    """What a page's markup says about the article it holds."""

    title: str | None
    site_name: str | None
    authors: tuple[str, ...]
    published: ArticleDate | None
    modified: ArticleDate | None
    canonical_url: str | None
    description: str | None
    language: str | None
    tags: tuple[str, ...] = ()
    genre: str | None = None  # opinion | analysis | background | review | satire | news; None: the page does not say
    # og:title as written: the headline as the site shares it, often the words its body repeats.
    og_title: str | None = None
    # TDM metadata, robots AI directives, licence and paywall markers (tasks/rights.py).
    rights: MarkupRights = NO_MARKUP_RIGHTS


def read_page_metadata(tree: lxml.html.HtmlElement, *, url: str | None = None) -> PageMetadata:
    """The page's metadata; reads the tree without changing it and never raises for odd markup.

    Each field is read on its own: markup is arbitrary, and a field that cannot be read (None, or empty)
    costs only that field, never the article's other metadata.
    """
    parts = guarded(lambda: read_parts(tree, url), PageParts({}, [], {}, [], url))
    sites = guarded(lambda: site_names(parts), [])
    html_title = guarded(lambda: clean_text(first_text(tree, "title")), None)
    og_title = guarded(lambda: clean_text(first_meta(parts, "og:title")), None)
    site_keys = {key for key in map(site_key, [*sites, host_label(url)]) if key}
    site_keys |= guarded(lambda: title_suffix_keys(html_title, og_title), set())
    published, modified = guarded(lambda: read_dates(tree, parts), (None, None))
    return PageMetadata(
        title=guarded(lambda: read_title(tree, parts, html_title, og_title, site_keys), None),
        site_name=sites[0] if sites else None,
        authors=guarded(lambda: read_authors(tree, parts, site_keys), ()),
        published=published,
        modified=modified,
        canonical_url=guarded(lambda: read_canonical(tree, parts), None),
        description=guarded(lambda: read_description(parts), None),
        language=guarded(lambda: read_language(tree, parts), None),
        tags=guarded(lambda: read_tags(parts), ()),
        genre=guarded(lambda: read_genre(parts), None),
        og_title=og_title,
        rights=guarded(lambda: markup_rights(tree, parts.meta, parts.json_ld, url), NO_MARKUP_RIGHTS),
    )


def guarded(read: Callable[[], T], default: T) -> T:
    """read(), or `default` when odd markup makes it fail."""
    try:
        return read()
    except (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError):
        return default


# --- dates ----------------------------------------------------------------------------------------


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


# --- title and site -------------------------------------------------------------------------------


def site_names(parts: PageParts) -> list[str]:
    """og:site_name, the article's JSON-LD publisher, a JSON-LD WebSite, application-name: in that order."""
    names: list[str | None] = [clean_text(first_meta(parts, "og:site_name"))]
    names += [clean_text(name) for value in main_values(parts, "publisher") for name in names_in(value, parts)]
    names += [clean_text(node.get("name")) for node in parts.json_ld if "website" in node_types(node)]
    names.append(clean_text(first_meta(parts, "application-name")))
    return list(dict.fromkeys(name for name in names if name))


def site_key(name: str | None) -> str | None:
    """A site name or host reduced for comparison: 'www.DerStandard.at' and 'derStandard' -> 'derstandard'."""
    if not name:
        return None
    lowered = name.casefold().strip().removeprefix("https://").removeprefix("http://").removeprefix("www.")
    lowered = HOST_SUFFIX.sub("", lowered) if " " not in lowered else lowered
    return NON_ALNUM.sub("", lowered) or None


def host_label(url: str | None) -> str | None:
    if not url:
        return None
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def title_suffix_keys(html_title: str | None, og_title: str | None) -> set[str]:
    """The part <title> adds around og:title ('Headline | Site') is a site name too."""
    if not html_title or not og_title or html_title == og_title or og_title not in html_title:
        return set()
    before, _, after = html_title.partition(og_title)
    keys = {site_key(TITLE_SEPARATOR.sub(" ", part).strip(" |-—–:·•»/")) for part in (before, after)}
    return {key for key in keys if key}


def read_title(
    tree: lxml.html.HtmlElement,
    parts: PageParts,
    html_title: str | None,
    og_title: str | None,
    site_keys: set[str],
) -> str | None:
    """The headline: JSON-LD's, else og:title, else the <h1>, else <title>, without the site name; then
    checked against the other markups and the visible <h1>s (see agreed_title)."""
    headline = next((clean_text(value) for value in main_values(parts, "headline") if clean_text(value)), None)
    headline, og_title, html_title = (without_emphasis(text) for text in (headline, og_title, html_title))
    title = headline or og_title or headline_h1(tree, html_title) or html_title
    if not title:
        return None
    visible = visible_headlines(tree, site_keys)
    others = [headline, og_title, clean_text(first_meta(parts, "twitter:title")), html_title]
    candidates = [strip_site_name(other, site_keys) for other in others if other] + visible
    return agreed_title(strip_site_name(title, site_keys), candidates, visible, has_headline=headline is not None)


def without_emphasis(title: str | None) -> str | None:
    """Markdown emphasis some sites write into og:title and <title> for the <em> of their <h1>:
    '*A Treatise* (1792)' -> 'A Treatise (1792)'."""
    return MARKDOWN_EMPHASIS.sub(r"\1", title) if title else title


def agreed_title(title: str, candidates: list[str], visible: list[str], *, has_headline: bool) -> str:
    """The title as the markups agree on it.

    - A part the other markups do not have is dropped: a trailing part after a site separator
      ('Headline | Brand', 'Headline - Section') when another markup gives the headline alone, and a
      leading one ('Kicker: Headline') when at least as many markups give the headline alone as give
      the whole (a kicker both JSON-LD and og:title carry is part of the headline).
    - A visible <h1> that the title only extends ('What is X?' in 'What is X? Our 2026 Guide') wins.
    - Without a JSON-LD headline, og:title and <title> are often SEO phrasings of the article: a visible
      <h1> of a few words worded otherwise (sharing little of the title's words) is the headline. On news
      pages the JSON-LD headline is the headline as the site itself reports it, and stays.
    """
    keys = [title_key(candidate) for candidate in candidates]

    def votes(text: str) -> int:
        return keys.count(title_key(text))

    best = title
    for head, separator, tail in title_splits(title):
        confirmed = [
            piece
            for piece, allowed in ((head, separator in SITE_SEPARATORS), (tail, votes(tail) >= votes(title)))
            if allowed and votes(piece)
        ]
        best = min([best, *confirmed], key=len)
    best = without_pipe_label(best)
    folded = title_key(best)
    for headline in visible:
        key = title_key(headline)
        if key != folded and folded.startswith(key) and len(key.split()) >= 2 and not folded[len(key)].isalnum():
            return headline
    if has_headline or not visible or any(title_key(headline) == folded for headline in visible):
        return best
    headline = visible[0]
    title_words = set(WORDS.findall(folded))
    shared = len(title_words & set(WORDS.findall(title_key(headline)))) / max(1, len(title_words))
    return headline if len(headline.split()) >= H1_MIN_WORDS and shared < H1_MAX_SHARED_WORDS else best


def without_pipe_label(title: str) -> str:
    """'Headline | Brand': a last part of a few words after a pipe is a site, section or brand label even
    where no other markup confirms it (other separators are not: 'Headline - Here's how' is a headline)."""
    head, pipe, label = title.rpartition(" | ")
    if pipe and len(label.split()) <= PIPE_LABEL_MAX_WORDS and len(head.split()) >= PIPE_HEAD_MIN_WORDS:
        return head
    return title


def title_splits(title: str) -> Iterator[tuple[str, str, str]]:
    """(head, separator, tail) at each separator in a title: 'A | B: C' -> ('A', '|', 'B: C'), ('A | B', ':', 'C')."""
    for match in TITLE_SEPARATOR.finditer(title):
        head, tail = title[: match.start()].strip(), title[match.end() :].strip()
        if head and tail:
            yield head, match.group().strip(), tail


def title_key(text: str) -> str:
    """A title folded for comparison: compatibility forms, typographic quotes and dashes as ASCII, soft
    hyphens and zero-width characters dropped, whitespace collapsed, case folded."""
    folded = unicodedata.normalize("NFKC", text).translate(TITLE_FOLDS)
    return " ".join(folded.split()).casefold()


def visible_headlines(tree: lxml.html.HtmlElement, site_keys: set[str]) -> list[str]:
    """The page's <h1> texts (the first MAX_H1S) that may be a headline: a few words, not the site's name."""
    headlines = []
    for element in itertools.islice(tree.iter("h1"), MAX_H1S):
        text = clean_text(element.text_content())
        if text and len(text.split()) <= MAX_HEADLINE_WORDS and site_key(text) not in site_keys:
            headlines.append(text)
    return headlines


def headline_h1(tree: lxml.html.HtmlElement, html_title: str | None) -> str | None:
    """The first <h1> when it looks like the page's headline (most of its words are in <title>)."""
    h1 = clean_text(first_text(tree, "h1"))
    if not h1 or not html_title:
        return h1
    words = set(re.findall(r"\w+", h1.casefold()))
    title_words = set(re.findall(r"\w+", html_title.casefold()))
    return h1 if words and len(words & title_words) / len(words) >= H1_TITLE_OVERLAP else None


def strip_site_name(title: str, site_keys: set[str]) -> str:
    """'Headline | Site', 'Site: Headline' and the like without the site part; unchanged if nothing is left."""
    pieces = TITLE_SEPARATOR.split(title)  # text, separator, text, ...
    texts = pieces[0::2]
    start, end = 0, len(texts)
    while end - start > 1 and is_site_suffix(texts[end - 1], site_keys):
        end -= 1
    while end - start > 1 and site_key(texts[start]) in site_keys:
        start += 1
    kept = "".join(pieces[2 * start : 2 * end - 1]).strip()
    return kept or title


def is_site_suffix(text: str, site_keys: set[str]) -> bool:
    """A trailing title part naming the site ('Die Neue Südtiroler Tageszeitung' on tageszeitung.it)
    or dating the page ('| DW | 28.04.2023'). Leading parts must match exactly: 'Spiegel-Interview: ...'
    is a headline."""
    key = site_key(text)
    if not key:
        return False
    if key in site_keys or parse_date(text, "title") is not None:
        return True
    return len(text.split()) <= MAX_SITE_WORDS and any(
        len(site) >= MIN_FUZZY_SITE_KEY and site in key for site in site_keys
    )


# --- authors --------------------------------------------------------------------------------------


def read_authors(tree: lxml.html.HtmlElement, parts: PageParts, site_keys: set[str]) -> tuple[str, ...]:
    """Names from the first source that names a person: JSON-LD, meta, itemprop, rel=author, the byline
    under the headline, byline classes, author links, then trafilatura's author search.

    A source naming only the site itself ("Reuters" on reuters.com), an organisation (JSON-LD's
    Organization) or a handle ("@NatGeoUK") is kept as a last resort: it is the page's own attribution,
    but a person named elsewhere says more. Elements inside related-article boxes, teasers, sidebars and
    comments are not read: their names belong to other articles.
    """
    sources: list[Callable[[], list[str]]] = [
        lambda: json_ld_authors(parts),
        *(partial(meta_authors, parts, key) for key in AUTHOR_META),
        lambda: itemprop_authors(tree),
        lambda: [spaced_text(element) for element in outside_teasers(tree.xpath(REL_AUTHOR_XPATH))],
        lambda: headline_byline(tree),
        lambda: byline_texts(tree),
        lambda: author_page_links(tree),
        lambda: byline_sentences(tree),
        lambda: author_element_texts(tree),
    ]
    fallback: tuple[str, ...] = ()
    for source in sources:
        names = clean_authors(source())
        if any(is_person_name(name, site_keys, parts) for name in names):
            return tuple(name for name in names if site_key(name) not in site_keys)
        fallback = fallback or names
    # trafilatura's looser patterns only where the page names no one at all, not even its own site.
    return fallback or clean_authors(trafilatura_author(tree))


def is_person_name(name: str, site_keys: set[str], parts: PageParts) -> bool:
    """Not the site, not an organisation the JSON-LD names as one, not a handle ("@NatGeoUK", "jrobison"),
    not a brand or agency written as one word ("GlossGenius", "AFP", "dpa"). A first name alone ("Lauren")
    and names in scripts without case are names."""
    is_organisation = site_key(name) in site_keys or name.casefold() in organisations(parts)
    return not (is_organisation or name.startswith("@") or is_brand_or_handle(name))


def is_brand_or_handle(name: str) -> bool:
    """One word, all lower case or with a capital inside it."""
    return " " not in name and (name.islower() or any(letter.isupper() for letter in name[1:]))


def organisations(parts: PageParts) -> set[str]:
    """Names of the JSON-LD's organisations (publisher, author objects typed Organization), case-folded."""
    return {
        name.casefold()
        for node in parts.json_ld
        if node_types(node) & ORGANISATION_TYPES and isinstance(name := node.get("name"), str)
    }


def outside_teasers(elements: Iterable[lxml.html.HtmlElement]) -> list[lxml.html.HtmlElement]:
    """The elements not inside a related-articles box, teaser, sidebar, comment or footer."""
    return [element for element in elements if not in_teaser(element)]


def in_teaser(element: lxml.html.HtmlElement) -> bool:
    for ancestor in element.iterancestors():
        if ancestor.tag in TEASER_TAGS:
            return True
        marks = f"{ancestor.get('class') or ''} {ancestor.get('id') or ''}".split()
        if any(TEASER_MARKS.search(mark) for mark in marks):
            return True
    return False


def headline_byline(tree: lxml.html.HtmlElement) -> list[str]:
    """A byline just under the first <h1>: among the next elements in reading order, one that starts with a
    byline word ("By Jane Doe", "by: Jane Doe, Dec 17, 2025"), leads 'Name | Role | Date', or follows a
    label of its own ("Written by" / "Jane Doe")."""
    h1 = next(tree.iter("h1"), None)
    if h1 is None:
        return []
    labelled = False
    for element in h1.xpath(f"following::*[position() <= {BYLINE_SCAN_ELEMENTS}]"):
        text = spaced_text(element)
        if not text or len(text) > MAX_BYLINE_CHARS:
            continue
        if labelled and not BYLINE_LABEL.fullmatch(text):
            return [text]
        if BYLINE_LABEL.fullmatch(text):
            labelled = True
        elif BYLINE_PREFIX.match(text) or (text.count("|") >= 1 and looks_like_name(text.split("|")[0])):
            return [text]
    return []


def spaced_text(element: lxml.html.HtmlElement) -> str:
    """The element's text with its pieces spaced: text_content() glues 'Clay' and 'Mar 14' of adjacent
    inline elements into 'ClayMar 14'. A comment or processing instruction has none."""
    if not isinstance(element.tag, str):
        return ""
    return " ".join(" ".join(element.itertext()).split())


def byline_text(element: lxml.html.HtmlElement) -> str:
    """The element's spaced text with a '|' where a full name is followed by another piece of its own:
    'Jane Doe' then 'Senior Editor' in a child element of its own is 'Jane Doe | Senior Editor'. Pieces
    joined by a comma or a conjunction, and a first name then a last name, stay together."""
    line = ""
    for piece in (" ".join(text.split()) for text in element.itertext()):
        if not piece:
            continue
        last_part = BYLINE_PREFIX.sub("", BYLINE_BREAK.split(line)[-1].strip())
        if line and piece[:1].isupper() and looks_like_name(last_part) and not BYLINE_LABEL.fullmatch(last_part):
            line += " | "
        line = f"{line} {piece}".strip() if not line.endswith(" | ") else line + piece
    return line


def looks_like_name(text: str) -> bool:
    """Two to four capitalised words: 'Aaron Ricadela', 'Mary Ann de Souza'."""
    words = text.split()
    capitalised = [word for word in words if word[:1].isupper()]
    return (
        2 <= len(words) <= 4
        and len(capitalised) >= 2
        and "," not in text
        and all(word[:1].isupper() or word in NAME_PARTICLES for word in words)
    )


def trafilatura_author(tree: lxml.html.HtmlElement) -> list[str]:
    """trafilatura's author search (its class and rel patterns, with its discards), as the last resort.
    It separates names with ';' and rewrites them (title case, digits dropped: 'rmb8090' -> 'Rmb'): a
    name is kept only when the page has it as a word of its own, whatever its case."""
    author = trafilatura.metadata.extract_author(tree)
    if not author:
        return []
    page_text = spaced_text(tree)
    names = [" ".join(name.split()) for name in author.split(";")]
    return [name for name in names if name and on_page_as_words(name, page_text)]


def on_page_as_words(name: str, page_text: str) -> bool:
    """Whether the page has the name's words in a row, as words of their own (any punctuation and case
    between them: trafilatura writes 'Dr Vahid Osman' for the page's 'Dr. Vahid Osman')."""
    words = WORDS.findall(name)
    pattern = r"(?<!\w)" + r"\W+".join(map(re.escape, words)) + r"(?!\w)"
    return bool(words) and re.search(pattern, page_text, re.I) is not None


def json_ld_authors(parts: PageParts) -> list[str]:
    """Authors of the best-ranked JSON-LD node that has any (other nodes are related articles, images)."""
    return next((names_in(value, parts) for value in main_values(parts, "author")), [])


def meta_authors(parts: PageParts, key: str) -> list[str]:
    # article:author is meant to be a profile URL; only a plain name there is an author.
    return [value for value in meta_values(parts, key) if not URL_LIKE.search(value)]


def itemprop_authors(tree: lxml.html.HtmlElement) -> list[str]:
    """itemprop=author names in the same item as the first one (later items are teasers for other articles)."""
    elements = tree.xpath("//*[@itemprop='author']")
    if not elements:
        return []
    scope = item_scope(elements[0])
    names = []
    for element in (element for element in elements if item_scope(element) is scope):
        named = element.xpath(".//*[@itemprop='name']")
        target = named[0] if named else element
        names.append(target.get("content") or spaced_text(target))
    return names


def item_scope(element: lxml.html.HtmlElement) -> lxml.html.HtmlElement | None:
    return next((ancestor for ancestor in element.iterancestors() if ancestor.get("itemscope") is not None), None)


def byline_texts(tree: lxml.html.HtmlElement) -> list[str]:
    """Text of the first short element classed 'byline' or 'author' (a last resort: class names vary)."""
    for element in outside_teasers(tree.xpath(BYLINE_XPATH)):
        text = byline_text(element)
        if text and len(text.strip()) <= MAX_BYLINE_CHARS:
            return [text]
    return []


def byline_sentences(tree: lxml.html.HtmlElement) -> list[str]:
    """The first short element outside teasers that reads 'By Jane Doe', 'Written by Jane Doe' and the like,
    wherever it sits (an author box at the end, a meta line without a byline class)."""
    for text in tree.xpath("//body//text()"):
        if not BYLINE_SENTENCE.match(text.strip() + " "):
            continue
        element = text.getparent().getparent() if text.is_tail else text.getparent()
        if element is None or in_teaser(element):
            continue
        line = byline_text(element)
        match = BYLINE_SENTENCE.match(line)
        if (
            match
            and len(line) <= MAX_BYLINE_SENTENCE_CHARS
            and looks_like_name(" ".join(line[match.end() :].split()[:2]))
        ):
            return [line[match.end() :]]
    return []


def author_element_texts(tree: lxml.html.HtmlElement) -> list[str]:
    """Text of the first short element matching AUTHOR_ELEMENT_XPATHS, tried in order. Such loosely named
    elements also hold dates and user handles ("20 Nov 2019 08:00 GMT", "rmb8090"): text with a digit is skipped."""
    for xpath in AUTHOR_ELEMENT_XPATHS:
        for element in outside_teasers(xpath(tree)):
            text = byline_text(element)
            if text and len(text.strip()) <= MAX_BYLINE_CHARS and not DIGIT.search(text):
                return [text]
    return []


def author_page_links(tree: lxml.html.HtmlElement) -> list[str]:
    """Text of the first link to an author archive (/author/name/, WordPress's default), and of links
    beside it: several authors share one parent; a teaser's author elsewhere on the page does not."""
    links = outside_teasers(tree.xpath(AUTHOR_LINK_XPATH))
    if not links:
        return []
    parent = links[0].getparent()
    return [spaced_text(link) for link in links if link.getparent() is parent]


def clean_authors(values: Iterable[Any]) -> tuple[str, ...]:
    """Clean names, deduplicated case-insensitively, in order."""
    names: dict[str, str] = {}
    for value in values:
        for name in split_author(value):
            names.setdefault(name.casefold(), name)
    return tuple(names.values())


def split_author(value: Any) -> list[str]:
    """One author field as clean names: no 'By', roles, emails, dates or URLs; 'A and B' -> two names."""
    text = clean_text(value)
    if not text or (URL_LIKE.search(text) and " " not in text):
        return []
    # "Jane Doe | Reuters", "Jane Doe (jd)": what follows a bar and what is in brackets is not a name.
    text = PARENTHESIZED.sub(" ", BYLINE_BREAK.split(text)[0])
    text = MONTH_DATE.sub("", DATE_OR_TIME.sub(" ", BYLINE_DATE_WORDS.sub("", EMAIL.sub(" ", text))))
    text = BYLINE_TAIL.sub("", text)
    pieces = (piece for piece in LIST_SEPARATOR.split(text) if not is_prose(piece))
    return [name for piece in pieces for name in map(clean_name, AUTHOR_SPLIT.split(piece)) if name]


def is_prose(text: str) -> bool:
    """A sentence, not a list of names: several lower-case words that are not name particles."""
    words = [word for word in text.split() if word[:1].islower()]
    return sum(word not in NAME_PARTICLES and word not in CONJUNCTIONS for word in words) > MAX_LOWERCASE_WORDS


def clean_name(part: str) -> str | None:
    name = part.strip(NAME_TRIM)
    match = BYLINE_PREFIX.match(name)
    # "Di" and "Von" also begin surnames ("Di Maio"): capitalised and before one title-case word, they stay.
    rest = name[match.end() :].split() if match else []
    if match and not (match[1] in SURNAME_PARTICLES and len(rest) == 1 and rest[0].istitle()):
        name = name[match.end() :]
    words = name.split()
    while words and words[-1].casefold().strip(NAME_TRIM) in SHARE_WORDS:
        words.pop()
    # A role is cut from a person's name ("Jane Doe Staff Writer"), not from a desk's ("Podium Staff").
    while len(words) > 2 and words[-1].casefold() in ROLE_WORDS:
        words.pop()
    while len(words) > 2 and words[0].casefold() in ROLE_WORDS:
        words.pop(0)
    name = " ".join(words).strip(NAME_TRIM)
    if all(word.casefold() in ROLE_WORDS for word in words) or name.casefold() in CONJUNCTIONS | NOT_NAMES:
        return None
    if CALENDAR_WORD.fullmatch(name) or CLASS_LIKE.fullmatch(name):
        return None
    if not name or len(words) > MAX_AUTHOR_WORDS or not HAS_LETTER.search(name) or URL_LIKE.search(name):
        return None
    return name


# --- canonical URL, description, language ---------------------------------------------------------


def read_canonical(tree: lxml.html.HtmlElement, parts: PageParts) -> str | None:
    hrefs = [
        element.get("href")
        for element in tree.iter("link")
        if "canonical" in (element.get("rel") or "").lower().split() and element.get("href")
    ]
    for href in [*hrefs, first_meta(parts, "og:url")]:
        absolute = absolute_url(href, parts.url)
        if absolute:
            return absolute
    return None


def absolute_url(href: str | None, base: str | None) -> str | None:
    if not href or not href.strip():
        return None
    try:
        resolved = urljoin(base, href.strip()) if base else href.strip()
    except ValueError:
        return None
    return resolved if resolved.startswith(("http://", "https://")) else None


def read_description(parts: PageParts) -> str | None:
    meta = clean_text(first_meta(parts, *DESCRIPTION_META))
    return meta or next((clean_text(value) for value in main_values(parts, "description") if clean_text(value)), None)


def read_tags(parts: PageParts) -> tuple[str, ...]:
    """Keywords and section from <meta> (or, without those, JSON-LD), split, cleaned and deduplicated in order."""
    values: list[Any] = [value for key in TAG_META for value in meta_values(parts, key)]
    if not values:
        values = [value for key in TAG_JSON_LD_KEYS for value in main_values(parts, key)]
    items = (item for value in values for item in (value if isinstance(value, list) else [value]))
    tags: dict[str, str] = {}  # case-folded -> first spelling
    # Entities are decoded before splitting: "Science &amp; Technology" is one tag.
    for part in (part for item in items if isinstance(item, str) for part in TAG_SEPARATORS.split(html.unescape(item))):
        tag = clean_text(part)
        if tag and len(tag) <= MAX_TAG_CHARS and HAS_LETTER.search(tag):
            tags.setdefault(tag.casefold(), tag)
            if len(tags) == MAX_TAGS:
                break
    return tuple(tags.values())


def read_genre(parts: PageParts) -> str | None:
    """The genre the page states: a JSON-LD type that names one, else a section name, else a URL path segment,
    else news for a plain NewsArticle; None when the page says nothing (most pages without JSON-LD)."""
    types = set().union(*(node_types(node) for node in parts.main_nodes[:1]))
    for kind in sorted(types):
        if kind in GENRE_TYPES:
            return GENRE_TYPES[kind]
    sections: list[Any] = [value for key in SECTION_META for value in meta_values(parts, key)]
    sections += list(main_values(parts, "articleSection"))[:1]
    items = (item for value in sections for item in (value if isinstance(value, list) else [value]))
    for item in items:
        if isinstance(item, str) and (genre := section_genre(item)):
            return genre
    return url_genre(parts.url) or ("news" if types & NEWS_TYPES else None)


def section_genre(section: str) -> str | None:
    for word in SECTION_WORD.findall(html.unescape(section).casefold()):
        if word in GENRE_SECTION_WORDS:
            return GENRE_SECTION_WORDS[word]
    return None


def url_genre(url: str | None) -> str | None:
    """The genre a path segment of the URL names (https://example.com/opinion/2021/...)."""
    path = url_path(url)
    if not path:
        return None
    for segment in path.casefold().split("/"):
        if segment in GENRE_SECTION_WORDS:
            return GENRE_SECTION_WORDS[segment]
    return None


def read_language(tree: lxml.html.HtmlElement, parts: PageParts) -> str | None:
    root = tree.getroottree().getroot()
    declared = [root.get("lang"), root.get("{http://www.w3.org/XML/1998/namespace}lang")]
    declared += [first_meta(parts, "og:locale")]
    declared += [node.get("inLanguage") for node in parts.json_ld if isinstance(node.get("inLanguage"), str)]
    for value in declared:
        match = LANGUAGE_CODE.match((value or "").strip())
        if match:
            return match[1].lower()
    return None
