"""Hostile and broken inputs through the installed command: each ends as an article or a reject, nothing hangs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from warehouse.db import connect

NEWSDAG = Path(sys.executable).parent / "newsdag"
PARAGRAPH = "<p>" + "The council met on Tuesday to discuss the harbour budget and the new ferry line. " * 5 + "</p>"
# Long enough that a hang fails the test instead of stalling the suite; the run takes seconds.
RUN_TIMEOUT_SECONDS = 300


def page(body: str, head: str = "") -> str:
    return f"<html><head><meta charset='utf-8'><title>Harbour budget</title>{head}</head><body>{body}</body></html>"


def hostile_inputs(directory: Path) -> dict[str, str | None]:
    """Write the inputs; returns each file's expected reject rule (None: it must load as an article)."""
    directory.mkdir()
    files: dict[str, tuple[bytes, str | None]] = {
        "nested-100k.html": (page("<div>" * 100_000 + PARAGRAPH + "</div>" * 100_000).encode(), "no-text"),
        "nul-bytes.html": (page(PARAGRAPH).encode().replace(b"council", b"coun\0cil"), "binary"),
        "megabytes-of-script.html": (
            page("<script>" + "var x = 1;\n" * 300_000 + "</script>" + PARAGRAPH).encode(),
            None,
        ),
        "only-images.html": (page("".join(f"<img src='/i/{n}.jpg'>" for n in range(2000))).encode(), "no-text"),
        "charset-lie.html": (
            page(PARAGRAPH.replace("harbour", "Zürich harbour")).replace("utf-8", "shift_jis").encode(),
            None,
        ),
        "five-mb-attribute.html": (
            page(PARAGRAPH.replace("<p>", "<p data-x='" + "a" * 5_000_000 + "'>", 1)).encode(),
            None,
        ),
        "broken-utf8.html": (
            page(PARAGRAPH * 4).encode()[:900] + b"\xff\xfe" + page(PARAGRAPH * 4).encode()[900:],
            None,
        ),
        "ten-mb-single-line.txt": (b"word " * 2_000_000, "expect_column_values_to_not_be_null:title"),
        "dump-without-body.txt": (b"date 2024-01-01 https://example.com/x\nTitle only\nTitle only\n", "no-body"),
        "only-boilerplate.txt": (b"Home\nNews\nSport\nContact us\nPrivacy policy\n(c) 2024 Example\n" * 20, "no-body"),
        "empty.html": (b"", "empty"),
        "truncated.html.gz": (b"\x1f\x8b\x08\x00" + b"\x00" * 20, "bad-gzip"),
    }
    for name, (content, _rule) in files.items():
        (directory / name).write_bytes(content)
    return {str(directory / name): rule for name, (_content, rule) in files.items()}


@pytest.mark.slow
def test_hostile_files_end_as_articles_or_rejects_within_bounds(tmp_path: Path) -> None:
    expected = hostile_inputs(tmp_path / "hostile")
    db = tmp_path / "news.duckdb"
    environment = {**os.environ, "NEWSDAG_PARALLEL_MIN_DOCS": "1", "NEWSDAG_EXTRACT_TIMEOUT": "60"}
    result = subprocess.run(
        [str(NEWSDAG), "ingest", str(tmp_path / "hostile"), "--db", str(db), "--workers", "2", "--prefect", "never"],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        env=environment,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    with connect(db, read_only=True) as connection:
        loaded = {row[0] for row in connection.execute("select input from articles").fetchall()}
        rejected = dict(connection.execute("select input, rule from rejects").fetchall())
        lie = connection.execute("select text from articles where input like '%charset-lie%'").fetchall()
    for path, rule in expected.items():
        if rule is None:
            assert path in loaded, path
        else:
            assert rejected.get(path) == rule, path
    assert len(loaded) + len(rejected) == len(expected)
    assert "Zürich harbour" in lie[0][0]  # valid UTF-8 wins over the lying declaration
