"""Tests for tasks/extract.py: real pages end to end, and the text rules added on top of trafilatura."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lxml.html
import pytest

from newsdag.tasks.extract import (
    PRECISE_MIN_SHARE,
    PRECISE_MIN_WORDS,
    choose_text,
    drop_leading_headline,
    extract_document,
    may_have_lost_article,
)
from newsdag.tasks.models import Article
from tests.conftest import FIXTURE_PAGES, fixture_page, make_document

EXPECTED_FILES = sorted(FIXTURE_PAGES.glob("*.expected.json"))


def extract_fixture(expected_file: Path) -> tuple[Article, dict[str, Any]]:
    expected = json.loads(expected_file.read_text(encoding="utf-8"))
    html = fixture_page(expected_file).read_bytes()
    result = extract_document(make_document(html, url=expected["url"]))
    assert isinstance(result, Article), result
    return result, expected


# --- real pages -----------------------------------------------------------------------------------


def test_fixtures_have_text_expectations() -> None:
    assert EXPECTED_FILES
    for expected_file in EXPECTED_FILES:
        expected = json.loads(expected_file.read_text(encoding="utf-8"))
        assert expected["text_contains"], expected_file.name


@pytest.mark.parametrize("expected_file", EXPECTED_FILES, ids=lambda path: path.name.split(".")[0])
def test_fixture_metadata(expected_file: Path) -> None:
    article, expected = extract_fixture(expected_file)
    assert article.title == expected["title"]
    assert list(article.authors) == expected["authors"]
    assert article.language == expected["language"]
    if expected["published"] is None:
        # No date in the markup: only the htmldate fallback (a visible date) may give one, as a day.
        assert article.published is None or (
            article.published.source == "htmldate" and article.published.precision == "day"
        )
    else:
        assert article.published is not None
        assert article.published.raw == expected["published"]
        assert article.published.source == expected["date_source"]


@pytest.mark.parametrize("expected_file", EXPECTED_FILES, ids=lambda path: path.name.split(".")[0])
def test_fixture_text_has_body_without_boilerplate(expected_file: Path) -> None:
    article, expected = extract_fixture(expected_file)
    for passage in expected["text_contains"]:
        assert passage in article.text
    for boilerplate in expected["text_excludes"]:
        assert boilerplate not in article.text
    # The headline is metadata: it does not open the body.
    assert not article.text.startswith(expected["title"])
    # Paragraphs stay separate lines.
    assert "\n" in article.text


# --- choose_text ----------------------------------------------------------------------------------

BALANCED = "Lead paragraph of the story.\nSecond paragraph.\nShare this article\nNewsletter sign-up"


def test_precise_text_wins_when_it_keeps_enough() -> None:
    precise = "Lead paragraph of the story.\nSecond paragraph."
    assert len(precise) >= PRECISE_MIN_SHARE * len(BALANCED)
    assert choose_text(BALANCED, precise) == precise


def test_balanced_text_wins_when_precise_lost_the_article() -> None:
    assert choose_text(BALANCED, "Share") == BALANCED


@pytest.mark.parametrize("precise", [None, "", "  \n "])
def test_balanced_text_wins_when_precise_is_empty(precise: str | None) -> None:
    assert choose_text(BALANCED, precise) == BALANCED


# --- may_have_lost_article: when the balanced run is asked ---------------------------------------

PARAGRAPH = "Residents of the coastal town were evacuated overnight as the storm surge rose. "


def paragraphs_page(count: int) -> lxml.html.HtmlElement:
    return lxml.html.fromstring("<html><body>" + f"<p>{PARAGRAPH}</p>" * count + "</body></html>")


def test_long_precise_text_with_most_of_the_paragraphs_is_trusted() -> None:
    precise = PARAGRAPH * 20
    assert len(precise.split()) >= PRECISE_MIN_WORDS
    assert not may_have_lost_article(precise, paragraphs_page(20))


def test_precise_text_with_few_words_asks_the_balanced_run() -> None:
    assert may_have_lost_article(PARAGRAPH * 2, paragraphs_page(2))


def test_precise_text_with_a_small_share_of_the_paragraphs_asks_the_balanced_run() -> None:
    assert may_have_lost_article(PARAGRAPH * 20, paragraphs_page(100))


def test_headline_with_soft_hyphens_is_dropped() -> None:
    text = "Storm\u00adsurge floods coastal towns as sea walls fail\nResidents were evacuated overnight."
    assert drop_leading_headline(text, ["Stormsurge floods coastal towns as sea walls fail"]) == (
        "Residents were evacuated overnight."
    )


# --- drop_leading_headline ------------------------------------------------------------------------

HEADLINE = "Storm surge floods coastal towns as sea walls fail"
BODY = "Residents were evacuated overnight.\nEngineers will inspect the barriers."


def test_headline_first_line_is_dropped() -> None:
    assert drop_leading_headline(f"{HEADLINE}\n{BODY}", [HEADLINE]) == BODY


def test_headline_with_site_suffix_is_dropped() -> None:
    assert drop_leading_headline(f"{HEADLINE} | Harbor Gazette\n{BODY}", [HEADLINE]) == BODY


def test_headline_on_the_second_line_is_dropped_case_and_space_insensitive() -> None:
    text = f"Weather\n{HEADLINE.upper()}  \n{BODY}"
    assert drop_leading_headline(text, [None, HEADLINE]) == f"Weather\n{BODY}"


def test_short_kicker_inside_the_headline_is_kept() -> None:
    text = f"Sea walls\n{BODY}"
    assert drop_leading_headline(text, [HEADLINE]) == text


def test_headline_later_in_the_text_is_kept() -> None:
    text = f"{BODY}\nMore.\n{HEADLINE}"
    assert drop_leading_headline(text, [HEADLINE]) == text


def test_text_that_is_only_the_headline_is_kept() -> None:
    assert drop_leading_headline(HEADLINE, [HEADLINE]) == HEADLINE


def test_no_known_headline_changes_nothing() -> None:
    text = f"{HEADLINE}\n{BODY}"
    assert drop_leading_headline(text, [None, ""]) == text


def test_htmldate_uses_the_news_language_date_parser() -> None:
    # htmldate looks its external parser up by module-level name: if it stops doing so, every worker pays
    # dateparser's ~4.5 s compilation of all its locales again.
    import htmldate.extractors

    from newsdag.tasks.extract import news_date_parser

    assert htmldate.extractors.get_external_parser is news_date_parser
    assert htmldate.extractors._external_date("12. Dezember 2025").date().isoformat() == "2025-12-12"
