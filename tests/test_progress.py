"""flows/progress.py and the CLI's progress: one line per batch with done/total, rate and ETA where no bar fits."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from newsdag.flows.cli import main
from newsdag.flows.progress import ProgressLines, format_seconds
from newsdag.flows.run import Progress
from tests.conftest import SEEDS

COUNTS = {"loaded": 1, "updated": 0, "unchanged": 2, "rejected": 3}
LINE = re.compile(r"^  (\d+)/(\d+) inputs \(\d+%\), \d+\.\d/s, ETA (\d+ s|\d+ min \d\d s|unknown); loaded \d+, ")


def test_rate_and_eta_count_from_the_first_report() -> None:
    now = [100.0]
    lines = ProgressLines(clock=lambda: now[0])
    assert lines.line(Progress("run", 1000, 0, COUNTS)) is None  # after discovery: nothing measured yet
    now[0] = 110.0
    assert lines.line(Progress("run", 1000, 200, COUNTS)) == (
        "200/1000 inputs (20%), 20.0/s, ETA 40 s; loaded 1, updated 0, unchanged 2, rejected 3"
    )
    now[0] = 150.0
    assert lines.line(Progress("run", 1000, 400, COUNTS)).startswith("400/1000 inputs (40%), 8.0/s, ETA 1 min 15 s;")
    assert lines.line(Progress("other", 10, 0, COUNTS)) is None  # each run has its own clock
    now[0] = 250.0
    assert lines.line(Progress("run", 1000, 1000, COUNTS)).startswith("1000/1000 inputs (100%), 6.7/s, ETA 0 s;")
    assert "run" not in lines.first  # forgotten once done


def test_seconds_are_shown_as_precisely_as_an_estimate_deserves() -> None:
    assert [format_seconds(s) for s in (0.4, 42, 185, 7620)] == ["0 s", "42 s", "3 min 05 s", "2 h 07 min"]


def test_ingest_into_a_pipe_prints_a_line_per_batch_with_rate_and_eta(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSDAG_BATCH_SIZE", "2")
    inputs = sorted(SEEDS.iterdir())
    assert len(inputs) == 5
    assert main(["ingest", str(SEEDS), "--db", str(tmp_path / "news.duckdb"), "--prefect", "never"]) == 0
    lines = capsys.readouterr().err.splitlines()  # captured: stderr is not a terminal
    progress = [LINE.match(line) for line in lines]
    assert all(progress), lines
    assert [(match.group(1), match.group(2)) for match in progress if match] == [("2", "5"), ("4", "5"), ("5", "5")]
