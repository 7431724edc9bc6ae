"""Tests for page metadata: real saved pages field by field, and one small page per rule."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import lxml.html
import pytest

from newsdag.tasks.htmlmeta import PageMetadata, read_page_metadata
from tests.conftest import FIXTURE_PAGES, fixture_page

EXPECTED_FILES = sorted(FIXTURE_PAGES.glob("*.expected.json"))


def page(head: str = "", body: str = "", *, lang: str = "en") -> lxml.html.HtmlElement:
    return lxml.html.fromstring(f'<html lang="{lang}"><head>{head}</head><body>{body}</body></html>')


def json_ld(data: Any) -> str:
    return f'<script type="application/ld+json">{json.dumps(data)}</script>'


def meta(key: str, content: str, attribute: str = "property") -> str:
    return f'<meta {attribute}="{key}" content="{content}">'


def read(head: str = "", body: str = "", url: str | None = "https://example.com/news/story") -> PageMetadata:
    return read_page_metadata(page(head, body), url=url)


# --- real pages -----------------------------------------------------------------------------------


def load_fixture(expected_file: Path) -> tuple[PageMetadata, dict[str, Any]]:
    expected = json.loads(expected_file.read_text(encoding="utf-8"))
    html = fixture_page(expected_file).read_text("utf-8")
    return read_page_metadata(lxml.html.fromstring(html), url=expected["url"]), expected


def test_fixtures_are_present() -> None:
    assert len(EXPECTED_FILES) >= 6


@pytest.mark.parametrize("expected_file", EXPECTED_FILES, ids=lambda path: path.name.split(".")[0])
def test_real_page_title(expected_file: Path) -> None:
    metadata, expected = load_fixture(expected_file)
    assert metadata.title == expected["title"]


@pytest.mark.parametrize("expected_file", EXPECTED_FILES, ids=lambda path: path.name.split(".")[0])
def test_real_page_published(expected_file: Path) -> None:
    metadata, expected = load_fixture(expected_file)
    if expected["published"] is None:
        assert metadata.published is None
        return
    assert metadata.published is not None
    assert metadata.published.raw == expected["published"]
    assert metadata.published.source == expected["date_source"]


@pytest.mark.parametrize("expected_file", EXPECTED_FILES, ids=lambda path: path.name.split(".")[0])
def test_real_page_authors(expected_file: Path) -> None:
    metadata, expected = load_fixture(expected_file)
    assert list(metadata.authors) == expected["authors"]


@pytest.mark.parametrize("expected_file", EXPECTED_FILES, ids=lambda path: path.name.split(".")[0])
def test_real_page_language_and_canonical(expected_file: Path) -> None:
    metadata, expected = load_fixture(expected_file)
    assert metadata.language == expected["language"]
    assert metadata.canonical_url is None or metadata.canonical_url.startswith("http")


def test_reading_does_not_change_the_tree() -> None:
    html = EXPECTED_FILES[0].with_name(EXPECTED_FILES[0].name.replace(".expected.json", ".html"))
    tree = lxml.html.fromstring(html.read_text("utf-8"))
    before = lxml.html.tostring(tree)
    read_page_metadata(tree, url="https://example.com/a")
    assert lxml.html.tostring(tree) == before


# --- JSON-LD --------------------------------------------------------------------------------------


def test_json_ld_graph_with_id_references() -> None:
    graph = {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "WebSite", "@id": "https://example.com/#site", "name": "Example News"},
            {"@type": "Person", "@id": "https://example.com/#jane", "name": "Jane Doe"},
            {
                "@type": "NewsArticle",
                "headline": "Council &amp; mayor agree budget",
                "datePublished": "2024-05-31T14:05:00+02:00",
                "dateModified": "2024-05-31T16:00:00+02:00",
                "author": [{"@id": "https://example.com/#jane"}, {"@type": "Person", "name": "John Smith"}],
                "publisher": {"@id": "https://example.com/#site"},
            },
        ],
    }
    metadata = read(json_ld(graph))
    assert metadata.title == "Council & mayor agree budget"
    assert metadata.authors == ("Jane Doe", "John Smith")
    assert metadata.site_name == "Example News"
    assert metadata.published is not None and metadata.modified is not None
    assert metadata.published.source == "json-ld"
    assert metadata.published.value == datetime(2024, 5, 31, 12, 5, tzinfo=UTC)
    assert metadata.published.utc_offset == "+02:00"
    assert metadata.modified.raw == "2024-05-31T16:00:00+02:00"


def test_nested_main_entity_and_array_of_objects() -> None:
    data = [
        {"@type": "BreadcrumbList", "itemListElement": []},
        {"@type": "WebPage", "mainEntity": {"@type": "ReportageNewsArticle", "datePublished": "2023-01-02"}},
    ]
    metadata = read(json_ld(data))
    assert metadata.published is not None and metadata.published.day == date(2023, 1, 2)


def test_article_node_wins_over_an_image_with_its_own_author() -> None:
    data = {
        "@type": "NewsArticle",
        "author": "Jane Doe",
        "image": {"@type": "ImageObject", "author": "Getty Images", "datePublished": "2020-01-01"},
        "datePublished": "2024-05-31",
    }
    metadata = read(json_ld(data))
    assert metadata.authors == ("Jane Doe",)
    assert metadata.published is not None and metadata.published.day == date(2024, 5, 31)


@pytest.mark.parametrize(
    "script",
    [
        '<script type="application/ld+json">{"@type": "NewsArticle", "headline": </script>',
        '<script type="application/ld+json">[1, "two", null, {"@type": 5, "author": 7}]</script>',
        '<script type="application/ld+json">{"@type": ["NewsArticle"], "headline": ["a"], "author": {}}</script>',
        '<script type="application/ld+json"></script>',
    ],
)
def test_bad_json_ld_does_not_raise(script: str) -> None:
    metadata = read(script + "<title>Fallback title</title>")
    assert metadata.title == "Fallback title"


def test_pages_without_head_or_html_do_not_raise() -> None:
    metadata = read_page_metadata(lxml.html.fromstring("<p>Just a paragraph</p>"), url=None)
    assert metadata == PageMetadata(None, None, (), None, None, None, None, None)


# --- dates ----------------------------------------------------------------------------------------


def test_meta_date_in_rfc_2822_keeps_its_offset() -> None:
    metadata = read(meta("pubdate", "Fri, 31 May 2024 14:05:00 GMT", "name"))
    assert metadata.published is not None
    assert metadata.published.source == "meta"
    assert metadata.published.precision == "second"
    assert metadata.published.value == datetime(2024, 5, 31, 14, 5, tzinfo=UTC)
    assert metadata.published.utc_offset == "+00:00"
    assert metadata.published.raw == "Fri, 31 May 2024 14:05:00 GMT"


@pytest.mark.parametrize(
    ("raw", "precision", "offset"),
    [
        ("2024-05-31 14:05:00", "second", None),
        ("2024/05/31", "day", None),
        ("2024-05-31T14:05:00.000+0200", "second", "+02:00"),
        ("2024-05-31 14:05:00 +02:00", "second", "+02:00"),
        ("Fri May 31 14:05:00 CEST 2024", "second", "+02:00"),
    ],
)
def test_common_meta_date_forms(raw: str, precision: str, offset: str | None) -> None:
    metadata = read(meta("article:published_time", raw))
    assert metadata.published is not None
    assert metadata.published.day == date(2024, 5, 31)
    assert (metadata.published.precision, metadata.published.utc_offset) == (precision, offset)


def test_day_only_date_stays_a_day_without_offset() -> None:
    metadata = read(json_ld({"@type": "Article", "datePublished": "2024-05-31"}))
    assert metadata.published is not None
    assert metadata.published.precision == "day"
    assert metadata.published.value is None and metadata.published.utc_offset is None
    assert metadata.published.day == date(2024, 5, 31)


def test_a_time_on_the_same_day_from_a_later_source_is_preferred() -> None:
    head = json_ld({"@type": "Article", "datePublished": "2024-05-31"})
    head += meta("article:published_time", "2024-05-31T09:30:00+02:00")
    metadata = read(head)
    assert metadata.published is not None
    assert (metadata.published.source, metadata.published.raw) == ("meta", "2024-05-31T09:30:00+02:00")


def test_an_offset_for_the_same_wall_clock_time_is_preferred() -> None:
    head = json_ld({"@type": "Article", "datePublished": "2024-05-31 09:30:00.0"})
    head += meta("article:published_time", "2024-05-31T09:30:00+02:00")
    metadata = read(head)
    assert metadata.published is not None and metadata.published.utc_offset == "+02:00"


def test_published_preferred_over_modified() -> None:
    head = meta("article:modified_time", "2024-06-02T10:00:00Z") + meta("article:published_time", "2024-05-31T10:00Z")
    metadata = read(head)
    assert metadata.published is not None and metadata.published.day == date(2024, 5, 31)
    assert metadata.modified is not None and metadata.modified.day == date(2024, 6, 2)


def test_future_and_ancient_dates_are_rejected() -> None:
    future = (datetime.now(UTC) + timedelta(days=10)).isoformat()
    head = json_ld({"@type": "NewsArticle", "datePublished": future}) + meta("date", "1970-01-01", "name")
    assert read(head, url=None).published is None


def test_future_date_falls_back_to_the_next_source() -> None:
    head = json_ld({"@type": "NewsArticle", "datePublished": "2999-01-01T00:00:00Z"})
    head += meta("article:published_time", "2024-05-31T10:00:00Z")
    metadata = read(head)
    assert metadata.published is not None and metadata.published.source == "meta"


def test_time_element_marked_pubdate_wins() -> None:
    body = (
        '<aside><time datetime="2020-01-01T00:00:00Z">old teaser</time></aside>'
        '<article><time datetime="2024-05-31T08:00:00+01:00" pubdate>31 May</time></article>'
    )
    metadata = read(body=body)
    assert metadata.published is not None
    assert (metadata.published.source, metadata.published.utc_offset) == ("time", "+01:00")


@pytest.mark.parametrize(
    "url", ["https://example.com/2024/05/31/story/", "https://example.com/news/20240531/story.html"]
)
def test_date_in_url_path_is_a_day(url: str) -> None:
    metadata = read_page_metadata(page(), url=url)
    assert metadata.published is not None
    assert (metadata.published.source, metadata.published.precision) == ("url", "day")
    assert metadata.published.day == date(2024, 5, 31)
    assert metadata.published.value is None


# --- title and site -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Budget agreed | Example News", "Budget agreed"),
        ("Budget agreed - EXAMPLE NEWS", "Budget agreed"),
        ("Budget agreed — Example News", "Budget agreed"),
        ("Example News: Budget agreed", "Budget agreed"),
        ("Budget agreed: what it means", "Budget agreed: what it means"),
        ("Example News", "Example News"),
    ],
)
def test_site_name_is_stripped_from_the_title(title: str, expected: str) -> None:
    metadata = read(meta("og:site_name", "Example News") + f"<title>{title}</title>")
    assert metadata.title == expected
    assert metadata.site_name == "Example News"


def test_host_name_is_stripped_and_og_title_preferred() -> None:
    head = "<title>Budget agreed - www.example-times.com</title>" + meta("og:title", "Budget agreed | Example Times")
    metadata = read(head, url="https://www.example-times.com/a")
    assert metadata.title == "Budget agreed"


def test_h1_used_only_when_it_resembles_the_title() -> None:
    assert read("<title>Budget agreed at last</title>", "<h1>Budget agreed</h1>").title == "Budget agreed"
    assert read("<title>Budget agreed at last</title>", "<h1>Weather</h1>").title == "Budget agreed at last"


def test_title_whitespace_and_entities_are_cleaned() -> None:
    metadata = read(json_ld({"@type": "NewsArticle", "headline": "  Rock &amp;\n roll  "}))
    assert metadata.title == "Rock & roll"


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("*A Treatise on Coffee* (1792)", "A Treatise on Coffee (1792)"),
        ("**Budget** agreed", "Budget agreed"),
        ("5 * 3 = 15", "5 * 3 = 15"),
        ("Why snake_case_names win", "Why snake_case_names win"),
    ],
)
def test_markdown_emphasis_is_dropped_from_the_title(title: str, expected: str) -> None:
    assert read(meta("og:title", title)).title == expected


# --- authors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("author", "expected"),
    [
        ("By Jane Doe and John Smith", ("Jane Doe", "John Smith")),
        ("Jane Doe, Staff Writer", ("Jane Doe",)),
        ("Von Erika Mustermann und Max Muster", ("Erika Mustermann", "Max Muster")),
        ("Jane Doe | Reuters", ("Jane Doe",)),
        ("Jane Doe (jd), jane@example.com", ("Jane Doe",)),
        ("Jane Doe & John Smith, and", ("Jane Doe", "John Smith")),
        ("Di Maio", ("Di Maio",)),
        ("Jane Doe, 31.05.2024 14:05", ("Jane Doe",)),
        ("This is clearly a sentence and not the name of a person", ()),
    ],
)
def test_author_strings_are_cleaned(author: str, expected: tuple[str, ...]) -> None:
    assert read(json_ld({"@type": "NewsArticle", "author": author})).authors == expected


def test_author_objects_lists_and_dedupe() -> None:
    author = [{"@type": "Person", "name": "Jane Doe"}, "JANE DOE", {"givenName": "John", "familyName": "Smith"}]
    assert read(json_ld({"@type": "NewsArticle", "author": author})).authors == ("Jane Doe", "John Smith")


def test_site_name_as_author_yields_to_a_person_elsewhere() -> None:
    head = json_ld({"@type": "NewsArticle", "author": {"@type": "Organization", "name": "Example News"}})
    head += meta("og:site_name", "Example News") + meta("author", "Jane Doe", "name")
    assert read(head).authors == ("Jane Doe",)


def test_site_name_is_kept_when_it_is_the_only_attribution() -> None:
    head = meta("og:site_name", "Example News") + meta("author", "Example News", "name")
    assert read(head).authors == ("Example News",)


def test_article_author_url_is_not_a_name() -> None:
    head = meta("article:author", "https://www.facebook.com/janedoe") + meta("parsely-author", "Jane Doe", "name")
    assert read(head).authors == ("Jane Doe",)


@pytest.mark.parametrize(
    "body",
    [
        '<div itemprop="author" itemscope><span itemprop="name">Jane Doe</span></div>',
        '<a rel="author" href="/jane">Jane Doe</a>',
        '<p class="byline">By Jane Doe</p>',
        '<a href="https://example.com/author/jane-doe/">Jane Doe</a>',
        '<span class="authorname">Jane Doe</span>',
        '<section id="authors-container"><span>Jane Doe</span></section>',
    ],
)
def test_authors_from_markup(body: str) -> None:
    assert read(body=body).authors == ("Jane Doe",)


# --- canonical URL, description, language ---------------------------------------------------------


def test_canonical_url_is_resolved_against_the_page_url() -> None:
    metadata = read('<link rel="canonical" href="/news/story?id=1">', url="https://example.com/x/y")
    assert metadata.canonical_url == "https://example.com/news/story?id=1"


def test_og_url_used_when_no_canonical_link() -> None:
    assert read(meta("og:url", "https://example.com/a")).canonical_url == "https://example.com/a"


def test_language_from_og_locale_and_json_ld() -> None:
    assert read_page_metadata(page(meta("og:locale", "de_DE"), lang=""), url=None).language == "de"
    no_lang = page(json_ld({"@type": "NewsArticle", "inLanguage": "fr-FR"}), lang="")
    assert read_page_metadata(no_lang, url=None).language == "fr"
    assert read_page_metadata(page(lang="pt-BR"), url=None).language == "pt"


def test_description_from_meta() -> None:
    assert read(meta("description", "A short summary.", "name")).description == "A short summary."


def test_author_element_with_a_date_or_handle_is_not_a_name() -> None:
    assert read(body='<div class="article-heading-author-name">20 Nov 2019 08:00 GMT</div>').authors == ()
    assert read(body='<div class="author-name">rmb8090</div>').authors == ()


def test_og_title_is_kept_as_written() -> None:
    metadata = read(meta("og:title", "Storm floods the coast") + "<title>Storm floods coast | Gazette</title>")
    assert metadata.og_title == "Storm floods the coast"


# --- tags -----------------------------------------------------------------------------------------


def test_tags_from_meta_split_cleaned_and_deduplicated_in_order() -> None:
    head = (
        meta("article:tag", "Politics")
        + meta("keywords", 'politics, Science &amp; Technology,, Elections ; "', "name")
        + meta("article:section", "World")
    )
    assert read(head).tags == ("Politics", "Science & Technology", "Elections", "World")


def test_tags_from_json_ld_only_without_meta() -> None:
    ld = json_ld(
        {"@type": "NewsArticle", "headline": "Storm", "keywords": ["Storms", "Coast"], "articleSection": "Weather"}
    )
    assert read(ld).tags == ("Storms", "Coast", "Weather")
    assert read(ld + meta("keywords", "Floods", "name")).tags == ("Floods",)


def test_tags_are_bounded() -> None:
    keywords = ", ".join(f"keyword{number}" for number in range(100)) + ", " + "x" * 200
    tags = read(meta("keywords", keywords, "name")).tags
    assert 0 < len(tags) <= 30
    assert all(len(tag) <= 80 for tag in tags)


# --- genre ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "genre"),
    [
        ("OpinionNewsArticle", "opinion"),
        ("AnalysisNewsArticle", "analysis"),
        ("BackgroundNewsArticle", "background"),
        ("ReviewNewsArticle", "review"),
        ("https://schema.org/SatiricalArticle", "satire"),
        ("NewsArticle", "news"),
        ("ReportageNewsArticle", "news"),
        ("BlogPosting", None),
    ],
)
def test_genre_from_the_json_ld_type(kind: str, genre: str | None) -> None:
    assert read(json_ld({"@type": kind, "headline": "Storm"})).genre == genre


@pytest.mark.parametrize(
    ("section", "genre"),
    [
        ("Opinion - Columnists", "opinion"),
        ("Meinung &amp; Debatte", "opinion"),
        ("Kommentare", "opinion"),
        ("Op-Ed", "opinion"),
        ("News Analysis", "analysis"),
        ("Film Reviews", "review"),
        ("Politics", "news"),
    ],
)
def test_a_section_name_says_the_genre_of_a_plain_news_article(section: str, genre: str) -> None:
    ld = json_ld({"@type": "NewsArticle", "headline": "Storm"})
    assert read(ld + meta("article:section", section)).genre == genre
    assert read(json_ld({"@type": "NewsArticle", "headline": "Storm", "articleSection": [section]})).genre == genre


def test_the_url_names_the_section_when_the_markup_does_not() -> None:
    assert read(url="https://example.com/2021/07/01/opinion/trump-case.html").genre == "opinion"
    assert read(url="https://example.com/commentisfree/2019/nov/18/hong-kong").genre == "opinion"
    assert read(url="https://example.com/news/opinion-polls-tighten").genre is None  # a whole segment only
    assert read(url="https://example.com/news/story").genre is None
    # The type is more specific than the URL's section.
    ld = json_ld({"@type": "AnalysisNewsArticle", "headline": "Storm"})
    assert read(ld, url="https://example.com/opinion/storm").genre == "analysis"
