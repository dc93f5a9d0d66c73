"""Embedded rows: pages/s and peak RSS of each stage and of the whole pipeline, ours and naive.

Inputs of each stage (cleaned pages, verdicts, tagged pages) are prepared once in the parent;
every measurement then runs in its own forked child with a fresh pipeline, so its peak RSS is
the stage's own state and garbage, not what earlier measurements left behind.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.measure import Rate, in_child, timed_loop
from bench.naive import NaivePipeline
from schemas.config import Settings
from schemas.pages import CleanPage, DedupVerdict, RawPage, TaggedPage
from streams.errors import RejectedPage
from streams.pipeline import Pipeline

STAGES = ("clean", "dedup", "tag", "rules", "pipeline")


@dataclass(frozen=True)
class Prepared:
    """Each stage's input, computed once with our pipeline."""

    raws: list[RawPage]
    cleaned: list[CleanPage]
    verdicts: list[DedupVerdict]
    tagged: list[TaggedPage]
    rejected: int


def prepare(settings: Settings, raws: Sequence[RawPage]) -> Prepared:
    """Run our stages once over ``raws`` and keep every intermediate result."""
    pipeline = Pipeline(settings)
    cleaned: list[CleanPage] = []
    rejected = 0
    kept: list[RawPage] = []
    for raw in raws:
        try:
            cleaned.append(pipeline.clean(raw))
            kept.append(raw)
        except RejectedPage:
            rejected += 1
    verdicts = [pipeline.dedup.observe(page) for page in cleaned]
    tagged = [pipeline.tagger.tag(page, verdict) for page, verdict in zip(cleaned, verdicts, strict=True)]
    return Prepared(list(raws), cleaned, verdicts, tagged, rejected)


def _pipeline(settings: Settings, naive: bool) -> Pipeline:
    """A pipeline with every stage built, so that set-up stays out of the timed loops."""
    pipeline = NaivePipeline(settings) if naive else Pipeline(settings)
    _ = pipeline.dedup  # built on first use otherwise (its LSH banding takes ~10 ms to choose)
    return pipeline


def _run_stage(stage: str, settings: Settings, prepared: Prepared, count: int, naive: bool) -> dict[str, Any]:
    pipeline = _pipeline(settings, naive)
    extra: dict[str, Any] = {}
    step: Callable[[Any], object]
    items: list[Any]
    if stage == "clean":
        def clean(raw: RawPage) -> object:
            try:
                return pipeline.clean(raw)
            except RejectedPage:
                return None
        step, items = clean, prepared.raws[:count]
    elif stage == "dedup":
        statuses: Counter[str] = Counter()

        def observe(page: CleanPage) -> object:
            verdict = pipeline.dedup.observe(page)
            statuses[verdict.status] += 1
            return verdict
        step, items = observe, prepared.cleaned[:count]
        extra["statuses"] = statuses
    elif stage == "tag":
        def tag(pair: tuple[CleanPage, DedupVerdict]) -> object:
            return pipeline.tagger.tag(*pair)
        step, items = tag, list(zip(prepared.cleaned[:count], prepared.verdicts[:count], strict=True))
    elif stage == "rules":
        step, items = pipeline.alerts_for, prepared.tagged[:count]
    else:
        def consume(raws: list[RawPage]) -> object:
            for _ in pipeline.run(raws):
                pass
            return None
        _, seconds = timed_loop(consume, [prepared.raws[:count]])
        return {"items": count, "seconds": seconds, "summary": pipeline.stats.summary(),
                "statuses": dict(pipeline.stats.statuses)}
    items_done, seconds = timed_loop(step, items)
    return {"items": items_done, "seconds": seconds, **{k: dict(v) for k, v in extra.items()}}


def measure(settings: Settings, prepared: Prepared, log: Callable[[str], None],
            repeats: int = 2) -> dict[str, dict[str, Any]]:
    """Every stage and the whole pipeline over the prepared pages, ours and naive.

    Each is run ``repeats`` times (ours and naive interleaved, so a burst of load elsewhere on the
    machine hits both alike) and the fastest run counts, with the largest peak RSS of the runs.
    """
    results: dict[str, dict[str, Any]] = {"ours": {}, "naive": {}}
    count = len(prepared.raws)
    for stage in STAGES:
        for attempt in range(repeats):
            for who, naive in (("ours", False), ("naive", True)):
                child = in_child(_run_stage, stage, settings, prepared, count, naive)
                value = child.value
                best = results[who].get(stage)
                peak = max(child.peak_rss_delta, best["peak_rss"] if best else 0)
                if best is None or value["seconds"] < best["seconds"]:
                    best = {**value, "pages_per_s": Rate(value["items"], value["seconds"]).per_s}
                best["peak_rss"] = peak
                best["runs"] = [*(results[who][stage]["runs"] if stage in results[who] else []), value["seconds"]]
                results[who][stage] = best
                log(f"embedded {who:5} {stage:8} run {attempt + 1}: {value['items'] / value['seconds']:9.1f} pages/s"
                    f"  peak RSS +{child.peak_rss_delta / 2**20:.1f} MB  ({value['items']} pages in "
                    f"{value['seconds']:.1f} s)")
    return results
