"""Validate a batch of extracted articles with the Great Expectations suite `articles.json`.

The suite lives in `articles.json` (GX 1.x ExpectationSuite form). Settings-derived thresholds are
GX expectation parameters: kwargs written as `{"$PARAMETER": "min_words"}` in the JSON and resolved
from `expectation_parameters=` on every `validate` call, so one suite serves any settings.

Each expectation has a GX `severity` (GX >= 1.5.9; the suite names it on every expectation, since GX
would default a forgotten one to critical). A failed `critical` expectation means the row is not an
article: it becomes a validate-stage Reject. A failed `warning` is a doubtful value of an article that
loads anyway: the article passes, with the value left out when it is impossible, and each such failure
is a Flag (the `article_flags` table).

Rule names are `<expectation type>:<column>` (`:<column_A>,<column_B>` for column pairs), e.g.
`expect_column_values_to_be_between:word_count`. Each expectation's `meta.detail` is the one-line
reject or flag message, formatted with the failing row's values.

Great Expectations is imported only here (it costs seconds); other modules import this module lazily.
"""

from __future__ import annotations

import functools
import gc
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

import pandas as pd

from newsdag.expectations.suite import (
    CRITICAL,
    SUITE_NAME,
    SUITE_PATH,
    check_severities,
    rule_name,
    rule_order,
    suite_definition,
)
from newsdag.tasks.errors import ValidationFailed
from newsdag.tasks.gcpause import cyclic_gc_paused
from newsdag.tasks.models import Article, ArticleDate, ExpectationResult, Flag, Reject, Validation

if TYPE_CHECKING:
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.core.expectation_validation_result import ExpectationValidationResult

# The frame's positional row number; GX reports failing rows by this column.
ROW_COLUMN = "row"
COLUMNS = (
    ROW_COLUMN,
    "article_id",
    "url",
    "title",
    "text",
    "word_count",
    "language",
    "published_at",
    "published_epoch",
    "modified_epoch",
)
UNIQUE_TYPE = "expect_column_values_to_be_unique"
RESULT_FORMAT: Mapping[str, Any] = {
    "result_format": "COMPLETE",
    "unexpected_index_column_names": [ROW_COLUMN],
}
DATASOURCE_NAME = "newsdag"
ASSET_NAME = "articles"
BATCH_DEFINITION_NAME = "batch"
# Longest string value quoted in a reject detail; keeps the detail one readable line.
DETAIL_VALUE_CHARS = 80
# The GX context and its data asset are shared mutable state; batches from concurrent tasks take turns.
GX_LOCK = threading.Lock()
# Modules GX imports at its own import and never runs to validate a pandas frame with this suite: scipy.stats
# (for its distribution tests, KS and KL divergence) and altair (Data Docs charts). Imported lazily, each
# module object exists but its code runs only when something reads one of its attributes; on a 1,000-page
# ingest nothing did, and the ingest process held 78 MB less and spent 0.8 s less CPU importing GX
# (bench/results.md, section 4). If a later suite uses them, they load then, as if imported up front.
LAZY_MODULES = frozenset({"scipy.stats", "altair"})


@dataclass(frozen=True)
class Failure:
    """One expectation a row failed: its stable rule name, the formatted one-line detail, whether it was
    critical (the row is no article) and, for a warning, what the suite's meta says to do with the value."""

    rule: str
    detail: str
    critical: bool = True
    field: str | None = None
    leave_out: bool = False
    compared_with: str | None = None


@dataclass(frozen=True)
class Validator:
    """What every batch reuses: the ephemeral context's batch definition and the loaded suite."""

    batch_definition: BatchDefinition
    suite: ExpectationSuite


def validate_articles(
    articles: Sequence[Article], *, min_words: int, earliest: date, latest: datetime
) -> tuple[list[Article], list[Reject], list[Flag]]:
    """(articles that load, rejects, flags): `validation_of` without the expectations' counts."""
    validation = validation_of(articles, min_words=min_words, earliest=earliest, latest=latest)
    return list(validation.articles), list(validation.rejects), list(validation.flags)


def validation_of(articles: Sequence[Article], *, min_words: int, earliest: date, latest: datetime) -> Validation:
    """The batch validated: the articles in input order, each with its impossible values left out; one
    validate-stage Reject per row that failed a critical expectation (not an article); one Flag per warning
    an article that loads failed; and per expectation, how many values it evaluated and found unexpected
    (plain counts: Great Expectations' result objects stay in this module).

    Raises ValidationFailed only when the suite cannot run (bad suite file, GX error, frame schema).
    """
    if not articles:
        return Validation()
    frame = articles_frame(articles)
    parameters = {
        "min_words": min_words,
        "earliest_epoch": midnight_epoch(earliest),
        "latest_epoch": instant_epoch(latest),
    }
    context = {"min_words": min_words, "earliest": earliest.isoformat(), "latest": latest.isoformat()}
    failures, results = frame_failures(frame, articles, parameters, context)
    passed: list[Article] = []
    rejects: list[Reject] = []
    flags: list[Flag] = []
    for row, article in enumerate(articles):
        row_failures = failures.get(row)
        if not row_failures:
            passed.append(article)
        elif any(failure.critical for failure in row_failures):
            rejects.append(reject_for(article, row_failures))
        else:
            kept, article_flags = flagged(article, row_failures)
            passed.append(kept)
            flags.extend(article_flags)
    return Validation(tuple(passed), tuple(rejects), tuple(flags), results)


def flagged(article: Article, warnings: Sequence[Failure]) -> tuple[Article, list[Flag]]:
    """The article with its impossible values left out, and one Flag per warning it failed.

    A doubtful value never costs the article (its text is what makes it one), and none is lost: each
    flag keeps the judged value exactly as the page wrote it. What is left out of the columns, and why:

    - A published date out of range (before earliest_date, or after now + skew) or not ISO 8601 cannot be
      when the article appeared. Stored, it would put the article on a wrong day in every count per day
      and in story clustering, so all of `published` goes: published_at/_local/_date are NULL, and so are
      date_source and date_precision, which describe that date. The article is dated as one with no date.
    - A modified date before the published one: one of the two is wrong, and the published date is the
      more likely right one, so the modified date is left out. Publishers write the published date once,
      with the article, in markup meant for it, and newsdag picks it from the best of several sources; a
      modified stamp is more often a system's (a CMS stamping the last save seconds before publication:
      11 of the 35 such dev pages differ by under two minutes; a page-wide "updated" time, a migration).
      Every count per day and the story clustering use the published date; nothing reads the modified one.
      When the published date is itself left out, the comparison was with an impossible value and says
      nothing: the modified date is kept.
    - A language that is no ISO 639-1 code names no language: stored, a query by language would count it
      under a code that means nothing. It is left out (NULL, as for a page that declares none).
    - A blank title is no title: NULL, so that `title IS NULL` finds every article without one. A missing
      title has nothing to leave out; the flag alone records it.
    """
    left_out: set[str] = set()
    flags = []
    for failure in warnings:
        trusted_kept = failure.compared_with is None or failure.compared_with not in left_out
        leaves_out = failure.field if failure.leave_out and trusted_kept else None
        if leaves_out is not None:
            left_out.add(leaves_out)
        flags.append(
            Flag(
                article_id=article.article_id,
                doc_id=article.doc_id,
                rule=failure.rule,
                detail=failure.detail,
                left_out=leaves_out,
                value=written_value(article, failure.field),
            )
        )
    kept = replace(article, **dict.fromkeys(sorted(left_out))) if left_out else article
    return kept, flags


def written_value(article: Article, field: str | None) -> str | None:
    """The judged field's value as the page wrote it: a date's raw string, else the value itself."""
    if field is None:
        return None
    value = getattr(article, field)
    return value.raw if isinstance(value, ArticleDate) else value


def articles_frame(articles: Sequence[Article]) -> pd.DataFrame:
    """One row per article with the suite's columns; dates as ISO strings and float epoch seconds.

    Datetime columns are avoided on purpose: GX 1.x mis-checks tz-aware timestamp columns.
    """
    rows = [
        {
            ROW_COLUMN: row,
            "article_id": article.article_id,
            "url": article.url,
            "title": article.title,
            "text": article.text,
            "word_count": article.word_count,
            "language": article.language,
            "published_at": article.published.local if article.published else None,
            "published_epoch": date_epoch(article.published) if article.published else None,
            "modified_epoch": comparable_modified_epoch(article.published, article.modified),
        }
        for row, article in enumerate(articles)
    ]
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.astype({"word_count": "int64", "published_epoch": "float64", "modified_epoch": "float64"})


def date_epoch(article_date: ArticleDate) -> float:
    """Seconds since the epoch: a day is its midnight UTC, a time without offset is read as UTC."""
    if article_date.value is None:
        return midnight_epoch(article_date.day)
    return instant_epoch(article_date.value)


def comparable_modified_epoch(published: ArticleDate | None, modified: ArticleDate | None) -> float | None:
    """The modified date on published_epoch's scale: modified_epoch >= published_epoch means "not earlier".

    When either date is day-only, the two are compared as calendar days: the modified day is placed at
    the published date's offset into its own day (a timed page modified "that day" is not earlier).
    """
    if modified is None:
        return None
    if published is None or (published.value is not None and modified.value is not None):
        return date_epoch(modified)
    offset_into_day = date_epoch(published) - midnight_epoch(published.day)
    return midnight_epoch(modified.day) + offset_into_day


def midnight_epoch(day: date) -> float:
    return datetime.combine(day, time(), tzinfo=UTC).timestamp()


def instant_epoch(value: datetime) -> float:
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).timestamp()


def frame_failures(
    frame: pd.DataFrame,
    articles: Sequence[Article],
    parameters: Mapping[str, Any],
    context: Mapping[str, Any],
) -> tuple[dict[int, list[Failure]], tuple[ExpectationResult, ...]]:
    """Each failing row's failures in suite order, and what each expectation found; `context` adds display
    values for the detail templates."""
    try:
        with GX_LOCK:
            validator = cached_validator()
            batch = validator.batch_definition.get_batch(batch_parameters={"dataframe": frame})
            result = batch.validate(
                validator.suite, result_format=dict(RESULT_FORMAT), expectation_parameters=dict(parameters)
            )
            forget_batch_metrics(validator.batch_definition)
    except ValidationFailed:
        raise
    except Exception as error:  # any GX failure here means the suite did not run, not that rows are bad
        raise ValidationFailed(f"Great Expectations could not run: {error}", subject=SUITE_NAME) from error

    failed: list[tuple[str, str, str, Mapping[str, Any], list[int]]] = []  # (type, rule, severity, meta, rows)
    counted: list[ExpectationResult] = []
    # Suite order, so a missing column is reported by the table check, not by a column check's error.
    for rule, outcome in in_suite_order(result.results):
        check_ran(outcome)
        counted.append(expectation_result(rule, outcome))
        if outcome.success:
            continue
        config = outcome.expectation_config
        rows = unexpected_rows(outcome)
        if rows is None:
            details = (outcome.result or {}).get("details", outcome.result)
            raise ValidationFailed(f"the batch frame does not fit the suite: {details}", subject=rule)
        failed.append((config.type, rule, severity_of(config), config.meta or {}, rows))

    failures: dict[int, list[Failure]] = {}
    for expectation_type, rule, severity, meta, rows in failed:
        if expectation_type == UNIQUE_TYPE:
            continue
        for row in rows:
            detail = detail_line(meta, frame, articles, row, context)
            failures.setdefault(row, []).append(failure_of(rule, severity, meta, detail))
    # GX reports every row sharing a value; the first that is an article (no critical failure) is kept, and
    # later ones are rejected as duplicates.
    not_articles = {row for row, row_failures in failures.items() if any(f.critical for f in row_failures)}
    for _type, rule, severity, meta, rows in (entry for entry in failed if entry[0] == UNIQUE_TYPE):
        for row, first in later_duplicates(frame, rows, not_articles, rule):
            extra = {**context, "first_input": articles[first].input}
            detail = detail_line(meta, frame, articles, row, extra)
            failures.setdefault(row, []).append(failure_of(rule, severity, meta, detail))
    for row_failures in failures.values():
        row_failures.sort(key=lambda failure: rule_order()[failure.rule])
    return failures, tuple(counted)


def expectation_result(rule: str, outcome: ExpectationValidationResult) -> ExpectationResult:
    """How many values the expectation evaluated and found unexpected. GX skips missing values for most
    expectations (a NULL published date is not judged by the date-range check), so they are not counted as
    evaluated; a table-level expectation evaluates the batch once."""
    found = outcome.result or {}
    severity = severity_of(outcome.expectation_config)
    if "element_count" not in found:
        return ExpectationResult(rule, severity, 1, 0 if outcome.success else 1)
    evaluated = int(found["element_count"]) - int(found.get("missing_count") or 0)
    return ExpectationResult(rule, severity, evaluated, int(found.get("unexpected_count") or 0))


def severity_of(config: Any) -> str:
    """The expectation's GX severity as a plain string ("critical", "warning"); GX gives an enum."""
    severity = getattr(config, "severity", None)
    return str(getattr(severity, "value", severity))


def failure_of(rule: str, severity: str, meta: Mapping[str, Any], detail: str) -> Failure:
    """A row's failure of one expectation, with what the suite's meta says to do with a warning's value."""
    if severity == CRITICAL:
        return Failure(rule, detail)
    return Failure(
        rule,
        detail,
        critical=False,
        field=meta.get("field"),
        leave_out=bool(meta.get("leave_out")),
        compared_with=meta.get("compared_with"),
    )


def forget_batch_metrics(batch_definition: BatchDefinition) -> None:
    """Drop the metrics GX computed for the batch just validated.

    GX's pandas engine lives as long as its datasource and caches every metric it computes, keyed by the
    metric and its parameters. Each batch of a run has its own `latest_epoch` (now + skew), so each left
    its own entries (~30 KB, with Series of the frame's rows) that no later batch reads: a run of a million
    pages would keep ~150 MB of them. GX has no public way to empty the cache.
    """
    engine = batch_definition.data_asset.datasource.get_execution_engine()
    cache = getattr(engine, "_metric_cache", None)
    if isinstance(cache, dict):
        cache.clear()


def in_suite_order(
    outcomes: Sequence[ExpectationValidationResult],
) -> list[tuple[str, ExpectationValidationResult]]:
    """Each expectation result with its rule name, in the suite file's order."""
    named = []
    for outcome in outcomes:
        config = outcome.expectation_config
        named.append((rule_name(config.type, config.kwargs), outcome))
    return sorted(named, key=lambda pair: rule_order().get(pair[0], 0))


def later_duplicates(
    frame: pd.DataFrame, rows: Sequence[int], not_articles: set[int], rule: str
) -> Iterator[tuple[int, int]]:
    """(duplicate row, kept row) pairs: per value, the first row that is an article (not in `not_articles`,
    the rows failing a critical expectation; a flagged row is one) is kept.

    Rows before the kept one are rejected already, so only rows after it are reported as duplicates.
    """
    column = rule.split(":", 1)[1]
    groups: dict[Any, list[int]] = {}
    for row in sorted(rows):
        groups.setdefault(frame.at[row, column], []).append(row)
    for group in groups.values():
        kept = next((row for row in group if row not in not_articles), group[0])
        yield from ((row, kept) for row in group if row > kept)


def check_ran(outcome: ExpectationValidationResult) -> None:
    """Raise ValidationFailed if GX raised inside the expectation (its result says nothing about rows)."""
    info = outcome.exception_info or {}
    # exception_info is either one {"raised_exception": ...} dict or such dicts keyed by metric.
    per_metric = [item for item in info.values() if isinstance(item, dict)]
    details = [info] if "raised_exception" in info else per_metric
    for detail in details:
        if detail.get("raised_exception"):
            config = outcome.expectation_config
            rule = rule_name(config.type, config.kwargs)
            raise ValidationFailed(str(detail.get("exception_message")), subject=rule)


def unexpected_rows(outcome: ExpectationValidationResult) -> list[int] | None:
    """Row numbers GX reported as failing; None for table-level expectations that report no rows."""
    index_list = (outcome.result or {}).get("unexpected_index_list")
    if index_list is None:
        return None
    return sorted({int(entry[ROW_COLUMN]) for entry in index_list})


def detail_line(
    meta: Mapping[str, Any],
    frame: pd.DataFrame,
    articles: Sequence[Article],
    row: int,
    context: Mapping[str, Any],
) -> str:
    """The expectation's meta.detail template filled with the row's (shortened) values, on one line."""
    article = articles[row]
    values: dict[str, Any] = {column: display(frame.at[row, column]) for column in COLUMNS}
    values["published_raw"] = display(article.published.raw if article.published else None)
    values["modified_raw"] = display(article.modified.raw if article.modified else None)
    values.update(context)
    template = str(meta.get("detail", "{column} fails the expectation"))
    try:
        line = template.format_map(values)
    except (KeyError, IndexError, ValueError):  # a template naming an unknown field must not lose the reject
        line = template
    return " ".join(line.split())


def display(value: Any) -> Any:
    """A frame value fit for a one-line message: NaN as None, long strings cut, numpy scalars as Python."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, str):
        return value if len(value) <= DETAIL_VALUE_CHARS else value[: DETAIL_VALUE_CHARS - 1] + "…"
    return value.item() if hasattr(value, "item") else value


def reject_for(article: Article, failures: Sequence[Failure]) -> Reject:
    """One reject per row that is not an article: its first failed critical expectation is the rule; the
    detail names the others (critical or not)."""
    first = next(failure for failure in failures if failure.critical)
    others = [failure for failure in failures if failure is not first]
    detail = first.detail
    if others:
        detail += f" (also fails: {', '.join(failure.rule for failure in others)})"
    return Reject(
        input=article.input,
        stage="validate",
        rule=first.rule,
        detail=detail,
        doc_id=article.doc_id,
        url=article.url,
    )


@functools.cache
def cached_validator() -> Validator:
    """Build the ephemeral GX context, pandas batch definition and suite once per process."""
    # The import makes millions of objects, none of them garbage.
    with cyclic_gc_paused(), imported_lazily(LAZY_MODULES):
        import great_expectations as gx
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )

    definition = suite_definition()
    check_severities(definition)
    try:
        config = DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(),
            analytics_enabled=False,  # no usage events leave the machine
            # Without this GX draws "Calculating Metrics" bars on stderr for every batch.
            progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        )
        context = gx.get_context(mode="ephemeral", project_config=config)
        batch_definition = (
            context.data_sources.add_pandas(DATASOURCE_NAME)
            .add_dataframe_asset(ASSET_NAME)
            .add_batch_definition_whole_dataframe(BATCH_DEFINITION_NAME)
        )
        suite = gx.ExpectationSuite(
            name=definition["name"],
            expectations=definition["expectations"],
            meta=definition.get("meta"),
            notes=definition.get("notes"),
        )
    except Exception as error:  # any GX setup error means validation cannot run at all
        raise ValidationFailed(f"cannot build the suite: {error}", subject=str(SUITE_PATH)) from error
    # GX logs and drops expectations it cannot build; a silently shorter suite would pass bad rows.
    if len(suite.expectations) != len(definition["expectations"]):
        raise ValidationFailed(
            f"only {len(suite.expectations)} of {len(definition['expectations'])} expectations are valid",
            subject=str(SUITE_PATH),
        )
    # GX's modules and context live as long as the process: frozen, later garbage collections skip them
    # (they made every full collection walk millions of objects).
    gc.freeze()
    return Validator(batch_definition=batch_definition, suite=suite)


class LazyFinder(importlib.abc.MetaPathFinder):
    """Finds `names` as the other finders do, but with a loader that runs a module at its first use.

    Two threads may each have one in sys.meta_path (the warm-up and a batch's validation): each skips
    every LazyFinder, or the two would ask each other forever (RecursionError inside GX's import)."""

    def __init__(self, names: frozenset[str]) -> None:
        self.names = names

    def find_spec(self, name: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if name not in self.names:
            return None
        for finder in sys.meta_path:
            if isinstance(finder, LazyFinder) or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = importlib.util.LazyLoader(spec.loader)
                return spec
        return None


@contextmanager
def imported_lazily(names: frozenset[str]) -> Iterator[None]:
    """Within the block, a first import of one of `names` makes a lazy module (see LAZY_MODULES)."""
    finder = LazyFinder(names)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def warm_up() -> None:
    """Import GX and build the context now (about 2 s) instead of during the first batch."""
    cached_validator()
