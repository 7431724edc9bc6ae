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

Workers need newsdag installed (they import `tasks.scaleout` and `tasks.extract` by name).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from tasks.errors import ConfigError
from tasks.extract import extract_document
from tasks.models import Article, RawDocument, Reject

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
