"""The embedded engine: batches through the stages give what page-by-page processing gives."""

from __future__ import annotations

import pytest

from bench.corpus import generate
from schemas.config import Settings
from schemas.deadletter import DeadLetter, Reason
from schemas.pages import RawPage
from streams.errors import RejectedPage
from streams.pipeline import Pipeline, Processed


def _outcome(result: Processed | DeadLetter) -> str:
    if isinstance(result, DeadLetter):
        return "rejected " + result.model_dump_json(exclude={"at"})
    alerts = "|".join(a.model_dump_json(exclude={"created_at"}) for a in result.alerts)
    return result.tagged.model_dump_json() + " => " + alerts


def _page_by_page(settings: Settings, items: list[RawPage | DeadLetter]) -> list[str]:
    pipeline = Pipeline(settings)
    out = []
    for item in items:
        if isinstance(item, DeadLetter):
            out.append(_outcome(item))
            continue
        try:
            out.append(_outcome(pipeline.process(item)))
        except RejectedPage as exc:
            out.append(_outcome(DeadLetter.of(item.body, stage=exc.stage or "clean", error_type=exc.reason,
                                              error=exc.message, source=item.source)))
    return out


@pytest.mark.parametrize("batch_size", [1, 5, 64])
def test_run_in_batches_gives_the_page_by_page_results_in_input_order(settings: Settings, batch_size: int) -> None:
    pages = [p.raw for p in generate(150, seed=3)]
    empty = pages[0].model_copy(update={"body": "   ", "url": "https://empty.example/1"})
    letter = DeadLetter.of(b"{not json", stage="clean", error_type=Reason.INVALID_JSON, error="not JSON")
    items: list[RawPage | DeadLetter] = [*pages[:60], empty, letter, *pages[60:], pages[10]]

    pipeline = Pipeline(settings)
    batched = [_outcome(r) for r in pipeline.run(items, batch_size=batch_size)]

    expected = _page_by_page(settings, items)
    assert batched == expected
    assert sum(line.startswith("rejected") for line in batched) == 2
    assert "exact_duplicate" in batched[-1]
    assert pipeline.stats.pages == len(items)
    assert sum(pipeline.stats.rejected.values()) == 2
    assert pipeline.stats.alerts > 0
