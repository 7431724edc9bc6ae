"""Sources files: the happy path, every error naming file, source and field, and domain allowances."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsdag.tasks.errors import ConfigError, InputError
from newsdag.tasks.sources import DEFAULT_MAX_ARTICLES, Source, listed_urls, load_sources, source_allows

REPO_ROOT = Path(__file__).resolve().parent.parent

FULL = """
[[source]]
name = "example-news"
feed = "https://feeds.example.com/rss.xml"
schedule = "*/30 * * * *"
max_articles = 50
tags = ["local"]

[[source]]
name = "example_sitemap"
sitemap = "https://www.example.org/sitemap_index.xml"
interval = "2h"
allow_domains = ["Example.org", "*.cdn-example.net"]

[[source]]
name = "picked"
urls = ["https://a.example/one?utm_source=x", "https://b.example.co.uk/two", "https://a.example/one"]

[[source]]
name = "reading-list"
urls_file = "lists/reading.txt"

[[source]]
name = "archive"
path = "../pages"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(text, encoding="utf-8")
    return path


def one_source(tmp_path: Path, body: str) -> Path:
    return write(tmp_path, f'[[source]]\nname = "s1"\n{body}\n')


def config_error(path: Path) -> str:
    with pytest.raises(ConfigError) as raised:
        load_sources(path)
    return str(raised.value)


def test_every_kind_of_source_loads(tmp_path: Path) -> None:
    path = write(tmp_path, FULL)
    news, sitemap, picked, reading, archive = load_sources(path)
    assert news == Source(
        name="example-news",
        kind="feed",
        feed="https://feeds.example.com/rss.xml",
        schedule_cron="*/30 * * * *",
        max_articles=50,
        allow_domains=("example.com",),
        tags=("local",),
    )
    assert sitemap.kind == "sitemap"
    assert sitemap.sitemap == "https://www.example.org/sitemap_index.xml"
    assert sitemap.interval_seconds == 7200
    assert sitemap.schedule_cron is None
    assert sitemap.max_articles == DEFAULT_MAX_ARTICLES
    assert sitemap.allow_domains == ("example.org", "cdn-example.net")
    assert picked.urls == ("https://a.example/one", "https://b.example.co.uk/two")
    assert picked.allow_domains == ("a.example", "example.co.uk")
    assert reading.urls_file == (tmp_path / "lists" / "reading.txt").resolve()
    assert reading.allow_domains == ()
    assert archive.path == (tmp_path.parent / "pages").resolve()
    assert (archive.schedule_cron, archive.interval_seconds) == (None, None)


def test_the_shipped_seeds_file_loads_and_polls_no_live_site(tmp_path: Path) -> None:
    """`newsdag serve` with the default file works offline: its one source reads the samples from disk. The live
    feeds it shows as examples load too, once uncommented."""
    shipped = (REPO_ROOT / "seeds" / "sources.toml").read_text(encoding="utf-8")
    sources = load_sources(REPO_ROOT / "seeds" / "sources.toml")
    assert [(source.name, source.kind) for source in sources] == [("local-seeds", "path")]
    assert sources[0].path == REPO_ROOT / "seeds" / "articles"
    uncommented = tmp_path / "sources.toml"
    uncommented.write_text(
        shipped.replace("\n# [[source]]", "\n[[source]]")
        .replace("\n# name", "\nname")
        .replace("\n# feed", "\nfeed")
        .replace("\n# schedule", "\nschedule")
        .replace("\n# max_articles", "\nmax_articles")
        .replace("\n# allow_domains", "\nallow_domains")
        .replace("\n# tags", "\ntags")
        .replace("\n# interval", "\ninterval")
        .replace("\n# sitemap", "\nsitemap"),
        encoding="utf-8",
    )
    assert [source.name for source in load_sources(uncommented)] == [
        "bbc-world",
        "guardian-world",
        "example-sitemap",
        "local-seeds",
    ]


@pytest.mark.parametrize(
    ("interval", "seconds"), [("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), (" 15M ", 900)]
)
def test_intervals_in_seconds(tmp_path: Path, interval: str, seconds: int) -> None:
    (source,) = load_sources(one_source(tmp_path, f'feed = "https://e.example/f"\ninterval = "{interval}"'))
    assert source.interval_seconds == seconds


def test_error_names_file_source_and_field(tmp_path: Path) -> None:
    path = one_source(tmp_path, 'feed = "https://e.example/f"\nmax_articles = -3')
    assert config_error(path) == f"{path}: source 's1': field 'max_articles' must be a positive integer, got -3"


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ('feed = "https://e.example/f"\nmax_articles = 0', "max_articles", "positive integer, got 0"),
        ('feed = "https://e.example/f"\nmax_articles = true', "max_articles", "positive integer, got True"),
        ('feed = "https://e.example/f"\nmax_articles = "10"', "max_articles", "positive integer, got '10'"),
        ('feed = "ftp://e.example/f"', "feed", "http(s) URL"),
        ('feed = "e.example/rss"', "feed", "http(s) URL"),
        ("sitemap = 42", "sitemap", "http(s) URL"),
        ("urls = []", "urls", "non-empty list"),
        ('urls = ["https://a.example/x", "not a url"]', "urls[1]", "http(s) URL, got 'not a url'"),
        ('urls_file = ""', "urls_file", "path"),
        ("path = 3", "path", "path"),
        ('feed = "https://e.example/f"\nschedule = "*/30 * * *"', "schedule", "five-field"),
        ('feed = "https://e.example/f"\nschedule = "0 0 * * * *"', "schedule", "five-field"),
        ('feed = "https://e.example/f"\nschedule = "61 * * * *"', "schedule", "not a valid cron"),
        ('feed = "https://e.example/f"\nschedule = "@daily"', "schedule", "five-field"),
        ('feed = "https://e.example/f"\ninterval = "15 minutes"', "interval", "positive duration"),
        ('feed = "https://e.example/f"\ninterval = "0m"', "interval", "positive duration"),
        ('feed = "https://e.example/f"\ninterval = 900', "interval", "positive duration"),
        ('feed = "https://e.example/f"\ninterval = "1h"\nschedule = "0 * * * *"', "schedule", "cannot both"),
        ('feed = "https://e.example/f"\nallow_domains = "e.example"', "allow_domains", "list of domain"),
        ('feed = "https://e.example/f"\nallow_domains = []', "allow_domains", "list of domain"),
        ('feed = "https://e.example/f"\nallow_domains = ["https://e.example/"]', "allow_domains[0]", "domain name"),
        ('feed = "https://e.example/f"\ntags = "world"', "tags", "list of non-empty strings"),
        ('feed = "https://e.example/f"\ncategory = "x"', "category", "not a known field"),
    ],
)
def test_each_field_error(tmp_path: Path, body: str, field: str, fragment: str) -> None:
    path = one_source(tmp_path, body)
    message = config_error(path)
    assert message.startswith(f"{path}: source 's1': field '{field}' ")
    assert fragment in message


@pytest.mark.parametrize(
    ("body", "found"),
    [
        ("", "found none"),
        ('feed = "https://e.example/f"\nsitemap = "https://e.example/s.xml"', "found 'feed', 'sitemap'"),
        ('urls = ["https://e.example/a"]\npath = "x"', "found 'urls', 'path'"),
    ],
)
def test_exactly_one_location(tmp_path: Path, body: str, found: str) -> None:
    path = one_source(tmp_path, body)
    message = config_error(path)
    assert message.startswith(f"{path}: source 's1': exactly one of the fields 'feed', 'sitemap', 'urls'")
    assert message.endswith(found)


@pytest.mark.parametrize("name", ["Example", "with space", "-leading", "a" * 65, "ümlaut", ""])
def test_unsafe_names_are_refused_by_position(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, f'[[source]]\nname = "{name}"\nfeed = "https://e.example/f"\n')
    assert config_error(path).startswith(f"{path}: source #1: field 'name' must be 1-64 characters")


def test_missing_name(tmp_path: Path) -> None:
    path = write(tmp_path, '[[source]]\nfeed = "https://e.example/f"\n')
    assert config_error(path) == f"{path}: source #1: field 'name' is required"


def test_duplicate_names(tmp_path: Path) -> None:
    table = '[[source]]\nname = "twice"\nfeed = "https://e.example/f"\n'
    path = write(tmp_path, table + table)
    assert config_error(path) == f"{path}: source #2: field 'name' 'twice' is already used by source #1"


def test_later_source_errors_name_that_source(tmp_path: Path) -> None:
    path = write(tmp_path, FULL + '\n[[source]]\nname = "broken"\nfeed = "https://e.example/f"\ninterval = "soon"\n')
    assert config_error(path).startswith(f"{path}: source 'broken': field 'interval' ")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[[source]\nname = 1", "not valid TOML"),
        ("", "no sources"),
        ("source = 3", "no sources"),
        ('title = "x"\n[[source]]\nname = "a"\nfeed = "https://e.example/f"', "unknown top-level key 'title'"),
    ],
)
def test_file_level_errors(tmp_path: Path, text: str, fragment: str) -> None:
    path = write(tmp_path, text)
    message = config_error(path)
    assert message.startswith(f"{path}: ")
    assert fragment in message


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    assert config_error(missing).startswith(f"{missing}: cannot read the sources file")


def test_source_allows_domains_and_their_subdomains() -> None:
    source = Source(name="s", kind="feed", feed="https://feeds.example.com/rss", allow_domains=("example.com",))
    assert source_allows(source, "https://example.com/a")
    assert source_allows(source, "https://www.Example.com/a")
    assert source_allows(source, "http://deep.news.example.com./a")
    assert not source_allows(source, "https://notexample.com/a")
    assert not source_allows(source, "https://example.com.evil.net/a")
    assert not source_allows(source, "mailto:x@example.com")
    assert not source_allows(source, "https://[::1/a")


def test_default_allowance_is_the_registrable_domain(tmp_path: Path) -> None:
    (source,) = load_sources(one_source(tmp_path, 'feed = "https://feeds.bbci.co.uk/news/rss.xml"'))
    assert source.allow_domains == ("bbci.co.uk",)
    assert source_allows(source, "https://www.bbci.co.uk/news/1")
    assert not source_allows(source, "https://www.bbc.com/news/1")


def test_source_without_allowance_allows_any_web_url() -> None:
    source = Source(name="s", kind="path")
    assert source_allows(source, "https://anything.example/a")
    assert not source_allows(source, "file:///etc/passwd")


def test_listed_urls_from_a_urls_file_and_inline_urls(tmp_path: Path) -> None:
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "reading.txt").write_text("# mine\nhttps://b.example/2?utm_medium=x\noops\n", "utf-8")
    _, _, picked, reading, _ = load_sources(write(tmp_path, FULL))
    items, rejects = listed_urls(reading)
    assert [item.location for item in items] == ["https://b.example/2"]
    assert [(reject.input, reject.rule) for reject in rejects] == [(f"{reading.urls_file}:3", "bad-url")]
    inline, none_rejected = listed_urls(picked)
    assert [item.location for item in inline] == list(picked.urls)
    assert all(item.source == "picked" for item in inline)
    assert none_rejected == []


def test_listed_urls_missing_file_is_an_input_error(tmp_path: Path) -> None:
    _, _, _, reading, _ = load_sources(write(tmp_path, FULL))
    with pytest.raises(InputError):
        listed_urls(reading)


def test_respect_tdm_is_off_unless_a_source_asks(tmp_path: Path) -> None:
    (plain,) = load_sources(one_source(tmp_path, 'feed = "https://e.example/f"'))
    (strict,) = load_sources(one_source(tmp_path, 'feed = "https://e.example/f"\nrespect_tdm = true'))
    assert (plain.respect_tdm, strict.respect_tdm) == (False, True)
    with pytest.raises(ConfigError, match="respect_tdm"):
        load_sources(one_source(tmp_path, 'feed = "https://e.example/f"\nrespect_tdm = "yes"'))
