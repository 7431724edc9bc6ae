"""Feeds, sitemaps and URL lists into work items: pure functions over fixture bytes, no network."""

from __future__ import annotations

import gzip
import time
from datetime import date
from pathlib import Path

import pytest

from newsdag.tasks.dates import feed_date
from newsdag.tasks.discover_web import (
    children_since,
    filter_by_date,
    normalize_url,
    parse_feed,
    parse_sitemap,
    parse_url_list,
)
from newsdag.tasks.errors import DiscoveryError
from newsdag.tasks.models import DocumentHints, WorkItem

FEED_URL = "https://news.example.org/feeds/main.xml"
SITEMAP_URL = "https://news.example.org/sitemap.xml"

RSS20 = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0">
  <channel>
    <title>Example News</title>
    <link>https://news.example.org/</link>
    <item>
      <title>  Council   approves budget </title>
      <link>https://News.Example.org:443/2024/05/budget?utm_source=rss&amp;utm_medium=feed&amp;id=7#comments</link>
      <pubDate>Wed, 01 May 2024 10:00:00 +0200</pubDate>
    </item>
    <item>
      <title>Relative link</title>
      <link>/2024/05/relative</link>
      <pubDate>Thu, 02 May 2024 08:30:00 -0400</pubDate>
    </item>
    <item>
      <title>Same article again, other tracking</title>
      <link>https://news.example.org/2024/05/budget?id=7&amp;fbclid=abc</link>
    </item>
    <item>
      <title>No link at all</title>
      <description>nothing to fetch</description>
    </item>
    <item>
      <title>Mail link</title>
      <link>mailto:desk@example.org</link>
    </item>
  </channel>
</rss>
"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://blog.example.net/">
  <title>Atom Example</title>
  <id>urn:uuid:feed</id>
  <updated>2024-05-03T12:00:00+05:30</updated>
  <entry>
    <title>Atom entry one</title>
    <link rel="alternate" href="posts/one?gclid=xyz"/>
    <id>urn:uuid:1</id>
    <published>2024-05-03T09:15:00+05:30</published>
    <updated>2024-05-03T11:00:00+05:30</updated>
  </entry>
  <entry>
    <title>Atom entry two, updated only</title>
    <link href="https://blog.example.net/posts/two"/>
    <id>urn:uuid:2</id>
    <updated>2024-04-30T23:59:00Z</updated>
  </entry>
</feed>
"""

RSS10 = b"""<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
         xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://rdf.example.com/">
    <title>RDF Example</title>
    <link>https://rdf.example.com/</link>
    <items><rdf:Seq><rdf:li rdf:resource="https://rdf.example.com/a"/></rdf:Seq></items>
  </channel>
  <item rdf:about="https://rdf.example.com/a">
    <title>RDF item</title>
    <link>https://rdf.example.com/a?mc_cid=1&amp;mc_eid=2</link>
    <dc:date>2024-05-04T06:00:00-07:00</dc:date>
  </item>
</rdf:RDF>
"""

BILLION_LAUGHS_HEAD = b"""<?xml version="1.0"?>
<!DOCTYPE %s [
<!ENTITY lol "lol">
<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
"""
BILLION_LAUGHS_FEED = (BILLION_LAUGHS_HEAD % b"rss") + (
    b'<rss version="2.0"><channel><title>&lol9;</title>'
    b"<item><title>&lol9;</title><link>https://evil.example/a</link></item></channel></rss>"
)
BILLION_LAUGHS_SITEMAP = (BILLION_LAUGHS_HEAD % b"urlset") + (
    b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>https://evil.example/&lol9;</loc></url>'
    b"</urlset>"
)
EXTERNAL_ENTITY_FEED = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>t</title>
<item><title>&x;</title><link>https://evil.example/a</link><description>&x;</description></item>
</channel></rss>
"""
EXTERNAL_ENTITY_SITEMAP = b"""<?xml version="1.0"?>
<!DOCTYPE urlset [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>https://evil.example/&x;</loc></url></urlset>
"""

URLSET = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">
  <url>
    <loc>https://news.example.org/2024/05/one</loc>
    <lastmod>2024-05-01T10:00:00+02:00</lastmod>
    <image:image><image:loc>https://cdn.example.org/one.jpg</image:loc></image:image>
  </url>
  <url>
    <loc>https://news.example.org/2024/05/two?utm_campaign=x</loc>
    <lastmod>2024-05-02</lastmod>
  </url>
  <url><loc>https://news.example.org/2024/05/one#top</loc></url>
  <url><loc>https://news.example.org/2024/05/three</loc></url>
</urlset>
"""

SITEMAP_INDEX = b"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>https://news.example.org/sitemaps/2024-05.xml.gz</loc><lastmod>2024-05-31T23:00:00Z</lastmod></sitemap>
  <sitemap><loc>/sitemaps/2024-04.xml</loc><lastmod>2024-04-30</lastmod></sitemap>
  <sitemap><loc>https://news.example.org/sitemaps/latest.xml</loc></sitemap>
</sitemapindex>
"""

NEWS_SITEMAP = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
  <url>
    <loc>https://news.example.org/2024/05/election</loc>
    <lastmod>2024-05-06T08:00:00+02:00</lastmod>
    <news:news>
      <news:publication><news:name>Example News</news:name><news:language>en</news:language></news:publication>
      <news:publication_date>2024-05-05T21:30:00+02:00</news:publication_date>
      <news:title>Election night: the results</news:title>
    </news:news>
  </url>
</urlset>
"""


def locations(items: list[WorkItem] | tuple[WorkItem, ...]) -> list[str]:
    return [item.location for item in items]


# --- normalize_url ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://Example.COM:443/a/b?utm_source=x&utm_medium=y&id=3#frag", "https://example.com/a/b?id=3"),
        ("http://example.com:80/a?fbclid=1&gclid=2&mc_cid=3&mc_eid=4", "http://example.com/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("https://example.com/a?b=2&a=1", "https://example.com/a?a=1&b=2"),
        (" https://example.com/\n  wrapped ", "https://example.com/wrapped"),
    ],
)
def test_normalize_url_canonical_form(raw: str, expected: str) -> None:
    assert normalize_url(raw) == expected


def test_normalize_url_resolves_relative_links_against_the_base() -> None:
    assert normalize_url("../b?ref=home", base="https://example.com/x/y/feed.xml") == "https://example.com/x/b"
    assert normalize_url("//cdn.example.com/p", base="https://example.com/") == "https://cdn.example.com/p"


@pytest.mark.parametrize("raw", ["mailto:a@example.com", "ftp://example.com/f", "javascript:void(0)", "", "   ", "/a"])
def test_normalize_url_refuses_what_is_not_http(raw: str) -> None:
    assert normalize_url(raw) is None


def test_feed_date_keeps_the_written_offset() -> None:
    assert feed_date("Wed, 01 May 2024 10:00:00 +0200") == "2024-05-01T10:00:00+02:00"
    assert feed_date("2024-05-03T09:15:00+05:30") == "2024-05-03T09:15:00+05:30"
    assert feed_date("2024-04-30T23:59:00Z") == "2024-04-30T23:59:00+00:00"
    assert feed_date("2024-05-02") == "2024-05-02"
    assert feed_date("2024-05-02T10:00:00") == "2024-05-02T10:00:00"
    assert feed_date("last Tuesday") is None
    assert feed_date("2024-13-40") is None


# --- feeds -----------------------------------------------------------------------------------------


def test_rss20_links_resolved_normalised_deduplicated_in_order() -> None:
    items = parse_feed(RSS20, FEED_URL, "example-news")
    assert locations(items) == [
        "https://news.example.org/2024/05/budget?id=7",
        "https://news.example.org/2024/05/relative",
    ]
    first, second = items
    assert first == WorkItem(
        location="https://news.example.org/2024/05/budget?id=7",
        source="example-news",
        kind="url",
        hints=DocumentHints(
            url="https://news.example.org/2024/05/budget?id=7",
            title="Council approves budget",
            date="2024-05-01T10:00:00+02:00",
        ),
    )
    assert second.hints.date == "2024-05-02T08:30:00-04:00"


def test_atom_entries_with_xml_base_and_published_before_updated() -> None:
    items = parse_feed(ATOM, "https://blog.example.net/atom.xml", "blog")
    assert locations(items) == ["https://blog.example.net/posts/one", "https://blog.example.net/posts/two"]
    assert items[0].hints.title == "Atom entry one"
    assert items[0].hints.date == "2024-05-03T09:15:00+05:30"
    assert items[1].hints.date == "2024-04-30T23:59:00+00:00"


def test_rss10_rdf_feed_with_dc_date() -> None:
    items = parse_feed(RSS10, "https://rdf.example.com/index.rdf", "rdf")
    assert locations(items) == ["https://rdf.example.com/a"]
    assert items[0].hints == DocumentHints(
        url="https://rdf.example.com/a", title="RDF item", date="2024-05-04T06:00:00-07:00"
    )


def test_feed_that_is_not_well_formed_is_still_read() -> None:
    broken = RSS20.replace(b"</channel>", b"<unclosed></channel>")
    assert len(parse_feed(broken, FEED_URL, "s")) == 2


def test_valid_empty_feed_gives_no_items() -> None:
    empty = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
    assert parse_feed(empty, FEED_URL, "s") == []


def test_html_page_is_not_a_feed() -> None:
    with pytest.raises(DiscoveryError) as raised:
        parse_feed(b"<!doctype html><html><body><p>Hello</p></body></html>", FEED_URL, "s")
    assert raised.value.rule == "not-a-feed"
    assert raised.value.subject == FEED_URL


def test_gzipped_feed_is_read() -> None:
    assert len(parse_feed(gzip.compress(RSS20), FEED_URL, "s")) == 2


def test_feed_bytes_that_look_like_a_path_are_not_opened_as_a_file(tmp_path: Path) -> None:
    # feedparser opens a string argument as a file name; the bytes must reach it as a stream.
    local_feed = tmp_path / "local.xml"
    local_feed.write_bytes(RSS20)
    with pytest.raises(DiscoveryError) as raised:
        parse_feed(str(local_feed).encode(), FEED_URL, "s")
    assert raised.value.rule == "not-a-feed"


def test_billion_laughs_feed_is_refused_quickly() -> None:
    started = time.monotonic()
    with pytest.raises(DiscoveryError) as raised:
        parse_feed(BILLION_LAUGHS_FEED, FEED_URL, "s")
    assert raised.value.rule == "xml-entities"
    assert time.monotonic() - started < 2


def test_external_entity_feed_is_refused_not_resolved() -> None:
    with pytest.raises(DiscoveryError) as raised:
        parse_feed(EXTERNAL_ENTITY_FEED, FEED_URL, "s")
    assert raised.value.rule == "xml-entities"
    assert "root:" not in str(raised.value)


def test_entity_declaration_in_a_broken_feed_is_still_refused() -> None:
    broken = b"garbage before the prolog" + EXTERNAL_ENTITY_FEED
    with pytest.raises(DiscoveryError) as raised:
        parse_feed(broken, FEED_URL, "s")
    assert raised.value.rule == "xml-entities"


# --- sitemaps --------------------------------------------------------------------------------------


def test_urlset_articles_with_lastmod_hints() -> None:
    page = parse_sitemap(URLSET, SITEMAP_URL, "example-news")
    assert locations(page.articles) == [
        "https://news.example.org/2024/05/one",
        "https://news.example.org/2024/05/two",
        "https://news.example.org/2024/05/three",
    ]
    assert [item.hints.date for item in page.articles] == ["2024-05-01T10:00:00+02:00", "2024-05-02", None]
    assert all(item.kind == "url" and item.source == "example-news" for item in page.articles)
    assert page.children == ()
    assert page.truncated is False


def test_sitemap_index_lists_children_with_their_dates() -> None:
    page = parse_sitemap(SITEMAP_INDEX, SITEMAP_URL, "s")
    assert page.articles == ()
    assert page.children == (
        "https://news.example.org/sitemaps/2024-05.xml.gz",
        "https://news.example.org/sitemaps/2024-04.xml",
        "https://news.example.org/sitemaps/latest.xml",
    )
    assert page.child_dates == ("2024-05-31T23:00:00+00:00", "2024-04-30", None)


def test_children_since_skips_children_last_modified_before_the_window() -> None:
    page = parse_sitemap(SITEMAP_INDEX, SITEMAP_URL, "s")
    assert children_since(page, date(2024, 5, 1)) == (
        "https://news.example.org/sitemaps/2024-05.xml.gz",
        "https://news.example.org/sitemaps/latest.xml",
    )
    assert children_since(page, None) == page.children


def test_gzipped_sitemap_is_read() -> None:
    page = parse_sitemap(gzip.compress(URLSET), SITEMAP_URL + ".gz", "s")
    assert len(page.articles) == 3


def test_gzip_bomb_stops_at_the_limit() -> None:
    bomb = gzip.compress(URLSET + b" " * 2_000_000)
    with pytest.raises(DiscoveryError) as raised:
        parse_sitemap(bomb, SITEMAP_URL, "s", max_bytes=1_000_000)
    assert raised.value.rule == "too-large"


def test_plain_sitemap_over_the_limit_is_too_large() -> None:
    with pytest.raises(DiscoveryError) as raised:
        parse_sitemap(URLSET, SITEMAP_URL, "s", max_bytes=100)
    assert raised.value.rule == "too-large"


def test_truncated_gzip_is_bad_gzip() -> None:
    with pytest.raises(DiscoveryError) as raised:
        parse_sitemap(gzip.compress(URLSET)[:-20], SITEMAP_URL, "s")
    assert raised.value.rule == "bad-gzip"


def test_news_sitemap_prefers_publication_date_and_news_title() -> None:
    (item,) = parse_sitemap(NEWS_SITEMAP, SITEMAP_URL, "s").articles
    assert item.hints == DocumentHints(
        url="https://news.example.org/2024/05/election",
        title="Election night: the results",
        date="2024-05-05T21:30:00+02:00",
    )


def test_sitemap_without_namespace_and_with_bom_and_leading_blanks() -> None:
    bare = b"\xef\xbb\xbf\n  <?xml version='1.0'?><urlset><url><loc>https://a.example/x</loc></url></urlset>"
    assert locations(parse_sitemap(bare, SITEMAP_URL, "s").articles) == ["https://a.example/x"]


@pytest.mark.parametrize(
    "content",
    [
        b"<urlset><url><loc>https://a.example/x</loc></url>",
        b"<urlset><url><loc>https://a.example/x</url></urlset>",
        b"not xml at all",
        b"",
    ],
)
def test_malformed_sitemap_is_bad_xml(content: bytes) -> None:
    with pytest.raises(DiscoveryError) as raised:
        parse_sitemap(content, SITEMAP_URL, "s")
    assert raised.value.rule == "bad-xml"


def test_feed_given_as_sitemap_is_not_a_sitemap() -> None:
    with pytest.raises(DiscoveryError) as raised:
        parse_sitemap(RSS20, SITEMAP_URL, "s")
    assert raised.value.rule == "not-a-sitemap"


@pytest.mark.parametrize("content", [BILLION_LAUGHS_SITEMAP, EXTERNAL_ENTITY_SITEMAP])
def test_sitemap_entities_are_refused_not_expanded(content: bytes) -> None:
    started = time.monotonic()
    with pytest.raises(DiscoveryError) as raised:
        parse_sitemap(content, SITEMAP_URL, "s")
    assert raised.value.rule == "xml-entities"
    assert time.monotonic() - started < 2


def test_max_urls_keeps_the_first_entries_and_says_so() -> None:
    body = b"".join(b"<url><loc>https://a.example/%d</loc></url>" % number for number in range(10))
    page = parse_sitemap(b"<urlset>" + body + b"</urlset>", SITEMAP_URL, "s", max_urls=4)
    assert locations(page.articles) == [f"https://a.example/{number}" for number in range(4)]
    assert page.truncated is True
    exact = parse_sitemap(b"<urlset>" + body + b"</urlset>", SITEMAP_URL, "s", max_urls=10)
    assert len(exact.articles) == 10
    assert exact.truncated is False


# --- URL lists -------------------------------------------------------------------------------------


def test_url_list_skips_comments_and_blanks_dedupes_and_rejects_junk() -> None:
    text = (
        "# morning reading\n"
        "\n"
        "https://a.example/one?utm_source=newsletter\n"
        "   https://a.example/one   # same article, inline comment\n"
        "https://b.example/two#section\n"
        "not a url\n"
        "ftp://files.example/x\n"
    )
    items, rejects = parse_url_list(text, "reading", origin="urls.txt")
    assert locations(items) == ["https://a.example/one", "https://b.example/two"]
    assert all(item.source == "reading" and item.kind == "url" for item in items)
    assert items[0].hints.url == "https://a.example/one"
    assert [(reject.input, reject.rule, reject.stage) for reject in rejects] == [
        ("urls.txt:6", "bad-url", "discover"),
        ("urls.txt:7", "bad-url", "discover"),
    ]


# --- date window -----------------------------------------------------------------------------------


def dated(location: str, when: str | None) -> WorkItem:
    return WorkItem(location=location, kind="url", hints=DocumentHints(url=location, date=when))


WINDOW_ITEMS = [
    dated("https://a.example/apr30", "2024-04-30T23:30:00+02:00"),
    dated("https://a.example/may1-late", "2024-05-01T23:30:00-05:00"),  # May 2 in UTC, May 1 where it was written
    dated("https://a.example/may3", "2024-05-03"),
    dated("https://a.example/may4", "2024-05-04T00:10:00+02:00"),
    dated("https://a.example/undated", None),
    dated("https://a.example/garbled", "yesterday"),
    dated("https://a.example/may2", "2024-05-02T12:00:00Z"),
]


def test_date_window_is_inclusive_by_the_written_day_and_newest_first() -> None:
    selection = filter_by_date(WINDOW_ITEMS, since=date(2024, 5, 1), until=date(2024, 5, 3))
    assert locations(selection.items) == [
        "https://a.example/may3",
        "https://a.example/may2",
        "https://a.example/may1-late",
    ]
    assert selection.undated == 2
    assert selection.outside == 2


def test_open_ended_windows() -> None:
    assert locations(filter_by_date(WINDOW_ITEMS, since=date(2024, 5, 4)).items) == ["https://a.example/may4"]
    assert locations(filter_by_date(WINDOW_ITEMS, until=date(2024, 4, 30)).items) == ["https://a.example/apr30"]


def test_without_a_window_everything_is_kept_undated_last() -> None:
    selection = filter_by_date(WINDOW_ITEMS)
    assert locations(selection.items) == [
        "https://a.example/may4",
        "https://a.example/may3",
        "https://a.example/may2",
        "https://a.example/may1-late",
        "https://a.example/apr30",
        "https://a.example/undated",
        "https://a.example/garbled",
    ]
    assert (selection.undated, selection.outside) == (0, 0)


def test_permalink_guid_stands_in_for_a_missing_link_and_opaque_guids_are_skipped() -> None:
    feed = (
        b'<rss version="2.0"><channel><title>t</title>'
        b'<item><guid isPermaLink="true">https://e.example/g1</guid></item>'
        b'<item><guid isPermaLink="false">abc-123</guid></item>'
        b"</channel></rss>"
    )
    assert locations(parse_feed(feed, FEED_URL, "s")) == ["https://e.example/g1"]


def test_atom_alternate_link_wins_over_an_enclosure() -> None:
    feed = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry><title>x</title><id>1</id>'
        b'<link rel="enclosure" href="https://e.example/a.mp3"/><link rel="alternate" href="https://e.example/post"/>'
        b"</entry></feed>"
    )
    assert locations(parse_feed(feed, FEED_URL, "s")) == ["https://e.example/post"]
