"""`newsdag report`: one self-contained page, checked as HTML and rendered in a real browser (headless Chromium).

"No external request" is witnessed by Chromium's own network log (`--log-net-log`): every request its network
stack starts is an event there with the URL and the initiator, whatever the page's markup, CSS or a script would
do. A request on behalf of the page has the page's origin as initiator (`null` for a file:// page); Chromium's
own background requests (its clock, sign-in) say "not an origin" and are not the page's. A loopback proxy would
see only proxied HTTP, and host-resolver rules only prevent, not witness: here they are the fence (every name
resolves to nothing, so not even Chromium's own requests leave the machine), the net log is the witness, and a
control page with two external images proves the witness sees what it must.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from newsdag.flows.cli import main
from tests.test_health import NewsSite, ingest_source, site_settings

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_SECONDS = 120
# The flags the issue names for a quiet headless Chromium, plus the fence: no name resolves except loopback's.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)
CHARTS = ("chart-articles", "chart-rejects")
TABLES = ("source-health", "open-alerts", "stories", "runs")
# Chromium's own requests (network time, sign-in) are started by the browser, for no page.
BROWSER_INITIATOR = "not an origin"
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (`apt-get install -y chromium`; .ci/run installs it)"
)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A warehouse with two sources over four runs, one of which drifted (its bodies vanished): alerts open."""
    tmp_path = tmp_path_factory.mktemp("report")
    with HTTPServer(host="127.0.0.1") as server:
        server.expect_request("/robots.txt").respond_with_data("", status=404)
        site = NewsSite(server)
        settings = site_settings(tmp_path, site)
        ingest_source("gazette", settings)
        ingest_source("steady", settings)
        ingest_source("steady", settings)
        site.redesigned.add("gazette")
        assert ingest_source("gazette", settings)["alerts"]
    yield settings.db_path


@pytest.fixture(scope="module")
def report_page(warehouse: Path) -> Path:
    out = warehouse.parent / "out" / "report.html"
    assert main(["report", "--db", str(warehouse), "--out", str(out)]) == 0
    return out


class Links(HTMLParser):
    """Every URL-valued attribute of a page, and its CSP meta tag."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.policy: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "meta" and (values.get("http-equiv") or "").lower() == "content-security-policy":
            self.policy = values.get("content")
        self.urls += [value for name, value in attrs if name in ("src", "href", "action", "srcset") and value]


def test_the_page_holds_everything_and_names_no_other_host(report_page: Path) -> None:
    page = report_page.read_text(encoding="utf-8")
    links = Links()
    links.feed(page)
    assert links.urls == []  # no script, stylesheet, image, font or link to load
    assert links.policy is not None and "default-src 'none'" in links.policy
    assert "<script" not in page and "@import" not in page and "url(" not in page
    # The only URL in the page is the SVG namespace, an identifier no browser fetches.
    assert set(re.findall(r"https?://[^\s\"'<>]+", page)) == {"http://www.w3.org/2000/svg"}
    for element_id in (*CHARTS, *TABLES):
        assert f'id="{element_id}"' in page
    assert "gazette" in page and "steady" in page
    assert "empty-text rate 100% (baseline 0% over 1 runs" in page  # the open alert, with its figures


def run_chromium(*arguments: str, profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *arguments],
        capture_output=True,
        text=True,
        timeout=CHROMIUM_SECONDS,
        check=True,
    )


def page_requests(net_log: Path) -> list[str]:
    """The URLs Chromium's network stack was asked for on behalf of a page (not by the browser itself)."""
    log = json.loads(net_log.read_text(encoding="utf-8"))
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [
        event["params"]["url"]
        for event in log["events"]
        if event["type"] == start_job
        and "url" in event.get("params", {})
        and event["params"].get("initiator") != BROWSER_INITIATOR
    ]


def png_rows(png: Path) -> list[bytes]:
    """The scanlines of a non-interlaced 8-bit PNG as stored (filter byte + filtered pixels): enough to tell a
    blank image, whose rows are all alike, from a drawn one, without an image library."""
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, idat = 8, b""
    width = height = channels = 0
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        chunk = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and chunk[12] == 0  # 8 bits per channel, not interlaced
            channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
        elif kind == b"IDAT":
            idat += chunk
        offset += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + width * channels
    return [raw[row * stride : (row + 1) * stride] for row in range(height)]


@needs_chromium
def test_chromium_renders_each_chart_draws_the_page_and_requests_nothing(report_page: Path, tmp_path: Path) -> None:
    dom = run_chromium(
        f"--log-net-log={tmp_path / 'net.json'}", "--dump-dom", report_page.as_uri(), profile=tmp_path / "profile"
    ).stdout
    for chart in CHARTS:  # each chart is in the rendered DOM with a line per series
        match = re.search(rf'<svg id="{chart}".*?</svg>', dom, re.DOTALL)
        assert match is not None, chart
        assert "<polyline" in match.group(0)
    assert dom.count('class="spark"') >= 2  # a trend line per source at least
    assert "gazette" in dom and "empty-text rate" in dom
    assert page_requests(tmp_path / "net.json") == []

    shot = tmp_path / "report.png"
    run_chromium("--window-size=1280,1400", f"--screenshot={shot}", report_page.as_uri(), profile=tmp_path / "p2")
    rows = png_rows(shot)
    assert len(rows) == 1400
    # A blank page stores one kind of row; charts, tables and text make hundreds.
    assert len(set(rows)) > 200, len(set(rows))


@needs_chromium
def test_the_network_log_sees_a_page_that_does_request_other_hosts(httpserver: HTTPServer, tmp_path: Path) -> None:
    """The control: the same check catches a page's images, one on loopback, one on a host that never resolves."""
    httpserver.expect_request("/pixel.png").respond_with_data(b"", content_type="image/png")
    control = tmp_path / "control.html"
    control.write_text(
        f"<html><body><img src='{httpserver.url_for('/pixel.png')}'><img src='https://cdn.example.org/chart.js'>"
        "</body></html>",
        encoding="utf-8",
    )
    run_chromium(f"--log-net-log={tmp_path / 'net.json'}", "--dump-dom", control.as_uri(), profile=tmp_path / "p")
    requested = page_requests(tmp_path / "net.json")
    assert httpserver.url_for("/pixel.png") in requested and "https://cdn.example.org/chart.js" in requested


def test_report_rejects_a_since_in_the_future(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["report", "--db", str(tmp_path / "news.duckdb"), "--since", "2999-01-01"]) == 2
    assert "in the future" in capsys.readouterr().err
