"""Tests for the extraction worker pool: a dying or hanging worker rejects its page, never the run.

The faults are real: tests/faults.py's extractor runs in the pool's worker processes and ends them
with os._exit or keeps them busy past the time bound.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from newsdag.tasks.extract import extract_archived, extract_document
from newsdag.tasks.extract_pool import POOLS, extract_batch, extraction_pool, shutdown_pools
from newsdag.tasks.load import archive_documents
from newsdag.tasks.models import Article, RawDocument, Reject
from tests.conftest import make_document
from tests.faults import CRASH, HANG, SLOW, SLOW_SECONDS, faulty_extractor, lazily_loaded

PAGE = b"<html><body><p>Just a short page, for the pool tests.</p></body></html>"
# Long enough for a fresh worker to start and import its extractor on a loaded 2-core machine.
TIMEOUT_SECONDS = 2.0


def documents(*markers: bytes) -> list[RawDocument]:
    return [make_document(PAGE + marker + b"<!-- %d -->" % number) for number, marker in enumerate(markers)]


def run(batch: list[RawDocument]) -> list[Article | Reject]:
    return extract_batch(
        batch, workers=2, parallel_min_docs=1, timeout_seconds=TIMEOUT_SECONDS, extractor=faulty_extractor
    )


@pytest.fixture(autouse=True)
def fresh_pools() -> Iterator[None]:
    shutdown_pools()
    yield
    shutdown_pools()


def rules(results: list[Article | Reject]) -> list[str]:
    return [result.rule if isinstance(result, Reject) else "article" for result in results]


def test_a_dying_worker_rejects_only_its_page_and_the_run_goes_on() -> None:
    batch = documents(b"", b"", CRASH, b"", b"", b"", b"")
    results = run(batch)
    assert rules(results) == ["test-ok"] * 2 + ["worker-crashed"] + ["test-ok"] * 4
    crashed = results[2]
    assert isinstance(crashed, Reject)
    assert (crashed.stage, crashed.doc_id) == ("extract", batch[2].doc_id)
    assert "\n" not in crashed.detail


def test_two_crashing_pages_side_by_side_are_both_found() -> None:
    assert rules(run(documents(CRASH, CRASH, b"", b""))) == ["worker-crashed"] * 2 + ["test-ok"] * 2


def test_a_hanging_page_is_rejected_after_the_time_bound_and_the_rest_extracted() -> None:
    started = time.monotonic()
    results = run(documents(b"", HANG, b"", b"", b""))
    assert rules(results) == ["test-ok", "extract-timeout", "test-ok", "test-ok", "test-ok"]
    assert time.monotonic() - started < TIMEOUT_SECONDS + 5
    assert results[1].detail == "extraction took longer than 2 s"


@pytest.mark.parametrize(("workers", "parallel_min_docs"), [(1, 1), (2, 32)], ids=["one-worker", "small-batch"])
def test_a_hanging_page_is_bounded_with_one_worker_and_in_a_small_batch(workers: int, parallel_min_docs: int) -> None:
    # Both used to extract in the ingest process, where a hanging page hung the whole (scheduled) run.
    started = time.monotonic()
    results = extract_batch(
        documents(HANG, b""),
        workers=workers,
        parallel_min_docs=parallel_min_docs,
        timeout_seconds=TIMEOUT_SECONDS,
        extractor=faulty_extractor,
    )
    assert rules(results) == ["extract-timeout", "test-ok"]
    assert time.monotonic() - started < TIMEOUT_SECONDS + 5


def test_a_page_waiting_in_the_queue_is_timed_from_when_a_worker_takes_it() -> None:
    # Each page runs within the bound, but the second, queued from the start behind the first, ends
    # later than the bound after its queueing: timed from then, it would be rejected.
    assert 2 * SLOW_SECONDS > TIMEOUT_SECONDS > SLOW_SECONDS
    results = extract_batch(
        documents(SLOW, SLOW, SLOW),
        workers=1,
        parallel_min_docs=1,
        timeout_seconds=TIMEOUT_SECONDS,
        extractor=faulty_extractor,
    )
    assert rules(results) == ["test-ok"] * 3


def test_pages_queued_behind_a_crashing_one_are_extracted_not_blamed() -> None:
    assert rules(
        extract_batch(
            documents(CRASH, b"", b""),
            workers=1,
            parallel_min_docs=1,
            timeout_seconds=TIMEOUT_SECONDS,
            extractor=faulty_extractor,
        )
    ) == ["worker-crashed", "test-ok", "test-ok"]


def test_without_a_time_bound_a_small_batch_extracts_in_this_process() -> None:
    results = extract_batch(
        documents(b"", b""), workers=2, parallel_min_docs=32, timeout_seconds=0, extractor=faulty_extractor
    )
    assert rules(results) == ["test-ok", "test-ok"] and not POOLS


def test_the_pool_works_again_after_a_crash() -> None:
    run(documents(CRASH, b""))
    assert rules(run(documents(b"", b"", b""))) == ["test-ok"] * 3
    assert len(POOLS) == 1


def test_real_pages_still_extract_in_the_pool() -> None:
    page = b"<html><head><title>Harbour walls</title></head><body>" + b"<p>The harbour walls held.</p>" * 30
    batch = [make_document(page + b"<!-- %d --></body></html>" % number) for number in range(3)]
    results = extract_batch(batch, workers=2, parallel_min_docs=1, timeout_seconds=30)
    assert all(isinstance(result, Article) for result in results), results


def test_workers_start_with_the_models_their_forkserver_loaded() -> None:
    # Loaded once in the forkserver, they are shared by every worker; loaded at each worker's first
    # pages, each worker held a copy (~130 MB each, bench/results.md section 4).
    loaded = extraction_pool(1).submit(lazily_loaded).result(timeout=120)
    assert loaded == dict.fromkeys(loaded, True)


def test_workers_read_the_page_bytes_from_the_archive(tmp_path: Path) -> None:
    # The ingest process archives a batch's bytes when it reads them and sends its workers documents
    # without them (flows/run.py, gather_batch): it never holds the bytes of the batches in flight.
    page = b"<html><head><title>Harbour walls</title></head><body>" + b"<p>The harbour walls held.</p>" * 30
    batch = [make_document(page + b"<!-- %d --></body></html>" % number) for number in range(3)]
    archive_documents(batch, tmp_path)
    results = extract_batch(
        [document.without_content() for document in batch],
        workers=2,
        parallel_min_docs=1,
        timeout_seconds=30,
        extractor=functools.partial(extract_archived, tmp_path),
    )
    assert results == [extract_document(document) for document in batch]


def test_a_page_whose_archived_bytes_are_gone_is_rejected(tmp_path: Path) -> None:
    [document] = documents(b"")
    [result] = extract_batch(
        [document.without_content()],
        workers=1,
        parallel_min_docs=1,
        timeout_seconds=30,
        extractor=functools.partial(extract_archived, tmp_path),
    )
    assert isinstance(result, Reject) and (result.stage, result.rule) == ("extract", "unreadable")
    assert result.detail.startswith("its bytes are no longer in the archive: ")
