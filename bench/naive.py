"""The naive baseline the figures are divided by: what one writes first with the usual libraries.

* Dedup: one ``datasketch.MinHash(num_perm=128)`` per page with the library's defaults (its
  own permutations, SHA-1 per element), updated shingle by shingle with the same 3-word
  shingles of the cleaned body, and a ``MinHashLSH(threshold=0.5, num_perm=128)`` queried then
  inserted; candidates are compared with ``MinHash.jaccard``. No window, no eviction.
* Tagging: one compiled ``re`` pattern per alias and keyword term
  (``\\b`` + escaped text + ``\\b``, IGNORECASE), each run over title, body and every comment.
* Cleaning and rules: the same code as ours (``Pipeline.clean``, ``evaluate`` + ``StoryLedger``).
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from datasketch import MinHash, MinHashLSH

from schemas.config import DedupConfig, Keyword, Settings, WatchEntity
from schemas.pages import CleanPage, DedupVerdict, Field_, Mention, MentionType, Nearest, TaggedPage
from streams.dedup import words
from streams.pipeline import Pipeline


def shingles(text: str, size: int = 3) -> list[str]:
    """The ``size``-word shingles of ``text`` as strings (the same words ours hashes)."""
    tokens = words(text)
    if len(tokens) <= size:
        return [" ".join(tokens)] if tokens else []
    return [" ".join(tokens[i : i + size]) for i in range(len(tokens) - size + 1)]


class NaiveDedup:
    """Near-duplicate detection the straightforward way (see the module docstring)."""

    def __init__(self, config: DedupConfig) -> None:
        self.config = config
        self._lsh = MinHashLSH(threshold=config.threshold, num_perm=config.num_perm)
        self._entries: dict[str, tuple[str, MinHash]] = {}
        self._cluster_sizes: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def observe(self, page: CleanPage, signature: Any = None) -> DedupVerdict:
        """As ``DedupIndex.observe``; a ``signature`` given is not used."""
        known = self._entries.get(page.doc_id)
        if known is not None:
            return DedupVerdict(status="exact_duplicate", cluster_id=known[0],
                                nearest=Nearest(doc_id=page.doc_id, jaccard=1.0),
                                cluster_size=self._cluster_sizes.get(known[0], 1))
        m = MinHash(num_perm=self.config.num_perm)
        for shingle in shingles(page.body, self.config.shingle_words):
            m.update(shingle.encode())
        best_id: str | None = None
        best = 0.0
        for key in self._lsh.query(m):
            score = float(m.jaccard(self._entries[key][1]))
            if score > best:
                best_id, best = key, score
        if best_id is not None and best >= self.config.threshold:
            cluster_id, status = self._entries[best_id][0], "near_duplicate"
        else:
            cluster_id, status = page.doc_id, "new"
        self._lsh.insert(page.doc_id, m)
        self._entries[page.doc_id] = (cluster_id, m)
        self._cluster_sizes[cluster_id] = self._cluster_sizes.get(cluster_id, 0) + 1
        nearest = Nearest(doc_id=best_id, jaccard=round(best, 4)) if best_id is not None else None
        return DedupVerdict(status=status, cluster_id=cluster_id, nearest=nearest,
                            cluster_size=self._cluster_sizes[cluster_id])


@dataclass(frozen=True, slots=True)
class _Pattern:
    regex: re.Pattern[str]
    entity_id: str
    name: str
    type: MentionType
    keyword: bool


class NaiveTagger:
    """Tagging with one regular expression per alias (see the module docstring)."""

    def __init__(self, watchlist: Sequence[WatchEntity], keywords: Sequence[Keyword] = ()) -> None:
        patterns = []
        for entity in watchlist:
            for spec in entity.alias_specs():
                patterns.append(_Pattern(_compile(spec.text), entity.id, entity.name, entity.type, False))
        for keyword in keywords:
            for spec in keyword.term_specs():
                patterns.append(_Pattern(_compile(spec.text), keyword.id, keyword.id, "keyword", True))
        self.patterns = patterns

    def _scan(self, text: str, field: Field_, index: int | None, out: list[Mention], kw: list[Mention]) -> None:
        for p in self.patterns:
            for match in p.regex.finditer(text):
                mention = Mention(entity_id=p.entity_id, name=p.name, type=p.type, surface=match.group(),
                                  field=field, start=match.start(), end=match.end(), comment_index=index)
                (kw if p.keyword else out).append(mention)

    def tag(self, page: CleanPage, verdict: DedupVerdict) -> TaggedPage:
        mentions: list[Mention] = []
        keywords: list[Mention] = []
        if page.title:
            self._scan(page.title, "title", None, mentions, keywords)
        self._scan(page.body, "body", None, mentions, keywords)
        for i, comment in enumerate(page.comments):
            self._scan(comment.text, "comments", i, mentions, keywords)
        return TaggedPage(page=page, verdict=verdict, mentions=mentions, keywords=keywords)


def _compile(alias: str) -> re.Pattern[str]:
    return re.compile(r"\b" + re.escape(alias) + r"\b", re.IGNORECASE)


class NaivePipeline(Pipeline):
    """Our pipeline with the naive dedup and tagger swapped in (same cleaner, rules, suppression).

    A ``dedup_store`` is accepted but not used: the naive index lives in memory only.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        dedup_store: MutableMapping[str, Any] | None = None,
        ledger_store: MutableMapping[str, Any] | None = None,
    ) -> None:
        super().__init__(settings, dedup_store=dedup_store, ledger_store=ledger_store)
        self.tagger = NaiveTagger(settings.watchlist, settings.keywords)  # type: ignore[assignment]
        self._dedup = NaiveDedup(settings.dedup)  # type: ignore[assignment]
        self.signer = None  # the naive index computes every signature itself
