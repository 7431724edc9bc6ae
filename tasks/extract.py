"""Extraction: RawDocument -> Article (trafilatura for HTML, the dump parser for text) or Reject."""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import htmldate
import htmldate.extractors
import lxml.html
import py3langid
import trafilatura
from htmldate import extractors as htmldate_extractors
from lxml.etree import ParserError
from trafilatura.external import try_justext
from trafilatura.settings import Document
from trafilatura.utils import repair_faulty_html

from newsdag.tasks.dates import parse_iso_date
from newsdag.tasks.errors import ExtractError
from newsdag.tasks.htmlmeta import read_page_metadata, url_genre
from newsdag.tasks.loaders import decode_content, with_archived_content
from newsdag.tasks.models import (
    NO_DECLARED_RIGHTS,
    Article,
    ArticleDate,
    DeclaredRights,
    ExtractedFields,
    RawDocument,
    Reject,
)
from newsdag.tasks.rights import NO_MARKUP_RIGHTS, article_rights
from newsdag.tasks.textdump import parse_text_dump

if TYPE_CHECKING:
    from dateparser import DateDataParser

WORD = re.compile(r"\w+")
LIBXML2_HINT = re.compile(r",? *(?:try|use) XML_PARSE_HUGE(?: option)?")
# trafilatura looks at a page's first characters to tell HTML from other text; repair_faulty_html reads them.
HTML_SNIFF_CHARS = 50
BLANK_LINES = re.compile(r"\n\s*\n+")
INLINE_SPACE = re.compile(r"[ \t\u00a0]+")
# py3langid is unreliable on a few words; below this many characters the page's declared language wins.
MIN_CHARS_FOR_LANGUAGE_DETECTION = 200
# Language is read from the text's start: on the fundus and wcxb dev pages over 2,000 characters, the first
# 1,000 (and even 500) give the language the first 4,000 give on every page, at 0.56 ms a page against
# 1.5 ms for 2,000.
LANGUAGE_SAMPLE_CHARS = 1000
# Extraction settings chosen for news pages (see docs/quality.md for how they score). trafilatura's own
# metadata is never asked for: it costs ~8 ms/page and tasks/htmlmeta.py reads every field we keep.
BALANCED_TEXT_OPTIONS = {
    "with_metadata": False,
    "include_comments": False,
    "include_tables": True,
    "favor_precision": False,
    "deduplicate": False,
}
# The text comes from a precision-favouring run: on both dev sets it drops more teasers, share bars
# and newsletter boxes than it loses body (AEB text F1 0.957 -> 0.961, see docs/quality.md).
PRECISE_TEXT_OPTIONS = {**BALANCED_TEXT_OPTIONS, "favor_precision": True}
# The first run skips trafilatura's fallback extractors (readability, jusText: a third of its time).
# Its text is kept unless it may have lost the article (the rules below); then the full precision run
# decides as before. Measured on the dev sets: text F1 equal on 437 of 439 pages, ~25 % less CPU.
PRECISE_FAST_OPTIONS = {**PRECISE_TEXT_OPTIONS, "fast": True}
# Precision mode sometimes keeps only one box of a page (a lead, a caption list). When its text is
# shorter than this share of the balanced run's, it has lost the article and the balanced text wins.
# On the dev sets such failures keep 8-16 % of the text; genuine boilerplate cuts keep 29 % or more.
PRECISE_MIN_SHARE = 0.25
# The balanced run costs as much as the precise one, so it runs only when the precise text may have
# lost the article: when it is under PRECISE_MIN_SHARE of the page's <p> text (a 0.3 ms stand-in for
# the balanced text: the dev sets' three failures keep 8-16 % of it, and 9 of 439 pages fall under
# 25 %), or when it has fewer words than this (pages that do not put their body in <p>). With both
# rules the balanced run happens on 7 % of dev pages and every page where it wins is among them.
PRECISE_MIN_WORDS = 150
# A recall-favouring run (no fallback extractors of its own, ~15 ms a page) is the second opinion on every
# page: the precise text keeps its lines, and gets back the recall run's paragraphs it dropped *between*
# two of its own lines (an interview's questions, a list item, a closing "Additional reporting by ..."
# sentence). Paragraphs before the first or after the last precise line are not brought back: there,
# the dev sets disagree (fundus keeps standfirsts, AEB does not: +0.002 on one, -0.002 on the other).
RECALL_TEXT_OPTIONS = {**BALANCED_TEXT_OPTIONS, "favor_recall": True}
# A dropped line comes back only when it reads as a sentence: this many words or more, ending with
# sentence punctuation (or a colon, which introduces a list or a quote). Shorter or unfinished lines
# are labels and link teasers more often than body.
RESTORE_MIN_WORDS = 4
SENTENCE_END = (".", "!", "?", "…", ":", '"', "”", "“", "»", "«", ")", "。", "！", "？")
# Word 4-grams: the text metric's unit. A dropped line whose 4-grams are mostly in the kept text already is
# the same paragraph split or worded otherwise by the other run; bringing it back would repeat it.
SHINGLE_WORDS = 4
COVERED_SHARE = 0.5
# Elements whose text the recall run may bring back as a line; shorter text says nothing.
TEXT_BLOCK_TAGS = ("p", "li", "blockquote", "dd", "h2", "h3", "h4")
MIN_BLOCK_CHARS = 20
# htmldate (what trafilatura uses for its date) is asked only when our own rules find no date; these
# are the options trafilatura passes it: the original publication date, visible dates included.
HTMLDATE_OPTIONS = {"extensive_search": True, "original_date": True}
# htmldate's last resort for a written date is dateparser over every one of its ~200 locales: the first text
# no locale claims compiles all their patterns, ~4.5 s of CPU in each worker process (9 ms a page over a
# 1,000-page run on 2 workers, more than our own metadata rules cost). Limited to the languages news in
# the dev sets and their peers are written in, that first text costs ~0.2 s; dates found on the dev sets:
# unchanged (htmldate 0.920, wcxb 0.868).
DATEPARSER_LANGUAGES = (
    "en", "de", "fr", "es", "it", "pt", "nl", "sv", "da", "nb", "fi", "pl", "cs", "sk", "hu", "ro", "el",
    "ru", "uk", "tr", "ar", "he", "ja", "zh", "ko", "id", "vi",
)  # fmt: skip
# The headline is metadata, not body; trafilatura often repeats it as the first line or two.
HEADLINE_SCAN_LINES = 2
# A first line counts as the headline when one contains the other and the shorter is at least this
# share of the longer ("Headline" vs "Headline | Site"); a short kicker contained in it does not.
HEADLINE_MIN_OVERLAP = 0.6


def extract_document(document: RawDocument) -> Article | Reject:
    """One document as an Article, or a Reject naming why not; never raises for bad content."""
    try:
        fields = extract_fields(document)
    except ExtractError as error:
        return Reject(document.input, "extract", error.rule, str(error), document.doc_id, document.url)
    except (ValueError, TypeError, RecursionError, MemoryError, ParserError) as error:
        # trafilatura and lxml raise these on pathological markup; one bad page must not stop a run.
        detail = f"{type(error).__name__}: {error}"[:300]
        return Reject(document.input, "extract", "extractor-error", detail, document.doc_id, document.url)
    return build_article(document, fields)


def extract_fields(document: RawDocument) -> ExtractedFields:
    decoded = decode_content(document.content, document.encoding or document.encoding_declared)
    if decoded is None:
        raise ExtractError("the bytes are not text in any detectable encoding", rule="undecodable")
    text = decoded[0].replace("\x00", "")
    if document.kind == "text":
        fields = replace(parse_text_dump(text), rights=article_rights(document.rights, NO_MARKUP_RIGHTS))
    else:
        fields = extract_html(text, document.url, document.rights)
    return composed_unicode(apply_hints(document, fields))


def extract_archived(archive_dir: Path, document: RawDocument) -> Article | Reject:
    """extract_document on the document's bytes, read from the archive here, in the worker: the ingest
    process then never holds a batch's bytes while it is extracted, nor sends them through a pipe."""
    try:
        document = with_archived_content(document, archive_dir)
    except OSError as error:
        detail = f"its bytes are no longer in the archive: {error.strerror or error}"
        return Reject(document.input, "extract", "unreadable", detail, document.doc_id, document.url)
    return extract_document(document)


def composed_unicode(fields: ExtractedFields) -> ExtractedFields:
    """Every text field in Unicode's composed form (NFC), as trafilatura.extract gives it and
    bare_extraction does not: a page writing 'gepru\u0308ft' (u + combining diaeresis) is found by a
    search for 'geprüft'."""

    def nfc(value: str | None) -> str | None:
        return unicodedata.normalize("NFC", value) if value else value

    return replace(
        fields,
        text=unicodedata.normalize("NFC", fields.text),
        title=nfc(fields.title),
        description=nfc(fields.description),
        authors=tuple(unicodedata.normalize("NFC", name) for name in fields.authors),
        site_name=nfc(fields.site_name),
        tags=tuple(unicodedata.normalize("NFC", tag) for tag in fields.tags),
    )


def extract_html(html: str, url: str | None, declared: DeclaredRights = NO_DECLARED_RIGHTS) -> ExtractedFields:
    """Main text with trafilatura; every metadata field with our own rules (htmldate as the date fallback)."""
    parser, tree = parse_html(html)
    page_url = url if url and url.startswith("http") else None
    metadata = read_page_metadata(tree, url=page_url)
    try:
        text = main_text(tree, page_url)
    except ExtractError as error:
        limit = parser_limit(parser)
        if error.rule == "no-text" and limit:
            raise ExtractError(
                f"the HTML parser stopped early, before any main text: {limit}", "parser-limit"
            ) from None
        raise
    return ExtractedFields(
        # The body repeats the og:title on some pages where the title we keep is worded differently.
        text=drop_leading_headline(normalize_text(text), (metadata.title, metadata.og_title)),
        title=metadata.title,
        description=metadata.description,
        authors=metadata.authors,
        site_name=metadata.site_name,
        language=metadata.language,
        tags=metadata.tags,
        url=metadata.canonical_url or page_url,
        canonical_url=metadata.canonical_url,
        published=metadata.published or htmldate_date(tree, page_url),
        modified=metadata.modified,
        genre=metadata.genre,
        rights=article_rights(declared, metadata.rights),
    )


def parse_html(html: str) -> tuple[lxml.html.HTMLParser, lxml.html.HtmlElement]:
    """The page's tree, and the parser that read it (its error log tells whether it stopped early).

    The text is first repaired as trafilatura repairs it: a doctype on the first line can make libxml2 drop
    the body's structure (one dev page kept no main text at all). An XML declaration naming an encoding is
    refused in a decoded string, so such a page (XHTML) is parsed from its UTF-8 bytes.
    """
    html = repair_faulty_html(html, html[:HTML_SNIFF_CHARS].lower())
    parser = lxml.html.HTMLParser()  # the default parser's options; an instance of our own for its error log
    try:
        return parser, lxml.html.fromstring(html, parser=parser)
    except ValueError:
        parser = lxml.html.HTMLParser(encoding="utf-8")
    except ParserError as error:
        raise ExtractError(f"not parseable as HTML: {error}", rule="unparseable-html") from None
    try:
        return parser, lxml.html.fromstring(html.encode("utf-8", "surrogatepass"), parser=parser)
    except (ParserError, ValueError) as error:
        raise ExtractError(f"not parseable as HTML: {error}", rule="unparseable-html") from None


def parser_limit(parser: lxml.html.HTMLParser) -> str | None:
    """libxml2's message when it stopped reading the page at one of its limits (nesting deeper than 256,
    an attribute or text over 10 MB), else None. It stops silently: what follows is simply not in the tree."""
    for entry in parser.error_log:
        if entry.type_name == "ERR_RESOURCE_LIMIT":
            message = " ".join(entry.message.split()).removeprefix("Resource limit exceeded: ")
            return LIBXML2_HINT.sub("", message)  # its advice names a parser flag, not something a user can do
    return None


def main_text(tree: lxml.html.HtmlElement, url: str | None) -> str:
    """The precise text with the body paragraphs the recall run found and it dropped (see
    RECALL_TEXT_OPTIONS and restore_dropped_paragraphs).

    trafilatura copies the tree it is given, so every run reads the same unpruned page.
    """
    precise = precise_text(tree, url)
    if precise and not drops_sentences(tree, precise):
        return precise
    fuller = text_of(trafilatura.bare_extraction(tree, url=url, **RECALL_TEXT_OPTIONS))
    if precise and fuller:
        return restore_dropped_paragraphs(precise, fuller)
    if precise or fuller:
        return precise or fuller
    raise ExtractError("no main text found in the page", rule="no-text")


def precise_text(tree: lxml.html.HtmlElement, url: str | None) -> str | None:
    """The fast precision run's text; when it may have lost the article, the precision run with
    trafilatura's fallback extractors, then a balanced run to check that one (see PRECISE_FAST_OPTIONS)."""
    fast = text_of(trafilatura.bare_extraction(tree, url=url, **PRECISE_FAST_OPTIONS))
    if fast and not may_have_lost_article(fast, tree):
        return fast
    precise = text_of(trafilatura.bare_extraction(tree, url=url, **PRECISE_TEXT_OPTIONS))
    if precise and not may_have_lost_article(precise, tree):
        return precise
    balanced = text_of(trafilatura.bare_extraction(tree, url=url, **BALANCED_TEXT_OPTIONS))
    return choose_text(balanced, precise) if balanced else precise


def drops_sentences(tree: lxml.html.HtmlElement, precise: str) -> bool:
    """Whether a paragraph, list item or quote that reads as a sentence and is not in the precise text lies
    between two that are: only then can the recall run bring a line back (restore_dropped_paragraphs).
    A ~1 ms stand-in for a ~15 ms run."""
    kept = set(shingles(precise))
    dropped_since_kept = seen_kept = False
    for element in tree.iter(*TEXT_BLOCK_TAGS):
        text = " ".join(element.text_content().split())
        own = shingles(text) if len(text) >= MIN_BLOCK_CHARS else []
        if not own:
            continue
        if sum(shingle in kept for shingle in own) > COVERED_SHARE * len(own):
            if dropped_since_kept:
                return True
            seen_kept = True
        elif seen_kept and reads_as_sentence(text):
            dropped_since_kept = True
    return False


def restore_dropped_paragraphs(kept: str, fuller: str) -> str:
    """`kept`'s lines, plus the lines of `fuller` it dropped between two of its own lines that read as
    sentences, are not already in `kept` in other words, and occur once (repeated lines are site chrome).

    Lines come in `fuller`'s order; a line of `kept` that `fuller` lacks stays after the line it followed.
    """
    kept_lines = [line for line in kept.split("\n") if line.strip()]
    fuller_lines = [line for line in fuller.split("\n") if line.strip()]
    kept_set = set(kept_lines)
    anchors = [index for index, line in enumerate(fuller_lines) if line in kept_set]
    if not anchors:
        return kept
    kept_shingles = set(shingles(kept))
    counts = Counter(fuller_lines)

    def restorable(line: str) -> bool:
        if line in kept_set or counts[line] > 1 or not reads_as_sentence(line):
            return False
        own = shingles(line)
        return sum(shingle in kept_shingles for shingle in own) <= COVERED_SHARE * len(own)

    merged = [
        line
        for index, line in enumerate(fuller_lines)
        if line in kept_set or (anchors[0] < index < anchors[-1] and restorable(line))
    ]
    # Lines only `kept` has, placed after the kept line before them.
    fuller_set = set(fuller_lines)
    after: dict[str | None, list[str]] = {}
    previous: str | None = None
    for line in kept_lines:
        if line in fuller_set:
            previous = line
        else:
            after.setdefault(previous, []).append(line)
    result = after.pop(None, [])
    for line in merged:
        result.append(line)
        result.extend(after.pop(line, []))
    return "\n".join(result)


def reads_as_sentence(line: str) -> bool:
    """RESTORE_MIN_WORDS words or more, ending with sentence punctuation."""
    return len(WORD.findall(line)) >= RESTORE_MIN_WORDS and line.rstrip().endswith(SENTENCE_END)


def shingles(text: str) -> list[tuple[str, ...]]:
    """The text's word SHINGLE_WORDS-grams, as the text metric counts them."""
    words = WORD.findall(text)
    return [tuple(words[start : start + SHINGLE_WORDS]) for start in range(max(1, len(words) - SHINGLE_WORDS + 1))]


def text_of(document: Document | None) -> str | None:
    """A run's text, None when it found none."""
    return document.text if document is not None and document.text and document.text.strip() else None


def may_have_lost_article(precise: str, tree: lxml.html.HtmlElement) -> bool:
    """Whether the precise text is short enough that the balanced run must be asked (see PRECISE_MIN_WORDS)."""
    if len(WORD.findall(precise)) < PRECISE_MIN_WORDS:
        return True
    paragraph_chars = sum(len(" ".join(element.text_content().split())) for element in tree.iter("p"))
    return len(precise) < PRECISE_MIN_SHARE * paragraph_chars


def choose_text(balanced: str, precise: str | None) -> str:
    """The precision run's text unless it kept too little of the balanced run's (see PRECISE_MIN_SHARE)."""
    if precise and precise.strip() and len(precise) >= PRECISE_MIN_SHARE * len(balanced):
        return precise
    return balanced


def drop_leading_headline(text: str, headlines: Sequence[str | None]) -> str:
    """The text without a first line (of the first HEADLINE_SCAN_LINES) that repeats the headline."""
    known = [folded for headline in headlines if headline and (folded := fold(headline))]
    lines = text.split("\n")
    for index, line in enumerate(lines[:HEADLINE_SCAN_LINES]):
        if any(is_same_headline(fold(line), headline) for headline in known):
            rest = lines[:index] + lines[index + 1 :]
            # Never empty a page: a one-line text that is its headline stays as it is.
            return normalize_text("\n".join(rest)) if any(part.strip() for part in rest) else text
    return text


def fold(text: str) -> str:
    """Whitespace collapsed, soft hyphens dropped and case folded, for comparing headlines."""
    return " ".join(text.replace("\u00ad", "").split()).casefold()


def is_same_headline(line: str, headline: str) -> bool:
    """Equal, or one contains the other and is not much shorter (a site suffix, a kicker)."""
    if not line or not headline:
        return False
    shorter, longer = sorted((line, headline), key=len)
    return shorter in longer and len(shorter) >= HEADLINE_MIN_OVERLAP * len(longer)


@functools.cache
def news_date_parser() -> DateDataParser:
    """htmldate's external date parser (same settings), over DATEPARSER_LANGUAGES only; imported when
    first asked for, as htmldate does."""
    from dateparser import DateDataParser

    return DateDataParser(
        languages=list(DATEPARSER_LANGUAGES),
        settings={
            "NORMALIZE": True,
            "PARSERS": ["custom-formats", "absolute-time"],
            "PREFER_DATES_FROM": "past",
            "PREFER_LOCALE_DATE_ORDER": True,
            "RETURN_AS_TIMEZONE_AWARE": False,
            "STRICT_PARSING": True,
        },
    )


# htmldate looks its parser up by this module-level name on every call (tests/test_extract.py checks the seam).
htmldate.extractors.get_external_parser = news_date_parser


def htmldate_date(tree: lxml.html.HtmlElement, url: str | None) -> ArticleDate | None:
    """htmldate's date (it copies the tree): day-only (YYYY-MM-DD), kept as a day, never given a time or zone."""
    value = htmldate.find_date(tree, url=url, **HTMLDATE_OPTIONS)
    if not value:
        return None
    parsed = parse_iso_date(value[:10], source="htmldate")
    return parsed if parsed and parsed.precision == "day" else None


def apply_hints(document: RawDocument, fields: ExtractedFields) -> ExtractedFields:
    """Fill what extraction missed from hints given with the input (a JSONL record's url, title, date)."""
    hints = document.hints
    published = fields.published
    if published is None and hints.date:
        published = parse_iso_date(hints.date, source="hint")
    return replace(
        fields,
        url=fields.url or hints.url,
        title=fields.title or hints.title,
        published=published,
    )


def build_article(document: RawDocument, fields: ExtractedFields) -> Article:
    text = normalize_text(fields.text)
    url = fields.url or document.hints.url or document.url
    identity = fields.canonical_url or url
    text_sha256 = hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()
    return Article(
        article_id=hashlib.sha256(f"url:{identity}".encode()).hexdigest()[:32],
        doc_id=document.doc_id,
        input=document.input,
        url=url,
        canonical_url=fields.canonical_url,
        source=document.source,
        title=fields.title,
        description=fields.description,
        text=text,
        text_sha256=text_sha256,
        word_count=len(WORD.findall(text)),
        authors=fields.authors,
        site_name=fields.site_name,
        language=detect_language(text, fields.language),
        tags=fields.tags,
        published=fields.published,
        modified=fields.modified,
        # A text dump or a JSONL record has no markup: its URL's section (/opinion/) is all it says.
        genre=fields.genre or url_genre(url),
        rights=fields.rights,
    )


def detect_language(text: str, declared: str | None) -> str | None:
    """py3langid on the text when there is enough of it, else the page's declared language."""
    if len(text) < MIN_CHARS_FOR_LANGUAGE_DETECTION:
        return declared
    language, _score = py3langid.classify(text[:LANGUAGE_SAMPLE_CHARS])
    return language


def without_other_languages(
    articles: Sequence[Article], languages: Sequence[str]
) -> tuple[list[Article], list[Reject]]:
    """(articles in one of `languages`, rejects of the others: rule other-language): `--language`, a filter
    that can only be applied once the text is extracted and its language detected."""
    wanted = {language.lower() for language in languages}
    kept, rejects = [], []
    for article in articles:
        if (article.language or "").lower() in wanted:
            kept.append(article)
            continue
        detail = f"language {article.language or 'unknown'}, not {', '.join(sorted(wanted))} (--language)"
        rejects.append(Reject(article.input, "extract", "other-language", detail, article.doc_id, article.url))
    return kept, rejects


def normalize_text(text: str) -> str:
    """Paragraphs separated by one blank line; runs of spaces folded; no leading/trailing space."""
    paragraphs = (INLINE_SPACE.sub(" ", part).strip() for part in BLANK_LINES.split(text.replace("\r", "")))
    lines = ("\n".join(line.strip() for line in part.split("\n")) for part in paragraphs if part)
    return "\n\n".join(lines)


# A date string no locale parses: dateparser then loads every locale it knows (htmldate asks it with
# languages=None), which is what a worker meets sooner or later.
UNPARSEABLE_DATE = "12 xyzzy 2021"
WARM_UP_PAGE = "<html><body><p>warm up</p></body></html>"


def warm_up_worker() -> None:
    """Load now what extraction loads lazily, at a worker's first pages, and keeps for the worker's life.

    Called once in the workers' forkserver (tasks/preload.py): each worker forks with it already loaded
    and shares its pages with the server and the other workers instead of loading a copy of its own.
    Measured per worker when each loaded its own (bench/results.md, section 4): py3langid's model 73 MB
    and 0.4 s, jusText's stoplists of every language (trafilatura's fallback) 20 MB plus 33 MB for the
    lowercased set jusText makes of them, dateparser's locales (htmldate's fallback) 35 MB and 1.3 s of
    CPU. Nothing here changes what a page extracts to: these are caches and models, read-only once loaded.
    """
    py3langid.classify("warm up")
    # Loads the stoplists, and jusText's own lowercased set of them, made at its first call and cached.
    try_justext(lxml.html.fromstring(WARM_UP_PAGE), None, None)
    # htmldate's own lazy helpers; getattr: they are not public API and may move in a later htmldate.
    month_words = getattr(htmldate_extractors, "month_words", None)
    if month_words is not None:
        month_words()
    external_parser = getattr(htmldate_extractors, "get_external_parser", None)
    if external_parser is not None:
        external_parser().get_date_data(UNPARSEABLE_DATE)
