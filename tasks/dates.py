"""Parse date strings into `ArticleDate`s, keeping time and UTC offset exactly as written."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from tasks.models import ArticleDate

# A whole-string ISO 8601 date or date-time: 2022-01-07, 2022-01-07T08:36+0000,
# 2022-01-07 08:36:00.509Z, 2022-01-07T08:36:00+02:00 (fractions of any length).
ISO_DATETIME = re.compile(
    r"^(?P<day>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?P<fraction>[.,]\d+)?)?"
    r"(?P<offset>Z|[+-]\d{2}(?::?\d{2})?)?)?$"
)


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
