"""tasks/dates.py: time and offset kept exactly; day-only dates never shifted."""

from __future__ import annotations

import pickle
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import lxml.html
import pytest

from newsdag.tasks.dates import feed_date, http_date, is_plausible, parse_iso_date, warc_date
from newsdag.tasks.discover_web import parse_feed
from newsdag.tasks.htmlmeta import read_page_metadata


@pytest.mark.parametrize(
    ("raw", "precision", "offset", "utc"),
    [
        ("2022-01-07T08:36+0000", "minute", "+00:00", datetime(2022, 1, 7, 8, 36, tzinfo=UTC)),
        ("2022-01-07T10:38:27.509Z", "second", "+00:00", datetime(2022, 1, 7, 10, 38, 27, 509000, tzinfo=UTC)),
        ("2025-06-05T12:36:40+02:00", "second", "+02:00", datetime(2025, 6, 5, 10, 36, 40, tzinfo=UTC)),
        ("2025-06-05 23:30:00-05", "second", "-05:00", datetime(2025, 6, 6, 4, 30, tzinfo=UTC)),
    ],
)
def test_time_and_offset_are_kept(raw: str, precision: str, offset: str, utc: datetime) -> None:
    parsed = parse_iso_date(raw, "json-ld")
    assert parsed is not None
    assert parsed.precision == precision
    assert parsed.utc_offset == offset
    assert parsed.value is not None and parsed.value.astimezone(UTC) == utc
    assert parsed.raw == raw and parsed.source == "json-ld"


def test_day_only_stays_a_day() -> None:
    parsed = parse_iso_date("2025-06-05", "meta")
    assert parsed is not None
    assert (parsed.precision, parsed.value, parsed.utc_offset, parsed.day) == ("day", None, None, date(2025, 6, 5))
    assert parsed.local == "2025-06-05"


def test_local_keeps_the_written_day_and_offset() -> None:
    parsed = parse_iso_date("2025-06-05T23:30-05:00", "meta")
    assert parsed is not None
    # In UTC this is already June 6th; the page's own day and offset must survive.
    assert parsed.local == "2025-06-05T23:30-05:00"
    assert parsed.day == date(2025, 6, 5)


def test_local_is_made_with_the_date_and_travels_with_it() -> None:
    parsed = parse_iso_date("2025-06-05T23:30:15.250+02:00", "json-ld")
    assert parsed is not None and parsed.local == "2025-06-05T23:30:15.250+02:00"
    # From an extraction worker to the ingest process: the value comes along, not recomputed.
    assert pickle.loads(pickle.dumps(parsed)).local == parsed.local
    # A copy with other fields gets its own.
    assert replace(parsed, value=None, precision="day").local == "2025-06-05"


def test_time_without_offset_stays_naive() -> None:
    parsed = parse_iso_date("2025-06-05T12:36:40", "meta")
    assert parsed is not None and parsed.value is not None
    assert parsed.value.tzinfo is None and parsed.utc_offset is None


@pytest.mark.parametrize("raw", ["", "yesterday", "2025-13-40", "2025-02-30T10:00Z", "12/05/2024", "2025-06-05T25:00"])
def test_non_dates_are_none(raw: str) -> None:
    assert parse_iso_date(raw, "meta") is None


def test_plausibility_bounds() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    bounds = {"now": now, "earliest": date(1990, 1, 1), "future_skew": timedelta(hours=26)}
    old = parse_iso_date("1989-12-31", "meta")
    future = parse_iso_date("2026-01-03T00:00Z", "meta")
    fine = parse_iso_date("2026-01-02T01:00Z", "meta")
    assert old and future and fine
    assert not is_plausible(old, **bounds)
    assert not is_plausible(future, **bounds)
    assert is_plausible(fine, **bounds)


CEST_TEXT = "Fri, 31 May 2024 14:05:00 CEST"


def test_cest_is_plus_two_hours_in_page_meta_and_in_a_feed() -> None:
    """One parser for every date: a zone name means the same offset in a page's meta and in a feed."""
    page = read_page_metadata(
        lxml.html.fromstring(
            f'<html><head><meta property="article:published_time" content="{CEST_TEXT}"></head>'
            "<body><p>text</p></body></html>"
        )
    )
    assert page.published is not None and page.published.utc_offset == "+02:00"
    feed = parse_feed(
        (
            '<rss version="2.0"><channel><title>t</title><item><title>a</title>'
            f"<link>https://news.example.org/a</link><pubDate>{CEST_TEXT}</pubDate></item></channel></rss>"
        ).encode(),
        "https://news.example.org/feed.xml",
        "test",
    )
    assert feed[0].hints.date == "2024-05-31T14:05:00+02:00" == feed_date(CEST_TEXT)
    assert page.published.value == datetime.fromisoformat(feed[0].hints.date)


def test_http_and_warc_dates_are_aware() -> None:
    assert http_date("Fri, 31 May 2024 14:05:00 GMT") == datetime(2024, 5, 31, 14, 5, tzinfo=UTC)
    assert http_date("not a date") is None
    assert warc_date("2024-05-31T14:05:00Z") == datetime(2024, 5, 31, 14, 5, tzinfo=UTC)
    assert warc_date("2008-10-294T05:21:46-0700") is None
