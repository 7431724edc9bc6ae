"""Network guard: the per-request deadline, URL and peer address checks (SSRF), and the guarded adapter.

Everything a connection must pass before and while a request runs on it; tasks/fetch.py's `Fetcher`
and tasks/warc.py's streams use it. Refusals are PermanentFetchErrors (rules 'refused-address',
'refused-scheme', 'bad-url', 'dns', 'timeout').
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Sequence
from contextlib import suppress
from typing import Any
from urllib.parse import urlsplit

import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from newsdag.tasks.errors import PermanentFetchError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


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
