"""Soak: ingest a loopback news site of many pages with 20% faults; nothing may go missing.

Usage: .venv/bin/python bench/soak.py [--pages 2000] [--workers 2] [--hosts 8] [--rss-every 2]

Serves `--pages` article pages from `--hosts` loopback ports (each port is a host to newsdag, so
they are fetched in parallel) with a sitemap index listing them all. Every fifth page is a fault,
the kinds in turn: a response slower than the read timeout, a 503 every time, a connection reset,
a truncated body, a gzip bomb. Then runs `newsdag ingest --sitemap ... --workers N` in its own
process, samples the RSS of that process tree every half second, and reports pages loaded,
rejects by rule, retries, RSS over time (the peak, and a table of the RSS every --rss-every seconds),
and whether every URL ended as an article or a reject.
Not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb

NEWSDAG = Path(sys.executable).parent / "newsdag"
FAULT_EVERY = 5
FAULT_KINDS = ("slow", "unavailable", "reset", "truncated", "bomb")
READ_TIMEOUT_SECONDS = 1.0
SLOW_SECONDS = 3.0
SAMPLE_SECONDS = 0.5
# The RSS series printed: one value per this many seconds, this many to a line.
RSS_TABLE_SECONDS = 2.0
RSS_TABLE_COLUMNS = 10
BOMB_BYTES = 200_000_000
WORDS = [
    "council",
    "budget",
    "harbour",
    "transit",
    "school",
    "library",
    "river",
    "bridge",
    "election",
    "market",
    "housing",
    "energy",
    "water",
    "festival",
    "museum",
    "hospital",
    "rail",
    "coast",
    "farm",
    "court",
    "police",
    "fire",
    "storm",
    "season",
    "report",
    "study",
    "plan",
    "vote",
    "ferry",
    "tunnel",
]


def page_html(number: int) -> bytes:
    words = [WORDS[(number * 7 + index * 3 + number // 31) % len(WORDS)] for index in range(80)]
    body = "".join(
        f"<p>Item {number}, part {part}: {' '.join(words[part * 16 : part * 16 + 16])}.</p>" for part in range(5)
    )
    title = f"Soak story {number}: the {words[0]} and the {words[1]}"
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
        f"<meta property='article:published_time' content='2026-11-{1 + number % 20:02d}T08:00:00+01:00'>"
        f"</head><body><article><h1>{title}</h1>{body}</article></body></html>"
    ).encode()


def fault_of(number: int) -> str | None:
    return FAULT_KINDS[(number // FAULT_EVERY) % len(FAULT_KINDS)] if number % FAULT_EVERY == 0 else None


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A client that gave up on a slow page breaks the pipe: expected here, not worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Site:
    """The pages, spread over `hosts` ports; port i serves pages with number % hosts == i."""

    def __init__(self, pages: int, hosts: int) -> None:
        self.pages = pages
        self.bomb = gzip.compress(b"\0" * BOMB_BYTES, compresslevel=9)
        self.servers = [QuietServer(("127.0.0.1", 0), self.handler()) for _ in range(hosts)]
        for server in self.servers:
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def base(self, number: int) -> str:
        return f"http://127.0.0.1:{self.servers[number % len(self.servers)].server_address[1]}"

    def url(self, number: int) -> str:
        return f"{self.base(number)}/news/{number}"

    def sitemap(self) -> bytes:
        urls = "".join(f"<url><loc>{self.url(n)}</loc></url>" for n in range(self.pages))
        return (
            f"<?xml version='1.0'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>{urls}</urlset>".encode()
        )

    def handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def finish(self) -> None:
                with contextlib.suppress(OSError):  # the socket this handler reset, or one the client left
                    super().finish()

            def send(self, status: int, body: bytes, content_type: str = "text/html", **headers: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name.replace("_", "-"), value)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path == "/robots.txt":
                    self.send(404, b"", "text/plain")
                elif self.path == "/sitemap.xml":
                    self.send(200, site.sitemap(), "application/xml")
                elif self.path.startswith("/news/"):
                    self.article(int(self.path.rsplit("/", 1)[1]))
                else:
                    self.send(404, b"not here")

            def article(self, number: int) -> None:
                fault = fault_of(number)
                if fault == "slow":
                    time.sleep(SLOW_SECONDS)
                    self.send(200, page_html(number))
                elif fault == "unavailable":
                    self.send(503, b"try later", Retry_After="0")
                elif fault == "reset":
                    # Linger 0: the close sends RST. rfile holds a reference to the socket, and while it
                    # is open the close would not happen: the client would just time out.
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.rfile.close()
                    self.connection.close()
                    self.close_connection = True
                elif fault == "truncated":
                    body = page_html(number)
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 3])
                    self.close_connection = True
                elif fault == "bomb":
                    self.send(200, site.bomb, Content_Encoding="gzip")
                else:
                    self.send(200, page_html(number))

        return Handler


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB (from /proc)."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
            for task in Path(f"/proc/{current}/task").iterdir():
                stack.extend(int(child) for child in (task / "children").read_text().split())
        except (OSError, StopIteration):
            continue
    return total / 1024


def rss_table(samples: list[tuple[float, float]], every: float) -> list[str]:
    """The RSS series as compact lines: `t=  0 s |  312  330 ...` (MB), one value per `every` seconds.

    Each value is the largest sample of its interval, so a short spike is not lost between two points.
    """
    buckets: dict[int, float] = {}
    for seconds, rss in samples:
        bucket = int(seconds // every)
        buckets[bucket] = max(buckets.get(bucket, 0.0), rss)
    values = [buckets.get(bucket, 0.0) for bucket in range(max(buckets, default=-1) + 1)]
    lines = []
    for start in range(0, len(values), RSS_TABLE_COLUMNS):
        row = " ".join(f"{value:5.0f}" for value in values[start : start + RSS_TABLE_COLUMNS])
        lines.append(f"  t={start * every:5.0f} s | {row}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--hosts", type=int, default=8)
    parser.add_argument("--rss-every", type=float, default=RSS_TABLE_SECONDS, help="seconds per RSS table value")
    args = parser.parse_args()
    site = Site(args.pages, args.hosts)
    with tempfile.TemporaryDirectory() as scratch:
        db = Path(scratch) / "soak.duckdb"
        environment = {
            **os.environ,
            "NEWSDAG_PER_HOST_DELAY": "0",
            "NEWSDAG_READ_TIMEOUT": str(READ_TIMEOUT_SECONDS),
            "NEWSDAG_FETCH_RETRIES": "1",
            "NEWSDAG_BACKOFF": "0.1",
        }
        command = [str(NEWSDAG), "ingest", "--sitemap", f"{site.base(0)}/sitemap.xml", "--db", str(db)]
        command += ["--workers", str(args.workers), "--json", "--prefect", "never", "--allow-network", "127.0.0.0/8"]
        started = time.monotonic()
        process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, text=True)
        samples: list[tuple[float, float]] = []
        while process.poll() is None:
            samples.append((time.monotonic() - started, tree_rss_mb(process.pid)))
            time.sleep(SAMPLE_SECONDS)
        seconds = time.monotonic() - started
        summary = json.loads(process.stdout.read() if process.stdout else "{}")
        with duckdb.connect(str(db), read_only=True) as connection:
            loaded = {url for (url,) in connection.execute("select url from articles").fetchall()}
            rejected = dict(connection.execute("select input, rule from rejects").fetchall())
            retries = connection.execute("select coalesce(sum(attempts - 1), 0) from fetches").fetchall()[0][0]
    urls = [site.url(n) for n in range(args.pages)]
    missing = [url for url in urls if url not in loaded and url not in rejected]
    expected_faults = Counter(fault_of(n) for n in range(args.pages) if fault_of(n))
    peak = max((rss for _, rss in samples), default=0.0)
    quarter = max(1, len(samples) // 4)
    print(f"pages {args.pages} on {args.hosts} hosts, workers {args.workers}, cores {os.cpu_count()}")
    print(f"wall {seconds:.1f} s ({args.pages / seconds:.1f} pages/s); run status {summary.get('status')}")
    print(f"loaded {len(loaded)} (expected {args.pages - sum(expected_faults.values())}), rejected {len(rejected)}")
    print(f"faults served: {dict(expected_faults)}")
    print(f"rejects by rule: {dict(Counter(rejected.values()).most_common())}")
    print(f"retries: {retries}")
    print(
        f"RSS MB: peak {peak:.0f}; mean of first quarter {sum(r for _, r in samples[:quarter]) / quarter:.0f}, "
        f"of last quarter {sum(r for _, r in samples[-quarter:]) / quarter:.0f}"
    )
    print(f"RSS MB over time, one value per {args.rss_every:g} s (the largest sample in it):")
    for line in rss_table(samples, args.rss_every):
        print(line)
    print(f"missing (neither article nor reject): {len(missing)}{' e.g. ' + missing[0] if missing else ''}")


if __name__ == "__main__":
    main()
