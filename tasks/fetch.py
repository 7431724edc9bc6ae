"""Fetch: URLs -> RawDocuments or Rejects over HTTP; polite (robots, per-host delay), safe (SSRF guard, caps).

One `Fetcher` serves a whole run: it keeps one requests.Session per worker thread, robots.txt per
host, and the time of the last request per host. `fetch_batch` fetches a batch of URL work items,
one host at a time per thread, different hosts in parallel.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import lxml.html
import requests
import urllib3
from lxml.etree import ParserError
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from tasks.decompress import GZIP_OR_ZLIB, BoundedDecompressor
from tasks.errors import DecompressError, FetchError, PermanentFetchError, TransientFetchError
from tasks.loaders import declared_charset, decode_content, sha256_hex
from tasks.models import (
    DeclaredRights,
    FetchBatch,
    FetchRecord,
    NotModified,
    RawDocument,
    Reject,
    SiteRights,
    Validators,
    WorkItem,
)
from tasks.rights import TdmRule, ai_disallowed, matching_rule, parse_tdmrep

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

HTML_TYPES = ("text/html", "application/xhtml+xml")
ACCEPT_HTML = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"
ACCEPT_XML = "application/rss+xml,application/atom+xml,application/xml;q=0.9,text/xml;q=0.9,*/*;q=0.1"
# Only encodings we can decompress with a bound; advertising br/zstd would let a server pick an unbounded one.
ACCEPT_ENCODING = "gzip, deflate"
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
CHUNK_BYTES = 64 * 1024
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


@dataclass(frozen=True)
class FetchPolicy:
    """How to fetch: identity, timeouts, retries, politeness and safety limits (defaults: flows/settings.py)."""

    user_agent: str
    connect_timeout: float
    read_timeout: float
    retries: int
    backoff_seconds: float
    max_retry_after: float
    per_host_delay: float
    max_crawl_delay: float
    threads: int
    max_bytes: int
    max_decompressed_bytes: int
    allow_networks: tuple[str, ...]
    max_redirects: int
    deadline: float


@dataclass(frozen=True)
class Response:
    """A completed fetch: the body (decompressed, within the caps) and what the server said about it."""

    url: str
    final_url: str
    status: int
    headers: Mapping[str, str]
    content: bytes
    attempts: int
    conditional: bool = False

    @property
    def content_type(self) -> str:
        return media_type(self.headers)

    @property
    def charset(self) -> str | None:
        match = re.search(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", self.headers.get("content-type", ""), re.I)
        return match.group(1).lower() if match else None


def media_type(headers: Mapping[str, str]) -> str:
    """The Content-Type without its parameters, lower case ('' when there is none)."""
    return headers.get("content-type", "").split(";")[0].strip().lower()


class RefusedAddress(Exception):
    """Raised inside a connection when the peer turns out to be a refused address (DNS changed under us)."""


class DeadlinePassed(Exception):
    """Raised inside a connection that is about to be used after its request's deadline passed."""


class Deadline:
    """Cuts one request off `seconds` after it starts: the read timeout bounds each read, so a server
    that drips a byte now and then (headers or body) would otherwise hold the request forever.

    The connection the request runs on registers its socket (`watch`); when time is up a timer shuts
    that socket down, which ends a read in progress at once.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self.expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._timer.cancel()

    def watch(self, sock: socket.socket | None) -> None:
        """Cut this socket off when time is up; DeadlinePassed if it already is."""
        with self._lock:
            if sock is not None:
                self._socket = sock
            if self.expired:
                raise DeadlinePassed(f"the {self.seconds:g} s deadline passed")

    def restart(self) -> None:
        """Give the request `seconds` more from now, unless its time is up already: a WARC file streamed
        for an hour must deliver each record within the deadline, not the whole file (tasks/warc.py)."""
        with self._lock:
            if self.expired:
                return
            self._timer.cancel()
            self._timer = threading.Timer(self.seconds, self.expire)
            self._timer.daemon = True
            self._timer.start()

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            sock = self._socket
        if sock is not None:
            with suppress(OSError):  # already closed: nothing left to cut
                sock.shutdown(socket.SHUT_RDWR)

    def error(self) -> PermanentFetchError:
        # Not retried: a server this slow would take the whole deadline again.
        return PermanentFetchError(
            f"not done within the {self.seconds:g} s deadline per request (NEWSDAG_FETCH_DEADLINE)", "timeout"
        )


# --- SSRF guard -------------------------------------------------------------------------------


def parse_networks(cidrs: Sequence[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


# NAT64's well-known prefix (RFC 6052): 64:ff9b::10.0.0.1 is translated to 10.0.0.1 by the network.
NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")


def embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses an IPv6 address delivers to: IPv4-mapped, 6to4, Teredo (server and client), NAT64.

    Packets to these forms end up at the IPv4 address, so that address is what the guard must judge;
    Python calls 2002:a00:1:: (6to4 for 10.0.0.1) global, for one.
    """
    if address.ipv4_mapped:
        return (address.ipv4_mapped,)
    if address.sixtofour:
        return (address.sixtofour,)
    if address.teredo:
        return address.teredo
    if address in NAT64_PREFIX:
        return (ipaddress.IPv4Address(int(address) & 0xFFFFFFFF),)
    return ()


def address_allowed(address: Address, networks: Sequence[Network]) -> bool:
    """Public unicast addresses, and whatever the allow-list names; nothing else."""
    if any(address in network for network in networks):
        return True
    if isinstance(address, ipaddress.IPv6Address) and (embedded := embedded_ipv4(address)):
        return all(address_allowed(ipv4, networks) for ipv4 in embedded)
    return address.is_global and not (address.is_multicast or address.is_reserved)


def check_url(url: str, networks: Sequence[Network]) -> None:
    """Refuse non-http(s) URLs and hosts resolving to non-public addresses, before any connection is made.

    Every address the name resolves to must be allowed: a resolver may hand the connection any of them.
    """
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise PermanentFetchError(f"not a valid URL: {error}", "bad-url") from None
    if parts.scheme not in ("http", "https"):
        scheme = parts.scheme or "no scheme"
        raise PermanentFetchError(f"only http and https are fetched, not {scheme}", "refused-scheme")
    if not host:
        raise PermanentFetchError("the URL names no host", "bad-url")
    if host.rstrip(".").rsplit(".", 1)[-1] == "invalid":
        # RFC 6761: names under .invalid never resolve, and resolvers should say so without asking a
        # DNS server; the system resolver would ask anyway, so no query leaves the machine for them.
        raise PermanentFetchError(f"cannot resolve {host}: .invalid names never resolve (RFC 6761)", "dns")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise PermanentFetchError(f"cannot resolve {host}: {error}", "dns") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address_allowed(address, networks):
            raise PermanentFetchError(
                f"{host} resolves to {address}, a non-public address outside the allowed networks "
                f"({', '.join(str(network) for network in networks) or 'none'}; add one with --allow-network CIDR "
                "or NEWSDAG_ALLOW_NETWORKS)",
                "refused-address",
            )


def guarded_adapter(networks: Sequence[Network], pool_maxsize: int, in_flight: threading.local) -> HTTPAdapter:
    """An adapter whose connections re-check the peer address once connected, and obey the deadline
    of the request running on this thread (`in_flight.deadline`).

    check_url runs before every request; this second check closes the gap where DNS answers
    differently at connect time (rebinding), before a single byte of the request is sent.
    """

    def check_peer(sock: socket.socket, host: str) -> None:
        peer = ipaddress.ip_address(str(sock.getpeername()[0]).split("%")[0])
        if not address_allowed(peer, networks):
            sock.close()
            raise RefusedAddress(f"{host} connected to {peer}, a non-public address")

    def watch(sock: socket.socket | None) -> None:
        deadline: Deadline | None = getattr(in_flight, "deadline", None)
        if deadline is not None:
            deadline.watch(sock)

    class GuardedHTTPConnection(urllib3.connection.HTTPConnection):
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            check_peer(sock, self.host)
            try:
                watch(sock)
            except DeadlinePassed:
                sock.close()
                raise
            return sock

        def request(self, *args: Any, **kwargs: Any) -> None:
            watch(self.sock)  # a pooled connection is watched here; a new one once connected
            super().request(*args, **kwargs)

    class GuardedHTTPSConnection(GuardedHTTPConnection, urllib3.connection.HTTPSConnection):
        pass

    class GuardedPool(HTTPConnectionPool):
        ConnectionCls = GuardedHTTPConnection

    class GuardedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPSConnection

    class GuardedAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": GuardedPool, "https": GuardedHTTPSPool}

    # Retries are ours (with backoff and Retry-After), never urllib3's behind our back.
    return GuardedAdapter(pool_connections=pool_maxsize, pool_maxsize=pool_maxsize, max_retries=0)


# --- politeness -------------------------------------------------------------------------------


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


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


# --- bounded download -------------------------------------------------------------------------


def read_body(response: requests.Response, max_bytes: int, max_decompressed: int) -> bytes:
    """The body, streamed: stops at `max_bytes` on the wire and `max_decompressed` after decompression."""
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise PermanentFetchError(f"{length} bytes announced; the limit is {max_bytes}", "too-large")
    decoder = BoundedDecompressor(max_decompressed, body_wbits(response.headers.get("content-encoding", "")))
    received = 0
    try:
        for chunk in response.raw.stream(CHUNK_BYTES, decode_content=False):
            received += len(chunk)
            if received > max_bytes:
                raise PermanentFetchError(f"more than {max_bytes} bytes; the limit", "too-large")
            decoder.feed(chunk)
        return decoder.finish()
    except urllib3.exceptions.ReadTimeoutError:
        raise TransientFetchError("the server stopped sending (read timeout)", "timeout") from None
    except (urllib3.exceptions.ProtocolError, urllib3.exceptions.DecodeError) as error:
        raise TransientFetchError(f"the body ends early: {error}", "truncated") from None
    except DecompressError as error:
        if error.rule == "truncated":
            raise TransientFetchError(str(error), "truncated") from None
        raise PermanentFetchError(str(error), "bad-encoding" if error.rule == "corrupt" else error.rule) from None


def body_wbits(content_encoding: str) -> int | None:
    """The decompressor's window bits for a Content-Encoding (None: identity); only the ones ACCEPT_ENCODING offers."""
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip", "deflate"):
        return GZIP_OR_ZLIB
    raise PermanentFetchError(f"unsupported Content-Encoding {encoding!r}", "bad-encoding")


# --- soft blocks ------------------------------------------------------------------------------

# (kind, pattern on the visible text, most words a page may have and still be only this wall).
# Word limits keep a real article that merely mentions cookies or subscriptions from being rejected;
# so does asking for two different phrases of a wall unless the page is nearly empty (SHORT_WALL_WORDS).
SOFT_BLOCKS: tuple[tuple[str, re.Pattern[str], int], ...] = (
    (
        "captcha",
        re.compile(r"captcha|are you a (ro)?bot|verify (that )?you are (a )?human|unusual traffic from your", re.I),
        300,
    ),
    (
        "access-denied",
        re.compile(r"access (is )?denied|access to this page has been (denied|blocked)|request (was )?blocked", re.I),
        300,
    ),
    (
        "consent-wall",
        re.compile(
            r"we value your privacy|(cookie|privacy) (consent|settings|preferences|choices)|accept (all )?cookies"
            r"|consent to (the use of )?cookies|before you continue",
            re.I,
        ),
        150,
    ),
    (
        "paywall",
        re.compile(
            r"subscribe (now )?to (continue|keep) reading|(only )?(available )?(for|to) (paying )?subscribers"
            r"|already a subscriber\?|to continue reading,? (please )?(subscribe|log ?in|sign in)",
            re.I,
        ),
        300,
    ),
    (
        "javascript-required",
        re.compile(r"(enable|requires?|turn on) javascript|javascript (is )?(required|disabled)", re.I),
        150,
    ),
)
SHORT_WALL_WORDS = 40
CHALLENGE_MARKUP = re.compile(rb"g-recaptcha|h-captcha|hcaptcha\.com|cf-chl-|challenge-platform", re.I)


def soft_block(html: str) -> str | None:
    """The kind of wall a 200 page is (captcha, consent-wall, ...) instead of an article, or None."""
    if CHALLENGE_MARKUP.search(html[:200_000].encode("utf-8", "ignore")):
        return "captcha"
    try:
        tree = lxml.html.fromstring(html)
    except (ParserError, ValueError):
        return None
    for element in tree.xpath("//script|//style|//template"):
        element.drop_tree()
    words = tree.text_content().split()
    text = " ".join(words)
    for kind, pattern, max_words in SOFT_BLOCKS:
        if len(words) > max_words:
            continue
        phrases = {match.group(0).lower() for match in pattern.finditer(text)}
        if len(phrases) >= 2 or (phrases and len(words) <= SHORT_WALL_WORDS):
            return kind
    return None


# --- the fetcher ------------------------------------------------------------------------------


class Fetcher:
    """Fetches URLs for one run: sessions per thread, robots per host, per-host gate, SSRF guard."""

    def __init__(self, policy: FetchPolicy) -> None:
        self.policy = policy
        self.networks = parse_networks(policy.allow_networks)
        self.gate = HostGate()
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        self._robots: dict[str, RobotFileParser] = {}
        self._robots_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        # Each host's tdmrep.json rules (None: it has none), fetched once per run like robots.txt, and the
        # hosts whose site-wide declarations a batch has already reported.
        self._tdmrep: dict[str, tuple[TdmRule, ...] | None] = {}
        self._tdmrep_raw: dict[str, str | None] = {}
        self._sites_reported: set[str] = set()
        self.executor = ThreadPoolExecutor(max_workers=policy.threads, thread_name_prefix="newsdag-fetch")

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        with self._lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()

    def session(self) -> requests.Session:
        """This thread's session: connections to a host are reused across its URLs."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # no proxies or .netrc from the environment: they would bypass the guard
            adapter = guarded_adapter(self.networks, pool_maxsize=2, in_flight=self._local)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers.update({"User-Agent": self.policy.user_agent, "Accept-Encoding": ACCEPT_ENCODING})
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

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
        delay = self.policy.per_host_delay
        rules = self._robots.get(host_key(url))
        if rules is not None:
            crawl_delay = rules.crawl_delay(ROBOTS_AGENT)
            if crawl_delay is not None:
                delay = max(delay, min(float(crawl_delay) * CRAWL_DELAY_UNIT, self.policy.max_crawl_delay))
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

    # requests

    def request(
        self,
        url: str,
        *,
        accept: str = ACCEPT_HTML,
        validators: Validators | None = None,
        check_robots: bool = True,
        content_types: tuple[str, ...] | None = None,
        retry: bool = True,
    ) -> Response:
        """GET with the guard, robots, bounded redirects and retries; a Response (200 or 304) or a FetchError.

        With `content_types`, a 200 of another type is refused from its headers, before the body is read.
        """
        headers = {"Accept": accept}
        if validators and validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators and validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        seen = {url}
        current = url
        attempts = 0
        try:
            for _hop in range(self.policy.max_redirects + 1):
                check_url(current, self.networks)
                if check_robots:
                    self.check_robots(current)
                try:
                    status, response_headers, content, used = self.get_with_retries(
                        current, headers, content_types, retry=retry
                    )
                except FetchError as error:
                    attempts += error.attempts
                    raise
                attempts += used
                if status in REDIRECT_STATUSES:
                    location = response_headers.get("location")
                    if not location:
                        raise PermanentFetchError(f"HTTP {status} without a Location", "bad-redirect", status=status)
                    target = urljoin(current, location.strip()).split("#")[0]
                    if target in seen:
                        raise PermanentFetchError(f"redirect loop back to {target}", "redirect-loop", status=status)
                    seen.add(target)
                    current = target
                    continue
                return Response(
                    url=url,
                    final_url=current,
                    status=status,
                    headers=response_headers,
                    content=content,
                    attempts=attempts,
                    conditional=len(headers) > 1,
                )
            raise PermanentFetchError(f"more than {self.policy.max_redirects} redirects", "too-many-redirects")
        except FetchError as error:
            # Every hop's requests count, as on success (a URL refused before any request counts as one).
            error.attempts = max(attempts, 1)
            raise

    def get_with_retries(
        self, url: str, headers: dict[str, str], content_types: tuple[str, ...] | None, *, retry: bool = True
    ) -> tuple[int, dict[str, str], bytes, int]:
        """One GET, retried with exponential backoff on connection errors, timeouts, 429 and 5xx (never 4xx);
        without `retry`, the first answer is the last."""
        policy = self.policy
        attempt = 0
        while True:
            attempt += 1
            try:
                return (*self.get_once(url, headers, content_types), attempt)
            except FetchError as error:
                error.attempts = attempt
                if not retry or not error.transient or attempt > policy.retries:
                    raise
                wait = policy.backoff_seconds * 2 ** (attempt - 1)
                if error.retry_after is not None:
                    if error.retry_after > policy.max_retry_after:
                        raise
                    wait = max(wait, error.retry_after)
                time.sleep(wait)

    def get_once(
        self, url: str, headers: dict[str, str], content_types: tuple[str, ...] | None
    ) -> tuple[int, dict[str, str], bytes]:
        """One request within the host's politeness gate and the per-request deadline."""
        with self.gate.slot(host_key(url), self.host_delay(url)), Deadline(self.policy.deadline) as deadline:
            self._local.deadline = deadline
            try:
                result = self.exchange(url, headers, content_types)
            except (FetchError, DeadlinePassed):
                if deadline.expired:  # whatever the cut-off socket made of it, the cause is the deadline
                    raise deadline.error() from None
                raise
            finally:
                self._local.deadline = None
            if deadline.expired:  # a body without a length simply ends when its socket is cut off
                raise deadline.error()
            return result

    def exchange(
        self, url: str, headers: dict[str, str], content_types: tuple[str, ...] | None
    ) -> tuple[int, dict[str, str], bytes]:
        policy = self.policy
        response = self.open_stream(url, headers)
        with response:
            status = response.status_code
            response_headers = {name.lower(): value for name, value in response.headers.items()}
            if status == 429 or status >= 500:
                rule = "rate-limited" if status == 429 else "server-error"
                raise TransientFetchError(
                    f"HTTP {status} {response.reason}",
                    rule,
                    status=status,
                    retry_after=retry_after_seconds(response_headers.get("retry-after")),
                )
            if 400 <= status < 500:
                raise PermanentFetchError(f"HTTP {status} {response.reason}", "client-error", status=status)
            if status != 200:
                return status, response_headers, b""
            content_type = media_type(response_headers)
            if content_types is not None and content_type not in content_types:
                # Refused on the headers: a PDF or video is not downloaded only to be thrown away.
                detail = f"content type {content_type or 'missing'} is not {' or '.join(content_types)}"
                raise PermanentFetchError(detail, "wrong-type", status=status)
            content = read_body(response, policy.max_bytes, policy.max_decompressed_bytes)
        return status, response_headers, content

    @contextmanager
    def stream(self, url: str, headers: Mapping[str, str]) -> Iterator[tuple[requests.Response, Deadline]]:
        """A GET whose body the caller reads as it comes (a WARC file of any size), under the same guard as
        pages: the SSRF check before the request and at every redirect, the peer check on connect, the
        timeouts, and a deadline the caller restarts as it goes (Deadline.restart). Redirects are followed
        here (at most max_redirects); the response is of any status, for the caller to judge. No robots.txt
        and no per-host delay: one request fetches a file published for download, not a site's pages.

        Raises FetchError (connection-error, timeout, refused-address, dns, too-many-redirects, ...).
        """
        current = url
        for _hop in range(self.policy.max_redirects + 1):
            check_url(current, self.networks)
            deadline = Deadline(self.policy.deadline)
            with deadline:
                self._local.deadline = deadline
                try:
                    response = self.open_stream(current, headers)
                except (FetchError, DeadlinePassed):
                    if deadline.expired:
                        raise deadline.error() from None
                    raise
                try:
                    if response.status_code in REDIRECT_STATUSES:
                        location = response.headers.get("location")
                        if not location:
                            raise PermanentFetchError(f"HTTP {response.status_code} without a Location", "bad-redirect")
                        current = urljoin(current, location.strip()).split("#")[0]
                        continue
                    yield response, deadline
                    return
                finally:
                    response.close()
                    self._local.deadline = None
        raise PermanentFetchError(f"more than {self.policy.max_redirects} redirects", "too-many-redirects")

    def open_stream(self, url: str, headers: Mapping[str, str]) -> requests.Response:
        policy = self.policy
        try:
            return self.session().get(
                url,
                headers=dict(headers),
                stream=True,
                allow_redirects=False,
                timeout=(policy.connect_timeout, policy.read_timeout),
            )
        except RefusedAddress as error:
            raise PermanentFetchError(str(error), "refused-address") from None
        except requests.exceptions.ConnectTimeout:
            raise TransientFetchError("connecting timed out", "timeout") from None
        except requests.exceptions.ReadTimeout:
            raise TransientFetchError(f"no response within {policy.read_timeout} s", "timeout") from None
        except requests.exceptions.ConnectionError as error:
            if isinstance(error.__context__, RefusedAddress) or "RefusedAddress" in str(error):
                raise PermanentFetchError(str(error), "refused-address") from None
            raise TransientFetchError(f"connection failed: {short(error)}", "connection-error") from None
        except requests.exceptions.RequestException as error:
            raise PermanentFetchError(f"request failed: {short(error)}", "request-error") from None

    # documents

    def fetch_item(self, item: WorkItem, validators: Validators | None) -> tuple[FetchResult, FetchRecord]:
        """One URL as a RawDocument, NotModified (304 to our conditional GET), or a Reject; with its record."""
        started = time.monotonic()
        fetched_at = datetime.now(UTC)
        try:
            response = self.request(item.location, validators=validators, content_types=HTML_TYPES)
            result = self.to_document(item, response, fetched_at, validators)
        except FetchError as error:
            reject = Reject(item.location, "fetch", error.rule, str(error), url=item.location)
            record = FetchRecord(
                url=item.location,
                outcome="failed",
                fetched_at=fetched_at,
                http_status=error.status,
                attempts=error.attempts,
                conditional=validators is not None,
                rule=error.rule,
                seconds=time.monotonic() - started,
            )
            return reject, record
        outcome: Literal["fetched", "not_modified", "failed"] = "fetched"
        if isinstance(result, Reject):
            outcome = "failed"
        elif isinstance(result, NotModified):
            outcome = "not_modified"
        record = FetchRecord(
            url=item.location,
            outcome=outcome,
            fetched_at=fetched_at,
            final_url=response.final_url,
            http_status=response.status,
            attempts=response.attempts,
            conditional=response.conditional,
            rule=result.rule if isinstance(result, Reject) else None,
            doc_id=result.doc_id,
            seconds=time.monotonic() - started,
        )
        return result, record

    def to_document(
        self, item: WorkItem, response: Response, fetched_at: datetime, validators: Validators | None
    ) -> FetchResult:
        if response.status == 304 and validators is not None:
            return NotModified(input=item.location, url=item.location, doc_id=validators.doc_id)
        if response.status != 200:
            raise PermanentFetchError(f"unexpected HTTP {response.status}", "unexpected-status", status=response.status)
        content = response.content
        doc_id = sha256_hex(content)
        header_charset, meta_charset = response.charset, declared_charset(content)
        decoded = decode_fetched(content, header_charset, meta_charset)
        if decoded is None:
            detail = "not text in any detectable encoding"
            return Reject(item.location, "fetch", "undecodable", detail, doc_id, item.location)
        block = soft_block(decoded[0])
        if block:
            detail = f"{block}: a {block.replace('-', ' ')} page instead of the article"
            return Reject(item.location, "fetch", "blocked", detail, doc_id, item.location)
        return RawDocument(
            input=item.location,
            url=item.location,
            content=content,
            kind="html",
            fetched_at=fetched_at,
            doc_id=doc_id,
            source=item.source,
            content_type=response.content_type,
            encoding_declared=header_charset or meta_charset,
            encoding=decoded[1],
            http_status=response.status,
            final_url=response.final_url,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            hints=item.hints,
            rights=self.declared_rights(response.final_url, response.headers),
        )

    def fetch_batch(self, items: Sequence[WorkItem], validators: Mapping[str, Validators]) -> FetchBatch:
        """Fetch a batch: one thread per host at a time (its URLs in order), hosts in parallel."""
        by_host: dict[str, list[WorkItem]] = defaultdict(list)
        for item in items:
            by_host[host_key(item.location)].append(item)

        def fetch_host(host_items: list[WorkItem]) -> list[tuple[FetchResult, FetchRecord]]:
            return [self.fetch_item(item, validators.get(item.location)) for item in host_items]

        documents: list[RawDocument] = []
        not_modified: list[NotModified] = []
        rejects: list[Reject] = []
        records: list[FetchRecord] = []
        for results in self.executor.map(fetch_host, by_host.values()):
            for result, record in results:
                records.append(record)
                if isinstance(result, RawDocument):
                    documents.append(result)
                elif isinstance(result, NotModified):
                    not_modified.append(result)
                else:
                    rejects.append(result)
        site_rights = self.new_site_rights([item.location for item in items])
        return FetchBatch(tuple(documents), tuple(not_modified), tuple(rejects), tuple(records), site_rights)


FetchResult = RawDocument | NotModified | Reject
FETCHERS: dict[str, Fetcher] = {}
FETCHERS_LOCK = threading.Lock()


def fetcher_for(run_id: str, policy: FetchPolicy) -> Fetcher:
    """The run's fetcher (sessions, robots rules and per-host timing live as long as the run)."""
    with FETCHERS_LOCK:
        if run_id not in FETCHERS:
            FETCHERS[run_id] = Fetcher(policy)
        return FETCHERS[run_id]


def close_fetcher(run_id: str) -> None:
    with FETCHERS_LOCK:
        fetcher = FETCHERS.pop(run_id, None)
    if fetcher is not None:
        fetcher.close()


def decode_fetched(content: bytes, header_charset: str | None, meta_charset: str | None) -> tuple[str, str] | None:
    """Text and the encoding used: valid UTF-8, then the HTTP header's charset, then <meta charset>, then detection.

    Valid UTF-8 comes first because a wrong declaration (latin-1 over UTF-8 bytes) is common and
    would decode without error into mojibake; genuine latin-1 text is almost never valid UTF-8.
    """
    if header_charset and header_charset not in ("utf-8", "utf8"):
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            try:
                return content.decode(header_charset), header_charset
            except (UnicodeDecodeError, LookupError):
                pass
    return decode_content(content, meta_charset)


def short(error: Exception) -> str:
    """The last, most specific part of a requests/urllib3 error chain."""
    text = " ".join(str(error).split())
    return text[-200:]
