"""The extraction process pool: a batch of documents through worker processes, each page's time bounded.

Apart from the extraction rules (tasks/extract.py), which run in the workers: this module starts the
workers from a forkserver that has the rules loaded (tasks/preload.py), hands them documents, and turns a
page that hangs or kills its worker into a Reject while the rest of the batch goes on.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace

from newsdag.tasks.extract import extract_document
from newsdag.tasks.models import Article, RawDocument, Reject

# How long to wait for a broken pool's futures to fail (they do within milliseconds).
POOL_SHUTDOWN_SECONDS = 5.0
# Documents waiting in the pool's queue per worker, besides the one it runs: a worker that finishes
# takes the next at once instead of waiting for this process (busy validating or loading) to hand it
# one. With one, 400 pages extracted ~30 % faster while the main process was busy (more was not
# measured: one is enough for a worker always to find its next page waiting).
QUEUED_PER_WORKER = 1
# Worker pools by size, kept for the life of the process (see extraction_pool).
POOLS: dict[int, ProcessPoolExecutor] = {}
# What the workers' forkserver imports before it forks any worker: tasks/preload.py imports tasks.extract
# and loads what extraction would otherwise load lazily in each worker (extract.warm_up_worker).
FORKSERVER_PRELOAD = ["newsdag.tasks.preload"]


Extractor = Callable[[RawDocument], Article | Reject]
# How often the forkserver and each worker check that the process that started them still lives.
PARENT_POLL_SECONDS = 0.5


def exit_with_parent() -> None:
    """End this process soon after its parent: a `kill -9` of the ingest leaves no forkserver or worker
    behind (they would sit in their loops holding each other's pipes for good). A thread of this process
    sees the parent change when it is re-parented; not prctl's parent-death signal, which follows the
    parent *thread* that forked, and the pool is started on a thread that ends before the process."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="newsdag-parent-watch", daemon=True).start()


def start_worker() -> None:
    """A worker's start: it ends with its forkserver (exit_with_parent), and its loaded objects are frozen
    (never walked by its garbage collections, which would copy the forkserver's shared pages into it)."""
    exit_with_parent()
    gc.freeze()


def extract_batch(
    documents: Sequence[RawDocument],
    *,
    workers: int,
    parallel_min_docs: int,
    timeout_seconds: float,
    extractor: Extractor = extract_document,
) -> list[Article | Reject]:
    """Extract a batch in worker processes, so that each page's time is bounded.

    A page that takes longer than `timeout_seconds` becomes a Reject (extract-timeout) and a page whose
    worker dies (segfault, OOM kill) becomes one (worker-crashed); the run goes on in a fresh pool.
    This holds for every batch, one page with one worker included: only a process can be stopped when a
    page hangs (a thread cannot be, and a signal reaches only the main thread, where extraction does not
    run). With `timeout_seconds` 0 there is no bound, and a batch smaller than `parallel_min_docs`, or
    one worker, extracts in this process. `extractor` is the per-document function (a module-level
    one, or a functools.partial of one, such as extract_archived: it is pickled to the workers).
    """
    if not documents:
        return []
    if not extracts_in_pool(
        len(documents), workers=workers, parallel_min_docs=parallel_min_docs, timeout_seconds=timeout_seconds
    ):
        return [extractor(document) for document in documents]
    bound = timeout_seconds if timeout_seconds > 0 else None
    return extract_in_pool(documents, max(1, workers), bound, extractor)


def extracts_in_pool(count: int, *, workers: int, parallel_min_docs: int, timeout_seconds: float) -> bool:
    """Whether extract_batch hands `count` documents to worker processes: always under a time bound,
    else when there are several workers and documents enough to pay for them."""
    return timeout_seconds > 0 or (workers > 1 and count >= parallel_min_docs)


@dataclass(frozen=True)
class Running:
    """A document handed to the pool: its index in the batch, whether alone, and when a worker took it
    (monotonic clock; None while it waits in the pool's queue)."""

    index: int
    alone: bool
    started: float | None


def extract_in_pool(
    documents: Sequence[RawDocument], workers: int, timeout_seconds: float | None, extractor: Extractor
) -> list[Article | Reject]:
    """The batch through the worker pool, each document's running time known. Every worker has one
    document queued behind the one it runs (QUEUED_PER_WORKER), so it never idles while this process
    is busy elsewhere. Documents running when a worker dies are retried alone in a fresh pool: the one
    that kills it again is the cause, the others were bystanders."""
    done: dict[int, Article | Reject] = {}
    pending = deque(range(len(documents)))
    suspects: deque[int] = deque()
    # In submission order, which is the order workers take them: the first `workers` are running.
    running: dict[Future[Article | Reject], Running] = {}
    while pending or suspects or running:
        pool = extraction_pool(workers)
        while (chosen := next_to_submit(pending, suspects, running, workers)) is not None:
            index, alone = chosen
            try:
                future = pool.submit(extractor, documents[index])
            except BrokenProcessPool:
                # A worker died while the batch was being handed out: this document goes back to wait,
                # and the pool's futures fail below (with none running, a fresh pool is started).
                (suspects if alone else pending).appendleft(index)
                break
            running[future] = Running(index, alone, None)
        if not running:
            discard_pool(workers)
            continue
        mark_started(running, workers, time.monotonic())
        wait_seconds = None  # no bound: wait for the next page to finish
        if timeout_seconds is not None:
            deadline = min(item.started for item in running.values() if item.started is not None) + timeout_seconds
            wait_seconds = max(0.0, deadline - time.monotonic())
        finished, _ = wait(running, timeout=wait_seconds, return_when=FIRST_COMPLETED)
        if any(isinstance(future.exception(), BrokenProcessPool) for future in finished):
            # Every future of a broken pool fails within milliseconds; keep what finished first.
            wait(running, timeout=POOL_SHUTDOWN_SECONDS)
            discard_pool(workers)
            started = sum(item.started is not None for item in running.values())
            for future, item in running.items():
                if future.done() and future.exception() is None:
                    done[item.index] = future.result()
                elif item.started is None:
                    pending.appendleft(item.index)  # still queued: no worker ran it
                elif item.alone or started == 1:
                    done[item.index] = extract_reject(
                        documents[item.index], "worker-crashed", "the worker process died"
                    )
                else:
                    suspects.append(item.index)
            running.clear()
            continue
        for future in finished:
            done[running.pop(future).index] = future.result()
        if timeout_seconds is None:
            continue
        now = time.monotonic()
        overdue = [
            item.index
            for item in running.values()
            if item.started is not None and now - item.started >= timeout_seconds
        ]
        if overdue:
            detail = f"extraction took longer than {timeout_seconds:g} s"
            for index in overdue:
                done[index] = extract_reject(documents[index], "extract-timeout", detail)
            # The bystanders rerun first in the fresh pool; the killed pool's late results are ignored.
            pending.extendleft(item.index for item in running.values() if item.index not in done)
            running.clear()
            discard_pool(workers, kill=True)
    return [done[index] for index in range(len(documents))]


def mark_started(running: dict[Future[Article | Reject], Running], workers: int, now: float) -> None:
    """Start the clock of the documents workers have taken: the first `workers` unfinished ones, since
    workers take them in submission order (to within the moment it took to notice a finished one)."""
    for future in list(running)[:workers]:
        if running[future].started is None:
            running[future] = replace(running[future], started=now)


def next_to_submit(
    pending: deque[int], suspects: deque[int], running: dict[Future[Article | Reject], Running], workers: int
) -> tuple[int, bool] | None:
    """(index, alone) of the next document for the pool: suspects one at a time with nothing beside
    them, then the rest; None while every worker has its queue full or a suspect runs."""
    if any(item.alone for item in running.values()):
        return None
    if suspects:
        return None if running else (suspects.popleft(), True)
    if pending and len(running) < workers * (1 + QUEUED_PER_WORKER):
        return pending.popleft(), False
    return None


def extract_reject(document: RawDocument, rule: str, detail: str) -> Reject:
    return Reject(document.input, "extract", rule, detail, document.doc_id, document.url)


def extraction_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of `workers` processes, reused across batches; workers fork from a server that has
    already imported trafilatura and loaded its models (warm_up_worker), so a new worker costs
    milliseconds, not a fresh import, and shares those pages with the server."""
    if workers not in POOLS:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(FORKSERVER_PRELOAD)
        # What a worker inherits (trafilatura, lxml, the language model) lives as long as it does: frozen,
        # it is never walked by the worker's garbage collections (~1 % of extraction CPU).
        POOLS[workers] = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=start_worker)
    return POOLS[workers]


def discard_pool(workers: int, *, kill: bool = False) -> None:
    """Forget a pool (the next extraction_pool call starts a fresh one); with kill, end its workers first."""
    pool = POOLS.pop(workers, None)
    if pool is None:
        return
    if kill:
        # ProcessPoolExecutor has no public way to stop a busy worker before Python 3.14 (kill_workers).
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


def shutdown_pools() -> None:
    """Stop the worker processes (called when a run ends)."""
    while POOLS:
        POOLS.popitem()[1].shutdown(cancel_futures=True)
