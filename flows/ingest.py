"""The Prefect ingest flow: the tasks of flows/run.py, each on a whole batch, one flow run per ingest."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect import flow, get_client, get_run_logger, tags, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.settings import temporary_settings
from prefect.states import State
from prefect.utilities.annotations import quote

from newsdag.flows import run
from newsdag.flows.progress import ProgressLines
from newsdag.flows.report import run_artifact
from newsdag.flows.settings import Settings
from newsdag.tasks.errors import RunFailed, is_transient
from newsdag.tasks.models import COUNT_NAMES

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
    export_to: str | None = None,
    allow_networks: list[str] | None = None,
) -> dict[str, Any]:
    """Ingest files, directories, globs, URLs, feeds, sitemaps and WARC files, or a source of the sources file,
    into the warehouse; returns the run id, status and counts. A run in which nothing could be fetched fails.
    With `export_to`, a completed run then exports what is new to that directory (`export` in the result).
    `allow_networks`: the non-public networks fetching may reach (`--allow-network`), in place of
    NEWSDAG_ALLOW_NETWORKS when given."""
    settings = Settings.from_env(
        db_path=Path(db) if db else None,
        workers=workers,
        sources_file=Path(sources) if sources else None,
        dask_address=dask_address,
        allow_networks=tuple(allow_networks) if allow_networks else None,
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
    run_id = run.new_run_id(datetime.now(UTC))
    if flow_run is not None:
        name_flow_run(flow_run.id, f"{request.source}-{run_id}")
    outer_clock, body_clock = run.StepClock(), run.StepClock()
    summary = run.run_ingest(
        request,
        settings,
        trigger=trigger,
        flow_run_id=str(flow_run.id) if flow_run else None,
        tasks=prefect_tasks(outer_clock, body_clock, settings),
        run_id=run_id,
        progress=FlowProgressLog(flow_run.id if flow_run else None),
    )
    summary["orchestration"] = body_clock.overhead_of(outer_clock)
    report_summary(summary, request.source, settings)
    if summary["status"] != "completed":
        raise RunFailed(summary)
    if export_to:
        exported = export_task(settings)(settings, Path(export_to))
        summary["export"] = asdict(exported)
        get_run_logger().info(
            "run %s exported to %s: export %s, rows %s", summary["run_id"], export_to, exported.export, exported.rows
        )
    return summary


def export_task(settings: Settings) -> Callable[..., Any]:
    """The export after a run, as a Prefect task: retried like the run's I/O tasks when the warehouse or the
    export directory stayed busy (another run's load, another run's export)."""
    options: dict[str, Any] = {}
    if settings.task_retries:
        options = {
            "retries": settings.task_retries,
            "retry_delay_seconds": [settings.task_retry_delay * 2**n for n in range(settings.task_retries)],
            "retry_condition_fn": failed_transiently,
        }
    return task(name="export", cache_policy=NO_CACHE, **options)(run.export_warehouse)


def name_flow_run(flow_run_id: UUID, name: str) -> None:
    """Name the flow run `<source>-<run_id>`, as the runs table knows it (Prefect's own names are random)."""
    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run(flow_run_id, name=name)
    except Exception as error:  # a name is a convenience: a server that refuses it must not cost the run
        get_run_logger().warning("flow run not renamed to %s: %s", name, error)


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
    # Tagged like a deployment's runs, so the UI's filter by `source:<name>` finds command-line runs too.
    source = parameters.get("source") or "cli"
    with temporary_settings(set_defaults={"flows.heartbeat_frequency": None}), tags("newsdag", f"source:{source}"):
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


DRIFT_EVENT = "newsdag.source.drift"


def artifact_key(source: str) -> str:
    """`newsdag-run-<source>`: Prefect keys hold lowercase letters, digits and dashes only."""
    return "newsdag-run-" + re.sub(r"[^a-z0-9-]+", "-", source.lower())


def report_summary(summary: dict[str, Any], source: str, settings: Settings) -> None:
    """The counts in the flow run's log; the run's markdown artifact (key `newsdag-run-<source>`: its latest
    version is the source's latest run); and an event per drift alert, for automations to notify on."""
    logger = get_run_logger()
    counts = {name: summary[name] for name in COUNT_NAMES}
    logger.info("run %s %s: %s", summary["run_id"], summary["status"], counts)
    if summary.get("flags_by_rule"):
        logger.info("run %s flagged articles by rule: %s", summary["run_id"], summary["flags_by_rule"])
    for alert in summary.get("alerts") or []:
        logger.warning("run %s: source %s drifted: %s", summary["run_id"], source, alert["message"])
        emit_drift_event(source, alert)
    create_markdown_artifact(
        markdown=run_artifact(settings, summary, source),
        key=artifact_key(source),
        description=f"newsdag run {summary['run_id']} of {source}: {summary['status']}",
    )


def emit_drift_event(source: str, alert: Mapping[str, Any]) -> None:
    """`newsdag.source.drift` about the resource `newsdag.source.<name>`, with the alert's figures as payload
    (the flow run is related to it by Prefect's run context)."""
    from prefect.events import emit_event

    emit_event(
        event=DRIFT_EVENT,
        resource={"prefect.resource.id": f"newsdag.source.{source}", "prefect.resource.name": source},
        payload={name: alert[name] for name in ("run_id", "metric", "value", "baseline", "threshold", "message")}
        | {"baseline_runs": alert["baseline_runs"]},
    )


class OneLineFailures(logging.Filter):
    """A failure logged with its traceback by Prefect's flow or task engine becomes one line at ERROR (the
    reason: what failed, on what), and the traceback goes to DEBUG. The reason is what a person reads in the UI
    and in `newsdag ingest`; the traceback is for a developer, who sets PREFECT_LOGGING_LEVEL=DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR or not record.exc_info or record.exc_info[1] is None:
            return True
        error = record.exc_info[1]
        message = record.getMessage()
        if message.startswith("Encountered exception during execution"):  # the flow engine's words
            message = f"flow run failed: {type(error).__name__}: {error}"
        traceback = logging.makeLogRecord(
            {**record.__dict__, "levelno": logging.DEBUG, "levelname": "DEBUG", "msg": "traceback:", "args": ()}
        )
        record.msg, record.args = " ".join(message.split()), ()
        record.exc_info, record.exc_text = None, None
        logging.getLogger(record.name).handle(traceback)
        return True


ONE_LINE_FAILURES = OneLineFailures()
for logger_name in ("prefect.flow_runs", "prefect.task_runs"):
    logging.getLogger(logger_name).addFilter(ONE_LINE_FAILURES)
