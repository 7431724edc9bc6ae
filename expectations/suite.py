"""The validation suite `articles.json` as its file says it: rule names, their order and severities.

Read as plain JSON, without Great Expectations or pandas (seconds to import), so that a run can tell which
rules reject before it has anything to validate (flows/run.py: which earlier rejects still hold).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from newsdag.tasks.errors import ValidationFailed

SUITE_PATH = Path(__file__).with_name("articles.json")
SUITE_NAME = "articles"
# GX severities (GX >= 1.5.9) the suite uses. critical: the row is not an article, a reject. warning: a
# doubtful value of an article that loads, a flag.
CRITICAL, WARNING = "critical", "warning"
# The Article fields a warning may judge (meta.field) and leave out (meta.leave_out): each is one value
# of the article, stored in its own columns, that the article is complete without.
JUDGED_FIELDS = frozenset({"title", "language", "published", "modified"})


def rule_name(expectation_type: str, kwargs: Mapping[str, Any]) -> str:
    """`type:column`, `type:column_A,column_B` for pairs, or just `type` for table-level expectations."""
    if "column" in kwargs:
        return f"{expectation_type}:{kwargs['column']}"
    if "column_A" in kwargs:
        return f"{expectation_type}:{kwargs['column_A']},{kwargs['column_B']}"
    return expectation_type


@functools.cache
def suite_definition() -> dict[str, Any]:
    """The suite file as JSON; ValidationFailed if it cannot be read."""
    try:
        return json.loads(SUITE_PATH.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValidationFailed(f"cannot read the suite: {error}", subject=str(SUITE_PATH)) from error


@functools.cache
def rule_order() -> dict[str, int]:
    """Rule name -> position in the suite (the precedence when a row fails several)."""
    return {
        rule_name(expectation["type"], expectation.get("kwargs", {})): position
        for position, expectation in enumerate(suite_definition()["expectations"])
    }


def check_severities(definition: Mapping[str, Any]) -> None:
    """ValidationFailed unless every expectation names its severity, critical or warning, and every
    warning's meta names a field it judges (and may leave out) among JUDGED_FIELDS.

    GX takes a missing severity for critical: a warning whose severity was forgotten would reject articles.
    """
    for expectation in definition["expectations"]:
        rule = rule_name(expectation["type"], expectation.get("kwargs", {}))
        severity = expectation.get("severity")
        if severity not in (CRITICAL, WARNING):
            raise ValidationFailed(
                f"severity must be {CRITICAL!r} or {WARNING!r}, got {severity!r}", subject=f"{SUITE_PATH}: {rule}"
            )
        meta = expectation.get("meta") or {}
        fields = {meta.get("field"), meta.get("compared_with")} - {None}
        if severity == WARNING and (meta.get("field") is None or not fields <= JUDGED_FIELDS):
            raise ValidationFailed(
                f"a warning's meta.field and meta.compared_with must be among {sorted(JUDGED_FIELDS)}",
                subject=f"{SUITE_PATH}: {rule}",
            )


@functools.cache
def critical_rules() -> frozenset[str]:
    """The rules whose failure rejects a row: the suite's critical expectations."""
    return frozenset(
        rule_name(expectation["type"], expectation.get("kwargs", {}))
        for expectation in suite_definition()["expectations"]
        if expectation.get("severity") == CRITICAL
    )
