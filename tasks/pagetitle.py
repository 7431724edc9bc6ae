"""Titles from markup: the headline (JSON-LD, og:title, <title>, <h1>) without the site's name; the site's names."""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterator
from urllib.parse import urlsplit

import lxml.etree
import lxml.html

from newsdag.tasks.dates import parse_date
from newsdag.tasks.jsonld import main_values, names_in, node_types
from newsdag.tasks.pageparts import PageParts, clean_text, first_meta, first_text

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
