"""The Prefect ingest flow: the tasks of flows/run.py, each on a whole batch, one flow run per ingest."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.settings import temporary_settings
from prefect.states import State
from prefect.utilities.annotations import quote

from flows import run
from flows.progress import ProgressLines
from flows.settings import Settings
from tasks.errors import RunFailed, is_transient

# The Prefect task of each of the run's tasks (flows/run.py's IngestTasks): three task runs per batch.
TASK_NAMES = {
    "discover": "discover-links",
    "gather": "gather",  # read files or fetch URLs, find what is unchanged
    "extract": "extract",
    "load": "load",  # validate, write the batch in one transaction, cluster what it added
    "cluster": "cluster",  # once at the end of a run that loaded nothing: what earlier runs left pending
}


# The tasks that talk to the network or open the database: only these can fail for a while and then
# work (the file locked by another run's load, a network error). Extraction is deterministic CPU work:
# running it again would fail again. A retried load validates again, which writes nothing.
RETRIED_TASKS = frozenset({"discover", "gather", "load", "cluster"})


def prefect_tasks(outer_clock: run.StepClock, body_clock: run.StepClock, settings: Settings) -> run.IngestTasks:
    """The run's plain tasks as Prefect tasks, each call timed by `outer_clock` and its body, inside
    the task run, by `body_clock`: the difference is what Prefect itself costs (task run creation, state
    reports), shown as `orchestration` in the summary.

    I/O tasks are retried on transient errors, `task_retries` times with a doubling delay.
    NO_CACHE: task inputs are large byte strings; hashing them for a cache key would cost more than the work.
    """
    retrying: dict[str, Any] = {}
    if settings.task_retries:
        retrying = {
            "retries": settings.task_retries,
            "retry_delay_seconds": [settings.task_retry_delay * 2**n for n in range(settings.task_retries)],
            "retry_condition_fn": failed_transiently,
        }
    tasks = {}
    for field, name in TASK_NAMES.items():
        body = getattr(run.PLAIN_TASKS, field)
        options = retrying if field in RETRIED_TASKS else {}
        prefect_task = task(name=name, cache_policy=NO_CACHE, **options)(timed(name, body, body_clock))
        tasks[field] = called_quoted(name, prefect_task, outer_clock)
    return run.IngestTasks(**tasks)


def called_quoted(name: str, prefect_task: Callable[..., Any], clock: run.StepClock) -> Callable[..., Any]:
    """Call a task, timed, with its arguments quoted: Prefect then hands them over as they are instead of
    walking every object in them for futures to resolve (36 ms for a batch of 200 pages, 5 ms quoted)."""

    def call(*args: Any) -> Any:
        return clock(name, prefect_task, *(quote(argument) for argument in args))

    call.task = prefect_task  # type: ignore[attr-defined]  # the Prefect task itself, for its options
    return call


def failed_transiently(_task: Any, _task_run: Any, state: State[Any]) -> bool:
    """Prefect's retry condition: the task raised an error worth trying again (tasks/errors.py's `transient`)."""
    return isinstance(state.data, BaseException) and is_transient(state.data)


def timed(name: str, body: Callable[..., Any], clock: run.StepClock) -> Callable[..., Any]:
    @functools.wraps(body)
    def timed_body(*args: Any) -> Any:
        return clock(name, body, *args)

    return timed_body


@flow(name="ingest", persist_result=False, log_prints=False)
def ingest_flow(
    inputs: list[str] | None = None,
    feeds: list[str] | None = None,
    sitemaps: list[str] | None = None,
    url_files: list[str] | None = None,
    source: str | None = None,
    since: date | None = None,
    until: date | None = None,
    max_articles: int | None = None,
    respect_tdm: bool = False,
    warc_lists: list[str] | None = None,
    domains: list[str] | None = None,
    languages: list[str] | None = None,
    sources: str | None = None,
    db: str | None = None,
    workers: int | None = None,
    dask_address: str | None = None,
    trigger: str | None = None,
) -> dict[str, Any]:
    """Ingest files, directories, globs, URLs, feeds, sitemaps and WARC files, or a source of the sources file,
    into the warehouse; returns the run id, status and counts. A run in which nothing could be fetched fails."""
    settings = Settings.from_env(
        db_path=Path(db) if db else None,
        workers=workers,
        sources_file=Path(sources) if sources else None,
        dask_address=dask_address,
    )
    request = run.build_request(
        inputs or [],
        feeds=feeds or [],
        sitemaps=sitemaps or [],
        url_files=url_files or [],
        source=source,
        since=since,
        until=until,
        max_articles=max_articles,
        respect_tdm=respect_tdm,
        warc_lists=warc_lists or [],
        domains=domains or [],
        languages=languages or [],
        settings=settings,
    )
    context = FlowRunContext.get()
    flow_run = context.flow_run if context else None
    if trigger is None:  # a deployment's run: started by its schedule, or by hand (UI, `newsdag trigger`)
        trigger = "schedule" if flow_run is not None and flow_run.auto_scheduled else "manual"
    outer_clock, body_clock = run.StepClock(), run.StepClock()
    progress_log = FlowProgressLog(flow_run.id if flow_run else None)
    run.PROGRESS_LISTENERS.append(progress_log)
    try:
        summary = run.run_ingest(
            request,
            settings,
            trigger=trigger,
            flow_run_id=str(flow_run.id) if flow_run else None,
            tasks=prefect_tasks(outer_clock, body_clock, settings),
        )
    finally:
        run.PROGRESS_LISTENERS.remove(progress_log)
    summary["orchestration"] = body_clock.overhead_of(outer_clock)
    report_summary(summary)
    if summary["status"] != "completed":
        raise RunFailed(summary)
    return summary


def run_from_command_line(**parameters: Any) -> dict[str, Any]:
    """The flow run `newsdag ingest` starts: the ingest flow, without heartbeats unless they are configured.

    Prefect 3.9 sends a flow run heartbeat event every 180 s by default, for an automation that marks runs
    of deployments crashed when they fall silent (docs.prefect.io/v3/advanced/detect-zombie-flows); the
    runs `newsdag serve` starts keep them. A command-line run goes without: the heartbeat thread cost each
    one a random 0-1 s at its end, Prefect waiting for it to wake from its 1-s sleep (bench/results.md,
    section 5). Such a run killed outright then stays Running in Prefect's UI (the `runs` table marks it
    crashed at the next newsdag run); heartbeats set in the environment or the Prefect profile, for runs
    from cron or systemd watched by that automation, are sent as configured.
    """
    with temporary_settings(set_defaults={"flows.heartbeat_frequency": None}):
        return ingest_flow(**parameters)


class FlowProgressLog:
    """A progress listener that logs one line per batch (done/total, rate, ETA) to the flow run's log.

    Listeners hear every run of the process; this one logs only what is reported from inside its own
    flow run (reports come from the flow's thread, in its context), so two flow runs in one process
    do not log each other's progress.
    """

    def __init__(self, flow_run_id: UUID | None) -> None:
        self.flow_run_id = flow_run_id
        self.lines = ProgressLines()

    def __call__(self, progress: run.Progress) -> None:
        context = FlowRunContext.get()
        if context is None or context.flow_run is None or context.flow_run.id != self.flow_run_id:
            return
        if line := self.lines.line(progress):
            get_run_logger().info("run %s: %s", progress.run_id, line)


def report_summary(summary: dict[str, Any]) -> None:
    """The counts in the flow run's log and as a table artifact on its page in the Prefect UI."""
    counts = {name: summary[name] for name in run.COUNT_NAMES}
    get_run_logger().info("run %s %s: %s", summary["run_id"], summary["status"], counts)
    if summary.get("flags_by_rule"):
        get_run_logger().info("run %s flagged articles by rule: %s", summary["run_id"], summary["flags_by_rule"])
    create_table_artifact(
        table=[{"count": name, "value": value} for name, value in counts.items()],
        key="ingest-summary",
        description=f"newsdag run {summary['run_id']}: {summary['status']}",
    )
