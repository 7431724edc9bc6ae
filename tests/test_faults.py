"""The test-only fault points: which arrival NEWSDAG_FAULT names, and a clear error for a misspelt one."""

from __future__ import annotations

import pytest

from newsdag.tasks import faults
from newsdag.tasks.errors import ConfigError


@pytest.fixture(autouse=True)
def fresh_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faults, "reached", faults.Counter())


def test_unset_nothing_fires(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSDAG_FAULT", raising=False)
    assert not any(faults.fires(point) for point in faults.POINTS)


def test_the_named_arrival_fires_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSDAG_FAULT", "load-committed:3")
    assert [faults.fires("load-committed") for _ in range(4)] == [False, False, True, False]
    assert not faults.fires("load-commit")


@pytest.mark.parametrize("spec", ["load-comitted", "load-committed:0", "load-committed:x"])
def test_a_misspelt_fault_is_a_config_error(monkeypatch: pytest.MonkeyPatch, spec: str) -> None:
    monkeypatch.setenv("NEWSDAG_FAULT", spec)
    with pytest.raises(ConfigError, match=r"^.+: NEWSDAG_FAULT must be <point>\[:<n>\]"):
        faults.fires("load-committed")
