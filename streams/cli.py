"""The ``wirewatch`` command line.

``parse_args`` builds the argument namespace and nothing else; ``main`` reads the settings once,
runs the command, and turns wirewatch's own errors into one line on stderr and a non-zero exit
(no traceback for user mistakes).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TextIO

from pydantic import SecretStr

from schemas.alerts import Alert
from schemas.config import (
    BOOTSTRAP_ENV,
    CONFIG_ENV,
    DEFAULT_CONFIG_NAME,
    Settings,
    load_settings,
    resolve_webhook_secrets,
)
from schemas.deadletter import DeadLetter
from schemas.errors import WirewatchError
from schemas.pages import RawPage
from streams.pipeline import Pipeline, Processed
from streams.sources import read_pages

EXIT_OK = 0
EXIT_REJECTED_INPUT = 1
EXIT_USAGE = 2
LOG_LEVEL_ENV = "WIREWATCH_LOG_LEVEL"
WEB_PORT_ENV = "WIREWATCH_WEB_PORT"
DATA_DIR_ENV = "WIREWATCH_DATA_DIR"


class UsageError(WirewatchError):
    """A command-line or environment value is malformed."""

Command = Callable[[argparse.Namespace, Mapping[str, str]], int]


def _add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help=f"configuration file (env {CONFIG_ENV}; default ./{DEFAULT_CONFIG_NAME})",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="wirewatch",
        description="Clean news pages to the article, find near-duplicate stories, tag tracked actors, alert.",
    )
    parser.add_argument(
        "--log-level",
        default=None,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help=f"log verbosity on stderr (env {LOG_LEVEL_ENV}; default WARNING)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser(
        "run",
        help="run the embedded pipeline over files, folders, JSONL or WARC (no Kafka)",
        description="Run every stage in this process over the given inputs and print what fired.",
    )
    run.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                     help="files (.txt, .html, .json), folders, JSONL of RawPage, or WARC (default: seeds/)")
    _add_config_option(run)
    run.add_argument("--emit", choices=["alerts", "pages"], default="alerts",
                     help="print alerts (default) or one tagged page per input page")
    run.add_argument("--format", choices=["text", "jsonl"], default="text", dest="output_format",
                     help="text for people (default) or jsonl: one JSON object per line, nothing else on stdout")
    run.add_argument("--deliver", action="store_true",
                     help="also POST the alerts to the webhooks their rules notify (secrets from the environment)")

    worker = commands.add_parser(
        "worker",
        help="run the Faust agents against Kafka (a consumer group member)",
        description="Start the streaming pipeline: clean, dedup, tag, rules and webhook agents.",
    )
    _add_config_option(worker)
    worker.add_argument("--web-port", type=int, default=None, metavar="PORT",
                        help=f"port of the health and metrics endpoints (env {WEB_PORT_ENV}; default: disabled)")
    worker.add_argument("--data-dir", type=Path, default=None, metavar="DIR",
                        help=f"local state directory (env {DATA_DIR_ENV}; default ./.wirewatch-data)")
    worker.add_argument("--loop", choices=["uvloop", "aio"], default="uvloop",
                        help="event loop: uvloop (default; less CPU per record) or aio, the standard asyncio loop")

    ingest = commands.add_parser(
        "ingest",
        help="produce pages from files, folders, JSONL or WARC to Kafka",
        description="Produce RawPages to a topic (kafka-python), confirmed before exit. "
                    f"Broker from kafka.bootstrap in the config, or env {BOOTSTRAP_ENV}.",
    )
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    _add_config_option(ingest)
    ingest.add_argument("--topic", default=None, help="target topic (default: pages.raw, with the configured prefix)")
    ingest.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")

    replay = commands.add_parser(
        "replay",
        help="re-run history (files or a topic range) through today's config",
        description="Backtest rules on history. --dry-run (default) runs in this process with a fresh dedup "
                    "window and prints what would fire, with a diff against a baseline; --produce re-drives the "
                    "pages into pages.raw for the workers (their live dedup window and story ledger apply).",
    )
    replay.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="files, folders, JSONL or WARC")
    _add_config_option(replay)
    replay.add_argument("--topic", help="replay this topic instead of files (e.g. pages.raw, with the prefix)")
    replay.add_argument("--from", dest="start", metavar="POS",
                        help="first position: offset (123), per partition (0:120,1:98) or ISO time (2026-11-01T00:00Z)")
    replay.add_argument("--until", metavar="POS", help="stop before this position (same forms; default: the end now)")
    mode = replay.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="run in-process and print what would fire (default)")
    mode.add_argument("--produce", action="store_true", help="re-drive the pages into pages.raw for the workers")
    replay.add_argument("--to-topic", metavar="TOPIC", help="with --produce: target topic (default pages.raw)")
    replay.add_argument("--against", metavar="SOURCE",
                        help="baseline for the diff: a JSONL file of alerts, or 'topic' for the alerts topic "
                             "(default: 'topic' when replaying a topic, none for files)")
    replay.add_argument("--format", choices=["text", "jsonl"], default="text", dest="output_format",
                        help="text: a table per rule; jsonl: one alert per line with its diff status")
    replay.add_argument("--checkpoint", type=Path, default=Path(".wirewatch-replay.json"), metavar="FILE",
                        help="where the resume point is written when a replay stops (default .wirewatch-replay.json)")
    replay.add_argument("--resume", action="store_true", help="continue from the checkpoint file")
    replay.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")

    receiver = commands.add_parser(
        "demo-receiver",
        help="a webhook receiver that verifies signatures and prints what it gets (for demos and tests)",
    )
    receiver.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    receiver.add_argument("--port", type=int, default=9000, help="port (default 9000)")
    receiver.add_argument("--secret-env", default="WIREWATCH_WEBHOOK_SECRET", metavar="NAME",
                          help="environment variable holding the shared secret (default WIREWATCH_WEBHOOK_SECRET; "
                               "unset: signatures are not checked)")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line (``sys.argv[1:]`` when ``argv`` is None)."""
    return build_parser().parse_args(argv)


def resolve_config_path(option: Path | None, environ: Mapping[str, str]) -> Path:
    """The configuration file: ``--config``, else ``$WIREWATCH_CONFIG``, else ``./wirewatch.yml``."""
    if option is not None:
        return option
    from_env = environ.get(CONFIG_ENV)
    return Path(from_env) if from_env else Path(DEFAULT_CONFIG_NAME)


def load_config(args: argparse.Namespace, environ: Mapping[str, str]) -> Settings:
    """Read and validate the settings named by the command line or the environment, once."""
    return load_settings(resolve_config_path(args.config, environ))


def format_alert(alert: Alert, source: str | None = None) -> str:
    """An alert as a block a person reads at a glance."""
    actors = list(dict.fromkeys(m.name for m in alert.matched if m.type != "keyword"))
    keywords = list(dict.fromkeys(m.surface.lower() for m in alert.matched if m.type == "keyword"))
    headline = ", ".join(actors) or ", ".join(keywords)
    marker = "UPDATE" if alert.kind == "update" else alert.severity.upper()
    lines = [f"[{marker}] {alert.rule_id}: {headline}"]
    rows = [
        ("title", alert.title or "(no title)"),
        ("outlet", alert.outlet or "(unknown)"),
        ("published", alert.published_at.strftime("%Y-%m-%d %H:%M") if alert.published_at else "(unknown)"),
    ]
    if actors and keywords:
        rows.append(("keywords", ", ".join(keywords)))
    if alert.url or source:
        rows.append(("source", alert.url or source or ""))
    if alert.also_reported_by:
        rows.append(("also by", ", ".join(alert.also_reported_by)))
    rows.append(("snippet", alert.snippet))
    rows.append(("alert id", alert.alert_id))
    lines += [f"  {name:<10} {value}" for name, value in rows]
    return "\n".join(lines)


def _print_rejection(letter: DeadLetter, stderr: TextIO) -> None:
    print(f"wirewatch: {letter.source or '(input)'}: rejected at {letter.stage} "
          f"({letter.error_type.value}): {letter.error}", file=stderr)


def cmd_run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """``wirewatch run``: the embedded pipeline over files."""
    settings = load_config(args, environ)
    secrets = resolve_webhook_secrets(settings, environ) if args.deliver else {}
    paths = args.paths or [Path("seeds")]
    pipeline = Pipeline(settings)
    fired: list[Alert] = []
    stdout, stderr = sys.stdout, sys.stderr
    jsonl = args.output_format == "jsonl"
    printed = 0
    for result in pipeline.run(read_pages(paths, settings.limits.max_page_bytes)):
        if isinstance(result, DeadLetter):
            _print_rejection(result, stderr)
            continue
        printed += _emit(result, args.emit, jsonl, stdout, printed)
        if args.deliver:  # kept only to deliver: a long run must not hold every alert
            fired += result.alerts
    if not jsonl and args.emit == "alerts" and printed == 0:
        print("no alerts", file=stdout)
    print(f"wirewatch: {pipeline.stats.summary()}", file=stderr)
    failed = _deliver(fired, settings, secrets, stderr) if args.deliver else 0
    return EXIT_REJECTED_INPUT if pipeline.stats.rejected or failed else EXIT_OK


def _deliver(alerts: list[Alert], settings: Settings, secrets: Mapping[str, SecretStr], stderr: TextIO) -> int:
    """POST alerts to their webhooks; report failures on stderr; return how many failed."""
    from alerts.delivery import deliver_all  # noqa: PLC0415 - aiohttp is only needed with --deliver

    outcomes = deliver_all([a for a in alerts if a.notify], settings.webhooks, secrets)
    failed = [o for o in outcomes if not o.delivered]
    for outcome in failed:
        print(f"wirewatch: delivery failed: {outcome.error}", file=stderr)
    print(f"wirewatch: delivered {len(outcomes) - len(failed)} of {len(outcomes)} webhook posts", file=stderr)
    return len(failed)


def _emit(result: Processed, emit: str, jsonl: bool, stdout: TextIO, printed: int) -> int:
    if emit == "pages":
        page = result.tagged
        if jsonl:
            print(page.model_dump_json(), file=stdout)
        else:
            verdict = page.verdict
            names = sorted({m.name for m in page.mentions})
            print(f"{page.page.source or page.page.url}: {verdict.status} (story {verdict.cluster_id}, "
                  f"{verdict.cluster_size} in story) title={page.page.title!r} "
                  f"mentions={', '.join(names) or 'none'}", file=stdout)
        return 1
    for alert in result.alerts:
        if jsonl:
            print(alert.model_dump_json(), file=stdout)
        else:
            if printed:
                print(file=stdout)
            print(format_alert(alert, result.tagged.page.source), file=stdout)
        printed += 1
    return len(result.alerts)


def cmd_worker(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """``wirewatch worker``: the streaming engine."""
    from streams.worker import run_worker  # noqa: PLC0415 - keeps `wirewatch run` free of Faust start-up

    settings = load_config(args, environ)
    secrets = resolve_webhook_secrets(settings, environ)
    web_port = args.web_port if args.web_port is not None else _int_env(environ, WEB_PORT_ENV)
    data_dir = args.data_dir or Path(environ.get(DATA_DIR_ENV, ".wirewatch-data"))
    level = args.log_level or environ.get(LOG_LEVEL_ENV, "INFO")
    return run_worker(settings, environ, secrets, data_dir=data_dir, web_port=web_port, loglevel=level,
                      event_loop=args.loop)


def _int_env(environ: Mapping[str, str], name: str) -> int | None:
    value = environ.get(name)
    if not value:
        return None
    if not value.isdigit():
        raise UsageError(f"{name}={value!r}: expected a port number")
    return int(value)


def cmd_ingest(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """``wirewatch ingest``: produce pages to Kafka."""
    from streams.ingest import ingest  # noqa: PLC0415

    settings = load_config(args, environ)
    report = ingest(args.paths, settings, environ, topic=args.topic, stderr=sys.stderr,
                    progress=not args.no_progress)
    print(f"wirewatch: produced {report.produced} pages, {report.rejected} rejected", file=sys.stderr)
    return EXIT_REJECTED_INPUT if report.rejected else EXIT_OK


def cmd_replay(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """``wirewatch replay``: history through today's configuration."""
    from streams import replay as rp  # noqa: PLC0415 - kafka clients load only when needed

    settings = load_config(args, environ)
    if bool(args.topic) == bool(args.paths):
        raise UsageError("replay needs either PATH arguments or --topic, not both")
    if (args.start or args.until) and not args.topic:
        raise UsageError("--from/--until select a range of a topic; use them with --topic")
    progress = rp.Progress.load(args.checkpoint) if args.resume else rp.Progress()
    limit = settings.limits.max_page_bytes
    source = None
    if args.topic:
        source = rp.TopicRange(settings.kafka, environ, args.topic,
                               start=rp.Position.parse(args.start) if args.start else None,
                               until=rp.Position.parse(args.until) if args.until else None,
                               resume=progress.offsets)
        items = rp.pages_from_records(source.records(progress), args.topic, limit)
        total: int | None = source.total
    else:
        items = rp.skip_pages(read_pages(args.paths, limit), progress.pages)
        total = None
    against = args.against or ("topic" if args.topic else None)
    stderr = sys.stderr
    try:
        with rp.GracefulStop() as stop:
            def advanced() -> None:
                progress.pages += 1

            items = rp.until_stopped(items, stop, advanced)
            if args.produce:
                from streams.ingest import produce_pages  # noqa: PLC0415

                report = produce_pages(items, settings, environ, topic=args.to_topic, stderr=stderr,
                                       progress=not args.no_progress, total=total)
                rejected = report.rejected
                print(f"wirewatch: replayed {report.produced} pages into "
                      f"{args.to_topic or 'pages.raw'}, {report.rejected} rejected", file=stderr)
            else:
                rejected = _replay_dry_run(args, settings, environ, items, against=against, total=total)
            if stop.requested:
                args.checkpoint.write_text(progress.to_json(), encoding="utf-8")
                print(f"wirewatch: stopped after {progress.pages} pages; resume point written to "
                      f"{args.checkpoint} (run again with --resume)", file=stderr)
                return 130
    finally:
        if source is not None:
            source.close()
    if args.resume:
        args.checkpoint.unlink(missing_ok=True)
    return EXIT_REJECTED_INPUT if rejected else EXIT_OK


def _replay_dry_run(args: argparse.Namespace, settings: Settings, environ: Mapping[str, str],
                    items: Iterable[RawPage | DeadLetter], *, against: str | None, total: int | None) -> int:
    """Replay in-process; print alerts (and their diff against the baseline); return rejections."""
    from tqdm import tqdm  # noqa: PLC0415

    from streams import replay as rp  # noqa: PLC0415

    baseline: dict[str, Alert] | None = None
    if against == "topic":
        baseline = rp.topic_alerts(settings.kafka, environ, settings.kafka.topic_prefix + "alerts")
    elif against:
        try:
            with Path(against).open("rb") as handle:
                baseline = rp.read_alert_baseline(handle)
        except OSError as exc:
            raise UsageError(f"--against {against}: {exc.strerror or exc}") from None
    pipeline = Pipeline(settings)
    jsonl = args.output_format == "jsonl"
    stdout, stderr = sys.stdout, sys.stderr
    diff = rp.Diff(baseline) if baseline is not None else None
    table = rp.RuleTable()
    bar = tqdm(desc="replay", unit=" pages", file=stderr, total=total, disable=args.no_progress, dynamic_ncols=True)
    try:
        for result in pipeline.run(items):
            bar.update(1)
            if isinstance(result, DeadLetter):
                bar.clear()
                _print_rejection(result, stderr)
                continue
            if diff is not None:
                diff.page(result.tagged.page.doc_id)
            for alert in result.alerts:
                status = diff.alert(alert) if diff is not None else ""
                if jsonl:
                    extra = {"diff": status} if status else {}
                    print(json.dumps({**alert.model_dump(mode="json"), **extra}, ensure_ascii=False), file=stdout)
                else:
                    table.add(alert, status)
    finally:
        bar.close()
    gone = diff.gone() if diff is not None else []
    if jsonl:
        for alert in gone:
            print(json.dumps({**alert.model_dump(mode="json"), "diff": "gone"}, ensure_ascii=False), file=stdout)
    else:
        print(table.render(gone) or "no alerts", file=stdout)
    counts = f"; diff: {diff.new} new, {len(gone)} gone, {diff.same} same" if diff is not None else ""
    print(f"wirewatch: {pipeline.stats.summary()}{counts}", file=stderr)
    return sum(pipeline.stats.rejected.values())


def cmd_demo_receiver(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """``wirewatch demo-receiver``: print the alerts a webhook would get."""
    import asyncio  # noqa: PLC0415

    from alerts.receiver import serve  # noqa: PLC0415

    value = environ.get(args.secret_env)
    print(f"wirewatch: receiving on http://{args.host}:{args.port}/hook "
          f"({'verifying signatures' if value else 'signatures not checked: ' + args.secret_env + ' unset'})",
          file=sys.stderr, flush=True)
    asyncio.run(serve(args.host, args.port, SecretStr(value) if value else None))
    return EXIT_OK


COMMANDS: dict[str, Command] = {
    "run": cmd_run,
    "worker": cmd_worker,
    "ingest": cmd_ingest,
    "replay": cmd_replay,
    "demo-receiver": cmd_demo_receiver,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wirewatch`` console script."""
    args = parse_args(argv)
    environ = os.environ
    level = args.log_level or environ.get(LOG_LEVEL_ENV, "WARNING")
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        return COMMANDS[args.command](args, environ)
    except WirewatchError as exc:
        print(f"wirewatch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("wirewatch: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
