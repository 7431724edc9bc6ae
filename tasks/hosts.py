"""Host gating: robots.txt, TDMRep's tdmrep.json and the per-host delay, each host's once per run.

`HostGate` lets one request at a time go to a host, `delay` apart; `HostRules` fetches and keeps each
host's robots.txt and tdmrep.json (through the fetcher's guarded `request`) and answers whether a URL
may be fetched, how long to wait between requests, and what the site declares about text and data mining.
"""

from __future__ import annotations

import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

from newsdag.tasks.errors import FetchError, PermanentFetchError
from newsdag.tasks.models import DeclaredRights, SiteRights
from newsdag.tasks.rights import TdmRule, ai_disallowed, matching_rule, parse_tdmrep

if TYPE_CHECKING:
    from newsdag.tasks.fetch import Response

# TDMRep's site-wide rules file, and how much of it site_rights keeps as written.
TDMREP_PATH = "/.well-known/tdmrep.json"
MAX_SITE_RULES_CHARS = 64 * 1024
# RFC 9309: crawlers must parse at least 500 KiB of robots.txt; more is not read.
MAX_ROBOTS_BYTES = 500 * 1024
ROBOTS_AGENT = "newsdag"
# urllib.robotparser keeps only whole-number Crawl-delays and silently drops "Crawl-delay: 2.5", which
# would leave that site with the default delay; so every delay is rewritten to milliseconds for it.
CRAWL_DELAY_LINE = re.compile(r"^(\s*crawl-delay\s*:\s*)(\d+(?:\.\d*)?|\.\d+)(\s*(?:#.*)?)$", re.IGNORECASE)
CRAWL_DELAY_UNIT = 0.001  # seconds per Crawl-delay unit as RobotFileParser reports it


class HostRules:
    """Each host's robots.txt and tdmrep.json for one run, fetched once with `request` (the fetcher's
    guarded GET, called as request(url, accept=..., check_robots=False, retry=...))."""

    def __init__(self, request: Callable[..., Response], per_host_delay: float, max_crawl_delay: float) -> None:
        self.request = request
        self.per_host_delay = per_host_delay
        self.max_crawl_delay = max_crawl_delay
        self._lock = threading.Lock()
        self._robots: dict[str, RobotFileParser] = {}
        self._robots_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        # Each host's tdmrep.json rules (None: it has none), fetched once per run like robots.txt, and the
        # hosts whose site-wide declarations a batch has already reported.
        self._tdmrep: dict[str, tuple[TdmRule, ...] | None] = {}
        self._tdmrep_raw: dict[str, str | None] = {}
        self._sites_reported: set[str] = set()

    # robots.txt

    def robots(self, url: str) -> RobotFileParser:
        """The host's robots rules, fetched once per run (RFC 9309: 4xx = allow all, unreachable = disallow all)."""
        key = host_key(url)
        with self._lock:
            lock = self._robots_locks[key]
        with lock:
            if key in self._robots:
                return self._robots[key]
            rules = RobotFileParser(key + "/robots.txt")
            try:
                response = self.request(key + "/robots.txt", accept="text/plain", check_robots=False)
            except PermanentFetchError as error:
                if error.status is not None and 400 <= error.status < 500:
                    rules.allow_all = True
                else:
                    rules.disallow_all = True
            except FetchError:
                rules.disallow_all = True
            else:
                if response.status == 200:
                    text = response.content[:MAX_ROBOTS_BYTES].decode("utf-8", "replace")
                    rules.parse(crawl_delays_in_milliseconds(text.splitlines()))
                else:
                    rules.allow_all = True
            self._robots[key] = rules
            return rules

    def host_delay(self, url: str) -> float:
        delay = self.per_host_delay
        rules = self._robots.get(host_key(url))
        if rules is not None:
            crawl_delay = rules.crawl_delay(ROBOTS_AGENT)
            if crawl_delay is not None:
                delay = max(delay, min(float(crawl_delay) * CRAWL_DELAY_UNIT, self.max_crawl_delay))
        return delay

    def check_robots(self, url: str) -> None:
        rules = self.robots(url)
        if rules.disallow_all and not rules.allow_all and not getattr(rules, "entries", None):
            message = "robots.txt could not be fetched; RFC 9309 says crawl nothing"
            raise PermanentFetchError(message, "robots-unreachable")
        if not rules.can_fetch(ROBOTS_AGENT, url):
            raise PermanentFetchError("disallowed by robots.txt", "robots-disallowed")

    # TDMRep and AI crawlers (tasks/rights.py)

    def tdm_rules(self, url: str) -> tuple[TdmRule, ...] | None:
        """The host's /.well-known/tdmrep.json rules, fetched once per run under the same guard as pages;
        None when it has none (any error or a file that is not a rules array: the protocol is not used)."""
        key = host_key(url)
        with self._lock:
            lock = self._robots_locks[key]
        with lock:
            if key not in self._tdmrep:
                rules, raw = None, None
                try:
                    rules_url = key + TDMREP_PATH
                    response = self.request(rules_url, accept="application/json", check_robots=False, retry=False)
                except FetchError:
                    pass
                else:
                    if response.status == 200 and (rules := parse_tdmrep(response.content)) is not None:
                        raw = response.content[:MAX_SITE_RULES_CHARS].decode("utf-8", "replace")
                self._tdmrep[key], self._tdmrep_raw[key] = rules, raw
            return self._tdmrep[key]

    def declared_rights(self, url: str, headers: Mapping[str, str]) -> DeclaredRights:
        """What the response's headers and the site's tdmrep.json and robots.txt declare for this URL."""
        rule = matching_rule(self.tdm_rules(url) or (), url)
        return DeclaredRights(
            tdm_reservation=headers.get("tdm-reservation"),
            tdm_policy=headers.get("tdm-policy"),
            x_robots_tag=headers.get("x-robots-tag"),
            file_reserved=rule.reserved if rule else None,
            file_policy=rule.policy if rule else None,
            ai_disallowed=ai_disallowed(self.robots(url), url),
        )

    def new_site_rights(self, urls: Sequence[str]) -> tuple[SiteRights, ...]:
        """The site-wide declarations of the hosts of `urls` not reported yet in this run."""
        reported = []
        for key in dict.fromkeys(host_key(url) for url in urls):
            with self._lock:
                if key in self._sites_reported or key not in self._tdmrep:
                    continue
                self._sites_reported.add(key)
            root_rules = self._robots.get(key)
            agents = ai_disallowed(root_rules, key + "/") if root_rules is not None else ()
            reported.append(SiteRights(key, self._tdmrep[key] is not None, self._tdmrep_raw.get(key), agents))
        return tuple(reported)


class HostGate:
    """At most one request per host at a time, and at least `delay` seconds between the end of one and the next."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._last: dict[str, float] = {}

    @contextmanager
    def slot(self, host: str, delay: float) -> Iterator[None]:
        with self._guard:
            lock = self._locks[host]
        with lock:
            wait = self._last.get(host, float("-inf")) + delay - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                yield
            finally:
                self._last[host] = time.monotonic()


def host_key(url: str) -> str:
    """scheme://host:port, the unit of politeness and robots.txt (a URL too broken to split is its own key)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    return f"{parts.scheme}://{parts.netloc.lower()}"


def crawl_delays_in_milliseconds(lines: Sequence[str]) -> list[str]:
    """robots.txt lines with each Crawl-delay in milliseconds (CRAWL_DELAY_LINE says why)."""
    return [CRAWL_DELAY_LINE.sub(lambda m: f"{m[1]}{round(float(m[2]) * 1000)}{m[3]}", line) for line in lines]
