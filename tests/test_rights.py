"""Rights declarations: TDMRep by its three methods, AI opt-outs, licences, paywalls; recorded and respected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from newsdag.flows.cli import main
from newsdag.tasks.models import DeclaredRights
from newsdag.tasks.rights import (
    MarkupRights,
    TdmRule,
    ai_directives,
    article_rights,
    matching_rule,
    parse_tdmrep,
    pattern_matches,
)
from newsdag.warehouse.db import connect
from tests.conftest import article_page

# --- the rules ---------------------------------------------------------------------------------------


def test_tdmrep_rules_are_read_and_bad_values_are_undeclared() -> None:
    rules = parse_tdmrep(
        b'[{"location": "/news/*", "tdm-reservation": 1, "tdm-policy": "https://example.com/policy.json"},'
        b' {"location": "/free/", "tdm-reservation": 0}, {"location": "/odd", "tdm-reservation": 2}, {"x": 1}]'
    )
    assert rules == (
        TdmRule("/news/*", True, "https://example.com/policy.json"),
        TdmRule("/free/", False, None),
        TdmRule("/odd", None, None),
    )
    assert parse_tdmrep(b"<html>not found</html>") is None
    assert parse_tdmrep(b'{"location": "/"}') is None  # not an array of rules


def test_tdmrep_patterns_match_as_robots_patterns_and_the_first_rule_wins() -> None:
    assert pattern_matches("/news/*/2026", "/news/world/2026/01")
    assert pattern_matches("/exact$", "/exact") and not pattern_matches("/exact$", "/exact/more")
    assert not pattern_matches("/news", "/archive/news")
    rules = (TdmRule("/news/free-*", False, None), TdmRule("/news/", True, None))
    assert matching_rule(rules, "https://example.com/news/free-story") == rules[0]
    assert matching_rule(rules, "https://example.com/news/paid-story") == rules[1]
    assert matching_rule(rules, "https://example.com/about") is None


def test_the_header_overrides_the_file_which_overrides_the_page() -> None:
    meta = MarkupRights(reserved=False, policy=None)
    from_file = DeclaredRights(file_reserved=True, file_policy="https://example.com/p")
    assert article_rights(from_file, meta).tdm_reserved is True
    assert article_rights(from_file, meta).rights_source == "tdmrep.json"
    header = DeclaredRights(tdm_reservation="0", file_reserved=True)
    assert (article_rights(header, meta).tdm_reserved, article_rights(header, meta).rights_source) == (False, "header")
    assert article_rights(DeclaredRights(), MarkupRights(reserved=True)).rights_source == "meta"
    # A value that is not 0 or 1 is a protocol error: undeclared, the next method decides.
    bad_header = DeclaredRights(tdm_reservation="yes", file_reserved=False)
    assert article_rights(bad_header, MarkupRights()).rights_source == "tdmrep.json"


def test_ai_directives_come_from_any_robots_value() -> None:
    assert ai_directives(["noindex, noai", "googlebot: noimageai", None]) == ("noai", "noimageai")
    assert ai_directives(["noindex, nofollow"]) == ()


# --- a loopback site --------------------------------------------------------------------------------

TDMREP = [
    {"location": "/reserved/*", "tdm-reservation": 1, "tdm-policy": "https://example.org/tdm-policy.json"},
    {"location": "/open/*", "tdm-reservation": 0},
]
ROBOTS = "User-agent: GPTBot\nDisallow: /\n\nUser-agent: CCBot\nDisallow: /reserved/\n\nUser-agent: *\nAllow: /\n"


def page(number: int, head: str = "") -> str:
    return article_page(number).replace("</head>", f"{head}</head>")


@pytest.fixture
def rights_site(httpserver: HTTPServer) -> HTTPServer:
    """Five pages, each declaring its rights another way; tdmrep.json and robots.txt for the site."""
    httpserver.expect_request("/robots.txt").respond_with_data(ROBOTS, content_type="text/plain")
    httpserver.expect_request("/.well-known/tdmrep.json").respond_with_json(TDMREP)
    html = "text/html; charset=utf-8"
    # Reserved by the file (with its policy).
    httpserver.expect_request("/reserved/by-file").respond_with_data(page(1), content_type=html)
    # The file says not reserved; the header overrides it.
    httpserver.expect_request("/open/by-header").respond_with_data(
        page(2), content_type=html, headers={"tdm-reservation": "1", "tdm-policy": "https://example.org/hdr"}
    )
    # The file says not reserved; the page's meta says reserved, and the file wins.
    httpserver.expect_request("/open/by-file-over-meta").respond_with_data(
        page(3, "<meta name='tdm-reservation' content='1'>"), content_type=html
    )
    # No rule for the path: the page's meta declares it; robots noai, a licence, a paywall.
    httpserver.expect_request("/other/by-meta").respond_with_data(
        page(
            4,
            "<meta name='tdm-reservation' content='1'><meta name='robots' content='index, noai, noimageai'>"
            "<link rel='license' href='https://creativecommons.org/licenses/by-nd/4.0/'>"
            '<script type="application/ld+json">{"@type": "NewsArticle", "isAccessibleForFree": "False"}</script>',
        ),
        content_type=html,
    )
    # Nothing on TDM: an X-Robots-Tag opt-out only.
    httpserver.expect_request("/other/undeclared").respond_with_data(
        page(5), content_type=html, headers={"X-Robots-Tag": "noai"}
    )
    return httpserver


PATHS = ("/reserved/by-file", "/open/by-header", "/open/by-file-over-meta", "/other/by-meta", "/other/undeclared")


def ingest(capsys: pytest.CaptureFixture[str], db: Path, *args: str) -> dict:
    options = ["--db", str(db), "--workers", "1", "--json", "--prefect", "never", "--allow-network", "127.0.0.0/8"]
    assert main(["ingest", *args, *options]) == 0
    return json.loads(capsys.readouterr().out)


def query(db: Path, sql: str) -> list[tuple]:
    with connect(db, read_only=True) as connection:
        return connection.execute(sql).fetchall()


def test_each_method_is_recorded_per_article(
    rights_site: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSDAG_PER_HOST_DELAY", "0")
    db = tmp_path / "news.duckdb"
    summary = ingest(capsys, db, *(rights_site.url_for(path) for path in PATHS))
    assert summary["loaded"] == 5
    rows = {
        row[0].split(":", 2)[-1].split("/", 1)[-1]: row[1:]
        for row in query(
            db,
            "SELECT url, tdm_reserved, tdm_policy, ai_optout, license_url, accessible_for_free, rights_source"
            " FROM articles",
        )
    }
    assert rows["reserved/by-file"] == (
        True, "https://example.org/tdm-policy.json", ["robots:GPTBot", "robots:CCBot"], None, None, "tdmrep.json"
    )  # fmt: skip
    assert rows["open/by-header"] == (True, "https://example.org/hdr", ["robots:GPTBot"], None, None, "header")
    assert rows["open/by-file-over-meta"] == (False, None, ["robots:GPTBot"], None, None, "tdmrep.json")
    assert rows["other/by-meta"] == (
        True, None, ["noai", "noimageai", "robots:GPTBot"], "https://creativecommons.org/licenses/by-nd/4.0/", False,
        "meta",
    )  # fmt: skip
    assert rows["other/undeclared"] == (None, None, ["noai", "robots:GPTBot"], None, None, "header")
    # tdmrep.json was asked once for the run, like robots.txt.
    assert sum(request.path == "/.well-known/tdmrep.json" for request, _ in rights_site.log) == 1
    [(found, rules, agents)] = query(db, "SELECT tdmrep_found, tdmrep_rules, ai_disallowed FROM site_rights")
    assert found and json.loads(rules) == TDMREP and agents == ["GPTBot"]
    [(source, articles, reserved, share)] = query(
        db, "SELECT source, articles, tdm_reserved, reserved_share FROM rights_by_source"
    )
    assert (source, articles, reserved, share) == ("cli", 5, 3, 0.6)


def test_respect_tdm_stores_no_text_of_reserved_pages(
    rights_site: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSDAG_PER_HOST_DELAY", "0")
    db = tmp_path / "news.duckdb"
    summary = ingest(capsys, db, *(rights_site.url_for(path) for path in PATHS), "--respect-tdm")
    assert (summary["loaded"], summary["rejected"]) == (2, 3)
    rejected = query(db, "SELECT rule, input FROM rejects ORDER BY input")
    assert {rule for rule, _ in rejected} == {"tdm-reserved"}
    assert sorted(url.rsplit("/", 2)[-2] + "/" + url.rsplit("/", 1)[-1] for _, url in rejected) == [
        "open/by-header", "other/by-meta", "reserved/by-file"
    ]  # fmt: skip
    # Neither the warehouse nor the archive of raw bytes holds their text.
    texts = [text for (text,) in query(db, "SELECT text FROM articles")]
    assert len(texts) == 2 and not any("Article 1 paragraph" in text or "Article 4 paragraph" in text for text in texts)
    archived = b"".join(path.read_bytes() for path in (tmp_path / "archive").rglob("*") if path.is_file())
    assert b"Article 2 paragraph" not in archived and b"Article 3 paragraph" in archived
