"""``wirewatch worker``: build the app, its agents and web pages, and run a Faust worker."""

from __future__ import annotations

import gc
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import faust
import mode.loop
from pydantic import SecretStr

from schemas.config import Settings
from streams.agents import register_pipeline_agents, register_webhook_agent
from streams.app import WirewatchApp, client_options, create_app, ensure_topics, ledger_changelog
from streams.exactly_once import ExactlyOnceRules, LedgerShards
from streams.metrics import Metrics
from streams.pipeline import Pipeline
from streams.stage_process import StageProcess
from streams.steps import StageSteps


def build_worker_app(
    settings: Settings,
    environ: Mapping[str, str],
    secrets: Mapping[str, SecretStr],
    *,
    data_dir: Path,
    web_port: int | None,
) -> tuple[WirewatchApp, Metrics]:
    """The Faust app with every agent and the rules stage attached, and the metrics they update."""
    w = create_app(settings, environ, data_dir=data_dir, web_port=web_port)
    metrics = Metrics()
    shards = LedgerShards()
    steps = StageSteps(Pipeline(settings, dedup_store=w.dedup_window, ledger_store=shards))
    # Pipeline by its name here: the benchmark's naive worker replaces it, for the helper too.
    helper = StageProcess(settings, metrics, Pipeline) if settings.worker.stage_process else None
    if helper is not None:
        helper.start_process()
    register_pipeline_agents(w, steps, metrics, helper)
    kafka, conf = settings.kafka, w.app.conf
    rules = ExactlyOnceRules(
        steps=steps, shards=shards, metrics=metrics, names=w.names, group_id=kafka.group_id,
        changelog=ledger_changelog(kafka.group_id), options=client_options(kafka, environ),
        max_fetch_bytes=conf.consumer_max_fetch_size,
        producer_options={"max_request_size": conf.producer_max_request_size,
                          "max_batch_size": conf.producer_max_batch_size,
                          "linger_ms": round(conf.producer_linger * 1000)},
        commit_interval_s=kafka.rules_commit_interval_ms / 1000,
    )

    async def start_services() -> None:  # started now, stopped with the app
        await w.app.add_runtime_dependency(rules)
        if helper is not None:
            await w.app.add_runtime_dependency(helper)

    w.app.task(start_services)
    if settings.webhooks:
        register_webhook_agent(w, settings.webhooks, secrets, metrics)

    if web_port is not None:
        @w.app.page("/wirewatch/metrics")
        async def metrics_page(web: Any, request: Any) -> Any:
            return web.text(metrics.render(consumer_lag(w.app) | rules.lag()), content_type="text/plain")

        @w.app.page("/wirewatch/health")
        async def health_page(web: Any, request: Any) -> Any:
            lag = consumer_lag(w.app) | rules.lag()
            return web.json({
                "status": "ok",
                "processed": dict(metrics.processed),
                "dead_letters": sum(metrics.dead_letters.values()),
                "consumer_lag": sum(lag.values()),
            })

    return w, metrics


def consumer_lag(app: faust.App) -> dict[tuple[str, int], int]:
    """Records behind the end of each assigned partition (end offset minus committed offset)."""
    monitor = app.monitor
    lag = {}
    for tp, end in (monitor.tp_end_offsets or {}).items():
        committed = (monitor.tp_committed_offsets or {}).get(tp)
        lag[(tp.topic, tp.partition)] = max(0, int(end) - int(committed if committed is not None else 0))
    return lag


def run_worker(
    settings: Settings,
    environ: Mapping[str, str],
    secrets: Mapping[str, SecretStr],
    *,
    data_dir: Path,
    web_port: int | None,
    loglevel: str,
    event_loop: str = "uvloop",
) -> int:
    """Run a worker until SIGTERM/SIGINT; Faust commits offsets and flushes producers on the way out.

    ``event_loop`` is a ``mode.loop`` name (``uvloop`` or ``aio``); it must be chosen before the
    app creates its loop.
    """
    mode.loop.use(event_loop)
    ensure_topics(settings, environ)
    w, _ = build_worker_app(settings, environ, secrets, data_dir=data_dir, web_port=web_port)
    worker = faust.Worker(w.app, loglevel=loglevel.lower(), redirect_stdouts=False)
    # Faust's terminal spinner sets the root logger to DEBUG, so every aiokafka debug call builds a
    # log record (about 4% of a worker's CPU); a worker is a service, not a terminal program.
    worker.spinner = None
    gc.freeze()  # what is built so far lives as long as the worker: no collection needs to walk it
    worker.execute_from_commandline()
    return 0
