"""The Great Expectations article suite, run for real: each critical rule rejects its bad row in one line, each
warning flags its article, which loads with the impossible value left out."""

from __future__ import annotations

import gc
import hashlib
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from newsdag.expectations import suite, validate
from newsdag.expectations.validate import articles_frame, frame_failures, validate_articles
from newsdag.tasks.dates import parse_iso_date
from newsdag.tasks.errors import ValidationFailed
from newsdag.tasks.models import Article, Flag, Reject

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


def run(articles: list[Article]) -> tuple[list[Article], list[Reject], list[Flag]]:
    return validate_articles(articles, min_words=MIN_WORDS, earliest=EARLIEST, latest=LATEST)


def only_reject(bad: Article) -> Reject:
    """Validate a good article with `bad`; the good one passes and `bad` is the single reject."""
    good = article(99)
    passed, rejects, flags = run([good, bad])
    assert passed == [good] and flags == []
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


def only_flagged(doubtful: Article) -> tuple[Article, list[Flag]]:
    """Validate a good article with `doubtful`; both load, and only `doubtful` has flags: it, as loaded."""
    good = article(99)
    passed, rejects, flags = run([good, doubtful])
    assert rejects == [] and len(passed) == 2 and passed[0] == good
    loaded = passed[1]
    assert flags and all(flag.article_id == doubtful.article_id and flag.doc_id == doubtful.doc_id for flag in flags)
    assert all("\n" not in flag.detail for flag in flags)
    return loaded, flags


def test_good_article_passes() -> None:
    good = article()
    assert run([good]) == ([good], [], [])


def test_empty_batch_is_empty() -> None:
    assert run([]) == ([], [], [])


def test_every_expectation_names_its_severity_and_only_not_an_article_is_critical() -> None:
    definition = suite.suite_definition()
    severities = {
        suite.rule_name(expectation["type"], expectation["kwargs"]): expectation["severity"]
        for expectation in definition["expectations"]
    }
    critical = {rule for rule, severity in severities.items() if severity == "critical"}
    assert critical == {
        "expect_table_columns_to_match_set",
        "expect_column_values_to_not_be_null:article_id",
        "expect_column_values_to_be_unique:article_id",
        "expect_column_values_to_match_regex:url",
        "expect_column_values_to_not_be_null:text",
        "expect_column_values_to_be_between:word_count",
    }
    assert set(severities.values()) == {"critical", "warning"}
    assert suite.critical_rules() == critical  # what a run asks of an earlier reject: does its rule still reject?
    # GX read them: the suite it validates with has the same severities.
    built = {
        suite.rule_name(expectation.expectation_type, expectation.configuration.kwargs): validate.severity_of(
            expectation
        )
        for expectation in validate.cached_validator().suite.expectations
    }
    assert built == severities


@pytest.mark.parametrize(
    "change",
    [
        {"severity": None},  # GX would take it for critical: a forgotten warning would reject articles
        {"severity": "info"},
        {"severity": "warning", "meta": {"detail": "no field"}},
        {"severity": "warning", "meta": {"field": "text", "leave_out": True}},
    ],
)
def test_a_suite_without_a_clear_severity_cannot_run(change: dict[str, Any]) -> None:
    expectation = {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "title"}, **change}
    expectation = {key: value for key, value in expectation.items() if value is not None}
    with pytest.raises(ValidationFailed, match="expect_column_values_to_not_be_null:title"):
        suite.check_severities({"expectations": [expectation]})


@pytest.mark.parametrize(
    ("changes", "rule", "detail"),
    [
        ({"url": "ftp://example.com/x"}, "expect_column_values_to_match_regex:url", "'ftp://example.com/x'"),
        ({"url": "https://"}, "expect_column_values_to_match_regex:url", "not an http(s):// or file:// URI"),
        ({"text": None}, "expect_column_values_to_not_be_null:text", "text is missing"),
        (
            {"text": "too short", "word_count": 2},
            "expect_column_values_to_be_between:word_count",
            "text has 2 words; at least 20 required",
        ),
        ({"article_id": None}, "expect_column_values_to_not_be_null:article_id", "article_id is missing"),
    ],
)
def test_each_rule_rejects_its_bad_row(changes: dict[str, Any], rule: str, detail: str) -> None:
    reject = only_reject(article(**changes))
    assert reject.rule == rule
    assert detail in reject.detail
    assert "also fails" not in reject.detail


@pytest.mark.parametrize(
    ("changes", "rule", "detail", "left_out"),
    [
        ({"title": None}, "expect_column_values_to_not_be_null:title", "title is missing", None),
        ({"title": " \t "}, "expect_column_values_to_match_regex:title", "is blank", "title"),
        ({"language": "xx"}, "expect_column_values_to_be_in_set:language", "'xx' is not an ISO 639-1 code", "language"),
    ],
)
def test_each_warning_flags_its_article_which_loads(
    changes: dict[str, Any], rule: str, detail: str, left_out: str | None
) -> None:
    doubtful = article(**changes)
    loaded, [flag] = only_flagged(doubtful)
    assert (flag.rule, flag.left_out) == (rule, left_out)
    assert detail in flag.detail
    field = next(iter(changes))
    assert flag.value == changes[field]  # kept as written
    assert loaded == replace(doubtful, **{field: None})  # nothing else of the article changes


def test_file_uri_passes() -> None:
    local = article(url="file:///data/pages/one.html")
    assert run([local]) == ([local], [], [])


def test_day_precision_date_before_earliest_is_flagged_and_left_out() -> None:
    early = article(published="1989-12-31")
    loaded, [flag] = only_flagged(early)
    assert flag.rule == "expect_column_values_to_be_between:published_epoch"
    assert "'1989-12-31'" in flag.detail
    assert "1990-01-01" in flag.detail
    assert (flag.left_out, flag.value) == ("published", "1989-12-31")
    assert loaded == replace(early, published=None)


def test_earliest_day_itself_passes() -> None:
    first_day = article(published="1990-01-01")
    assert run([first_day]) == ([first_day], [], [])


def test_future_date_beyond_skew_is_flagged_and_left_out() -> None:
    too_late = (LATEST + timedelta(hours=1)).isoformat()
    loaded, [flag] = only_flagged(article(published=too_late))
    assert flag.rule == "expect_column_values_to_be_between:published_epoch"
    assert (flag.left_out, flag.value, loaded.published) == ("published", too_late, None)


def test_future_date_within_skew_passes() -> None:
    soon = article(published=(NOW + SKEW - timedelta(hours=1)).isoformat())
    assert run([soon]) == ([soon], [], [])


def test_modified_before_published_is_flagged_and_the_modified_date_left_out() -> None:
    doubtful = article(modified="2024-05-31T10:00:00+02:00")
    loaded, [flag] = only_flagged(doubtful)
    assert flag.rule == "expect_column_pair_values_a_to_be_greater_than_b:modified_epoch,published_epoch"
    assert "'2024-05-31T10:00:00+02:00' is before published date '2024-05-31T14:05:00+02:00'" in flag.detail
    assert (flag.left_out, flag.value) == ("modified", "2024-05-31T10:00:00+02:00")
    assert loaded == replace(doubtful, modified=None) and loaded.published == doubtful.published


def test_a_modified_date_before_an_impossible_published_date_is_kept() -> None:
    """The comparison was with a value that is left out: it says nothing about the modified date."""
    doubtful = article(published="2999-01-01", modified="2024-05-31T10:00:00+02:00")
    loaded, flags = only_flagged(doubtful)
    assert [(flag.rule, flag.left_out, flag.value) for flag in flags] == [
        ("expect_column_values_to_be_between:published_epoch", "published", "2999-01-01"),
        (
            "expect_column_pair_values_a_to_be_greater_than_b:modified_epoch,published_epoch",
            None,
            "2024-05-31T10:00:00+02:00",
        ),
    ]
    assert loaded == replace(doubtful, published=None) and loaded.modified == doubtful.modified


def test_an_article_with_every_doubt_loads_with_a_flag_for_each() -> None:
    doubtful = article(title="", language="zz", published="1970-01-01", modified="1969-12-31")
    loaded, flags = only_flagged(doubtful)
    assert [flag.rule for flag in flags] == [
        "expect_column_values_to_match_regex:title",
        "expect_column_values_to_be_between:published_epoch",
        "expect_column_pair_values_a_to_be_greater_than_b:modified_epoch,published_epoch",
        "expect_column_values_to_be_in_set:language",
    ]
    assert (loaded.title, loaded.language, loaded.published, loaded.modified) == (None, None, None, doubtful.modified)
    assert loaded.text == doubtful.text


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
    assert run([fine]) == ([fine], [], [])


def test_missing_language_and_date_pass() -> None:
    bare = article(language=None, published=None)
    assert run([bare]) == ([bare], [], [])


def test_duplicates_keep_the_first() -> None:
    first, second, third = article(1), article(2, article_id=f"{1:032x}"), article(3, article_id=f"{1:032x}")
    passed, rejects, _flags = run([first, second, third])
    assert passed == [first]
    assert [reject.input for reject in rejects] == [second.input, third.input]
    assert {reject.rule for reject in rejects} == {"expect_column_values_to_be_unique:article_id"}
    assert f"already came from '{first.input}'" in rejects[0].detail


def test_duplicate_keeps_the_first_valid_one() -> None:
    broken, fine = article(1, word_count=3), article(2, article_id=f"{1:032x}")
    passed, rejects, _flags = run([broken, fine])
    assert passed == [fine]
    assert [(reject.input, reject.rule) for reject in rejects] == [
        (broken.input, "expect_column_values_to_be_between:word_count")
    ]


def test_a_flagged_article_is_the_first_of_its_duplicates_and_is_kept() -> None:
    untitled, titled = article(1, title=None), article(2, article_id=f"{1:032x}")
    passed, rejects, flags = run([untitled, titled])
    assert passed == [untitled] and [flag.rule for flag in flags] == ["expect_column_values_to_not_be_null:title"]
    assert [(reject.input, reject.rule) for reject in rejects] == [
        (titled.input, "expect_column_values_to_be_unique:article_id")
    ]


def test_several_failures_name_the_first_critical_one_and_list_the_others() -> None:
    reject = only_reject(article(title="", word_count=3, language="zz", url="nowhere"))
    assert reject.rule == "expect_column_values_to_match_regex:url"
    others = [
        "expect_column_values_to_be_between:word_count",
        "expect_column_values_to_match_regex:title",
        "expect_column_values_to_be_in_set:language",
    ]
    assert reject.detail.endswith(f"(also fails: {', '.join(others)})")


def test_bad_rows_do_not_stop_the_good_ones() -> None:
    batch = [article(number) for number in range(10)]
    batch[2] = replace(batch[2], word_count=1)
    batch[5] = replace(batch[5], url="not a url")
    batch[7] = replace(batch[7], published=parse_iso_date("1970-01-01", "test"))
    passed, rejects, flags = run(batch)
    assert passed == [
        replace(item, published=None) if index == 7 else item for index, item in enumerate(batch) if index not in {2, 5}
    ]
    assert [reject.input for reject in rejects] == [batch[2].input, batch[5].input]
    assert [(flag.article_id, flag.left_out, flag.value) for flag in flags] == [
        (batch[7].article_id, "published", "1970-01-01")
    ]


def test_published_at_must_be_iso() -> None:
    """Articles always carry a normalized ISO string, so the regex is checked on a hand-edited frame."""
    articles = [article(1), article(2)]
    frame = articles_frame(articles)
    frame.loc[1, "published_at"] = "31 May 2024"
    parameters = {"min_words": MIN_WORDS, "earliest_epoch": 0.0, "latest_epoch": LATEST.timestamp()}
    failures, _results = frame_failures(frame, articles, parameters, {})
    assert list(failures) == [1]
    assert [failure.rule for failure in failures[1]] == ["expect_column_values_to_match_regex:published_at"]
    assert failures[1][0].detail == "published_at '31 May 2024' is not an ISO 8601 date"
    # A warning: the article would load with its date left out.
    assert (failures[1][0].critical, failures[1][0].field, failures[1][0].leave_out) == (False, "published", True)


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
            passed, rejects, flags = validate_articles(
                [*batch, article(100_000 + number, word_count=1), article(200_000 + number, language="xx")],
                min_words=MIN_WORDS,
                earliest=EARLIEST,
                latest=latest,
            )
            assert len(passed) == 11 and len(rejects) == 1 and len(flags) == 1

    validate_batches(0, 5)
    gc.collect()
    before = len(gc.get_objects())
    validate_batches(5, 20)
    gc.collect()
    assert len(gc.get_objects()) - before < 1_000


def test_each_expectation_reports_what_it_evaluated_and_found_unexpected() -> None:
    """The counts behind validation_results: a value GX skips as missing is not evaluated."""
    batch = [
        article(1),
        article(2, title=None),
        article(3, word_count=3, text="too short here"),
        article(4, published=None),
    ]
    validation = validate.validation_of(batch, min_words=MIN_WORDS, earliest=EARLIEST, latest=LATEST)
    found = {result.rule: (result.severity, result.evaluated, result.unexpected) for result in validation.results}
    assert len(found) == len(suite.rule_order())
    assert found["expect_table_columns_to_match_set"] == ("critical", 1, 0)
    assert found["expect_column_values_to_be_between:word_count"] == ("critical", 4, 1)
    assert found["expect_column_values_to_not_be_null:title"] == ("warning", 4, 1)
    assert found["expect_column_values_to_be_between:published_epoch"] == ("warning", 3, 0)  # one has no date
    assert [reject.rule for reject in validation.rejects] == ["expect_column_values_to_be_between:word_count"]
    assert len(validation.articles) == 3 and [flag.rule for flag in validation.flags] == [
        "expect_column_values_to_not_be_null:title"
    ]


# In a process of its own: another test's import of scipy.stats would already have run it here.
LAZY_CHECK = """
import sys
from tests.test_validate import EARLIEST, LATEST, MIN_WORDS, article
from newsdag.expectations.validate import validate_articles
passed, rejects, flags = validate_articles(
    [article(1), article(2, text="Too short.", word_count=2)], min_words=MIN_WORDS, earliest=EARLIEST, latest=LATEST
)
run = sorted({name for name in ("scipy.stats", "altair") for module in sys.modules if module.startswith(name + ".")})
print(len(passed), len(rejects), run)
"""


def test_great_expectations_validates_without_running_the_modules_it_does_not_use() -> None:
    # scipy.stats and altair: imported by GX, never run for this suite (78 MB less, bench/results.md).
    done = subprocess.run([sys.executable, "-c", LAZY_CHECK], capture_output=True, text=True, check=True, timeout=300)
    assert done.stdout.split("\n")[0] == "1 1 []", done.stderr[-2000:]


def test_two_lazy_import_finders_at_once_do_not_ask_each_other_forever() -> None:
    # The validation warm-up thread and a batch's validation may each hold one in sys.meta_path.
    sys.modules.pop("colorsys", None)
    with validate.imported_lazily(frozenset({"colorsys"})), validate.imported_lazily(frozenset({"colorsys"})):
        import colorsys

        assert colorsys.rgb_to_hsv(1.0, 0.0, 0.0)[0] == 0.0
