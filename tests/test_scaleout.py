"""tasks/scaleout.py on a real two-process Dask LocalCluster on loopback: order, equality, failures."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import distributed  # in the dev extra: CI runs these tests, never skips them
import pytest

from newsdag.flows.cli import main
from newsdag.tasks.errors import ConfigError
from newsdag.tasks.extract import extract_document
from newsdag.tasks.models import Article, RawDocument, Reject
from newsdag.tasks.scaleout import WORKER_FAILED_RULE, close_clients, dask_client, extract_on_dask
from newsdag.warehouse.db import connect
from tests.conftest import FIXTURE_PAGES, article_page, fixture_page, make_document, warc_response, write_warc

# Test hooks: documents carrying these markers make the worker-side extractor fail on purpose.
KILL_WORKER_MARKER = b"<!-- newsdag test hook: kill the dask worker -->"
RAISE_MARKER = b"<!-- newsdag test hook: raise in the extractor -->"


def extract_or_kill_worker(document: RawDocument) -> Article | Reject:
    """extract_document, except that a KILL_WORKER_MARKER document ends the worker process at once."""
    if KILL_WORKER_MARKER in document.content:
        os._exit(70)
    return extract_document(document)


def extract_or_raise(document: RawDocument) -> Article | Reject:
    """extract_document, except that a RAISE_MARKER document raises (a bug in the extractor)."""
    if RAISE_MARKER in document.content:
        raise RuntimeError("extractor bug\nsecond line of the message")
    return extract_document(document)


def fixture_documents() -> list[RawDocument]:
    """The saved pages, each at its real URL, plus an empty page (a content reject)."""
    documents = []
    for expected_file in sorted(FIXTURE_PAGES.glob("*.expected.json")):
        url = json.loads(expected_file.read_text(encoding="utf-8"))["url"]
        html = fixture_page(expected_file).read_bytes()
        documents.append(make_document(html, url=url))
    documents.insert(3, make_document(b"<html><body></body></html>", url="file:///tmp/empty.html"))
    return documents


@pytest.fixture(scope="module")
def scheduler_address() -> Iterator[str]:
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address
        close_clients()


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_results_equal_in_process_extraction_in_input_order(scheduler_address: str) -> None:
    documents = fixture_documents()
    expected = [extract_document(document) for document in documents]
    results = extract_on_dask(documents, scheduler_address, chunk_docs=3)
    assert results == expected
    assert [getattr(r, "article_id", None) for r in results] == [getattr(r, "article_id", None) for r in expected]
    assert [r.input for r in results] == [d.input for d in documents]
    assert sum(isinstance(r, Article) for r in results) == len(documents) - 1
    empty = results[3]
    assert isinstance(empty, Reject) and empty.rule == "no-text"


def test_client_is_reused_and_reconnects_after_close(scheduler_address: str) -> None:
    documents = fixture_documents()[:2]
    client = dask_client(scheduler_address)
    assert dask_client(scheduler_address) is client
    close_clients()
    assert extract_on_dask(documents, scheduler_address, chunk_docs=1) == [extract_document(d) for d in documents]
    assert dask_client(scheduler_address) is not client


def test_empty_input_needs_no_cluster() -> None:
    assert extract_on_dask([], "tcp://127.0.0.1:1", chunk_docs=4) == []


def test_raising_extractor_rejects_only_its_chunk(scheduler_address: str) -> None:
    documents = fixture_documents()[:4]
    bad = make_document(b"<html><body><p>text</p></body></html>" + RAISE_MARKER, url="file:///tmp/bad.html")
    documents.insert(2, bad)
    results = extract_on_dask(documents, scheduler_address, chunk_docs=2, extract=extract_or_raise)
    # Chunks: [0, 1], [2 (bad), 3], [4]: the middle chunk's two documents come back as rejects.
    assert results[:2] == [extract_document(d) for d in documents[:2]]
    assert results[4] == extract_document(documents[4])
    for reject, document in zip(results[2:4], documents[2:4], strict=True):
        assert isinstance(reject, Reject)
        assert (reject.stage, reject.rule) == ("extract", WORKER_FAILED_RULE)
        assert (reject.input, reject.doc_id, reject.url) == (document.input, document.doc_id, document.url)
        assert "RuntimeError: extractor bug second line" in reject.detail
        assert "\n" not in reject.detail


@pytest.mark.slow  # the scheduler retries the chunk on 3 more workers, each killed and restarted: 9 s idle, 30 s busy
def test_dead_worker_turns_its_chunk_into_rejects(scheduler_address: str) -> None:
    documents = fixture_documents()[:3]
    doomed = make_document(b"<html><body><p>text</p></body></html>" + KILL_WORKER_MARKER, url="file:///tmp/die.html")
    documents.append(doomed)
    results = extract_on_dask(documents, scheduler_address, chunk_docs=1, extract=extract_or_kill_worker)
    assert results[:3] == [extract_document(d) for d in documents[:3]]
    reject = results[3]
    assert isinstance(reject, Reject)
    assert (reject.stage, reject.rule, reject.doc_id) == ("extract", WORKER_FAILED_RULE, doomed.doc_id)
    assert reject.detail.startswith("the chunk's Dask task failed: KilledWorker")
    # The nannies restart the dead workers: the cluster still extracts afterwards.
    again = fixture_documents()[:2]
    assert extract_on_dask(again, scheduler_address, chunk_docs=1) == [extract_document(d) for d in again]


def test_unreachable_scheduler_is_a_config_error_naming_it() -> None:
    address = f"tcp://127.0.0.1:{free_loopback_port()}"
    started = time.monotonic()
    with pytest.raises(ConfigError, match="cannot reach the Dask scheduler") as raised:
        dask_client(address, timeout_seconds=1)
    assert time.monotonic() - started < 5
    assert raised.value.subject == address
    assert address in str(raised.value)


@pytest.mark.parametrize("address", ["", "  ", "nonsense://127.0.0.1:8786"])
def test_malformed_address_is_a_config_error(address: str) -> None:
    documents = fixture_documents()[:1]
    with pytest.raises(ConfigError):
        extract_on_dask(documents, address, chunk_docs=1)


def test_chunk_size_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="chunk_docs"):
        extract_on_dask(fixture_documents()[:1], "tcp://127.0.0.1:1", chunk_docs=0)


def test_missing_distributed_is_a_config_error_with_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes `import distributed` fail as if the package were not installed.
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ConfigError, match=r"pip install 'newsdag\[dask\]'"):
        extract_on_dask(fixture_documents()[:1], "tcp://127.0.0.1:8786", chunk_docs=1)


def test_ingest_with_a_dask_address_loads_what_local_extraction_loads(
    scheduler_address: str, seeds_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tables = []
    for name, options in (("dask", ["--dask-address", scheduler_address]), ("local", ["--workers", "1"])):
        db = tmp_path / f"{name}.duckdb"
        assert main(["ingest", str(seeds_copy), "--db", str(db), "--json", "--prefect", "never", *options]) == 0
        assert json.loads(capsys.readouterr().out)["status"] == "completed"
        with connect(db, read_only=True) as connection:
            tables.append(connection.execute("select article_id, title, text from articles order by 1").fetchall())
    assert tables[0] == tables[1] and len(tables[0]) > 0


def test_warc_files_go_whole_to_the_workers_and_load_what_a_local_read_loads(
    scheduler_address: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two files, read on the workers in segments of 4 documents, each segment loaded with its resume point.
    archives = tmp_path / "archives"
    archives.mkdir()
    for name, numbers in (("a.warc.gz", range(0, 9)), ("b.warc", range(9, 15))):
        records = [warc_response(f"https://example.com/{n}", article_page(n).encode()) for n in numbers]
        write_warc(archives / name, records, with_requests=True)
    monkeypatch.setenv("NEWSDAG_BATCH_SIZE", "4")
    tables = []
    for name, options in (("dask", ["--dask-address", scheduler_address]), ("local", ["--workers", "1"])):
        db = tmp_path / f"{name}.duckdb"
        assert main(["ingest", str(archives), "--db", str(db), "--json", "--prefect", "never", *options]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert (summary["status"], summary["loaded"], summary["skipped"]) == ("completed", 15, 15)
        with connect(db, read_only=True) as connection:
            tables.append(
                connection.execute(
                    "select a.article_id, a.title, a.text, d.warc_offset from articles a join documents d "
                    "using (article_id) order by 1"
                ).fetchall()
            )
            assert connection.execute("select count(*), bool_and(finished) from warc_files").fetchall() == [(2, True)]
    assert tables[0] == tables[1] and len(tables[0]) == 15
    # Read to their ends: a second run on the cluster reads nothing.
    db = tmp_path / "dask.duckdb"
    assert (
        main(
            [
                "ingest",
                str(archives),
                "--db",
                str(db),
                "--json",
                "--prefect",
                "never",
                "--dask-address",
                scheduler_address,
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["discovered"] == 0
