"""Sources files: the configured feeds, sitemaps, URL lists and paths, read and checked before any run.

    [[source]]
    name = "example-news"                    # [a-z0-9_-], unique in the file
    feed = "https://example.com/rss.xml"     # exactly one of: feed, sitemap, urls, urls_file, path
    schedule = "*/30 * * * *"                # five-field cron; or interval = "15m" (s, m, h, d); or neither
    max_articles = 200                       # per run
    allow_domains = ["example.com"]          # optional; default: the registrable domains of feed/sitemap/urls
    tags = ["local"]                         # optional
    respect_tdm = true                       # optional (default false): TDM-reserved pages become rejects

Every mistake is a ConfigError naming the file, the source (by name, else by position) and the field.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import tld
from cronsim import CronSim, CronSimError

from newsdag.tasks.discover_web import WEB_SCHEMES, normalize_url, parse_url_list
from newsdag.tasks.errors import ConfigError, InputError
from newsdag.tasks.models import Reject, WorkItem

# `fail(field, problem)`: the ConfigError naming the file, the source and the field.
FailFactory = Callable[[str, str], ConfigError]
SourceKind = Literal["feed", "sitemap", "urls", "urls_file", "path"]
SOURCE_KINDS: tuple[SourceKind, ...] = ("feed", "sitemap", "urls", "urls_file", "path")
KNOWN_FIELDS = frozenset(
    {"name", *SOURCE_KINDS, "schedule", "interval", "max_articles", "allow_domains", "tags", "respect_tdm"},
)
# Names become Prefect deployment names, warehouse values and file names: keep them plain.
SOURCE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# Articles taken from one source in one run unless the file says otherwise: a new feed with years
# of history must not turn the first scheduled run into a crawl.
DEFAULT_MAX_ARTICLES = 200
CRON_FIELDS = 5
INTERVAL = re.compile(r"(\d+)\s*([smhd])")
INTERVAL_UNIT_SECONDS: Mapping[str, int] = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DOMAIN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?)*")


@dataclass(frozen=True)
class Source:
    """One configured source. Exactly one of feed/sitemap/urls/urls_file/path is set; `kind` says which.

    `urls` are normalised article URLs; `urls_file` and `path` are resolved against the sources
    file's directory (their existence is checked when a run reads them, not here).
    `schedule_cron` and `interval_seconds` are both None for a source that only runs on demand.
    An empty `allow_domains` means no restriction (the default for urls_file and path sources).
    """

    name: str
    kind: SourceKind
    feed: str | None = None
    sitemap: str | None = None
    urls: tuple[str, ...] = ()
    urls_file: Path | None = None
    path: Path | None = None
    schedule_cron: str | None = None
    interval_seconds: int | None = None
    max_articles: int = DEFAULT_MAX_ARTICLES
    allow_domains: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    respect_tdm: bool = False


def load_sources(path: Path) -> tuple[Source, ...]:
    """The sources a TOML file configures, in file order; ConfigError on the first mistake."""
    label = str(path)
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except OSError as error:
        raise ConfigError(f"cannot read the sources file: {error.strerror or error}", subject=label) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"not valid TOML: {error}", subject=label) from None
    unknown = sorted(set(document) - {"source"})
    if unknown:
        raise ConfigError(f"unknown top-level key {unknown[0]!r}; sources are [[source]] tables", subject=label)
    tables = document.get("source")
    if not isinstance(tables, list) or not tables or not all(isinstance(table, dict) for table in tables):
        raise ConfigError("no sources: add at least one [[source]] table", subject=label)
    sources: list[Source] = []
    first_index: dict[str, int] = {}
    for index, table in enumerate(tables, start=1):
        source = read_source(table, index, path)
        if source.name in first_index:
            raise ConfigError(
                f"source #{index}: field 'name' {source.name!r} is already used by source #{first_index[source.name]}",
                subject=label,
            )
        first_index[source.name] = index
        sources.append(source)
    return tuple(sources)


def read_source(table: Mapping[str, Any], index: int, path: Path) -> Source:
    """One [[source]] table as a Source; `index` (1-based) names it in errors until its name is known."""
    name = table.get("name")
    who = f"source {name!r}" if isinstance(name, str) and SOURCE_NAME.fullmatch(name) else f"source #{index}"

    def fail(field: str, problem: str) -> ConfigError:
        return ConfigError(f"{who}: field {field!r} {problem}", subject=str(path))

    unknown = sorted(set(table) - KNOWN_FIELDS)
    if unknown:
        raise fail(unknown[0], f"is not a known field (known: {', '.join(sorted(KNOWN_FIELDS))})")
    if name is None:
        raise fail("name", "is required")
    if not isinstance(name, str) or not SOURCE_NAME.fullmatch(name):
        raise fail("name", f"must be 1-64 characters of a-z, 0-9, '_', '-', starting with a-z or 0-9, got {name!r}")

    given = [kind for kind in SOURCE_KINDS if kind in table]
    if len(given) != 1:
        choices = ", ".join(repr(kind) for kind in SOURCE_KINDS)
        found = ", ".join(repr(kind) for kind in given) if given else "none"
        raise ConfigError(f"{who}: exactly one of the fields {choices} must be given, found {found}", str(path))
    kind = given[0]
    feed = sitemap = None
    urls: tuple[str, ...] = ()
    urls_file = local_path = None
    if kind in ("feed", "sitemap"):
        address = table[kind]
        if not isinstance(address, str) or not is_web_url(address):
            raise fail(kind, f"must be an http(s) URL, got {address!r}")
        feed, sitemap = (address, None) if kind == "feed" else (None, address)
    elif kind == "urls":
        urls = read_urls(table["urls"], fail)
    else:
        raw_path = table[kind]
        if not isinstance(raw_path, str) or not raw_path.strip():
            raise fail(kind, f"must be a file or directory path, got {raw_path!r}")
        resolved = (path.parent / Path(raw_path).expanduser()).resolve()
        urls_file, local_path = (resolved, None) if kind == "urls_file" else (None, resolved)

    if "schedule" in table and "interval" in table:
        raise fail("schedule", "and 'interval' cannot both be given; choose one")
    schedule_cron = read_cron(table["schedule"], fail) if "schedule" in table else None
    interval_seconds = read_interval(table["interval"], fail) if "interval" in table else None

    max_articles = table.get("max_articles", DEFAULT_MAX_ARTICLES)
    if isinstance(max_articles, bool) or not isinstance(max_articles, int) or max_articles < 1:
        raise fail("max_articles", f"must be a positive integer, got {max_articles!r}")

    if "allow_domains" in table:
        allow_domains = read_domains(table["allow_domains"], fail)
    else:
        addresses = [address for address in (feed, sitemap, *urls) if address]
        allow_domains = tuple(dict.fromkeys(registrable_domain(address) for address in addresses))

    tags = table.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(tag, str) and tag.strip() for tag in tags):
        raise fail("tags", f"must be a list of non-empty strings, got {tags!r}")
    respect_tdm = table.get("respect_tdm", False)
    if not isinstance(respect_tdm, bool):
        raise fail("respect_tdm", f"must be true or false, got {respect_tdm!r}")

    return Source(
        name=name,
        kind=kind,
        feed=feed,
        sitemap=sitemap,
        urls=urls,
        urls_file=urls_file,
        path=local_path,
        schedule_cron=schedule_cron,
        interval_seconds=interval_seconds,
        max_articles=max_articles,
        allow_domains=allow_domains,
        tags=tuple(tag.strip() for tag in tags),
        respect_tdm=respect_tdm,
    )


def is_web_url(address: str) -> bool:
    """True for an absolute http(s) URL with a host; feed URLs are kept as written, not normalised."""
    try:
        parts = urlsplit(address.strip())
        return parts.scheme.lower() in WEB_SCHEMES and bool(parts.hostname) and address == address.strip()
    except ValueError:
        return False


def read_urls(value: Any, fail: FailFactory) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise fail("urls", f"must be a non-empty list of http(s) URLs, got {value!r}")
    urls: list[str] = []
    for position, raw in enumerate(value):
        url = normalize_url(raw) if isinstance(raw, str) else None
        if url is None:
            raise fail(f"urls[{position}]", f"must be an http(s) URL, got {raw!r}")
        if url not in urls:
            urls.append(url)
    return tuple(urls)


def read_cron(value: Any, fail: FailFactory) -> str:
    """A five-field cron string, checked by cronsim (the parser Prefect's scheduler stack ships)."""
    if not isinstance(value, str) or len(value.split()) != CRON_FIELDS:
        raise fail("schedule", f"must be a five-field cron string like '*/30 * * * *', got {value!r}")
    expression = " ".join(value.split())
    try:
        CronSim(expression, datetime.now(UTC))
    except CronSimError as error:
        raise fail("schedule", f"is not a valid cron string ({error}), got {value!r}") from None
    return expression


def read_interval(value: Any, fail: FailFactory) -> int:
    """'90s', '15m', '2h', '1d' as seconds."""
    match = INTERVAL.fullmatch(value.strip().lower()) if isinstance(value, str) else None
    seconds = int(match.group(1)) * INTERVAL_UNIT_SECONDS[match.group(2)] if match else 0
    if seconds < 1:
        raise fail("interval", f"must be a positive duration like '90s', '15m', '2h' or '1d', got {value!r}")
    return seconds


def read_domains(value: Any, fail: FailFactory) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise fail("allow_domains", f"must be a non-empty list of domain names, got {value!r}")
    domains: list[str] = []
    for position, raw in enumerate(value):
        domain = raw.strip().lower().removeprefix("*.").removeprefix(".") if isinstance(raw, str) else ""
        if not DOMAIN.fullmatch(domain):
            raise fail(f"allow_domains[{position}]", f"must be a domain name like 'example.com', got {raw!r}")
        domains.append(domain)
    return tuple(dict.fromkeys(domains))


def registrable_domain(address: str) -> str:
    """The domain a site registered (feeds.bbci.co.uk -> bbci.co.uk); the host itself when there is none.

    Feeds often live on another subdomain than the articles (feeds.example.com vs www.example.com),
    so the default allowance is the registrable domain with all its subdomains.
    """
    host = (urlsplit(address).hostname or "").lower()
    registered = tld.get_fld(f"http://{host}", fail_silently=True)
    return registered if isinstance(registered, str) else host


def source_allows(source: Source, url: str) -> bool:
    """True when `url` is an http(s) URL on an allowed domain or one of its subdomains.

    A source without `allow_domains` allows any http(s) URL.
    """
    return domain_allows(source.allow_domains, url)


def domain_allows(domains: Sequence[str], url: str) -> bool:
    """True when `url` is an http(s) URL on one of `domains` or a subdomain; no domains allows any."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
    except ValueError:
        return False
    if parts.scheme.lower() not in WEB_SCHEMES or not host:
        return False
    return not domains or any(host == domain or host.endswith(f".{domain}") for domain in domains)


def listed_urls(source: Source) -> tuple[list[WorkItem], list[Reject]]:
    """The work items of a `urls` or `urls_file` source (see `parse_url_list`), in order, each once.

    InputError when the URL file cannot be read; ValueError for a feed, sitemap or path source.
    """
    if source.kind == "urls":
        return parse_url_list("\n".join(source.urls), source.name, origin=source.name)
    if source.urls_file is None:
        raise ValueError(f"source {source.name!r} is a {source.kind} source, not a URL list")
    try:
        text = source.urls_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read the URL list: {error}", subject=str(source.urls_file)) from None
    return parse_url_list(text, source.name, origin=str(source.urls_file))
