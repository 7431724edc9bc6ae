"""Scheduled and manual runs through a Prefect server: `newsdag server`, `newsdag serve`, `newsdag trigger`.

`serve` registers one deployment of the ingest flow per source of the sources file, named
`ingest/<source>`, with the source's cron or interval schedule, and runs its flow runs until
stopped. `trigger` starts a run of such a deployment (what "Quick run"/"Custom run" does in the UI).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from newsdag.flows.settings import PREFECT_PRIVACY_DEFAULTS, Settings
from newsdag.tasks.errors import ConfigError, NewsdagError
from newsdag.tasks.sources import Source, load_sources

FLOW_NAME = "ingest"
DEFAULT_SERVER_HOST = "127.0.0.1"
DEFAULT_SERVER_PORT = 4200
# What `newsdag trigger --param key=value` may set, and how each value is read.
TRIGGER_PARAMETERS = ("since", "until", "max_articles", "workers")


def prefect_environment() -> dict[str, str]:
    return {**PREFECT_PRIVACY_DEFAULTS, **os.environ}


def require_server() -> str:
    """The API URL of the Prefect server to use; schedules and triggers need a running one."""
    url = os.environ.get("PREFECT_API_URL")
    if not url:
        raise ConfigError(
            "no Prefect server: start one with `newsdag server` and "
            f"`export PREFECT_API_URL=http://{DEFAULT_SERVER_HOST}:{DEFAULT_SERVER_PORT}/api`",
            subject="PREFECT_API_URL",
        )
    return url


# Signals that end `newsdag server` (systemd and `kill` send SIGTERM, a closed terminal SIGHUP): each is passed
# on to the Prefect server, which is then waited for, so none leaves it running on the port.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def run_server(host: str, port: int) -> int:
    """A local Prefect server (analytics off) in the foreground until Ctrl-C or SIGTERM; returns its exit status."""
    print(f"Prefect UI: http://{host}:{port}", flush=True)
    print(f"in other terminals: export PREFECT_API_URL=http://{host}:{port}/api", flush=True)
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)]
    server = subprocess.Popen(command, env=prefect_environment())

    def stop(number: int, _frame: object) -> None:
        server.send_signal(number if number != signal.SIGHUP else signal.SIGTERM)

    previous = {number: signal.signal(number, stop) for number in STOP_SIGNALS}
    try:
        return server.wait()
    except KeyboardInterrupt:  # Ctrl-C reached the server too (one process group); it stops by itself
        server.terminate()
        return server.wait()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def deployment_parameters(source: Source, settings: Settings, export_to: Path | None = None) -> dict[str, Any]:
    """The parameters a run of the source's deployment gets unless a trigger overrides them.

    Absolute paths: the runs execute in processes of their own, wherever `serve` was started.
    max_articles, since and until are spelled out (the source's cap, no date window) so that
    "Custom run" in the Prefect UI shows what a run will do and what can be changed; so is export_to,
    the directory each completed run exports to (`serve --export DIR`; None: no export). Networks allowed
    with `serve --allow-network` (or NEWSDAG_ALLOW_NETWORKS) are a parameter too, shown in the UI.
    """
    parameters: dict[str, Any] = {
        "source": source.name,
        "sources": str(Path(settings.sources_file).resolve()),
        "db": str(Path(settings.db_path).resolve()),
        "max_articles": source.max_articles,
        "since": None,
        "until": None,
        "export_to": str(export_to.resolve()) if export_to else None,
    }
    if settings.allow_networks:
        parameters["allow_networks"] = list(settings.allow_networks)
    return parameters


def deployment_tags(source: Source) -> list[str]:
    """`newsdag`, `source:<name>`, then the source's own tags (to filter runs by in the UI)."""
    return list(dict.fromkeys(["newsdag", f"source:{source.name}", *source.tags]))


def source_deployments(sources: Sequence[Source], settings: Settings, export_to: Path | None = None) -> list[Any]:
    from newsdag.flows.ingest import ingest_flow  # Prefect is imported only by the commands that need it

    deployments = []
    for source in sources:
        schedule: dict[str, Any] = {}
        if source.schedule_cron:
            schedule["cron"] = source.schedule_cron
        elif source.interval_seconds:
            schedule["interval"] = source.interval_seconds
        deployments.append(
            ingest_flow.to_deployment(
                name=source.name,
                parameters=deployment_parameters(source, settings, export_to),
                tags=deployment_tags(source),
                description=f"Ingest the source {source.name!r} of {settings.sources_file}",
                **schedule,
            )
        )
    return deployments


def serve_sources(settings: Settings, export_to: Path | None = None, notify_url: str | None = None) -> None:
    """Register a deployment per source (and, with `notify_url`, the drift automation) and run their scheduled
    and triggered flow runs until Ctrl-C; with `export_to`, each completed run then exports what it added to
    that directory."""
    require_server()
    sources = load_sources(settings.sources_file)
    if not sources:
        raise ConfigError("declares no source", subject=str(settings.sources_file))
    from prefect import serve

    if notify_url:
        register_drift_automation(notify_url)
    serve(*source_deployments(sources, settings, export_to))


DRIFT_AUTOMATION = "newsdag source drift"
DRIFT_BLOCK = "newsdag-drift"


def register_drift_automation(notify_url: str) -> UUID:
    """The automation that turns each `newsdag.source.drift` event into a notification: a Custom Webhook
    notification block `newsdag-drift` that POSTs `{"subject": ..., "body": ...}` as JSON to `notify_url` (a
    chat webhook, an alerting relay), and the automation `newsdag source drift` that sends it. Both are replaced
    when they exist, so restarting serve with another URL leaves one of each. Works on a self-hosted server.
    """
    from prefect import get_client
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.events.actions import SendNotification
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

    from newsdag.flows.ingest import DRIFT_EVENT

    block = CustomWebhookNotificationBlock(
        name=DRIFT_BLOCK, url=notify_url, json_data={"subject": "{{subject}}", "body": "{{body}}"}
    )
    block_id = block.save(DRIFT_BLOCK, overwrite=True)
    automation = AutomationCore(
        name=DRIFT_AUTOMATION,
        description="newsdag: a source's run crossed a drift threshold against its own baseline (tasks/health.py)",
        trigger=EventTrigger(
            expect={DRIFT_EVENT},
            match={"prefect.resource.id": "newsdag.source.*"},
            posture=Posture.Reactive,
            threshold=1,
            within=timedelta(0),
        ),
        actions=[
            SendNotification(
                block_document_id=block_id,
                subject="newsdag: source {{ event.resource.name }} drifted",
                body="{{ event.payload.message }} (source {{ event.resource.name }}, run {{ event.payload.run_id }})",
            )
        ],
    )
    with get_client(sync_client=True) as client:
        for existing in client.read_automations_by_name(DRIFT_AUTOMATION):
            client.delete_automation(existing.id)
        return client.create_automation(automation)


def parse_parameters(pairs: Sequence[str]) -> dict[str, Any]:
    """`key=value` pairs as flow parameters; a clear error for an unknown key or a bad value."""
    parameters: dict[str, Any] = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not separator:
            raise ConfigError(f"expected key=value, got {pair!r}", subject="--param")
        if key not in TRIGGER_PARAMETERS:
            raise ConfigError(f"unknown parameter {key!r}; known: {', '.join(TRIGGER_PARAMETERS)}", subject="--param")
        try:
            if key in ("since", "until"):
                parameters[key] = date.fromisoformat(value).isoformat()
            else:
                parameters[key] = int(value)
                if parameters[key] < 1:
                    raise ValueError("must be at least 1")
        except ValueError as error:
            raise ConfigError(f"bad value for {key}: {value!r} ({error})", subject="--param") from None
    return parameters


class TriggerFailed(NewsdagError):
    """A triggered run could not be started, or ended in a state other than Completed."""


def trigger_source(source: str, parameters: dict[str, Any]) -> Any:
    """Start a run of the served deployment `ingest/<source>`; the flow run, scheduled to start now."""
    require_server()
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    try:
        return run_deployment(
            name=f"{FLOW_NAME}/{source}", parameters=parameters, timeout=0, as_subflow=False, tags=["manual"]
        )
    except ObjectNotFound:
        raise ConfigError(
            f"no deployment {FLOW_NAME}/{source}: is `newsdag serve` running with a source of that name?",
            subject=source,
        ) from None


# How often `trigger --wait` asks the server for the run's state: a state change shows within a second.
FOLLOW_POLL_SECONDS = 1.0


def flow_run_url(flow_run_id: Any) -> str:
    """The run's page in the Prefect UI (PREFECT_UI_URL, else the API URL without its /api)."""
    ui = os.environ.get("PREFECT_UI_URL") or require_server().rstrip("/").removesuffix("/api")
    return f"{ui.rstrip('/')}/runs/flow-run/{flow_run_id}"


def follow_flow_run(flow_run: Any, on_state: Callable[[Any], None]) -> Any:
    """Poll the flow run until it ends, calling `on_state` with the run at each change of state (Scheduled,
    Pending, Running, ...); the run in its final state."""
    from prefect import get_client

    seen = None
    with get_client(sync_client=True) as client:
        while True:
            flow_run = client.read_flow_run(flow_run.id)
            state = flow_run.state
            if state is not None and state.name != seen:
                seen = state.name
                on_state(flow_run)
            if state is not None and state.is_final():
                return flow_run
            time.sleep(FOLLOW_POLL_SECONDS)
