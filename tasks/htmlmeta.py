"""Page metadata (title, site, authors, dates, canonical URL, language, tags, genre) read from a parsed HTML tree.

`read_page_metadata` reads the markup once (tasks/pageparts.py, tasks/jsonld.py) and asks each field's
rules: dates (tasks/pagedates.py), title and site (tasks/pagetitle.py), authors (tasks/pageauthors.py);
the smaller fields (canonical URL, description, tags, genre, language) are read here.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urljoin

import lxml.etree
import lxml.html

from newsdag.tasks.jsonld import main_values, node_types, url_path
from newsdag.tasks.models import ArticleDate
from newsdag.tasks.pageauthors import HAS_LETTER, read_authors
from newsdag.tasks.pagedates import read_dates
from newsdag.tasks.pageparts import PageParts, clean_text, first_meta, first_text, meta_values, read_parts
from newsdag.tasks.pagetitle import host_label, read_title, site_key, site_names, title_suffix_keys
from newsdag.tasks.rights import NO_MARKUP_RIGHTS, MarkupRights, markup_rights

T = TypeVar("T")


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


LANGUAGE_CODE = re.compile(r"^([A-Za-z]{2})(?:[-_].*)?$")


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
