"""Crawl: from a request's URLs, URL lists, feeds and sitemaps to the page URLs to fetch.

Feeds and sitemaps are fetched with the run's Fetcher, so they get the same robots rules, politeness
and SSRF guard as pages; parsing is tasks/discover_web.py's. Every feed, sitemap, list line or link that
cannot be used becomes a Reject with stage 'discover'.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from newsdag.tasks import discover_web, fetch
from newsdag.tasks.errors import DiscoveryError, FetchError
from newsdag.tasks.models import IngestRequest, Reject, WorkItem
from newsdag.tasks.sources import domain_allows, registrable_domain


def discover_links(
    request: IngestRequest, fetcher: fetch.Fetcher, *, sitemap_max_depth: int, sitemap_max_count: int
) -> tuple[list[WorkItem], list[Reject]]:
    """The page URLs of a request: its URLs and URL lists in their order, then the links of its feeds and
    sitemaps within its domains and date window, newest first; each URL once, at most `max_articles`."""
    explicit, rejects = discover_web.parse_url_list("\n".join(request.urls), request.source, origin="command line")
    for url_file in request.url_files:
        try:
            text = Path(url_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            rejects.append(Reject(url_file, "discover", "unreadable", f"cannot read the URL list: {error}"))
            continue
        listed, bad_lines = discover_web.parse_url_list(text, request.source, origin=url_file)
        explicit.extend(listed)
        rejects.extend(bad_lines)
    domains = request.allow_domains or tuple(registrable_domain(url) for url in (*request.feeds, *request.sitemaps))
    found: list[WorkItem] = []
    for feed_url in request.feeds:
        try:
            response = fetcher.request(feed_url, accept=fetch.ACCEPT_XML)
            found.extend(discover_web.parse_feed(response.content, response.final_url, request.source))
        except (FetchError, DiscoveryError) as error:
            rejects.append(Reject(feed_url, "discover", error.rule, str(error), url=feed_url))
    found.extend(
        sitemap_links(request, fetcher, domains, rejects, max_depth=sitemap_max_depth, max_count=sitemap_max_count)
    )
    in_domain: list[WorkItem] = []
    for item in found:
        if domain_allows(domains, item.location):
            in_domain.append(item)
        else:
            rejects.append(off_domain(item.location, domains))
    links = discover_web.filter_by_date(in_domain, request.since, request.until).items  # newest first
    unique: dict[str, WorkItem] = {}
    for item in (*explicit, *links):
        unique.setdefault(item.location, item)  # the first of each URL, in order
    # The cap is on pages per run, wherever they were listed: a long URL list is no crawl either.
    return list(unique.values())[: request.max_articles], rejects


def sitemap_links(
    request: IngestRequest,
    fetcher: fetch.Fetcher,
    domains: Sequence[str],
    rejects: list[Reject],
    *,
    max_depth: int,
    max_count: int,
) -> list[WorkItem]:
    """Article links of the request's sitemaps, following sitemap indexes breadth-first within the bounds;
    with `since`, child sitemaps last modified before it are skipped."""
    queue = [(url, 0) for url in request.sitemaps]
    seen: set[str] = set()
    links: list[WorkItem] = []
    while queue:
        url, depth = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        if len(seen) > max_count:
            detail = f"more than {max_count} sitemaps (NEWSDAG_SITEMAP_MAX_COUNT)"
            rejects.append(Reject(url, "discover", "too-many-sitemaps", detail, url=url))
            break
        try:
            response = fetcher.request(url, accept=fetch.ACCEPT_XML)
            page = discover_web.parse_sitemap(response.content, response.final_url, request.source)
        except (FetchError, DiscoveryError) as error:
            rejects.append(Reject(url, "discover", error.rule, str(error), url=url))
            continue
        links.extend(page.articles)
        for child in discover_web.children_since(page, request.since):
            if not domain_allows(domains, child):
                rejects.append(off_domain(child, domains))
            elif depth + 1 > max_depth:
                detail = f"sitemap index nested deeper than {max_depth} (NEWSDAG_SITEMAP_MAX_DEPTH)"
                rejects.append(Reject(child, "discover", "sitemap-too-deep", detail, url=child))
            else:
                queue.append((child, depth + 1))
    return links


def off_domain(url: str, domains: Sequence[str]) -> Reject:
    return Reject(url, "discover", "off-domain", f"outside the source's domains ({', '.join(domains)})", url=url)
