"""tasks/fetch.py against real HTTP servers on 127.0.0.1: the guard, retries, caps, robots, politeness, 304s."""

from __future__ import annotations

import gzip
import ipaddress
import itertools
import socket
import struct
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from newsdag.flows.run import fetch_policy
from newsdag.flows.settings import Settings
from newsdag.tasks import extract, fetch, netguard
from newsdag.tasks.errors import PermanentFetchError
from newsdag.tasks.models import Article, NotModified, RawDocument, Reject, Validators, WorkItem
from tests.conftest import ACCENTED_LEAD, LOOPBACK_NETWORKS, article_page

HTML = "text/html; charset=utf-8"


def policy(**changes: Any) -> fetch.FetchPolicy:
    """Fast test timings; loopback allowed unless a test says otherwise."""
    settings = Settings(
        per_host_delay=0.0, backoff_seconds=0.05, fetch_retries=2, read_timeout=2.0, allow_networks=LOOPBACK_NETWORKS
    )
    return replace(fetch_policy(settings), **changes)


@pytest.fixture
def site(httpserver: HTTPServer) -> HTTPServer:
    """The loopback site with an empty robots.txt (404: everything allowed)."""
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    return httpserver


def fetch_one(url: str, validators: Validators | None = None, **changes: Any) -> tuple[Any, Any]:
    with fetch.Fetcher(policy(**changes)) as fetcher:
        return fetcher.fetch_item(WorkItem(url, kind="url"), validators)


def requested_paths(server: HTTPServer) -> list[str]:
    return [request.path for request, _response in server.log]


Respond = Callable[["RawServer", socket.socket], None]


class RawServer:
    """A one-trick HTTP server on 127.0.0.1 that answers every page with `respond`, then closes
    (robots.txt is a 404: everything allowed).

    For what a well-behaved server library refuses to do: truncated bodies, connection resets, bodies
    that never end or drip. `respond` is raw bytes, or a function of the server and the connection
    (see `reset_connection`, `endless_body`, `drip`) that counts what it sends in `sent`.
    """

    def __init__(self, respond: bytes | Respond) -> None:
        self.respond = respond
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.port = self.listener.getsockname()[1]
        self.connections = 0  # page requests (robots.txt not counted)
        self.sent = 0
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(10)  # a client that stops reading cannot hold the server for long
                request_line = connection.recv(65536).split(b"\r\n", 1)[0]
                try:
                    if b" /robots.txt " in request_line:
                        connection.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    elif isinstance(self.respond, bytes):
                        self.connections += 1
                        connection.sendall(self.respond)
                    else:
                        self.connections += 1
                        self.respond(self, connection)
                except OSError:
                    pass  # the client hung up, as most of these tests want it to

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.listener.close()


def reset_connection(_server: RawServer, connection: socket.socket) -> None:
    """Close with an RST instead of an answer (SO_LINGER 0), as an overloaded server or middlebox does."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def endless_body(head: bytes, chunk: bytes, limit: int = 64 * 1024 * 1024) -> Respond:
    """`head`, then `chunk` again and again until the client hangs up (or `limit` bytes)."""

    def respond(server: RawServer, connection: socket.socket) -> None:
        connection.sendall(head)
        while server.sent < limit:
            connection.sendall(chunk)
            server.sent += len(chunk)

    return respond


def drip(head: bytes, body: bytes, interval: float, *, seconds: float = 3.0) -> Respond:
    """`head` at once, then `body` one byte every `interval` seconds: each read is quick, the whole is
    endless (the server gives up after `seconds`, so a test of a broken deadline fails instead of hanging)."""

    def respond(server: RawServer, connection: socket.socket) -> None:
        connection.sendall(head)
        stop = time.monotonic() + seconds
        for index in range(len(body)):
            if time.monotonic() > stop:
                return
            connection.sendall(body[index : index + 1])
            server.sent += 1
            time.sleep(interval)

    return respond


StartRawServer = Callable[[bytes | Respond], RawServer]


@pytest.fixture
def raw_server() -> Iterator[StartRawServer]:
    servers: list[RawServer] = []

    def start(respond: bytes | Respond) -> RawServer:
        servers.append(RawServer(respond))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


# --- the SSRF guard ------------------------------------------------------------------------------


def test_loopback_is_refused_unless_allowed_and_nothing_is_sent(site: HTTPServer) -> None:
    site.expect_request("/page").respond_with_data(article_page(1), content_type=HTML)
    result, record = fetch_one(site.url_for("/page"), allow_networks=())
    assert isinstance(result, Reject) and result.rule == "refused-address"
    assert "--allow-network" in result.detail
    assert record.outcome == "failed" and site.log == []


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://10.255.255.1/page", "refused-address"),
        ("http://[::ffff:10.0.0.1]/page", "refused-address"),  # IPv4-mapped IPv6
        ("http://167772161/page", "refused-address"),  # 10.0.0.1 spelled as one decimal number
        ("http://0177.0.0.1/page", "refused-address"),  # 127.0.0.1 in octal: loopback is not allowed here
        ("http://[fe80::1]/page", "refused-address"),  # link-local
        ("http://224.0.0.1/page", "refused-address"),  # multicast
        ("http://169.254.169.254/latest/meta-data/", "refused-address"),  # cloud metadata
        ("http://[2002:a00:1::]/page", "refused-address"),  # 6to4 for 10.0.0.1 (Python calls it global)
        ("http://[64:ff9b::a9fe:a9fe]/latest/meta-data/", "refused-address"),  # NAT64 for 169.254.169.254
        ("file:///etc/passwd", "refused-scheme"),
        ("ftp://127.0.0.1/x", "refused-scheme"),
    ],
)
def test_non_public_addresses_and_other_schemes_are_refused_before_connecting(url: str, rule: str) -> None:
    # pytest-socket fails the test if any connection to a non-loopback address is even attempted.
    result, _ = fetch_one(url, allow_networks=())
    assert isinstance(result, Reject) and result.rule == rule


def test_a_redirect_to_a_private_address_is_refused(site: HTTPServer) -> None:
    site.expect_request("/moved").respond_with_data("", status=302, headers={"Location": "http://10.255.255.1/x"})
    result, _record = fetch_one(site.url_for("/moved"))
    assert isinstance(result, Reject) and result.rule == "refused-address"
    assert requested_paths(site) == ["/robots.txt", "/moved"]


def test_allowing_a_network_does_not_allow_others() -> None:
    result, _ = fetch_one("http://10.255.255.1/", allow_networks=("127.0.0.0/8",))
    assert isinstance(result, Reject) and result.rule == "refused-address"


@pytest.mark.parametrize(
    ("address", "allowed", "allow_networks"),
    [
        ("2002:a00:1::", False, ()),  # 6to4 for 10.0.0.1
        ("2002:7f00:1::", False, ()),  # 6to4 for 127.0.0.1
        ("2002:7f00:1::", True, ("127.0.0.0/8",)),  # ... allowed when its IPv4 network is
        ("2002:808:808::", True, ()),  # 6to4 for 8.8.8.8: public
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", False, ()),  # Teredo, client 10.0.0.1
        ("2001:0:a00:1:8000:63bf:f7f7:f7f7", False, ()),  # Teredo, server 10.0.0.1
        ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", True, ()),  # Teredo, server and client public
        ("64:ff9b::a00:1", False, ()),  # NAT64 for 10.0.0.1
        ("64:ff9b::7f00:1", True, ("127.0.0.0/8",)),  # NAT64 for 127.0.0.1, allowed
        ("64:ff9b::808:808", True, ()),  # NAT64 for 8.8.8.8: public
        ("::ffff:10.0.0.1", False, ()),  # IPv4-mapped
    ],
)
def test_ipv6_forms_that_embed_ipv4_are_judged_by_the_ipv4_address(
    address: str, allowed: bool, allow_networks: tuple[str, ...]
) -> None:
    networks = netguard.parse_networks(allow_networks)
    assert netguard.address_allowed(ipaddress.ip_address(address), networks) is allowed


@pytest.mark.disable_socket  # no sockets and no getaddrinfo: a DNS query leaving the machine fails the test
def test_a_name_that_cannot_resolve_is_a_dns_reject_without_asking_a_resolver() -> None:
    result, record = fetch_one("http://no-such-host.invalid/page")
    assert isinstance(result, Reject) and result.rule == "dns" and "no-such-host.invalid" in result.detail
    assert record.outcome == "failed"


def test_check_url_refuses_before_resolving_names_it_cannot_parse() -> None:
    with pytest.raises(PermanentFetchError) as raised:
        netguard.check_url("http://[not-an-address/", ())
    assert raised.value.rule == "bad-url"


# --- retries and failures ------------------------------------------------------------------------


def test_a_server_error_is_retried_then_the_page_is_fetched(site: HTTPServer) -> None:
    site.expect_oneshot_request("/flaky").respond_with_data("busy", status=503)
    site.expect_request("/flaky").respond_with_data(article_page(2), content_type=HTML)
    result, record = fetch_one(site.url_for("/flaky"))
    assert isinstance(result, RawDocument) and b"Headline number 2" in result.content
    assert record.attempts == 2 and record.outcome == "fetched"


def test_429_waits_for_retry_after(site: HTTPServer) -> None:
    site.expect_oneshot_request("/limited").respond_with_data("slow down", status=429, headers={"Retry-After": "1"})
    site.expect_request("/limited").respond_with_data(article_page(3), content_type=HTML)
    started = time.monotonic()
    result, record = fetch_one(site.url_for("/limited"))
    assert isinstance(result, RawDocument) and record.attempts == 2
    assert time.monotonic() - started >= 1.0


def test_a_retry_after_http_date_is_waited_for(site: HTTPServer) -> None:
    def limited(_request: Request) -> Response:
        # HTTP dates are to the second: two seconds from now is one to two seconds of waiting.
        when = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
        return Response("slow down", status=429, headers={"Retry-After": when})

    site.expect_oneshot_request("/limited").respond_with_handler(limited)
    site.expect_request("/limited").respond_with_data(article_page(3), content_type=HTML)
    started = time.monotonic()
    result, record = fetch_one(site.url_for("/limited"))
    assert isinstance(result, RawDocument) and record.attempts == 2
    assert time.monotonic() - started >= 0.9  # the backoff alone is 0.05 s


def test_a_client_error_is_not_retried(site: HTTPServer) -> None:
    site.expect_request("/gone").respond_with_data("gone", status=410)
    result, record = fetch_one(site.url_for("/gone"))
    assert isinstance(result, Reject) and result.rule == "client-error" and "410" in result.detail
    assert record.attempts == 1 and requested_paths(site).count("/gone") == 1


def test_persistent_server_errors_end_as_a_reject_after_the_retries(site: HTTPServer) -> None:
    site.expect_request("/down").respond_with_data("down", status=500)
    result, record = fetch_one(site.url_for("/down"), retries=2)
    assert isinstance(result, Reject) and result.rule == "server-error"
    assert record.attempts == 3 and requested_paths(site).count("/down") == 3


def test_a_slow_response_times_out(site: HTTPServer) -> None:
    def slow(_request: Request) -> Response:
        time.sleep(1.0)
        return Response(article_page(4), content_type=HTML)

    site.expect_request("/slow").respond_with_handler(slow)
    result, _ = fetch_one(site.url_for("/slow"), read_timeout=0.3, retries=0)
    assert isinstance(result, Reject) and result.rule == "timeout"


DRIPPED_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n"


@pytest.mark.parametrize(
    ("head", "body"),
    [(DRIPPED_HEAD, b"<p>" + b"x" * 99_997), (b"", DRIPPED_HEAD)],
    ids=["body", "headers"],
)
def test_a_server_that_drips_bytes_is_cut_off_at_the_deadline(
    raw_server: StartRawServer, head: bytes, body: bytes
) -> None:
    server = raw_server(drip(head, body, interval=0.05))
    started = time.monotonic()
    result, record = fetch_one(server.url("/drip"), read_timeout=1.0, deadline=0.5)  # each read is quick
    elapsed = time.monotonic() - started
    assert isinstance(result, Reject) and result.rule == "timeout" and "0.5 s deadline" in result.detail
    assert 0.5 <= elapsed < 1.5 and record.attempts == 1  # cut off on time, not retried
    assert 3 <= server.sent < 30


def test_a_truncated_body_is_a_reject(raw_server: StartRawServer) -> None:
    body = article_page(5).encode()
    server = raw_server(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
        % (len(body), body[:200])
    )
    result, record = fetch_one(server.url("/cut"), retries=1)
    assert isinstance(result, Reject) and result.rule == "truncated"
    assert record.attempts == 2  # transient: retried once


def test_a_connection_reset_is_retried_then_a_reject(raw_server: StartRawServer) -> None:
    server = raw_server(reset_connection)
    result, record = fetch_one(server.url("/reset"), retries=2)
    assert isinstance(result, Reject) and result.rule == "connection-error"
    assert record.attempts == 3 and server.connections == 3


def test_redirects_are_followed_only_up_to_the_limit(site: HTTPServer) -> None:
    for hop in range(10):
        site.expect_request(f"/hop/{hop}").respond_with_data("", status=302, headers={"Location": f"/hop/{hop + 1}"})
    result, record = fetch_one(site.url_for("/hop/0"), max_redirects=3)
    assert isinstance(result, Reject) and result.rule == "too-many-redirects" and record.attempts == 4
    assert [path for path in requested_paths(site) if path.startswith("/hop/")] == [f"/hop/{n}" for n in range(4)]


def test_a_failure_after_redirects_counts_the_attempts_of_every_hop(site: HTTPServer) -> None:
    site.expect_request("/moved").respond_with_data("", status=301, headers={"Location": "/down"})
    site.expect_request("/down").respond_with_data("down", status=500)
    result, record = fetch_one(site.url_for("/moved"), retries=2)
    assert isinstance(result, Reject) and result.rule == "server-error"
    assert record.attempts == 4  # one for the redirect, three for the page
    assert requested_paths(site).count("/moved") == 1 and requested_paths(site).count("/down") == 3


def test_a_redirect_loop_is_a_reject(site: HTTPServer) -> None:
    site.expect_request("/a").respond_with_data("", status=301, headers={"Location": "/b"})
    site.expect_request("/b").respond_with_data("", status=301, headers={"Location": "/a"})
    result, _ = fetch_one(site.url_for("/a"))
    assert isinstance(result, Reject) and result.rule == "redirect-loop"


def test_redirects_are_followed_and_the_final_url_kept(site: HTTPServer) -> None:
    site.expect_request("/old").respond_with_data("", status=301, headers={"Location": "/new"})
    site.expect_request("/new").respond_with_data(article_page(6), content_type=HTML)
    result, _ = fetch_one(site.url_for("/old"))
    assert isinstance(result, RawDocument)
    assert result.url == site.url_for("/old") and result.final_url == site.url_for("/new")


# --- caps, types and encodings -------------------------------------------------------------------


def test_an_announced_oversized_page_is_rejected_before_its_body(site: HTTPServer) -> None:
    site.expect_request("/big").respond_with_data("<p>" + "x" * 300_000 + "</p>", content_type=HTML)
    result, _ = fetch_one(site.url_for("/big"), max_bytes=100_000)
    assert isinstance(result, Reject) and result.rule == "too-large" and "announced" in result.detail


def test_an_oversized_page_without_content_length_is_cut_off_while_streaming(raw_server: StartRawServer) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
    data = b"<p>" + b"x" * (64 * 1024 - 3)
    server = raw_server(endless_body(head, b"%x\r\n%s\r\n" % (len(data), data)))
    result, _ = fetch_one(server.url("/big"), max_bytes=100_000)
    assert isinstance(result, Reject) and result.rule == "too-large" and "announced" not in result.detail
    assert server.sent < 16 * 1024 * 1024  # the client hung up long before the 64 MiB on offer


def test_a_gzip_bomb_is_stopped_with_memory_bounded(site: HTTPServer) -> None:
    bomb = gzip.compress(b"<p>" + b"\0" * 200_000_000, compresslevel=9)  # 200 MB inflated, ~200 kB on the wire
    site.expect_request("/bomb").respond_with_data(bomb, content_type=HTML, headers={"Content-Encoding": "gzip"})
    tracemalloc.start()
    try:
        result, _ = fetch_one(site.url_for("/bomb"), max_decompressed_bytes=5_000_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(result, Reject) and result.rule == "too-large"
    assert peak < 30_000_000


def test_gzip_content_encoding_within_the_cap_is_decoded(site: HTTPServer) -> None:
    page = gzip.compress(article_page(7).encode())
    site.expect_request("/gz").respond_with_data(page, content_type=HTML, headers={"Content-Encoding": "gzip"})
    result, _ = fetch_one(site.url_for("/gz"))
    assert isinstance(result, RawDocument) and result.content.startswith(b"<!doctype html>")


def test_only_html_goes_to_extraction(site: HTTPServer) -> None:
    site.expect_request("/file.pdf").respond_with_data(b"%PDF-1.7", content_type="application/pdf")
    result, _ = fetch_one(site.url_for("/file.pdf"))
    assert isinstance(result, Reject) and result.rule == "wrong-type"


def test_a_wrong_type_is_refused_from_its_headers_without_downloading_the_body(raw_server: StartRawServer) -> None:
    size = 64 * 1024 * 1024
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nContent-Length: %d\r\n\r\n" % size
    server = raw_server(endless_body(head, b"%PDF" * 16384, limit=size))
    result, record = fetch_one(server.url("/report.pdf"), max_bytes=2 * size, max_decompressed_bytes=2 * size)
    assert isinstance(result, Reject) and result.rule == "wrong-type" and "application/pdf" in result.detail
    assert server.sent < size // 4  # what the socket buffers took before the client hung up, not the body
    assert record.http_status == 200


def test_a_wrong_charset_declaration_does_not_garble_the_text(site: HTTPServer) -> None:
    page = article_page(8, title="Zürich café reopens", lead=ACCENTED_LEAD).encode("utf-8")
    site.expect_request("/lie").respond_with_data(page, content_type="text/html; charset=iso-8859-1")
    result, _ = fetch_one(site.url_for("/lie"))
    assert isinstance(result, RawDocument)
    assert result.encoding_declared == "iso-8859-1" and result.encoding in ("utf-8", "utf_8")
    article = extract.extract_document(result)  # decodes with the encoding fetching chose
    assert isinstance(article, Article) and article.title == "Zürich café reopens"
    assert ACCENTED_LEAD in article.text


def test_a_real_latin1_page_is_read_as_latin1(site: HTTPServer) -> None:
    page = article_page(9, title="Zürich café reopens", lead=ACCENTED_LEAD)
    page = page.replace("charset='utf-8'", "charset='iso-8859-1'")
    site.expect_request("/latin1").respond_with_data(page.encode("latin-1"), content_type="text/html")
    result, _ = fetch_one(site.url_for("/latin1"))
    assert isinstance(result, RawDocument) and result.encoding in ("iso-8859-1", "latin-1", "latin_1", "cp1252")
    article = extract.extract_document(result)
    assert isinstance(article, Article) and ACCENTED_LEAD in article.text


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (
            "<html><body><h1>We value your privacy</h1><p>We and our partners use cookies. "
            "<button>Accept all cookies</button></p></body></html>",
            "consent-wall",
        ),
        ("<html><body><div class='g-recaptcha'></div><p>Please verify you are human</p></body></html>", "captcha"),
        ("<html><body><h1>Access denied</h1><p>Reference #18.2f</p></body></html>", "access-denied"),
        ("<html><body><noscript>Please enable JavaScript to continue.</noscript></body></html>", "javascript-required"),
        ("<html><body><p>Subscribe now to continue reading.</p></body></html>", "paywall"),
    ],
)
def test_soft_blocks_are_rejected_with_their_kind(site: HTTPServer, body: str, kind: str) -> None:
    site.expect_request("/wall").respond_with_data(body, content_type=HTML)
    result, _ = fetch_one(site.url_for("/wall"))
    assert isinstance(result, Reject) and result.stage == "fetch" and result.rule == "blocked"
    assert result.detail.startswith(kind)


def test_an_article_that_mentions_cookies_is_not_a_block(site: HTTPServer) -> None:
    page = article_page(10, title="Council votes to accept all cookies at the bake sale")
    site.expect_request("/cookies").respond_with_data(page, content_type=HTML)
    result, _ = fetch_one(site.url_for("/cookies"))
    assert isinstance(result, RawDocument)


# --- robots.txt and politeness -------------------------------------------------------------------


@pytest.mark.parametrize(("crawl_delay", "seconds"), [("1", 1.0), ("0.5", 0.5)])
def test_robots_disallowed_paths_are_never_requested_and_crawl_delay_is_kept(
    httpserver: HTTPServer, crawl_delay: str, seconds: float
) -> None:
    httpserver.expect_request("/robots.txt").respond_with_data(
        f"User-agent: *\nDisallow: /private/\nCrawl-delay: {crawl_delay}  # please\n", content_type="text/plain"
    )
    times: list[float] = []

    def page(request: Request) -> Response:
        times.append(time.monotonic())
        return Response(article_page(int(request.path.rsplit("/", 1)[1])), content_type=HTML)

    httpserver.expect_request("/private/1").respond_with_handler(page)
    for number in (2, 3):
        httpserver.expect_request(f"/news/{number}").respond_with_handler(page)
    items = [WorkItem(httpserver.url_for(path), kind="url") for path in ("/private/1", "/news/2", "/news/3")]
    with fetch.Fetcher(policy()) as fetcher:
        batch = fetcher.fetch_batch(items, {})
    assert [reject.rule for reject in batch.rejects] == ["robots-disallowed"]
    assert len(batch.documents) == 2
    assert "/private/1" not in requested_paths(httpserver)
    assert requested_paths(httpserver).count("/robots.txt") == 1  # cached for the run
    assert len(times) == 2 and times[1] - times[0] >= seconds - 0.05  # the per-host delay is 0 here


def test_the_per_host_delay_applies_between_requests(site: HTTPServer) -> None:
    times: list[float] = []

    def page(request: Request) -> Response:
        times.append(time.monotonic())
        return Response(article_page(int(request.path.rsplit("/", 1)[1])), content_type=HTML)

    for number in range(3):
        site.expect_request(f"/n/{number}").respond_with_handler(page)
    items = [WorkItem(site.url_for(f"/n/{number}"), kind="url") for number in range(3)]
    with fetch.Fetcher(policy(per_host_delay=0.3)) as fetcher:
        fetcher.fetch_batch(items, {})
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert len(gaps) == 2 and min(gaps) >= 0.28


def test_the_user_agent_names_newsdag_and_a_contact(site: HTTPServer) -> None:
    site.expect_request("/ua").respond_with_data(article_page(11), content_type=HTML)
    fetch_one(site.url_for("/ua"))
    agents = {request.headers.get("User-Agent") for request, _ in site.log}
    assert len(agents) == 1
    agent = agents.pop()
    assert agent and agent.startswith("newsdag/") and "+http" in agent


# --- conditional GET -----------------------------------------------------------------------------


def test_conditional_get_turns_a_304_into_not_modified(site: HTTPServer) -> None:
    def page(request: Request) -> Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304)
        return Response(article_page(12), content_type=HTML, headers={"ETag": '"v1"'})

    site.expect_request("/cond").respond_with_handler(page)
    first, _ = fetch_one(site.url_for("/cond"))
    assert isinstance(first, RawDocument) and first.etag == '"v1"'
    second, record = fetch_one(site.url_for("/cond"), Validators(first.doc_id, etag=first.etag))
    assert second == NotModified(site.url_for("/cond"), site.url_for("/cond"), first.doc_id)
    assert record.outcome == "not_modified" and record.conditional
    sent = [request.headers.get("If-None-Match") for request, _ in site.log if request.path == "/cond"]
    assert sent == [None, '"v1"']
