"""Parse a plain-text dump of a news page (one block per line) into ExtractedFields.

Over 500 lines on purpose: the rules are one heuristic parser, tuned together on the dump fixtures;
line shapes, body bounds and header fields read each other's thresholds, so a split would only
spread one set of rules over modules that import each other.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from enum import Enum
from itertools import pairwise
from typing import NamedTuple

from newsdag.tasks.dates import parse_iso_date
from newsdag.tasks.errors import ExtractError
from newsdag.tasks.models import ArticleDate, ExtractedFields

# --- Line shape thresholds -------------------------------------------------------------------------

# A line with at least this many words that ends a sentence reads as a paragraph.
PROSE_MIN_WORDS = 8
# A line this long is a paragraph even without closing punctuation (standfirsts, glued teasers).
LONG_PROSE_MIN_WORDS = 25
# A "Label: value" line longer than this is a sentence that happens to contain a colon.
LABEL_MAX_WORDS = 6
# Keyword (tag) lines are short: "kassym-jomart tokayev", "collective security treaty organization (csto)".
TAG_MAX_WORDS = 6
TAG_MAX_CHARS = 60
# Personal names in author lines and bylines: "Evgeny Mikhaylov", "Mary Ann de Souza".
NAME_MAX_WORDS = 4
# A byline ("By Jane Doe and John Roe") longer than this is prose that starts with "By".
BYLINE_MAX_WORDS = 12
# A site or outlet name in a header or contact line: "The Limited Times", "Sputnik International".
SITE_NAME_MAX_WORDS = 4
# A copyright line is a short footer line; a longer one mentioning copyright is prose.
COPYRIGHT_MAX_WORDS = 20
# A photo credit is a few words ("AFP", "Example News/John Doe"); more is a sentence.
CREDIT_MAX_WORDS = 5
# Captions end with their credit, so only the line's tail is searched (keeps huge lines linear).
CAPTION_TAIL_CHARS = 160
# Longer lines cannot be a bare ISO timestamp; skip parsing them.
TIMESTAMP_MAX_CHARS = 40
# Chinese and Japanese write words without spaces; a word there averages about this many characters,
# so a line's word count is its characters of those scripts divided by this (Korean has spaces).
CHARS_PER_UNSPACED_WORD = 2
# A line with this many separator tokens ("Home | World | Sport") is a navigation bar.
NAV_MIN_SEPARATORS = 2
# More than this share of a line's tokens being URLs makes it a link line, not prose.
URL_DENSITY_MAX = 0.5

# --- Structure thresholds --------------------------------------------------------------------------

# A header holds a headline and a standfirst: the header's metadata lines (timestamps, tags) are looked
# for only above this many words of prose. A body paragraph, or a seed's whole glued body, is longer.
# Measured on 24 rendered dump sets (bench/dumps.py seeds 7/3/11/21/42/99): 60 to 250 give the same
# figures, 40 loses 3 titles (a long standfirst above the timestamps is header).
HEADER_MAX_PROSE_WORDS = 100
# A copyright line followed by at most this many lines is the footer (seed 003: two disclaimer lines).
# Same 24 sets: 4 to 30 give the same figures; 2 leaves disclaimers in bodies (fundus/site-line F1
# 0.9966 -> 0.9902).
FOOTER_MAX_LINES = 6
# Only the first lines can hold the `date YYYY-MM-DD URL` header or the site-name line.
HEADER_SCAN_LINES = 3

# --- Title rules -----------------------------------------------------------------------------------

# Headlines have a few words; one word is a label or section, more than this is a paragraph.
TITLE_MIN_WORDS = 2
TITLE_MAX_WORDS = 30
# A wrapped headline's lines are at most this long (characters); a wider column does not wrap one, and
# a longer line next to a headline is a standfirst. Same 24 sets (titles wrapped at 18-42 characters):
# titles missed with 50 / 60 / 80 / 200: 3 / 2 / 6 / 149.
TITLE_PIECE_MAX_CHARS = 60
# At least this share of the URL slug's words must be in a line for the slug to pick it as title.
SLUG_MATCH_MIN = 0.5
# A URL slug with fewer words than this (an id, "index") says nothing about the title.
SLUG_MIN_WORDS = 2
# A trailing title phrase naming the outlet has at most this many words ("Israel today").
OUTLET_MAX_WORDS = 4
# The phrase (lowercased, words concatenated) and the outlet's slug or site name must share a
# prefix at least this long: "israeltoday" vs "israelhayom" share "israel" (6), a translated name.
OUTLET_PREFIX_MIN_CHARS = 5
# Stripping an outlet phrase must leave at least this many words of title.
TITLE_MIN_KEEP_WORDS = 3
# Separators between a title and a site name suffix: "Title | Site", "Title - Site", "Title — Site".
TITLE_SEPARATORS = (" | ", " - ", " — ", " – ")

# A standfirst/description is at least this long; shorter header lines are labels or nav.
DESCRIPTION_MIN_WORDS = 8

# --- Vocabulary (shapes, not sentences) ------------------------------------------------------------

# Label words that attribute an article to another outlet: "Source: israelhayom", "Via: Reuters".
SOURCE_LABELS = frozenset({"source", "via"})
# Labels of links to other articles placed inside a body: "Read more: How sea walls are built".
LINK_PROMPT_LABELS = frozenset({"read more", "read also", "also read", "see also", "related", "more"})
# Tokens that separate items in navigation bars and breadcrumbs.
NAV_SEPARATORS = frozenset({"|", "•", "›", "»", "·", ">", "/"})
# URL path endings of pictures (avatars, lead images); such lines are neutral, not text.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".svg", ".avif", ".bmp")
# Characters that may close a sentence after its punctuation: quotes and brackets.
SENTENCE_CLOSERS = "\"'”’»)]」』）"
# Short lowercase words allowed inside Title Case names: "Times of India", "Jean de la Fontaine".
NAME_CONNECTORS = frozenset({"of", "the", "and", "de", "la", "van", "von", "der", "du", "da", "al", "bin"})

CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
DATE_HEADER = re.compile(r"date\s+(?P<day>\d{4}-\d{2}-\d{2})(?:\s+(?P<url>\S+))?", re.IGNORECASE)
LOCALE = re.compile(r"(?P<language>[a-z]{2,3})[_-][A-Z]{2}")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"\+\d[\d().-]{6,18}")
LABEL = re.compile(r"(?P<label>[A-Z][\w'’-]*(?: [\w'’-]+){0,2})\s*:\s*(?P<value>\S.*)")
BYLINE = re.compile(r"(?:By|BY)\s+(?P<names>\S.*)")
NAME_LIST_SEPARATOR = re.compile(r"\s*,\s*|\s+and\s+|\s*&\s*")
NAME_WORD = re.compile(r"[^\W\d_][\w.'’-]*")
COPYRIGHT_START = re.compile(r"(?:©|\(c\)|copyright\b)", re.IGNORECASE)
YEAR = re.compile(r"\b(?:19|20)\d{2}\b")
CAPTION_CREDIT = re.compile(
    r"(?:^|[\s,;(\[|–—-])(?:photo|image|picture|pic|credit|illustration|video|foto)s?"
    r"\s*(?:by\s+|:\s*)(?P<credit>[^\s:][^:]*?)\)?\.?$",
    re.IGNORECASE,
)
# A line opening with a credit label ("Photo credit: ...", "Image: ...", "Picture by ...") is a credit line.
CREDIT_LABEL = re.compile(r"(?:photo|image|picture|pic|credit|illustration|video|foto)s?\b", re.IGNORECASE)
# A list item's marker: "- ", "• ", "* ", "1. ", "2) ", "[3] " (a reference list).
LIST_MARKER = re.compile(r"(?:[-*•·▪◦‣–]|\d{1,3}[.)]|\[\d{1,3}\])\s+\S")
# Paragraphs glued by the dump: "without warning.According to" (not "U.S." or "Node.js").
GLUED_PARAGRAPH = re.compile(r"(?<=[^\W_A-Z]|[\"”’])[.!?][\"”’)]?(?=[A-Z][a-z])")
WORD_CHARS = re.compile(r"[^\W_]+")
# Han, kana and CJK punctuation: scripts written without spaces between words.
UNSPACED_SCRIPT = re.compile(r"[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
DIGIT = re.compile(r"\d")


class Shape(Enum):
    """What a line looks like from the line alone (plus whether it repeats in the dump)."""

    DATE_HEADER = "date-header"
    TIMESTAMP = "timestamp"
    XPATH = "xpath"
    IMAGE = "image"
    URL = "url"
    AUTHOR = "author"
    BYLINE = "byline"
    CONTACT = "contact"
    LOCALE = "locale"
    COPYRIGHT = "copyright"
    CAPTION = "caption"
    LABEL = "label"
    NAV = "nav"
    DATA = "data"
    TAG = "tag"
    REPEATED = "repeated"
    TABLE_ROW = "table-row"
    LIST_ITEM = "list-item"
    PROSE = "prose"
    SHORT = "short"


# Lines only an article body has; the body runs from the first below the header to the last.
ANCHOR_SHAPES = frozenset({Shape.PROSE, Shape.LIST_ITEM, Shape.TABLE_ROW})
# Header metadata: the header ends after the last of these above the body.
HEADER_SHAPES = frozenset({Shape.DATE_HEADER, Shape.TIMESTAMP, Shape.XPATH, Shape.LOCALE, Shape.AUTHOR, Shape.BYLINE})
# Header metadata only right after other header metadata (alone, they also occur inside a body).
CHAINED_HEADER_SHAPES = frozenset({Shape.TAG, Shape.IMAGE, Shape.URL})
# Lines inside the body's bounds that are not its text: pictures, stamps, captions, page metadata.
CHROME_SHAPES = frozenset(
    {
        Shape.DATE_HEADER,
        Shape.TIMESTAMP,
        Shape.XPATH,
        Shape.IMAGE,
        Shape.AUTHOR,
        Shape.BYLINE,
        Shape.LOCALE,
        Shape.CAPTION,
    }
)
# Lines that may be a headline or a wrapped piece of one (a repeated line is metadata, as a headline is;
# a piece may look like a label, a keyword or a number: "Kazakhstan: President", "of 2026").
TITLE_PIECE_SHAPES = frozenset(
    {Shape.SHORT, Shape.REPEATED, Shape.PROSE, Shape.LABEL, Shape.TAG, Shape.DATA, Shape.LIST_ITEM, Shape.NAV}
)
# Lines that may name the site at the top of a dump.
SITE_LINE_SHAPES = frozenset({Shape.SHORT, Shape.REPEATED, Shape.TAG, Shape.DATA})
# Lines that date or sign an article: the headline is above them, a standfirst may be below.
DATELINE_SHAPES = frozenset({Shape.TIMESTAMP, Shape.AUTHOR, Shape.BYLINE})
# Lines that may be a standfirst in the header (teaser bullets glued with "•" are shaped like navigation).
DESCRIPTION_SHAPES = frozenset({Shape.SHORT, Shape.PROSE, Shape.NAV})


class Line(NamedTuple):
    """One non-blank block of the dump (a NamedTuple: dumps can have millions of lines)."""

    position: int
    text: str
    blanks_before: int
    word_count: int
    shape: Shape


def parse_text_dump(text: str) -> ExtractedFields:
    """Extract the article fields from a text dump; ExtractError(rule="no-body") if there is no body."""
    lines = classify_lines(split_blocks(text))
    bounds = body_bounds(lines)
    run = body_lines(lines, bounds)
    if bounds is None or not run:
        raise ExtractError("no body text found in the text dump", rule="no-body")
    tail = lines[bounds.end :]
    standfirst, run = detach_standfirst(run)
    header = lines[: (standfirst or run[0]).position]

    date_header = find_date_header(lines)
    url = date_header.group("url") if date_header else None
    site_line = find_site_line(header, date_header)
    site_name = site_line.text if site_line else contact_site_name(lines)
    region = title_region(header, bounds.header_end, date_header, site_line)
    blocks = title_blocks(region)
    title_block = pick_title(blocks, slug_words(url))
    description = standfirst.text if standfirst else find_description(header, title_block)
    title = clean_title(title_block.text, site_name, source_slug(tail), site_line is not None) if title_block else None
    published, modified = header_dates(header, date_header)
    return ExtractedFields(
        text="\n\n".join(split_glued_paragraphs(line.text) for line in run),
        title=title,
        description=description,
        authors=find_authors(lines),
        site_name=site_name,
        language=find_language(lines),
        tags=find_tags(header, lines, blocks),
        url=url,
        published=published,
        modified=modified,
    )


# --- Splitting and classifying lines ---------------------------------------------------------------


def split_blocks(text: str) -> list[tuple[str, int]]:
    """Non-blank stripped lines, each with the number of blank lines before it."""
    cleaned = CONTROL_CHARS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    blocks: list[tuple[str, int]] = []
    blanks = 0
    for raw in cleaned.split("\n"):
        stripped = raw.strip()
        if not stripped:
            blanks += 1
            continue
        blocks.append((stripped, blanks))
        blanks = 0
    return blocks


def classify_lines(blocks: Sequence[tuple[str, int]]) -> list[Line]:
    """Each block as a Line with its shape; lines occurring more than once count as repeated."""
    counts = Counter(text for text, _ in blocks)
    # Repeated lines share a shape; caching it keeps dumps of many identical lines cheap.
    shapes: dict[str, tuple[int, Shape]] = {}
    lines = []
    for position, (text, blanks) in enumerate(blocks):
        if text not in shapes:
            words = text.split()
            count = count_words(text, words)
            shapes[text] = (count, line_shape(text, words, counts[text] > 1, count))
        word_count, shape = shapes[text]
        lines.append(Line(position, text, blanks, word_count, shape))
    return lines


def count_words(text: str, words: Sequence[str]) -> int:
    """Words in a line: spaced words, or for Chinese/Japanese text its characters per average word."""
    if not UNSPACED_SCRIPT.search(text[:CAPTION_TAIL_CHARS]):
        return len(words)
    return max(len(words), len(UNSPACED_SCRIPT.findall(text)) // CHARS_PER_UNSPACED_WORD)


def line_shape(text: str, words: list[str], repeated: bool, count: int | None = None) -> Shape:
    """The shape of one line; metadata shapes are tested before prose so they win.

    `count` is the line's word count (see count_words); it defaults to its spaced words.
    """
    count = len(words) if count is None else count
    if DATE_HEADER.fullmatch(text):
        return Shape.DATE_HEADER
    if len(text) <= TIMESTAMP_MAX_CHARS and parse_iso_date(text, source="text") is not None:
        return Shape.TIMESTAMP
    if all(word.startswith("/") and len(word) > 1 for word in words):
        return Shape.XPATH
    # Cheap substring checks first keep per-token work off ordinary (and huge) prose lines.
    urls = [word for word in words if is_url(word)] if has_url_marker(text) else []
    if urls and len(urls) == count and all(is_image_url(word) for word in urls):
        return Shape.IMAGE
    if is_author_line(words):
        return Shape.AUTHOR
    if urls and len(urls) > URL_DENSITY_MAX * count:
        return Shape.URL
    if LIST_MARKER.match(text):
        return Shape.LIST_ITEM
    if is_table_row(text):
        return Shape.TABLE_ROW
    if has_contact_marker(text) and any(is_contact_token(w) for w in words) and not is_prose(text, count):
        return Shape.CONTACT
    if LOCALE.fullmatch(text):
        return Shape.LOCALE
    if is_copyright(text, count):
        return Shape.COPYRIGHT
    if is_caption(text):
        return Shape.CAPTION
    if count <= LABEL_MAX_WORDS and LABEL.fullmatch(text):
        return Shape.LABEL
    if count <= BYLINE_MAX_WORDS and is_byline(text):
        return Shape.BYLINE
    if sum(word in NAV_SEPARATORS for word in words) >= NAV_MIN_SEPARATORS and not is_prose(text, count):
        return Shape.NAV
    # Unspaced-script prose is one "word" to split(); it is data only when it is short.
    if count <= len(words) and is_data_line(text, words):
        return Shape.DATA
    if is_tag_line(text, count):
        return Shape.TAG
    if repeated:
        return Shape.REPEATED
    return Shape.PROSE if is_prose(text, count) else Shape.SHORT


def is_table_row(text: str) -> bool:
    """A Markdown table row: "| Private auto | $260.7 bn |" (also its "|---|---|" rule)."""
    return len(text) > 2 and text[0] == "|" and text[-1] == "|" and text.count("|") >= 3


def has_url_marker(text: str) -> bool:
    """True when the line may hold a URL (a fast pre-check before looking at each token)."""
    return "://" in text or "www." in text.lower()


def has_contact_marker(text: str) -> bool:
    """True when the line may hold an email or a phone number (a fast pre-check)."""
    return "@" in text or "+" in text


def is_url(token: str) -> bool:
    """A token that is a web address."""
    return token[:8].lower().startswith(("http://", "https://", "www."))


def is_image_url(token: str) -> bool:
    """A URL whose path names an image file (avatars, lead pictures)."""
    path = token.split("?", 1)[0].split("#", 1)[0].lower()
    return path.endswith(IMAGE_EXTENSIONS)


def is_contact_token(token: str) -> bool:
    """An email address or an international phone number."""
    bare = token.strip("<>()[],;")
    return ("@" in bare and EMAIL.fullmatch(bare) is not None) or PHONE.fullmatch(bare) is not None


def ends_sentence(text: str) -> bool:
    """True when the line ends with sentence punctuation, possibly followed by a closing quote."""
    return text.rstrip(SENTENCE_CLOSERS).endswith((".", "!", "?", "…", "。", "！", "？"))


def is_teaser(text: str) -> bool:
    """A line cut off with an ellipsis: a link teaser, not a headline."""
    return text.endswith(("...", "…"))


def is_prose(text: str, word_count: int) -> bool:
    """Paragraph-shaped: a long-enough sentence, or a very long line."""
    return word_count >= LONG_PROSE_MIN_WORDS or (word_count >= PROSE_MIN_WORDS and ends_sentence(text))


def is_copyright(text: str, word_count: int) -> bool:
    """A short copyright line with a year or a rights notice (a bare "© Reuters" is a credit)."""
    if word_count > COPYRIGHT_MAX_WORDS:
        return False
    if not (COPYRIGHT_START.match(text) or "©" in text):
        return False
    return YEAR.search(text) is not None or "rights reserved" in text.lower()


def is_caption(text: str) -> bool:
    """A photo caption: words, then a short credit such as ", Photo: AFP" or "(Photo: Reuters)".

    A line that is only a credit ("Photo: Jane Doe", "Photo credit: Pixabay.") credits a picture
    in the article's own words, like a "Source: ..." line under a table; it is not a caption.
    """
    if CREDIT_LABEL.match(text):
        return False
    match = CAPTION_CREDIT.search(text[-CAPTION_TAIL_CHARS:])
    return match is not None and len(match["credit"].split()) <= CREDIT_MAX_WORDS


def is_data_line(text: str, words: Sequence[str]) -> bool:
    """Numbers with at most one real word: years, image sizes ("1920 1080 true"), "Trends 24h"."""
    if DIGIT.search(text) is None:
        return False
    real_words = 0
    for word in words:
        if DIGIT.search(word) is None and WORD_CHARS.search(word) is not None:
            real_words += 1
            if real_words >= 2:  # stop early: long lines are decided after two words
                return False
    return True


def is_tag_line(text: str, word_count: int) -> bool:
    """A short all-lowercase keyword line: "kazakhstan", "kassym-jomart tokayev"."""
    return (
        word_count <= TAG_MAX_WORDS
        and len(text) <= TAG_MAX_CHARS
        and text == text.lower()
        and any(char.isalpha() for char in text)
        and not ends_sentence(text)
        and not any(char in text for char in ":@/")
    )


def is_name(words: Sequence[str], min_words: int = 2) -> bool:
    """Title Case words of a personal or outlet name; small connectors ("of", "de") allowed inside."""
    if not min_words <= len(words) <= NAME_MAX_WORDS:
        return False
    if not (words[0][:1].isupper() and words[-1][:1].isupper()):
        return False
    return all(NAME_WORD.fullmatch(word) and (word[:1].isupper() or word in NAME_CONNECTORS) for word in words)


def is_author_line(words: Sequence[str]) -> bool:
    """An author line: a name and an avatar image URL, whatever the name looks like ("AP", "viktor hedlund")."""
    if len(words) < 2 or len(words) > NAME_MAX_WORDS + 1:
        return False
    *name, last = words
    return is_url(last) and is_image_url(last) and not any(is_url(word) for word in name)


def is_byline(text: str) -> bool:
    """A byline: "By" and names, or "By" and a capitalised credit that is no sentence ("By DPA")."""
    if byline_names(text):
        return True
    match = BYLINE.fullmatch(text)
    if match is None or ends_sentence(text):
        return False
    first = match["names"][:1]
    return first.isupper() or (first.isalpha() and first.lower() == first.upper())


def author_line_name(words: Sequence[str]) -> str | None:
    """The name in an author line: a personal name followed by an avatar image URL."""
    if len(words) < 2 or len(words) > NAME_MAX_WORDS + 1:
        return None
    *name, last = words
    if is_url(last) and is_image_url(last) and is_name(name):
        return " ".join(name)
    return None


def byline_names(text: str) -> tuple[str, ...]:
    """The names in "By Jane Doe and John Roe" (empty if any part is not a personal name)."""
    match = BYLINE.fullmatch(text)
    if not match:
        return ()
    names = [part for part in NAME_LIST_SEPARATOR.split(match["names"].rstrip(".")) if part]
    if not names or not all(is_name(name.split()) for name in names):
        return ()
    return tuple(names)


def footer_start(lines: Sequence[Line]) -> int:
    """Where the footer starts: the last copyright line, when few lines follow it; else the end.

    Disclaimers after a copyright line read like prose ("The information on this site is from
    external sources..."), so the copyright line, not their shape, ends the page's text. A copyright
    line with many lines after it is a credit inside the page, not its footer.
    """
    for index in range(len(lines) - 1, max(len(lines) - FOOTER_MAX_LINES - 2, -1), -1):
        if lines[index].shape is Shape.COPYRIGHT:
            return index
    return len(lines)


# --- Body ------------------------------------------------------------------------------------------


def is_body_anchor(line: Line) -> bool:
    """A line only an article has: a paragraph, a list item or a table row (never repeated chrome)."""
    return line.shape in ANCHOR_SHAPES


def header_end(lines: Sequence[Line], limit: int) -> int:
    """The index after the header: after its last metadata line (date header, timestamps, tags, ...).

    Only lines above the first HEADER_MAX_PROSE_WORDS words of prose can be header (a headline and
    a standfirst fit there, a body does not). Pictures, URLs and keyword lines are header only next to
    other header metadata: alone they also occur inside a body.
    """
    last = -1
    prose_words = 0
    for index, line in enumerate(lines[:limit]):
        if line.shape is Shape.PROSE:
            prose_words += line.word_count
            if prose_words > HEADER_MAX_PROSE_WORDS:
                break
        elif line.shape in HEADER_SHAPES or (line.shape in CHAINED_HEADER_SHAPES and last == index - 1 >= 0):
            last = index
    return last + 1


class Bounds(NamedTuple):
    """Where the header's metadata ends and the body starts and ends (indexes into the lines)."""

    header_end: int
    first: int
    end: int
    anchor: int  # the first paragraph, list item or table row of the body


def body_bounds(lines: Sequence[Line]) -> Bounds | None:
    """The body: from the header's last metadata line to the last anchor (None without anchors).

    The end is where the tail's boilerplate block starts: the last paragraph, list item or table row
    before the footer; whatever short lines follow it (asks, trends, nav, contact, locale, sizes) are
    the site's. The start is right below the header's metadata (timestamps, tags, pictures, bylines):
    a subheading, a short lead or a table may open an article. Without metadata below the opener
    (a date header alone, a site line) the header's lines are a headline and a tagline, and the body
    starts at the first anchor.
    """
    limit = footer_start(lines)
    anchors = [index for index in range(limit) if is_body_anchor(lines[index])]
    if not anchors:
        return None
    start = header_end(lines, anchors[-1] + 1)
    first = anchor = next((index for index in anchors if index >= start), anchors[0])
    opener = 1 if lines[0].shape is Shape.DATE_HEADER else 0
    if opener < start < first:
        first = start
    return Bounds(min(start, first), first, body_end(lines, anchors[-1], limit), anchor)


def body_end(lines: Sequence[Line], last: int, limit: int) -> int:
    """The index after the body: its last anchor, and a table's "Source: ..." line right under it."""
    end = last + 1
    if end < limit and lines[last].shape is Shape.TABLE_ROW and lines[end].shape is Shape.LABEL:
        end += 1
    return end


def body_lines(lines: Sequence[Line], bounds: Bounds | None) -> list[Line]:
    """The lines of the body: everything between its bounds but chrome (pictures, stamps, captions).

    Navigation-shaped lines above the first anchor are breadcrumbs or teaser bullets, not body.
    """
    if bounds is None:
        return []
    return [
        line
        for line in lines[bounds.first : bounds.end]
        if line.shape not in CHROME_SHAPES
        and not is_link_prompt(line)
        and not (line.shape is Shape.NAV and line.position < bounds.anchor)
    ]


def is_link_prompt(line: Line) -> bool:
    """A "Read more: headline" line: a link to another article, inside the body."""
    if line.shape not in (Shape.LABEL, Shape.SHORT):
        return False
    match = LABEL.fullmatch(line.text)
    return match is not None and match["label"].strip().lower() in LINK_PROMPT_LABELS


def detach_standfirst(run: list[Line]) -> tuple[Line | None, list[Line]]:
    """Split off a leading standfirst: a first paragraph set apart by a wider blank gap.

    Dumps tend to leave more blank lines after a standfirst than between paragraphs. An unfinished
    first paragraph (no closing punctuation) is no sign of one: news leads often end that way.
    """
    if len(run) < 2 or run[0].shape is not Shape.PROSE:
        return None, run
    first, second = run[0], run[1]
    # Blank lines between adjacent paragraphs. Lines with none between them are one block (a list,
    # a table), so they say nothing about the gap between paragraphs.
    adjacent_gaps = [
        line.blanks_before
        for prev, line in pairwise(run[1:])
        if line.position == prev.position + 1 and prev.shape is line.shape is Shape.PROSE and line.blanks_before
    ]
    # The usual gap, not the narrowest: a few paragraphs may sit closer together than the rest.
    usual_gap = Counter(adjacent_gaps).most_common(1)[0][0] if adjacent_gaps else None
    wider_gap = second.position == first.position + 1 and usual_gap is not None and second.blanks_before > usual_gap
    if wider_gap:
        return first, run[1:]
    return None, run


def split_glued_paragraphs(text: str) -> str:
    """Restore paragraph breaks the dump lost: "warning.According" -> "warning.\\n\\nAccording"."""
    return GLUED_PARAGRAPH.sub(lambda match: match.group(0) + "\n\n", text)


# --- Header fields ---------------------------------------------------------------------------------


def find_date_header(lines: Sequence[Line]) -> re.Match[str] | None:
    """The `date YYYY-MM-DD URL` line among the first lines, if any."""
    for line in lines[:HEADER_SCAN_LINES]:
        if line.shape is Shape.DATE_HEADER:
            return DATE_HEADER.fullmatch(line.text)
    return None


def slug_words(url: str | None) -> set[str]:
    """The words of the URL's last path segment ("kazakh-president-...-1092086667.html"), ids dropped."""
    if not url:
        return set()
    path = url.split("?", 1)[0].split("#", 1)[0].rstrip("/")
    segment = path.rsplit("/", 1)[-1].rsplit(".", 1)[0] if "/" in path else ""
    words = {word for word in re.split(r"[-_+]", segment.lower()) if word and not word.isdigit()}
    return words if len(words) >= SLUG_MIN_WORDS else set()


class TitleBlock(NamedTuple):
    """A headline candidate: one header line, or the lines of a headline wrapped over several."""

    text: str
    first: int  # position of its first line
    last: int  # position of its last line
    word_count: int


def find_site_line(lines: Sequence[Line], date_header: re.Match[str] | None) -> Line | None:
    """The first line when it names the site: a few words, no sentence, and a longer line follows.

    The two header styles are alternatives: with a `date YYYY-MM-DD URL` line there is no site line.
    """
    if date_header is not None or not lines:
        return None
    top = lines[0]
    if top.shape not in SITE_LINE_SHAPES or top.word_count > SITE_NAME_MAX_WORDS or ends_sentence(top.text):
        return None
    if not is_outlet_name(top.text.split()):
        return None
    dateline = next((line.position for line in lines if line.shape in DATELINE_SHAPES), len(lines))
    if not any(line.word_count > top.word_count for line in lines[1:dateline] if line.shape in TITLE_PIECE_SHAPES):
        return None
    return top


def is_outlet_name(words: Sequence[str]) -> bool:
    """An outlet's name: capitalised words ("The Limited Times", "Rbb24", "360west"), or a caseless script's."""
    return all(
        word in NAME_CONNECTORS or not word[:1].isalpha() or word[:1].isupper() or word[:1].lower() == word[:1].upper()
        for word in words
    ) and any(char.isalpha() for char in "".join(words))


def title_region(
    header: Sequence[Line], metadata_end: int, date_header: re.Match[str] | None, site_line: Line | None
) -> list[Line]:
    """Header lines that may hold the headline: below the opener, above the dateline, not metadata.

    The opener is the date header, or the site line and its tagline (the line under it, when more
    lines follow before the dateline). A headline sits above its dateline (timestamps, author lines,
    bylines); a line below it is a standfirst, unless nothing above the dateline can be a headline.
    Lines below the header's last metadata line (`metadata_end`) open the body, when there is such a
    line below the opener.
    """
    start = 0
    if date_header is not None:
        start = next((line.position + 1 for line in header if line.shape is Shape.DATE_HEADER), 0)
    elif site_line is not None:
        start = site_line.position + 1
    if metadata_end > start:
        header = header[:metadata_end]
    dateline = next((line.position for line in header if line.shape in DATELINE_SHAPES), len(header))
    above = [line for line in header[start:dateline] if line.shape in TITLE_PIECE_SHAPES]
    if site_line is not None and len(above) >= 2 and above[0].position == start:
        above = above[1:]  # the tagline
    if above:
        return above
    return [line for line in header[start:] if line.shape in TITLE_PIECE_SHAPES]


def title_blocks(region: Sequence[Line]) -> list[TitleBlock]:
    """Adjacent short lines joined into one headline each: titles wrap over two or three lines.

    A line continues the block above it when both are short enough to be wrapped pieces and it does
    not start the headline again (titles are often shown twice, once wrapped).
    """
    blocks: list[list[Line]] = []
    for line in region:
        if blocks and continues_title(blocks[-1], line):
            blocks[-1].append(line)
        else:
            blocks.append([line])
    return [
        TitleBlock(join_title_pieces(block), block[0].position, block[-1].position, sum(li.word_count for li in block))
        for block in blocks
    ]


def continues_title(pieces: Sequence[Line], line: Line) -> bool:
    """True when `line` reads as the next wrapped piece of the headline in `pieces`."""
    if line.position != pieces[-1].position + 1:
        return False
    if any(len(piece.text) > TITLE_PIECE_MAX_CHARS for piece in (*pieces, line)):
        return False
    if sum(piece.word_count for piece in pieces) + line.word_count > TITLE_MAX_WORDS:
        return False
    joined = join_title_pieces(pieces)
    if line.text in joined or pieces[0].text in line.text:
        return False
    # A keyword line repeats the headline's words ("Wine Regions" / "regions"); a wrapped piece goes on.
    words = set(WORD_CHARS.findall(line.text))
    return line.shape is not Shape.TAG or not words <= set(WORD_CHARS.findall(joined.lower()))


def join_title_pieces(pieces: Sequence[Line]) -> str:
    """The pieces as one line; a piece ending in a hyphen inside a word joins without a space."""
    text = pieces[0].text
    for piece in pieces[1:]:
        glued = text.endswith("-") and len(text) > 1 and text[-2].isalpha() and piece.text[:1].isalpha()
        text = text + piece.text if glued else f"{text} {piece.text}"
    return text


def is_headline_sized(block: TitleBlock) -> bool:
    """A few words, not a finished long sentence, not a teaser cut off with an ellipsis."""
    return (
        TITLE_MIN_WORDS <= block.word_count <= TITLE_MAX_WORDS
        and not is_teaser(block.text)
        and not (block.word_count >= PROSE_MIN_WORDS and block.text.rstrip(SENTENCE_CLOSERS).endswith("."))
    )


def contact_site_name(lines: Sequence[Line]) -> str | None:
    """The name leading a publisher/contact line ("Sputnik International feedback@... +7495...")."""
    for line in lines:
        if line.shape is not Shape.CONTACT:
            continue
        name: list[str] = []
        for word in line.text.split():
            if is_contact_token(word) or is_url(word):
                break
            name.append(word)
        if 1 <= len(name) <= SITE_NAME_MAX_WORDS and is_name(name, min_words=1):
            return " ".join(name)
    return None


def pick_title(blocks: Sequence[TitleBlock], slug: set[str]) -> TitleBlock | None:
    """The block sharing most words with the URL slug, else the first, or a fuller later copy of it.

    Blocks shaped like a headline are preferred; without one, a headline may be long or end in an
    ellipsis ("Halfway into 2025, let's look at climate tech trends...").
    """
    candidates = [block for block in blocks if is_headline_sized(block)]
    candidates = candidates or [block for block in blocks if block.word_count >= TITLE_MIN_WORDS]
    if not candidates:
        return None
    if slug:
        best = max(candidates, key=lambda block: slug_overlap(block.text, slug))
        if slug_overlap(best.text, slug) >= SLUG_MATCH_MIN:
            return best
    first = candidates[0]
    return next((block for block in candidates[1:] if block.text.startswith(f"{first.text} ")), first)


def slug_overlap(text: str, slug: set[str]) -> float:
    """Share of the slug's words that occur in the text."""
    words = set(WORD_CHARS.findall(text.lower()))
    return len(slug & words) / len(slug)


def find_description(header: Sequence[Line], title: TitleBlock | None) -> str | None:
    """The first long-enough text line after the title in the header (the standfirst)."""
    start = title.last + 1 if title else 0
    for line in header[start:]:
        if title and line.text == title.text:
            continue
        if line.shape in DESCRIPTION_SHAPES and line.word_count >= DESCRIPTION_MIN_WORDS:
            return line.text
    return None


def source_slug(tail: Sequence[Line]) -> str | None:
    """The outlet an article is attributed to, from a "Source: X" line after the body.

    A "Source: ..." line inside the body attributes a table or a figure, not the article.
    """
    for line in tail:
        if line.shape is not Shape.LABEL:
            continue
        match = LABEL.fullmatch(line.text)
        if match and match["label"].strip().lower() in SOURCE_LABELS:
            return match["value"]
    return None


def compact(text: str) -> str:
    """Lowercased letters and digits only: "Israel today" -> "israeltoday"."""
    return "".join(WORD_CHARS.findall(text.lower()))


def shared_prefix_length(left: str, right: str) -> int:
    """How many leading characters two strings have in common."""
    length = 0
    for a, b in zip(left, right, strict=False):
        if a != b:
            break
        length += 1
    return length


def outlet_match(phrase: str, outlet: str) -> int:
    """How strongly a title phrase names the outlet (shared prefix length), 0 when it does not.

    Equal names match. Otherwise the names must share OUTLET_PREFIX_MIN_CHARS and the phrase must
    not be a mere beginning of the outlet's name: "Israel" ends many headlines and is not
    "israelhayom", while "Israel today" (its translation) diverges after the shared part.
    """
    if not phrase or not outlet:
        return 0
    if phrase == outlet:
        return len(phrase)
    shared = shared_prefix_length(phrase, outlet)
    if shared < OUTLET_PREFIX_MIN_CHARS or outlet.startswith(phrase):
        return 0
    return shared


def clean_title(title: str, site_name: str | None, source: str | None, named_on_top: bool = False) -> str:
    """The title without a trailing site/outlet name (" | Site", " - Site", " Site", " Israel today").

    After a separator the site or source name may be abridged or translated (a shared prefix will
    do). Without one, a trailing phrase is the site's name only when the dump's top line names the
    site (`named_on_top`) and the phrase is that name exactly, or the source's name when it shares
    whole leading words with it: the site's name ends headlines too ("... Switch to Pivot" on
    pivot.app, "Houston for Biking" on houstoniamag), while a "Source: israelhayom" line names the
    outlet of this very article. A title carries one such name at most.
    """
    outlets = [compact(name) for name in (site_name, source) if name]
    if not outlets:
        return title
    for separator in TITLE_SEPARATORS:
        head, found, tail = title.rpartition(separator)
        if found and head.strip() and any(outlet_match(compact(tail), outlet) for outlet in outlets):
            return head.strip()
    if site_name and named_on_top:
        stripped = strip_outlet_phrase(title, compact(site_name), exact=True)
        if stripped != title:
            return stripped
    if source:
        return strip_outlet_phrase(title, compact(source), exact=False)
    return title


def strip_outlet_phrase(title: str, outlet: str, exact: bool) -> str:
    """Drop the trailing 1-4 word phrase that best matches the outlet's name, keeping enough title.

    `exact` asks for the name itself (keeping at least a word: Chinese titles have no spaces), else
    the phrase may translate the name: its leading whole words are the name's beginning, and it is
    no longer than the name ("Israel today" for israelhayom, not "haberler" for haberturk). A prefix
    match is weaker evidence, so it keeps TITLE_MIN_KEEP_WORDS.
    """
    words = title.split()
    keep = 1 if exact else TITLE_MIN_KEEP_WORDS
    best_words, best_score = 0, 0
    for size in range(1, min(OUTLET_MAX_WORDS, len(words) - keep) + 1):
        phrase_words = words[-size:]
        phrase = compact(" ".join(phrase_words))
        if exact:
            score = len(phrase) if phrase == outlet else 0
        elif len(phrase) > len(outlet):
            score = 0
        else:
            score = outlet_match(phrase, outlet)
            leading = {len(compact(" ".join(phrase_words[:count]))) for count in range(1, size)}
            score = score if score in leading else 0
        if score > best_score:
            best_words, best_score = size, score
    if not best_words:
        return title
    return " ".join(words[:-best_words]).rstrip(" -|—–:,")


def header_dates(
    header: Sequence[Line], date_header: re.Match[str] | None
) -> tuple[ArticleDate | None, ArticleDate | None]:
    """Published = first header timestamp, modified = a later different one; else the header's day."""
    stamps = [
        parsed
        for line in header
        if line.shape is Shape.TIMESTAMP and (parsed := parse_iso_date(line.text, source="text")) is not None
    ]
    if stamps:
        published = stamps[0]
        modified = next((stamp for stamp in stamps[1:] if stamp.raw != published.raw), None)
        return published, modified
    if date_header:
        return parse_iso_date(date_header.group("day"), source="header"), None
    return None, None


def find_authors(lines: Sequence[Line]) -> tuple[str, ...]:
    """Names from author lines (name + avatar URL) and bylines, deduplicated in order.

    Personal names win; only when no line names a person are the credits of author lines and
    bylines taken as they are ("DPA", "Guardian staff reporter", "東京新聞デジタル").
    """
    names: list[str] = []
    credits: list[str] = []
    for line in lines:
        if line.shape is Shape.AUTHOR:
            name = author_line_name(line.text.split())
            names.extend([name] if name else [])
            credits.append(" ".join(line.text.split()[:-1]))
        elif line.shape is Shape.BYLINE:
            names.extend(byline_names(line.text))
            credits.extend(byline_credits(line.text))
    return tuple(dict.fromkeys(names or credits))


def byline_credits(text: str) -> list[str]:
    """The parts of a byline as written, names or not: "By ssi and dan" -> ["ssi", "dan"]."""
    match = BYLINE.fullmatch(text)
    if match is None:
        return []
    return [part for part in NAME_LIST_SEPARATOR.split(match["names"].rstrip(".")) if part]


def find_language(lines: Sequence[Line]) -> str | None:
    """The language of the first locale line ("en_EN", "en-US"), lowercased."""
    for line in lines:
        if line.shape is Shape.LOCALE:
            match = LOCALE.fullmatch(line.text)
            return match["language"].lower() if match else None
    return None


def find_tags(header: Sequence[Line], lines: Sequence[Line], blocks: Sequence[TitleBlock] = ()) -> tuple[str, ...]:
    """Keyword lines in the header, then the items of a final comma-separated keyword line.

    Lowercase pieces of a wrapped headline (`blocks` of several lines) are not keywords.
    """
    pieces = {
        position for block in blocks for position in range(block.first, block.last + 1) if block.last > block.first
    }
    tags = [line.text for line in header if line.shape is Shape.TAG and line.position not in pieces]
    if lines:
        tags.extend(comma_keywords(lines[-1]))
    return tuple(dict.fromkeys(tags))


def comma_keywords(line: Line) -> list[str]:
    """The items of a lowercase comma-separated keyword line (empty if it is anything else)."""
    if line.shape not in (Shape.SHORT, Shape.REPEATED, Shape.TAG) or "," not in line.text:
        return []
    items = [item.strip() for item in line.text.split(",")]
    if len(items) < 2 or not all(item and is_tag_line(item, len(item.split())) for item in items):
        return []
    return items
