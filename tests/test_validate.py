"""The Great Expectations article suite, run for real: each rule rejects its bad row in one line."""

from __future__ import annotations

import gc
import hashlib
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from expectations import validate
from expectations.validate import articles_frame, frame_failures, validate_articles
from tasks.dates import parse_iso_date
from tasks.errors import ValidationFailed
from tasks.models import Article, Reject

MIN_WORDS = 20
EARLIEST = date(1990, 1, 1)
SKEW = timedelta(hours=26)
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
LATEST = NOW + SKEW
BODY = "A body of text with enough words to pass validation. " * 5


@pytest.fixture(scope="module", autouse=True)
def warm_gx() -> None:
    """Build the GX context once for the module so each test pays only the per-batch cost."""
    validate.warm_up()


def article(number: int = 1, **changes: Any) -> Article:
    """A valid article with its own id; keywords replace fields (`published`/`modified` as ISO strings)."""
    for name in ("published", "modified"):
        if isinstance(changes.get(name), str):
            changes[name] = parse_iso_date(changes[name], "test")
    base = Article(
        article_id=f"{number:032x}",
        doc_id=hashlib.sha256(f"doc {number}".encode()).hexdigest(),
        input=f"/tmp/page{number}.html",
        url=f"https://example.com/news/{number}",
        canonical_url=None,
        source="test",
        title="A headline",
        description=None,
        text=BODY.strip(),
        text_sha256="0" * 64,
        word_count=len(BODY.split()),
        authors=(),
        site_name=None,
        language="en",
        tags=(),
        published=parse_iso_date("2024-05-31T14:05:00+02:00", "test"),
        modified=None,
    )
    return replace(base, **changes)


def run(articles: list[Article]) -> tuple[list[Article], list[Reject]]:
    return validate_articles(articles, min_words=MIN_WORDS, earliest=EARLIEST, latest=LATEST)


def only_reject(bad: Article) -> Reject:
    """Validate a good article with `bad`; the good one passes and `bad` is the single reject."""
    good = article(99)
    passed, rejects = run([good, bad])
    assert passed == [good]
    assert len(rejects) == 1
    reject = rejects[0]
    assert (reject.input, reject.stage, reject.doc_id, reject.url) == (
        bad.input,
        "validate",
        bad.doc_id,
        bad.url,
    )
    assert "\n" not in reject.detail
    return reject


def test_good_article_passes() -> None:
    good = article()
    assert run([good]) == ([good], [])


def test_empty_batch_is_empty() -> None:
    assert run([]) == ([], [])


@pytest.mark.parametrize(
    ("changes", "rule", "detail"),
    [
        ({"url": "ftp://example.com/x"}, "expect_column_values_to_match_regex:url", "'ftp://example.com/x'"),
        ({"url": "https://"}, "expect_column_values_to_match_regex:url", "not an http(s):// or file:// URI"),
        ({"title": None}, "expect_column_values_to_not_be_null:title", "title is missing"),
        ({"title": " \t "}, "expect_column_values_to_match_regex:title", "is blank"),
        ({"text": None}, "expect_column_values_to_not_be_null:text", "text is missing"),
        (
            {"text": "too short", "word_count": 2},
            "expect_column_values_to_be_between:word_count",
            "text has 2 words; at least 20 required",
        ),
        ({"language": "xx"}, "expect_column_values_to_be_in_set:language", "'xx' is not an ISO 639-1 code"),
        ({"article_id": None}, "expect_column_values_to_not_be_null:article_id", "article_id is missing"),
    ],
)
def test_each_rule_rejects_its_bad_row(changes: dict[str, Any], rule: str, detail: str) -> None:
    reject = only_reject(article(**changes))
    assert reject.rule == rule
    assert detail in reject.detail
    assert "also fails" not in reject.detail


def test_file_uri_passes() -> None:
    local = article(url="file:///data/pages/one.html")
    assert run([local]) == ([local], [])


def test_day_precision_date_before_earliest_fails() -> None:
    reject = only_reject(article(published="1989-12-31"))
    assert reject.rule == "expect_column_values_to_be_between:published_epoch"
    assert "'1989-12-31'" in reject.detail
    assert "1990-01-01" in reject.detail


def test_earliest_day_itself_passes() -> None:
    first_day = article(published="1990-01-01")
    assert run([first_day]) == ([first_day], [])


def test_future_date_beyond_skew_fails() -> None:
    too_late = (LATEST + timedelta(hours=1)).isoformat()
    reject = only_reject(article(published=too_late))
    assert reject.rule == "expect_column_values_to_be_between:published_epoch"


def test_future_date_within_skew_passes() -> None:
    soon = article(published=(NOW + SKEW - timedelta(hours=1)).isoformat())
    assert run([soon]) == ([soon], [])


def test_modified_before_published_fails() -> None:
    reject = only_reject(article(modified="2024-05-31T10:00:00+02:00"))
    assert reject.rule == "expect_column_pair_values_a_to_be_greater_than_b:modified_epoch,published_epoch"
    assert "'2024-05-31T10:00:00+02:00' is before published date '2024-05-31T14:05:00+02:00'" in reject.detail


@pytest.mark.parametrize(
    ("published", "modified"),
    [
        ("2024-05-31T14:05:00+02:00", "2024-05-31"),  # day-only modified on the published day
        (
            "2024-05-31",
            "2024-05-31T01:00:00+05:00",
        ),  # timed modified on the published day, UTC is the day before
        ("2024-05-31T14:05:00+02:00", "2024-05-31T14:05:00+02:00"),
        (None, "2024-05-31"),
    ],
)
def test_modified_not_before_published_passes(published: str | None, modified: str) -> None:
    fine = article(published=published, modified=modified)
    assert run([fine]) == ([fine], [])


def test_missing_language_and_date_pass() -> None:
    bare = article(language=None, published=None)
    assert run([bare]) == ([bare], [])


def test_duplicates_keep_the_first() -> None:
    first, second, third = article(1), article(2, article_id=f"{1:032x}"), article(3, article_id=f"{1:032x}")
    passed, rejects = run([first, second, third])
    assert passed == [first]
    assert [reject.input for reject in rejects] == [second.input, third.input]
    assert {reject.rule for reject in rejects} == {"expect_column_values_to_be_unique:article_id"}
    assert f"already came from '{first.input}'" in rejects[0].detail


def test_duplicate_keeps_the_first_valid_one() -> None:
    broken, fine = article(1, title=None), article(2, article_id=f"{1:032x}")
    passed, rejects = run([broken, fine])
    assert passed == [fine]
    assert [(reject.input, reject.rule) for reject in rejects] == [
        (broken.input, "expect_column_values_to_not_be_null:title")
    ]


def test_several_failures_name_the_first_and_list_the_others() -> None:
    reject = only_reject(article(title="", word_count=3, language="zz"))
    assert reject.rule == "expect_column_values_to_match_regex:title"
    others = ["expect_column_values_to_be_between:word_count", "expect_column_values_to_be_in_set:language"]
    assert reject.detail.endswith(f"(also fails: {', '.join(others)})")


def test_bad_rows_do_not_stop_the_good_ones() -> None:
    batch = [article(number) for number in range(10)]
    batch[2] = replace(batch[2], word_count=1)
    batch[5] = replace(batch[5], url="not a url")
    batch[7] = replace(batch[7], published=parse_iso_date("1970-01-01", "test"))
    passed, rejects = run(batch)
    assert passed == [item for index, item in enumerate(batch) if index not in {2, 5, 7}]
    assert [reject.input for reject in rejects] == [batch[2].input, batch[5].input, batch[7].input]


def test_published_at_must_be_iso() -> None:
    """Articles always carry a normalized ISO string, so the regex is checked on a hand-edited frame."""
    articles = [article(1), article(2)]
    frame = articles_frame(articles)
    frame.loc[1, "published_at"] = "31 May 2024"
    parameters = {"min_words": MIN_WORDS, "earliest_epoch": 0.0, "latest_epoch": LATEST.timestamp()}
    failures = frame_failures(frame, articles, parameters, {})
    assert list(failures) == [1]
    assert [failure.rule for failure in failures[1]] == ["expect_column_values_to_match_regex:published_at"]
    assert failures[1][0].detail == "published_at '31 May 2024' is not an ISO 8601 date"


def test_missing_column_means_the_suite_cannot_run() -> None:
    articles = [article()]
    frame = articles_frame(articles).drop(columns=["language"])
    parameters = {"min_words": MIN_WORDS, "earliest_epoch": 0.0, "latest_epoch": LATEST.timestamp()}
    with pytest.raises(ValidationFailed, match="expect_table_columns_to_match_set"):
        frame_failures(frame, articles, parameters, {})


def test_frame_has_epochs_not_datetimes() -> None:
    frame = articles_frame([article(published="1990-01-01", modified="1990-01-02T00:00:00Z")])
    assert frame.loc[0, "published_at"] == "1990-01-01"
    assert frame.loc[0, "published_epoch"] == datetime(1990, 1, 1, tzinfo=UTC).timestamp()
    assert frame.loc[0, "modified_epoch"] == datetime(1990, 1, 2, tzinfo=UTC).timestamp()
    assert list(frame["row"]) == [0]


def test_no_progress_bars_on_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    run([article(number) for number in range(20)])
    assert "Calculating Metrics" not in capfd.readouterr().err


def test_validated_batches_leave_nothing_behind() -> None:
    """GX caches metrics in an engine that lives as long as the process, keyed by their parameters; a run
    validates each batch against its own `latest` (now + skew), so without clearing, every batch left
    ~280 objects there (a run of thousands of batches, megabytes)."""

    def validate_batches(first: int, count: int) -> None:
        for number in range(first, first + count):
            batch = [article(number * 10 + row) for row in range(10)]
            latest = LATEST + timedelta(seconds=number)  # as a run's clock moves on between batches
            passed, rejects = validate_articles(
                [*batch, article(100_000 + number, language="xx")],
                min_words=MIN_WORDS,
                earliest=EARLIEST,
                latest=latest,
            )
            assert len(passed) == 10 and len(rejects) == 1

    validate_batches(0, 5)
    gc.collect()
    before = len(gc.get_objects())
    validate_batches(5, 20)
    gc.collect()
    assert len(gc.get_objects()) - before < 1_000
