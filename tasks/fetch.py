"""Fetch: URLs -> RawDocuments or Rejects over HTTP; polite (robots, per-host delay), safe (SSRF guard, caps).

One `Fetcher` serves a whole run: it keeps one requests.Session per worker thread, robots.txt per
host, and the time of the last request per host. `fetch_batch` fetches a batch of URL work items,
one host at a time per thread, different hosts in parallel.

The parts it puts together live apart: tasks/netguard.py (deadline, URL and address checks, guarded
adapter), tasks/hosts.py (robots.txt, tdmrep.json, per-host gate), tasks/pagechecks.py (decoding,
soft blocks), tasks/decompress.py (the bounded body).
"""

from __future__ import annotations

import re
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urljoin

import requests
import urllib3

from newsdag.tasks.dates import http_date
from newsdag.tasks.decompress import GZIP_OR_ZLIB, BoundedDecompressor
from newsdag.tasks.errors import DecompressError, FetchError, PermanentFetchError, TransientFetchError
from newsdag.tasks.hosts import HostGate, HostRules, host_key
from newsdag.tasks.loaders import declared_charset, sha256_hex
from newsdag.tasks.models import (
    FetchBatch,
    FetchRecord,
    NotModified,
    RawDocument,
    Reject,
    Validators,
    WorkItem,
)
from newsdag.tasks.netguard import Deadline, DeadlinePassed, RefusedAddress, check_url, guarded_adapter, parse_networks
from newsdag.tasks.pagechecks import decode_fetched, soft_block

HTML_TYPES = ("text/html", "application/xhtml+xml")
ACCEPT_HTML = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"
ACCEPT_XML = "application/rss+xml,application/atom+xml,application/xml;q=0.9,text/xml;q=0.9,*/*;q=0.1"
# Only encodings we can decompress with a bound; advertising br/zstd would let a server pick an unbounded one.
ACCEPT_ENCODING = "gzip, deflate"
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
CHUNK_BYTES = 64 * 1024


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


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    when = http_date(value)
    if when is None:
        return None
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


# --- the fetcher ------------------------------------------------------------------------------


class Fetcher:
    """Fetches URLs for one run: sessions per thread, robots per host, per-host gate, SSRF guard."""

    def __init__(self, policy: FetchPolicy) -> None:
        self.policy = policy
        self.networks = parse_networks(policy.allow_networks)
        self.gate = HostGate()
        self.hosts = HostRules(self.request, policy.per_host_delay, policy.max_crawl_delay)
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
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
                    self.hosts.check_robots(current)
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
        with self.gate.slot(host_key(url), self.hosts.host_delay(url)), Deadline(self.policy.deadline) as deadline:
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
            rights=self.hosts.declared_rights(response.final_url, response.headers),
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
        site_rights = self.hosts.new_site_rights([item.location for item in items])
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


def short(error: Exception) -> str:
    """The last, most specific part of a requests/urllib3 error chain."""
    text = " ".join(str(error).split())
    return text[-200:]
