"""Authors from markup: names from JSON-LD, <meta>, itemprops, author links and bylines, not brands or roles."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import lxml.etree
import lxml.html
import trafilatura.metadata

from newsdag.tasks.jsonld import main_values, names_in, node_types
from newsdag.tasks.pageparts import PageParts, clean_text, meta_values
from newsdag.tasks.pagetitle import WORDS, site_key

MAX_AUTHOR_WORDS = 6
MAX_BYLINE_CHARS = 200
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
    for piece in filter(None, (" ".join(text.split()) for text in element.itertext())):
        last_part = BYLINE_PREFIX.sub("", BYLINE_BREAK.split(line)[-1].strip())
        ends_a_name = looks_like_name(last_part) and not BYLINE_LABEL.fullmatch(last_part)
        separator = " | " if piece[:1].isupper() and ends_a_name else " "
        line = f"{line}{separator}{piece}" if line else piece
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
