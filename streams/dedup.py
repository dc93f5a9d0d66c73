"""Near-duplicate detection: MinHash signatures of cleaned bodies, an LSH index over a time window.

Two pages are one story when the estimated Jaccard similarity of their bodies' word shingles is
at or above ``DedupConfig.threshold``. Only cleaned bodies are compared, never whole pages, so a
site template can neither make two stories look alike nor one story look different. Only pages
fetched within ``window_days`` of the newest page (and at most ``max_window_pages`` of them) are
kept, so memory is bounded whatever the stream's length.

Signatures are datasketch ``affine32`` MinHashes (the library's default scheme), computed in one
vectorised step per page instead of one Python call per shingle; the index is datasketch's
``MinHashLSH``, whose bands and rows follow from the threshold and ``num_perm``.
"""

from __future__ import annotations

import base64
import re
from collections import deque
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import xxhash
from datasketch import MinHash, MinHashLSH

from schemas.config import DedupConfig
from schemas.pages import CleanPage, DedupVerdict, Nearest
from streams.lsh import CompactLsh, DatasketchLsh, LshIndex

Signature = npt.NDArray[np.uint32]

SIGNATURE_BLOCK = 8192
"""Shingle hashes permuted at a time when computing a signature (bounds memory per page)."""

_WORD = re.compile(r"\w+")
_FMIX32 = (16, 0x85EBCA6B, 13, 0xC2B2AE35, 16)
_MASK32 = np.uint64(0xFFFFFFFF)
# Odd multipliers that mix the position of each word inside a shingle (a shingle is ordered).
_SHINGLE_MULTIPLIERS = (0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F, 0x165667B1,
                        0xD3A2646C | 1, 0xFD7046C5, 0xB55A4F09, 0x8CB92BA7, 0x2545F491)


# In ASCII, \w is [A-Za-z0-9_]: every other character separates words.
_ASCII_NON_WORD = str.maketrans({chr(i): " " for i in range(128) if not (chr(i).isalnum() or chr(i) == "_")})


def words(text: str) -> list[str]:
    """The lower-cased words (``\\w+`` runs) of ``text``: the units shingles are made of."""
    lowered = text.lower()
    if lowered.isascii():  # same words as the regular expression, at a fraction of its cost
        return lowered.translate(_ASCII_NON_WORD).split()
    return _WORD.findall(lowered)


class _WordHashes:
    """xxh32 of words, remembered: news vocabulary repeats, so most words are looked up, not hashed.

    Bounded: the memory is dropped whole when it holds ``capacity`` words (cheaper than LRU
    bookkeeping per word, and the frequent words come back within a page or two).
    """

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._known: dict[str, int] = {}

    def __call__(self, tokens: list[str]) -> npt.NDArray[np.uint64]:
        known = self._known
        hashes = list(map(known.get, tokens))
        if None in hashes:
            if len(known) > self.capacity:
                known.clear()
            for i, value in enumerate(hashes):
                if value is None:
                    token = tokens[i]
                    hashes[i] = known[token] = xxhash.xxh32_intdigest(token.encode("utf-8", "surrogatepass"))
        return np.array(hashes, dtype=np.uint64)


_word_hashes = _WordHashes()


def shingle_hashes(text: str, shingle_words: int) -> npt.NDArray[np.uint32]:
    """32-bit hashes of every run of ``shingle_words`` consecutive words of ``text``.

    Each word is hashed once (xxh32, remembered across pages); shingle hashes are combined from
    word hashes with numpy, so the cost per page is about one dictionary look-up per word, not
    one hash per shingle and permutation. A text shorter than one shingle is hashed as the
    shingle it has.
    """
    tokens = words(text)
    if not tokens:
        return np.zeros(0, dtype=np.uint32)
    word_hashes = _word_hashes(tokens)
    k = min(shingle_words, len(tokens))
    count = len(tokens) - k + 1
    combined = np.zeros(count, dtype=np.uint64)
    for offset in range(k):
        combined ^= (word_hashes[offset : offset + count] * np.uint64(_SHINGLE_MULTIPLIERS[offset])) & _MASK32
        combined = ((combined << np.uint64(5)) | (combined >> np.uint64(27))) & _MASK32
    return combined.astype(np.uint32)


class MinHasher:
    """Computes datasketch-compatible ``affine32`` MinHash signatures in one numpy step.

    Args:
        num_perm: number of permutations (signature length).
        seed: permutation seed; pages hashed with different seeds cannot be compared.
    """

    def __init__(self, num_perm: int, seed: int = 1) -> None:
        if num_perm < 16:
            raise ValueError(f"num_perm={num_perm} is too small to estimate similarity; use 64 or more")
        self.num_perm = num_perm
        self.seed = seed
        template = MinHash(num_perm=num_perm, seed=seed, scheme="affine32")
        self._permutations = template.permutations
        a, b = template.permutations
        self._a = a.astype(np.uint32)
        self._b = b.astype(np.uint32)
        self._empty = template.hashvalues.copy()

    def signature(self, hashes: npt.NDArray[np.uint32]) -> Signature:
        """The MinHash signature of a set of 32-bit element hashes.

        Repeated hashes are dropped first and the rest go through the permutations in blocks of
        :data:`SIGNATURE_BLOCK`, so memory stays bounded (``SIGNATURE_BLOCK * num_perm`` words)
        however long the page: a 5 MB page of distinct shingles would otherwise need a
        ``shingles x num_perm`` matrix of about half a gigabyte.
        """
        if hashes.size == 0:
            return np.array(self._empty, dtype=np.uint32)
        unique = np.unique(hashes.astype(np.uint32))
        result = self._block_minimum(unique[:SIGNATURE_BLOCK])
        for begin in range(SIGNATURE_BLOCK, unique.size, SIGNATURE_BLOCK):
            result = np.minimum(result, self._block_minimum(unique[begin : begin + SIGNATURE_BLOCK]))
        return result

    def _block_minimum(self, hashes: npt.NDArray[np.uint32]) -> Signature:
        s1, m1, s2, m2, s3 = _FMIX32
        hv = hashes.reshape(-1, 1)
        hv = hv ^ (hv >> np.uint32(s1))
        hv = hv * np.uint32(m1)
        hv = hv ^ (hv >> np.uint32(s2))
        hv = hv * np.uint32(m2)
        hv = hv ^ (hv >> np.uint32(s3))
        permuted: Signature = hv * self._a + self._b
        return np.asarray(permuted.min(axis=0), dtype=np.uint32)

    @property
    def permutations(self) -> tuple[Any, Any]:
        """The datasketch permutation parameters the signatures are computed with."""
        a, b = self._permutations
        return a, b


@dataclass(frozen=True, slots=True)
class LshParams:
    """The banding an LSH index uses, and what it implies.

    ``bands * rows <= num_perm``. Two pages with true Jaccard ``s`` become candidates with
    probability ``1 - (1 - s**rows) ** bands``; the threshold where that curve is steepest is
    about ``(1 / bands) ** (1 / rows)``. Candidates are then checked against the configured
    threshold with the full signature, so banding trades recall against work, not precision.
    """

    threshold: float
    num_perm: int
    bands: int
    rows: int

    @classmethod
    def for_config(cls, config: DedupConfig) -> LshParams:
        """The bands and rows datasketch chooses for ``config.threshold`` and ``num_perm``."""
        lsh = lsh_index(config)
        return cls(threshold=config.threshold, num_perm=config.num_perm, bands=lsh.b, rows=lsh.r)

    def candidate_probability(self, jaccard: float) -> float:
        """Probability that two pages with this true Jaccard similarity are compared at all."""
        return float(1.0 - (1.0 - jaccard**self.rows) ** self.bands)


def lsh_index(config: DedupConfig) -> MinHashLSH:
    """An empty LSH index for ``config``, with the bands and rows datasketch finds optimal.

    For thresholds near 1 (above ~0.86 with 16 permutations, ~0.98 with 128) datasketch finds one
    band optimal, which it cannot index (it raises ``ValueError``); two bands of half the signature
    are used instead, so every threshold the configuration accepts works. Recall at the threshold
    is then lower than with more bands (about 0.78 for two pages at Jaccard 0.99 with 128
    permutations, 0.99 and more for exact and near-exact copies); candidates are checked against
    the threshold with the full signature as always.
    """
    try:
        return MinHashLSH(threshold=config.threshold, num_perm=config.num_perm)
    except ValueError:
        return MinHashLSH(threshold=config.threshold, num_perm=config.num_perm, params=(2, config.num_perm // 2))


def make_lsh(config: DedupConfig, params: LshParams, hasher: MinHasher) -> LshIndex:
    """The LSH index ``config.index`` names, banded as ``params`` says."""
    if config.index == "datasketch":
        return DatasketchLsh(lsh_index(config), config.num_perm, config.seed, hasher.permutations)
    return CompactLsh(params.bands, params.rows, config.num_perm)


@dataclass(slots=True)
class _Entry:
    cluster_id: str
    at: float


class DedupIndex:
    """Decides, page by page, whether a page is a new story or a copy of one in the window.

    State: the signatures and LSH buckets of the pages in the window. Pass ``store`` (any
    mutable mapping, e.g. a Faust table backed by a changelog topic) to make it durable: each
    window entry is written through to it, and a new index built on a non-empty store restores
    the window from it, so a restarted worker still recognises copies of earlier stories.

    Args:
        config: threshold, permutations, shingle size and window bounds.
        store: optional durable mapping ``doc_id -> entry`` (JSON-compatible values).
    """

    def __init__(self, config: DedupConfig, store: MutableMapping[str, Any] | None = None) -> None:
        self.config = config
        self.params = LshParams.for_config(config)
        self._hasher = MinHasher(config.num_perm, config.seed)
        self._lsh = make_lsh(config, self.params, self._hasher)
        self._entries: dict[str, _Entry] = {}
        self._order: deque[str] = deque()  # doc ids in insertion order, for eviction
        self._cluster_sizes: dict[str, int] = {}
        self._watermark = float("-inf")
        self._store = store
        if store is not None:
            self._restore(store)

    def __len__(self) -> int:
        return len(self._entries)

    def signature_of(self, page: CleanPage) -> Signature:
        """The MinHash signature of a page's cleaned body."""
        return self._hasher.signature(shingle_hashes(page.body, self.config.shingle_words))

    def observe(self, page: CleanPage) -> DedupVerdict:
        """Classify ``page`` against the window, then add it to the window.

        Exact copies (same ``doc_id``) are not stored twice. The cluster id of a story is the
        ``doc_id`` of its first page, so it is stable however many copies follow.
        """
        at = page.fetched_at.timestamp()
        self._advance(at)
        known = self._entries.get(page.doc_id)
        if known is not None:
            return DedupVerdict(
                status="exact_duplicate",
                cluster_id=known.cluster_id,
                nearest=Nearest(doc_id=page.doc_id, jaccard=1.0),
                cluster_size=self._cluster_sizes.get(known.cluster_id, 1),
            )
        signature = self.signature_of(page)
        nearest_id, best = self._lsh.nearest(signature)
        if nearest_id is not None and best >= self.config.threshold:
            cluster_id = self._entries[nearest_id].cluster_id
            status = "near_duplicate"
        else:
            cluster_id = page.doc_id
            status = "new"
        self._add(page.doc_id, _Entry(cluster_id, at), signature)
        nearest = Nearest(doc_id=nearest_id, jaccard=round(best, 4)) if nearest_id is not None else None
        return DedupVerdict(
            status=status,
            cluster_id=cluster_id,
            nearest=nearest,
            cluster_size=self._cluster_sizes[cluster_id],
        )

    def _add(self, doc_id: str, entry: _Entry, signature: Signature, persist: bool = True) -> None:
        self._entries[doc_id] = entry
        self._order.append(doc_id)
        self._cluster_sizes[entry.cluster_id] = self._cluster_sizes.get(entry.cluster_id, 0) + 1
        self._lsh.insert(doc_id, signature)
        if persist and self._store is not None:
            self._store[doc_id] = {
                "cluster_id": entry.cluster_id,
                "at": entry.at,
                "signature": base64.b64encode(signature.tobytes()).decode("ascii"),
            }
        self._evict_over_capacity()

    def _advance(self, at: float) -> None:
        """Move the window's end to ``at`` (if later) and evict what fell out of it."""
        if at <= self._watermark:
            return
        self._watermark = at
        self._evict_older_than_window()

    def _evict_older_than_window(self) -> None:
        horizon = self._watermark - self.config.window_days * 86400.0
        while self._order and self._entries[self._order[0]].at < horizon:
            self._evict(self._order.popleft())

    def _evict_over_capacity(self) -> None:
        while len(self._entries) > self.config.max_window_pages:
            self._evict(self._order.popleft())

    def _evict(self, doc_id: str) -> None:
        entry = self._entries.pop(doc_id, None)
        if entry is None:
            return
        self._lsh.remove(doc_id)
        remaining = self._cluster_sizes[entry.cluster_id] - 1
        if remaining:
            self._cluster_sizes[entry.cluster_id] = remaining
        else:
            del self._cluster_sizes[entry.cluster_id]
        if self._store is not None:
            self._store.pop(doc_id, None)

    def _restore(self, store: MutableMapping[str, Any]) -> None:
        rows = sorted(
            ((float(v["at"]), k, v) for k, v in store.items()),
            key=lambda row: (row[0], row[1]),
        )
        for at, doc_id, value in rows:
            signature = np.frombuffer(base64.b64decode(value["signature"]), dtype=np.uint32).copy()
            if signature.size != self.config.num_perm:
                continue  # written with another num_perm: cannot be compared, ages out of the store
            self._watermark = max(self._watermark, at)
            self._add(doc_id, _Entry(str(value["cluster_id"]), at), signature, persist=False)
        self._evict_older_than_window()
