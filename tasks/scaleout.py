"""Scale-out extraction: RawDocument chunks -> Articles or Rejects on an existing Dask cluster.

Why a Dask client for the extract step, not prefect-dask's DaskTaskRunner for the whole flow:

- The load must stay in one process. DuckDB allows one writer per file, and the flow's single
  writer merges each batch in one transaction (`tasks/load.py`). A task runner ships *every* task,
  load included, to whichever worker is free; workers would then fight over the file lock (or,
  on another host, not see the file at all). Here workers only turn bytes into frozen dataclasses
  and send them back; they never open the database.
- The same code path runs with and without a Prefect server. `extract_on_dask` is a plain
  function: the in-process run (`--prefect never`) and the flow run call it the same way, and
  tests need neither Prefect nor a flow. A task runner exists only inside a flow run.
- Only extraction is worth distributing: it is CPU-bound and pure (picklable in, picklable out),
  while discover, read and load are I/O on this machine.

Failures stay per chunk: a chunk whose worker dies (after the scheduler's own retries on other
workers, `distributed.scheduler.allowed-failures`) or whose extraction raises becomes one Reject
per document (stage 'extract', rule WORKER_FAILED_RULE), never a crashed run. Such a reject says
nothing about the document's bytes, so it should not be repeated from the warehouse on the next
run the way content rejects are.

WARC files go to the workers whole (`read_archives_on_dask`): a worker reads the file itself (a path every
worker sees, or a URL it fetches under the same guard), filters and extracts its records, and sends back
articles a segment at a time (`segment_documents` HTML responses from a resume point): the next segment of
a file is asked for once the last one is back, so memory stays flat in the file's size on both sides, and
each segment's articles are loaded with the point reading resumes at, as a local read of the file would be.

Workers need newsdag installed (they import `tasks.scaleout` and `tasks.extract` by name).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsdag.tasks import warc
from newsdag.tasks.errors import ConfigError
from newsdag.tasks.extract import extract_document
from newsdag.tasks.fetch import Fetcher, FetchPolicy
from newsdag.tasks.models import Article, RawDocument, Reject, WarcProgress, WarcResume, WarcRules

if TYPE_CHECKING:
    from distributed import Client

# How long to wait for the scheduler before calling the address wrong.
DASK_CONNECT_TIMEOUT_SECONDS = 10
# The rule of the rejects that stand in for a chunk lost to a dead or failing worker.
WORKER_FAILED_RULE = "worker-failed"
# Longest reject detail, like the extractor's own error details.
MAX_DETAIL_CHARS = 300
INSTALL_HINT = "pip install 'newsdag[dask]'"

Extractor = Callable[[RawDocument], Article | Reject]

# One client per scheduler address for the life of the process (see dask_client).
CLIENTS: dict[str, Client] = {}
CLIENTS_LOCK = threading.Lock()


def extract_on_dask(
    documents: Sequence[RawDocument],
    address: str,
    *,
    chunk_docs: int,
    extract: Extractor = extract_document,
) -> list[Article | Reject]:
    """Extract `documents` on the Dask cluster at `address`, `chunk_docs` per task, in input order.

    `extract` is the per-document function run on the workers; it must be importable there
    (tests pass one that fails on purpose). Raises ConfigError when distributed is not installed
    or the scheduler cannot be reached.
    """
    if chunk_docs < 1:
        raise ConfigError(f"must be at least 1, got {chunk_docs}", subject="chunk_docs")
    if not documents:
        return []
    client = dask_client(address)
    chunks = [tuple(documents[start : start + chunk_docs]) for start in range(0, len(documents), chunk_docs)]
    # pure=False: chunks are never shared, so skip hashing their bytes into task keys.
    futures = client.map(extract_chunk, chunks, extract=extract, pure=False)
    results: list[Article | Reject] = []
    try:
        for chunk, future in zip(chunks, futures, strict=True):
            try:
                results.extend(future.result())
            except Exception as error:
                # KilledWorker (the worker died), the extractor's own exception, or a cancelled future.
                results.extend(worker_failed(chunk, error))
    finally:
        for future in futures:
            future.release()
    return results


def extract_chunk(chunk: Sequence[RawDocument], extract: Extractor = extract_document) -> list[Article | Reject]:
    """What a Dask worker runs: one chunk, document by document (no database, no Prefect)."""
    return [extract(document) for document in chunk]


def worker_failed(chunk: Sequence[RawDocument], error: BaseException) -> list[Reject]:
    """One reject per document of a chunk that did not come back, with a one-line reason."""
    message = " ".join(str(error).split())
    detail = f"{type(error).__name__}: {message}" if message else type(error).__name__
    detail = f"the chunk's Dask task failed: {detail}"[:MAX_DETAIL_CHARS]
    return [
        Reject(document.input, "extract", WORKER_FAILED_RULE, detail, document.doc_id, document.url)
        for document in chunk
    ]


def dask_client(address: str, *, timeout_seconds: float = DASK_CONNECT_TIMEOUT_SECONDS) -> Client:
    """The process's client for the scheduler at `address`, connecting on first use (or after it closed)."""
    if not address or not address.strip():
        # distributed.Client(None) would start a whole local cluster; an empty setting is a mistake.
        raise ConfigError("no Dask scheduler address given (e.g. tcp://10.0.0.5:8786)", subject="dask address")
    try:
        import distributed
    except ImportError:
        raise ConfigError(f"distributed is not installed: {INSTALL_HINT}", subject="dask address") from None
    with CLIENTS_LOCK:
        client = CLIENTS.get(address)
        if client is not None and client.status == "running":
            return client
        if client is not None:
            CLIENTS.pop(address)
            client.close()
        try:
            client = distributed.Client(address, timeout=timeout_seconds, set_as_default=False)
        except (OSError, ValueError, TypeError) as error:
            # OSError: nothing answers in time; ValueError/TypeError: not an address distributed can parse.
            reason = " ".join(str(error).split())
            raise ConfigError(f"cannot reach the Dask scheduler: {reason}", subject=address) from None
        CLIENTS[address] = client
        return client


def close_clients() -> None:
    """Disconnect every cached client (the cluster itself keeps running)."""
    with CLIENTS_LOCK:
        while CLIENTS:
            CLIENTS.popitem()[1].close()


# --- whole WARC files on the workers --------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchiveJob:
    """What a worker needs to read a segment of a WARC file: where it is, the rules and caps, the run's source
    name, and the fetch policy for a remote file (the same guard as on this machine)."""

    file: str
    rules: WarcRules
    source: str
    fetch_policy: FetchPolicy | None
    segment_documents: int


@dataclass(frozen=True)
class ArchiveSegment:
    """What a worker read of a WARC file from a resume point: the documents (bytes included, for the documents
    row), the articles and rejects they made, and where reading resumes after them (`progress`, `ended`)."""

    file: str
    steps: int
    documents: tuple[RawDocument, ...]
    articles: tuple[Article, ...]
    rejects: tuple[Reject, ...]
    progress: WarcProgress | None


def read_segment(job: ArchiveJob, resume: WarcResume | None, extract: Extractor = extract_document) -> ArchiveSegment:
    """What a Dask worker runs: the next `segment_documents` steps of the file from `resume`, read, decoded
    and extracted here (no database, no Prefect)."""
    fetcher = Fetcher(job.fetch_policy) if job.fetch_policy is not None and "://" in job.file else None
    try:
        archive = warc.RemoteArchive(job.file, fetcher) if fetcher else warc.LocalArchive(Path(job.file))
        items = list(
            itertools.islice(
                warc.archive_items(archive, job.rules, source=job.source, resume=resume), job.segment_documents
            )
        )
        if not items:
            return ArchiveSegment(job.file, 0, (), (), (), None)
        limit = job.rules.max_decompressed_bytes
        documents, rejects, progress = warc.read_steps(items, limit)
    finally:
        if fetcher is not None:
            fetcher.close()
    results = [extract(document) for document in documents]
    articles = tuple(result for result in results if isinstance(result, Article))
    rejects += [result for result in results if isinstance(result, Reject)]
    return ArchiveSegment(job.file, len(items), tuple(documents), articles, tuple(rejects), progress[0])


def read_archives_on_dask(
    jobs: Sequence[ArchiveJob],
    resumes: Callable[[str], WarcResume | None],
    address: str,
    *,
    extract: Extractor = extract_document,
) -> Iterator[ArchiveSegment]:
    """Every file's segments as the workers send them back, each file's in order; files in parallel, as many
    at a time as the cluster has worker threads (each file is one chain of segments). A segment whose task
    fails (a dead worker) ends its file with a worker-failed reject: the next run resumes it."""
    from distributed import as_completed

    client = dask_client(address)
    slots = max(1, sum(client.nthreads().values()))
    waiting = list(jobs)[::-1]
    by_future: dict[Any, ArchiveJob] = {}
    running: Any = None

    def submit(job: ArchiveJob, resume: WarcResume | None) -> None:
        future = client.submit(read_segment, job, resume, extract=extract, pure=False)
        by_future[future] = job
        if running is not None:
            running.add(future)

    def fill() -> None:
        while waiting and len(by_future) < slots:
            job = waiting.pop()
            submit(job, resumes(job.file))

    fill()
    if not by_future:
        return
    running = as_completed(list(by_future), loop=client.loop)  # without a loop it asks for a default client
    for future in running:
        job = by_future.pop(future)
        try:
            segment: ArchiveSegment = future.result()
        except Exception as error:
            # KilledWorker, or the reader's own exception: this file stops here, at its last committed point.
            segment = ArchiveSegment(job.file, 0, (), (), tuple(worker_failed_file(job.file, error)), None)
        finally:
            future.release()
        if segment.progress is not None and not segment.progress.ended:
            # Asked for before this segment loads: the worker reads on while this process writes.
            submit(job, WarcResume(segment.progress.offset, segment.progress.skip, segment.progress.stamp, False))
        yield segment
        fill()


def worker_failed_file(file: str, error: BaseException) -> list[Reject]:
    message = " ".join(str(error).split())
    detail = f"{type(error).__name__}: {message}" if message else type(error).__name__
    detail = f"the Dask task reading the file failed: {detail}; the next run resumes it"[:MAX_DETAIL_CHARS]
    return [Reject(file, "extract", WORKER_FAILED_RULE, detail, url=file if "://" in file else None)]
