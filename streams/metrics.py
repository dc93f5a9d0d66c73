"""Counters a worker exposes: pages per stage, dead letters by reason, webhook outcomes."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from schemas.deadletter import DeadLetter

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Metrics:
    """Monotonic counters, rendered in the Prometheus text format."""

    started_at: float = field(default_factory=time.time)
    processed: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[tuple[str, str]] = field(default_factory=Counter)
    alerts: Counter[str] = field(default_factory=Counter)
    deliveries: Counter[tuple[str, str]] = field(default_factory=Counter)
    stage_process_restarts: int = 0
    _warned: set[tuple[str, str]] = field(default_factory=set)

    def dead_lettered(self, letter: DeadLetter) -> None:
        """Count a dead letter; log the first of each stage and reason, not one line per record."""
        kind = (letter.stage, letter.error_type.value)
        self.dead_letters[kind] += 1
        if kind not in self._warned:
            self._warned.add(kind)
            log.warning("dead-lettered %s at %s: %s (%s)", letter.source, letter.stage,
                        letter.error_type.value, letter.error)

    def render(self, lag: Mapping[tuple[str, int], int] | None = None) -> str:
        """All counters as Prometheus exposition text, with consumer lag per partition when given."""
        lines = [
            "# HELP wirewatch_pages_processed_total Records a stage processed successfully.",
            "# TYPE wirewatch_pages_processed_total counter",
            *(f'wirewatch_pages_processed_total{{stage="{s}"}} {n}' for s, n in sorted(self.processed.items())),
            "# HELP wirewatch_dead_letters_total Records rejected, by stage and reason.",
            "# TYPE wirewatch_dead_letters_total counter",
            *(f'wirewatch_dead_letters_total{{stage="{s}",reason="{r}"}} {n}'
              for (s, r), n in sorted(self.dead_letters.items())),
            "# HELP wirewatch_alerts_total Alert events produced, by kind.",
            "# TYPE wirewatch_alerts_total counter",
            *(f'wirewatch_alerts_total{{kind="{k}"}} {n}' for k, n in sorted(self.alerts.items())),
            "# HELP wirewatch_webhook_deliveries_total Webhook deliveries, by webhook and outcome.",
            "# TYPE wirewatch_webhook_deliveries_total counter",
            *(f'wirewatch_webhook_deliveries_total{{webhook="{w}",outcome="{o}"}} {n}'
              for (w, o), n in sorted(self.deliveries.items())),
            "# HELP wirewatch_stage_process_restarts_total Times the clean and tag process died and was replaced.",
            "# TYPE wirewatch_stage_process_restarts_total counter",
            f"wirewatch_stage_process_restarts_total {self.stage_process_restarts}",
            "# HELP wirewatch_consumer_lag Records not yet committed, by topic partition.",
            "# TYPE wirewatch_consumer_lag gauge",
            *(f'wirewatch_consumer_lag{{topic="{t}",partition="{p}"}} {n}'
              for (t, p), n in sorted((lag or {}).items())),
            "# HELP wirewatch_uptime_seconds Seconds since the worker started.",
            "# TYPE wirewatch_uptime_seconds gauge",
            f"wirewatch_uptime_seconds {time.time() - self.started_at:.1f}",
        ]
        return "\n".join(lines) + "\n"
