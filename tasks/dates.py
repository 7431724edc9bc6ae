"""Parse date strings, keeping time and UTC offset exactly as written: every date newsdag reads goes through here.

Page markup (`parse_date`, `parse_iso_date`), feed and sitemap entries (`feed_date`), work item hints
(`hint_day`, `hint_instant`), HTTP headers (`http_date`) and WARC headers (`warc_date`) share one reading
of ISO 8601, RFC 2822 and the zone names news sites print, so "CEST" is +02:00 wherever it is written.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime

from newsdag.tasks.models import ArticleDate

# A whole-string ISO 8601 date or date-time: 2022-01-07, 2022-01-07T08:36+0000,
# 2022-01-07 08:36:00.509Z, 2022-01-07T08:36:00+02:00 (fractions of any length).
ISO_DATETIME = re.compile(
    r"^(?P<day>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?P<fraction>[.,]\d+)?)?"
    r"(?P<offset>Z|[+-]\d{2}(?::?\d{2})?)?)?$"
)
DAY_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
WARC_DATE_ZONE = re.compile(r"Z$")
MAX_DATE_LENGTH = 64
COMPACT_DAY = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
SLASHED_DAY = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})(?=$|[T ])")
DOTTED_DAY = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
# "2024-05-31 14:05:00 +02:00" / "... UTC": a space or zone name where ISO wants the offset glued on.
SPACED_OFFSET = re.compile(r"^(\S+[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)\s*(Z|UTC|GMT|[+-]\d{2}:?\d{2})$", re.I)
RFC_2822_HINT = re.compile(r"[A-Za-z]{3}.*\d{4}|\d{4}.*[A-Za-z]{3}")
# Zone abbreviations news sites print (Java's Date.toString writes "Fri Apr 28 19:20:36 CEST 2023");
# ambiguous ones (IST, CST) are left out, so those dates keep their wall-clock time without an offset.
ZONE_OFFSETS = {
    "CET": "+0100",
    "CEST": "+0200",
    "MEZ": "+0100",
    "MESZ": "+0200",
    "BST": "+0100",
    "EET": "+0200",
    "EEST": "+0300",
    "WET": "+0000",
    "WEST": "+0100",
    "EST": "-0500",
    "EDT": "-0400",
    "CDT": "-0500",
    "MST": "-0700",
    "MDT": "-0600",
    "PST": "-0800",
    "PDT": "-0700",
    "JST": "+0900",
    "KST": "+0900",
    "AEST": "+1000",
    "AEDT": "+1100",
    "SAST": "+0200",
}
ZONE_NAME = re.compile(r"\b(?:" + "|".join(ZONE_OFFSETS) + r")\b")
HAS_SECONDS = re.compile(r"\d{1,2}:\d{2}:\d{2}")
TEXT_DAY_FORMATS = ("%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y")


def format_offset(offset: timedelta) -> str:
    """A UTC offset as +HH:MM."""
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def parse_iso_date(raw: str, source: str) -> ArticleDate | None:
    """An ISO 8601 date or date-time string as an ArticleDate, or None if it is not one.

    A date-only string stays a day (no time, no zone: nothing to shift). A time
    without an offset keeps its wall-clock value, naive, with no offset invented.
    """
    text = raw.strip()
    match = ISO_DATETIME.match(text)
    if not match:
        return None
    try:
        day = date.fromisoformat(match["day"])
    except ValueError:
        return None
    if match["hour"] is None:
        return ArticleDate(day=day, precision="day", source=source, raw=text)
    fraction = (match["fraction"] or "")[1:7]
    normalized = (
        f"{match['day']}T{match['hour']}:{match['minute']}:{match['second'] or '00'}"
        + (f".{fraction.ljust(6, '0')}" if fraction else "")
        + normalize_offset(match["offset"])
    )
    try:
        value = datetime.fromisoformat(normalized)
    except ValueError:
        return None
    precision = "second" if match["second"] is not None else "minute"
    offset = value.utcoffset()
    return ArticleDate(
        day=day,
        precision=precision,
        source=source,
        raw=text,
        value=value,
        utc_offset=format_offset(offset) if offset is not None else None,
    )


def normalize_offset(offset: str | None) -> str:
    """Z, +HH, +HHMM or +HH:MM as +HH:MM ('' when absent)."""
    if not offset:
        return ""
    if offset == "Z":
        return "+00:00"
    digits = offset[1:].replace(":", "")
    return f"{offset[0]}{digits[:2]}:{(digits[2:4] or '00')}"


def is_plausible(article_date: ArticleDate, *, now: datetime, earliest: date, future_skew: timedelta) -> bool:
    """False for dates before `earliest` or later than now + skew (impossible for a published article)."""
    if article_date.day < earliest:
        return False
    if article_date.value is not None and article_date.value.tzinfo is not None:
        return article_date.value <= now + future_skew
    return article_date.day <= (now + future_skew).date()


def parse_date(raw: str, source: str) -> ArticleDate | None:
    """An ArticleDate from an ISO string or a common non-ISO form; `raw` stays as found."""
    text = " ".join(raw.split())
    if not text or len(text) > MAX_DATE_LENGTH:
        return None
    parsed = parse_iso_date(text, source) or parse_iso_date(normalize_iso_like(text), source)
    if parsed is None:
        parsed = parse_rfc_2822(text, source) or parse_text_day(text, source)
    return replace(parsed, raw=raw.strip()) if parsed else None


def normalize_iso_like(text: str) -> str:
    """Near-ISO forms rewritten as ISO: 2024/05/31, 20240531, 31.05.2024, a spaced or named UTC offset."""
    if match := COMPACT_DAY.match(text):
        return f"{match[1]}-{match[2]}-{match[3]}"
    if match := DOTTED_DAY.match(text):
        return f"{match[3]}-{int(match[2]):02d}-{int(match[1]):02d}"
    if match := SLASHED_DAY.match(text):
        text = f"{match[1]}-{int(match[2]):02d}-{int(match[3]):02d}{text[match.end() :]}"
    if match := SPACED_OFFSET.match(text):
        offset = "Z" if match[2].upper() in ("UTC", "GMT") else match[2]
        text = f"{match[1]}{offset}"
    return text


def parse_rfc_2822(text: str, source: str) -> ArticleDate | None:
    """'Fri, 31 May 2024 14:05:00 GMT': kept at its own offset; naive when the zone is unknown (-0000)."""
    if not RFC_2822_HINT.search(text) or ":" not in text:
        return None
    value = rfc_2822_datetime(text)
    if value is None:
        return None
    offset = value.utcoffset()
    return ArticleDate(
        day=value.date(),
        precision="second" if HAS_SECONDS.search(text) else "minute",
        source=source,
        raw=text,
        value=value,
        utc_offset=format_offset(offset) if offset is not None else None,
    )


def parse_text_day(text: str, source: str) -> ArticleDate | None:
    """'May 31, 2024' or '31 May 2024' as a day (English month names only)."""
    for pattern in TEXT_DAY_FORMATS:
        try:
            day = datetime.strptime(text, pattern).date()
        except ValueError:
            continue
        return ArticleDate(day=day, precision="day", source=source, raw=text)
    return None


def rfc_2822_datetime(text: str) -> datetime | None:
    """An RFC 2822 date-time ('Fri, 31 May 2024 14:05:00 CEST') with named zones (ZONE_OFFSETS) read as
    their offsets; naive when the zone is unknown (-0000); None when unreadable."""
    try:
        return parsedate_to_datetime(ZONE_NAME.sub(lambda match: ZONE_OFFSETS[match[0]], text))
    except (TypeError, ValueError, IndexError):
        return None


def feed_date(raw: str | None) -> str | None:
    """A feed's or sitemap's date string as ISO 8601, keeping its own UTC offset; None when unreadable.

    A bare day stays a bare day; RFC 822 (RSS) and W3C/ISO (Atom, sitemaps) times keep the
    offset they were written with (a zone name as in page markup: CEST is +02:00), and times
    without an offset stay without one.
    """
    text = (raw or "").strip()
    if not text:
        return None
    if DAY_ONLY.fullmatch(text):
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            return None
    try:
        return datetime.fromisoformat(text).isoformat()
    except ValueError:
        pass
    value = rfc_2822_datetime(text)
    return value.isoformat() if value is not None else None


def hint_day(value: str) -> date:
    """The calendar day of an ISO 8601 hint, in the offset it was written with (the publisher's day)."""
    if DAY_ONLY.fullmatch(value):
        return date.fromisoformat(value)
    return datetime.fromisoformat(value).date()


def hint_instant(value: str) -> datetime:
    """A sort key for an ISO 8601 hint: aware times in UTC, naive times and bare days as they are."""
    moment = datetime.fromisoformat(value)
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def http_date(value: str | None) -> datetime | None:
    """An HTTP date header (Date, Retry-After) as an aware datetime, UTC when it names no zone."""
    if not value:
        return None
    moment = rfc_2822_datetime(value)
    if moment is None:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def warc_date(value: str | None) -> datetime | None:
    """WARC-Date (W3C ISO 8601, UTC) as an aware datetime; None when it is malformed (ClueWeb writes
    '2008-10-294T05:21:46-0700')."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(WARC_DATE_ZONE.sub("+00:00", value.strip()))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
