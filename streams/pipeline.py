"""The embedded engine: every stage in one process, no Kafka.

``wirewatch run`` and ``wirewatch replay --dry-run`` use it; the Faust agents call the same
stage objects one by one (see ``streams.agents``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from alerts.rules import evaluate
from alerts.suppression import StoryLedger
from schemas.alerts import Alert
from schemas.config import Settings
from schemas.deadletter import DeadLetter, Reason, Stage
from schemas.pages import CleanPage, RawPage, TaggedPage
from streams.clean import OutletTemplates, clean
from streams.decode import check_size
from streams.dedup import DedupIndex
from streams.errors import RejectedPage
from streams.tag import Tagger

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Processed:
    """A page that went through every stage, and what it raised."""

    tagged: TaggedPage
    alerts: list[Alert]


@dataclass(slots=True)
class RunStats:
    """Counts of a run, for the summary line and metrics."""

    pages: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    alerts: int = 0
    updates: int = 0

    def summary(self) -> str:
        """One line a person reads at a glance."""
        stories = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(self.statuses.items()))
        rejected = sum(self.rejected.values())
        reasons = f" ({', '.join(f'{n} {r}' for r, n in self.rejected.most_common())})" if rejected else ""
        return (
            f"{self.pages} pages: {stories or 'none processed'}; {rejected} rejected{reasons}; "
            f"{self.alerts} alerts, {self.updates} updates"
        )


class Pipeline:
    """Clean, deduplicate, tag and evaluate rules on pages, one at a time, in order.

    It owns the stage objects of one process; the streaming engine's steps (``streams.steps``)
    use the same objects stage by stage.

    Args:
        settings: the validated configuration.
        dedup_store: optional durable mapping for the dedup window (see ``DedupIndex``).
        ledger_store: optional durable mapping for story suppression (see ``StoryLedger``).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        dedup_store: MutableMapping[str, Any] | None = None,
        ledger_store: MutableMapping[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.templates = OutletTemplates()
        self._dedup_store = dedup_store
        self._dedup: DedupIndex | None = None
        self.tagger = Tagger(settings.watchlist, settings.keywords)
        self.ledger = StoryLedger(settings.alerts, settings.rules, ledger_store)
        self.stats = RunStats()
        self.warned: set[str] = set()

    @property
    def dedup(self) -> DedupIndex:
        """The dedup index, built on first use (in a worker: after Faust recovered its table)."""
        if self._dedup is None:
            self._dedup = DedupIndex(self.settings.dedup, self._dedup_store)
        return self._dedup

    def clean(self, raw: RawPage) -> CleanPage:
        """Stage 1: the article of a raw page (size limit checked first)."""
        check_size(raw, self.settings.limits.max_page_bytes)
        return clean(raw, self.templates)

    def alerts_for(self, tagged: TaggedPage) -> list[Alert]:
        """Stage 4: rules, then story suppression: what to send for this page."""
        return self.ledger.decide(tagged, evaluate(self.settings.rules, tagged))

    def process(self, raw: RawPage) -> Processed:
        """Run one page through every stage.

        Raises:
            RejectedPage: the page cannot be processed; its reason and stage say why and where.
        """
        stage: Stage = "clean"
        try:
            page = self.clean(raw)
            stage = "dedup"
            verdict = self.dedup.observe(page)
            stage = "tag"
            tagged = self.tagger.tag(page, verdict)
            stage = "rules"
            alerts = self.alerts_for(tagged)
        except RejectedPage as exc:
            exc.stage = exc.stage or stage
            raise
        except Exception as exc:
            raise internal_error(exc, stage, self.warned) from exc
        return Processed(tagged, alerts)

    def run(self, items: Iterable[RawPage | DeadLetter]) -> Iterator[Processed | DeadLetter]:
        """Process a stream of pages; rejected input comes out as dead letters, in order."""
        for item in items:
            self.stats.pages += 1
            if isinstance(item, DeadLetter):
                self.stats.rejected[item.error_type.value] += 1
                yield item
                continue
            result = self._process_or_reject(item)
            if isinstance(result, DeadLetter):
                self.stats.rejected[result.error_type.value] += 1
            else:
                self.stats.statuses[result.tagged.verdict.status] += 1
                for alert in result.alerts:
                    if alert.kind == "alert":
                        self.stats.alerts += 1
                    else:
                        self.stats.updates += 1
            yield result

    def _process_or_reject(self, raw: RawPage) -> Processed | DeadLetter:
        try:
            return self.process(raw)
        except RejectedPage as exc:
            return DeadLetter.of(raw.body, stage=exc.stage or "clean", error_type=exc.reason,
                                 error=exc.message, source=raw.source)


def internal_error(exc: Exception, stage: Stage, warned: set[str]) -> RejectedPage:
    """Turn an unexpected exception (a bug) into a dead-letter-able rejection, logged once per kind.

    A bug met by one page must not stop the stream or lose the page: it is dead-lettered with
    its traceback in the log, once per exception type and stage, not once per record.
    """
    kind = f"{stage}:{type(exc).__name__}"
    if kind not in warned:
        warned.add(kind)
        log.error("internal error in stage %s", stage, exc_info=exc)
    return RejectedPage(Reason.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}", stage)
