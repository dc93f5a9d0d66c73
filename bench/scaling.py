"""Scaling rows: tagging time against watchlist size, dedup index memory against window size.

Each measurement runs in a forked child (see :mod:`bench.measure`), so a 100,000-alias tagger or
a 100,000-page window is built, measured and thrown away without touching the parent.
"""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bench.corpus import EPOCH
from bench.measure import in_child, rss_bytes, timed_budget, timed_loop
from bench.naive import NaiveDedup, NaiveTagger
from schemas.config import DedupConfig, WatchEntity
from schemas.pages import CleanPage, DedupVerdict
from streams.dedup import DedupIndex
from streams.tag import Tagger

_ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "ch", "sh", "br", "kr", "tr",
           "dr", "gr", "st", "h", "j", "y", "w", "th", "pl", "gl", "sl"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ei", "ou", "ia", "eo"]
_CODAS = ["", "", "", "n", "r", "l", "s", "k", "m", "t", "x"]
_ORG_WORDS = ["Group", "Holdings", "Front", "Brigade", "Company", "Movement", "Council", "Trading", "Bank",
              "Foundation", "Network", "Partners", "Union", "Alliance", "Industries"]
ALIASES_PER_ENTITY = 4

# An entity the corpus mentions, so every watchlist size has real hits to check.
KHAZALI = WatchEntity(id="qais-al-khazali", name="Qais al-Khazali", type="person", aliases=["Qais Khazali", "Khazali"])


def fake_word(rng: random.Random) -> str:
    """A pronounceable made-up name word ("Kraivon", "Dreistul")."""
    syllables = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(rng.randint(2, 3)))
    return (syllables + rng.choice(_CODAS)).capitalize()


def fake_entity(rng: random.Random) -> tuple[str, list[str], str]:
    """A made-up person or organisation: (name, three aliases, type)."""
    if rng.random() < 0.6:
        first, last = fake_word(rng), fake_word(rng)
        return f"{first} {last}", [f"{first} {fake_word(rng)} {last}", last, f"{first[0]}. {last}"], "person"
    word, kind = fake_word(rng), rng.choice(_ORG_WORDS)
    return f"{word} {kind}", [f"The {word} {kind}", word, f"{word} {fake_word(rng)} {kind}"], "organization"


def watchlist_of(aliases: int, seed: int = 11) -> list[WatchEntity]:
    """A watchlist with exactly ``aliases`` names and aliases: Khazali's 3, then made-up entities of 4."""
    rng = random.Random(seed)
    entities = [KHAZALI]
    remaining = aliases - len(KHAZALI.alias_specs())
    while remaining > 0:
        name, more, kind = fake_entity(rng)
        more = more[: min(ALIASES_PER_ENTITY, remaining) - 1]
        entities.append(WatchEntity(id=f"fake-{len(entities)}", name=name, type=kind, aliases=more))
        remaining -= 1 + len(more)
    return entities


def _tag_child(aliases: int, pages: list[CleanPage], verdicts: list[DedupVerdict], naive: bool,
               budget_s: float) -> dict[str, Any]:
    watchlist = watchlist_of(aliases)
    started = time.perf_counter()
    tagger: Tagger | NaiveTagger = NaiveTagger(watchlist) if naive else Tagger(watchlist)
    build_s = time.perf_counter() - started
    pairs = list(zip(pages, verdicts, strict=True))

    def step(pair: tuple[CleanPage, DedupVerdict]) -> object:
        return tagger.tag(*pair)

    if naive:
        count, seconds = timed_budget(step, pairs, budget_s)
    else:  # fast and short: the best of three passes, so a burst of load elsewhere does not decide the ratio
        count, seconds = min((timed_loop(step, pairs) for _ in range(3)), key=lambda run: run[1])
    return {"aliases": aliases, "pages": count, "seconds": seconds, "build_s": build_s}


def tag_scaling(counts: list[int], pages: list[CleanPage], verdicts: list[DedupVerdict], naive_budget_s: float,
                log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Per alias count: ms/page of ours (every page) and of naive regex (pages within a time budget)."""
    rows = []
    for aliases in counts:
        ours = in_child(_tag_child, aliases, pages, verdicts, False, 0.0).value
        log(f"tag scaling {aliases:,} aliases: ours {1000 * ours['seconds'] / ours['pages']:.2f} ms/page "
            f"(build {ours['build_s']:.1f} s)")
        naive = in_child(_tag_child, aliases, pages, verdicts, True, naive_budget_s).value
        log(f"tag scaling {aliases:,} aliases: naive {1000 * naive['seconds'] / naive['pages']:.2f} ms/page "
            f"on {naive['pages']} pages (compile {naive['build_s']:.1f} s)")
        rows.append({"aliases": aliases, "ours": ours, "naive": naive})
    return rows


def distinct_pages(count: int, seed: int = 5, words_per_page: int = 20) -> list[CleanPage]:
    """``count`` short pages with unrelated bodies, one second apart (all inside a 7-day window)."""
    rng = random.Random(seed)
    vocabulary = [f"{fake_word(rng).lower()}{i}" for i in range(20_000)]
    return [
        CleanPage(doc_id=f"doc-{i}", url=f"https://distinct.example/{i}", fetched_at=EPOCH + timedelta(seconds=i),
                  body=" ".join(rng.choices(vocabulary, k=words_per_page)))
        for i in range(count)
    ]


def _memory_child(count: int, naive: bool, config: DedupConfig) -> dict[str, Any]:
    pages = distinct_pages(count)
    index: DedupIndex | NaiveDedup = NaiveDedup(config) if naive else DedupIndex(config)
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    for page in pages:
        index.observe(page)
    seconds = time.perf_counter() - started
    gc.collect()
    after = rss_bytes()
    return {"pages": count, "in_window": len(index), "bytes": after - before, "seconds": seconds}


def dedup_memory(counts: list[int], config: DedupConfig, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Per window size: RSS growth of ours and of the naive index per page held, in a child each."""
    rows = []
    for count in counts:
        row: dict[str, Any] = {"pages": count}
        for name, naive in (("ours", False), ("naive", True)):
            result = in_child(_memory_child, count, naive, config).value
            row[name] = result
            log(f"dedup memory {count:,} pages: {name} {result['bytes'] / max(1, result['in_window']):,.0f} B/page "
                f"({result['seconds']:.1f} s to fill)")
        rows.append(row)
    return rows
