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


def _u32(value: int) -> npt.NDArray[np.uint32]:
    """A read-only 0-d uint32 array: numpy applies ufuncs to these faster than to numpy scalars."""
    constant = np.array(value, dtype=np.uint32)
    constant.flags.writeable = False
    return constant


_FMIX32 = tuple(_u32(c) for c in (16, 0x85EBCA6B, 13, 0xC2B2AE35, 16))
# Odd multipliers that mix the position of each word inside a shingle (a shingle is ordered).
_SHINGLE_MULTIPLIERS = tuple(_u32(m) for m in (0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F, 0x165667B1,
                                               0xD3A2646C | 1, 0xFD7046C5, 0xB55A4F09, 0x8CB92BA7, 0x2545F491))
_XXH32_PRIMES = tuple(_u32(p) for p in (0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F, 0x165667B1))
_XXH32_AVALANCHE = tuple(_u32(shift) for shift in (15, 13, 16))
_BYTE, _BYTE_BITS = _u32(0xFF), _u32(8)
_ROTATIONS = {bits: (_u32(bits), _u32(32 - bits)) for bits in (5, 11, 17)}
_XXH32_SHORT = 16  # words shorter than this (in bytes) take xxh32's short-input path
_VECTORISE_FROM = 6144  # word stream bytes from which hashing all words at once beats a call per word


# In ASCII, \w is [A-Za-z0-9_]: every other character separates words.
_ASCII_NON_WORD = str.maketrans({chr(i): " " for i in range(128) if not (chr(i).isalnum() or chr(i) == "_")})
# The same on bytes, lower-casing as it goes: maps an ASCII text straight to its word stream.
_ASCII_WORD_BYTES = bytes([ord(chr(i).lower()) if chr(i).isalnum() or chr(i) == "_" else ord(" ")
                           for i in range(128)]) + b" " * 128
_SPACE = ord(" ")
_STREAM_END = " " * _XXH32_SHORT


def words(text: str) -> list[str]:
    """The lower-cased words (``\\w+`` runs) of ``text``: the units shingles are made of."""
    lowered = text.lower()
    if lowered.isascii():  # same words as the regular expression, at a fraction of its cost
        return lowered.translate(_ASCII_NON_WORD).split()
    return _WORD.findall(lowered)


def _word_stream(text: str) -> bytes:
    """The :func:`words` of ``text`` in UTF-8, separated by spaces, with spaces before and after.

    The trailing spaces let every word be read in whole 4-byte steps without running off the end.
    """
    if text.isascii():
        return (" " + text + _STREAM_END).encode("ascii").translate(_ASCII_WORD_BYTES)
    return (" " + " ".join(_WORD.findall(text.lower())) + _STREAM_END).encode("utf-8", "surrogatepass")


def _rotate_left(values: npt.NDArray[np.uint32], bits: int) -> None:
    """Rotate 32-bit values left by ``bits`` (5, 11 or 17), in place."""
    left, right = _ROTATIONS[bits]
    high = values << left
    values >>= right
    values |= high


def _word_hashes(stream: bytes) -> npt.NDArray[np.uint32]:
    """xxh32 (seed 0) of every word of a :func:`_word_stream`, in order.

    A long page has thousands of words: one xxh32 call per word would cost more than the rest of
    its signature. So past :data:`_VECTORISE_FROM` bytes, words shorter than 16 bytes (nearly all)
    take xxh32's short-input path all at once, in numpy: sorted by length, the words each 4-byte
    step applies to are a suffix, and the up to three single-byte steps after those are masked.
    Longer words, and all words of short texts (where numpy's fixed costs dominate), are hashed
    one call each.
    """
    if len(stream) < _VECTORISE_FROM:
        return np.fromiter(map(xxhash.xxh32_intdigest, stream.split()), dtype=np.uint32)
    data = np.frombuffer(stream, dtype=np.uint8)
    in_word = data != _SPACE
    edges = np.flatnonzero(in_word[1:] != in_word[:-1])  # positions in stream[1:]
    starts = edges[0::2]
    lengths = edges[1::2] - starts
    order = np.argsort(np.minimum(lengths, _XXH32_SHORT).astype(np.uint8), kind="stable")
    starts, lengths = starts[order], lengths[order]
    *step_begins, short = np.searchsorted(lengths, (4, 8, 12, _XXH32_SHORT)).tolist()
    p1, p2, p3, p4, p5 = _XXH32_PRIMES
    # Every 4-byte window of stream[1:] as a little-endian integer (xxh32 reads little-endian).
    windows = np.ascontiguousarray(np.ndarray((data.size - 4,), dtype="<u4", buffer=stream, offset=1, strides=(1,)))
    hashes = lengths[:short].astype(np.uint32)
    hashes += p5
    for step, begin in enumerate(step_begins):
        value = windows.take(starts[begin:short] + 4 * step)
        value *= p3
        value += hashes[begin:short]
        _rotate_left(value, 17)
        np.multiply(value, p4, out=hashes[begin:short])
    tail_bytes = lengths[:short] & 3
    tail = windows.take(starts[:short] + (lengths[:short] - tail_bytes))
    for step in range(3):
        value = tail & _BYTE
        value *= p5
        value += hashes
        _rotate_left(value, 11)
        value *= p1
        np.copyto(hashes, value, where=tail_bytes > step)
        tail >>= _BYTE_BITS
    s1, s2, s3 = _XXH32_AVALANCHE
    hashes ^= hashes >> s1
    hashes *= p2
    hashes ^= hashes >> s2
    hashes *= p3
    hashes ^= hashes >> s3
    result = np.empty(order.size, dtype=np.uint32)
    result[order[:short]] = hashes
    for i in range(short, order.size):
        start = int(starts[i]) + 1
        result[order[i]] = xxhash.xxh32_intdigest(stream[start : start + int(lengths[i])])
    return result


def shingle_hashes(text: str, shingle_words: int) -> npt.NDArray[np.uint32]:
    """32-bit hashes of every run of ``shingle_words`` consecutive words of ``text``.

    Each word is hashed once (xxh32, all words of a long text in one vectorised pass); shingle
    hashes are combined from word hashes with numpy, so the cost per page is a few dozen numpy
    calls, not one hash per shingle and permutation. A text shorter than one shingle is hashed as
    the shingle it has.
    """
    word_hashes = _word_hashes(_word_stream(text))
    if not word_hashes.size:
        return word_hashes
    k = min(shingle_words, word_hashes.size)
    count = word_hashes.size - k + 1
    combined = word_hashes[:count] * _SHINGLE_MULTIPLIERS[0]
    _rotate_left(combined, 5)
    for offset in range(1, k):
        combined ^= word_hashes[offset : offset + count] * _SHINGLE_MULTIPLIERS[offset]
        _rotate_left(combined, 5)
    return combined


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
        self._affine = np.stack([a, b], axis=1).astype(np.uint32)
        self._empty = template.hashvalues.copy()

    def signature(self, hashes: npt.NDArray[np.uint32]) -> Signature:
        """The MinHash signature of a set of 32-bit element hashes.

        Repeated hashes are dropped first (a page repeats many of its shingles, and a sort is much
        cheaper than permuting them). The rest go through the permutations in blocks of
        :data:`SIGNATURE_BLOCK`, so memory stays bounded (``SIGNATURE_BLOCK * num_perm`` words)
        however long the page: a 5 MB page of distinct shingles would otherwise need a
        ``shingles x num_perm`` matrix of about half a gigabyte.
        """
        if hashes.size == 0:
            return np.array(self._empty, dtype=np.uint32)
        hashes = np.sort(hashes.astype(np.uint32, copy=False))
        distinct = np.empty(hashes.size, dtype=np.bool_)
        distinct[0] = True
        np.not_equal(hashes[1:], hashes[:-1], out=distinct[1:])
        hashes = hashes[distinct]
        result = self._block_minimum(hashes[:SIGNATURE_BLOCK])
        for begin in range(SIGNATURE_BLOCK, hashes.size, SIGNATURE_BLOCK):
            np.minimum(result, self._block_minimum(hashes[begin : begin + SIGNATURE_BLOCK]), out=result)
        return result

    def _block_minimum(self, hashes: npt.NDArray[np.uint32]) -> Signature:
        s1, m1, s2, m2, s3 = _FMIX32
        # Row 0: the hashes through the MurmurHash3 finalizer; row 1: ones, so that one einsum
        # computes a * h + b for every permutation and hash (one pass instead of a multiply and an add).
        mixed_and_ones = np.empty((2, hashes.size), dtype=np.uint32)
        mixed = mixed_and_ones[0]
        np.right_shift(hashes, s1, out=mixed)
        mixed ^= hashes
        mixed *= m1
        mixed ^= mixed >> s2
        mixed *= m2
        mixed ^= mixed >> s3
        mixed_and_ones[1] = 1
        permuted: Signature = np.einsum("pk,kh->ph", self._affine, mixed_and_ones)
        minimum: Signature = permuted.min(axis=1)
        return minimum

    @property
    def permutations(self) -> tuple[Any, Any]:
        """The datasketch permutation parameters the signatures are computed with."""
        a, b = self._permutations
        return a, b


class PageSigner:
    """The MinHash signature of a cleaned page's body, and its form as a Kafka record header.

    Computing a signature is most of the dedup stage's work, and needs no window. The dedup
    stage reads one partition, in one process for the whole deployment, while cleaning spreads
    over every worker: so a worker computes the signature where it cleans the page and sends it
    with the page (``SIGNATURE_HEADER`` on ``pages.clean``), and the dedup stage only looks the
    page up. A header is used only if it was made with this configuration for this page (its
    ``doc_id``, derived from the body); otherwise the dedup stage computes the signature itself.
    """

    FORMAT = b"minhash1"
    """Names how signatures are computed: shingling, word hash and permutation scheme. A change
    to any of them must change it, so that headers written before the change are not used."""

    def __init__(self, config: DedupConfig) -> None:
        self.config = config
        self.hasher = MinHasher(config.num_perm, config.seed)
        self._prefix = b"%s %d %d %d " % (self.FORMAT, config.num_perm, config.seed, config.shingle_words)

    def signature(self, page: CleanPage) -> Signature:
        """The MinHash signature of ``page.body``."""
        return self.hasher.signature(shingle_hashes(page.body, self.config.shingle_words))

    def header(self, page: CleanPage, signature: Signature) -> bytes:
        """``signature`` as a header value, bound to this configuration and to ``page``."""
        return self._prefix + signature.astype("<u4").tobytes() + page.doc_id.encode("utf-8", "surrogatepass")

    def from_header(self, page: CleanPage, value: bytes | None) -> Signature | None:
        """The signature in a header ``value`` made by :meth:`header` for ``page`` with this
        configuration; None if there is none, or it was made otherwise."""
        if value is None or not value.startswith(self._prefix):
            return None
        size = 4 * self.config.num_perm
        packed, doc_id = value[len(self._prefix):len(self._prefix) + size], value[len(self._prefix) + size:]
        if len(packed) != size or doc_id != page.doc_id.encode("utf-8", "surrogatepass"):
            return None
        return np.frombuffer(packed, dtype="<u4").astype(np.uint32)


SIGNATURE_HEADER = "wirewatch-minhash"
"""The ``pages.clean`` record header that carries the page's signature (``PageSigner.header``)."""


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
        self._signer = PageSigner(config)
        self._lsh = make_lsh(config, self.params, self._signer.hasher)
        self._clusters: dict[str, str] = {}  # doc id -> cluster id, for every page in the window
        self._order: deque[str] = deque()  # doc ids in insertion order, for eviction
        self._times: deque[float] = deque()  # and their fetch times
        self._cluster_sizes: dict[str, int] = {}
        self._watermark = float("-inf")
        self._store = store
        if store is not None:
            self._restore(store)

    def __len__(self) -> int:
        return len(self._clusters)

    def signature_of(self, page: CleanPage) -> Signature:
        """The MinHash signature of a page's cleaned body."""
        return self._signer.signature(page)

    def observe(self, page: CleanPage, signature: Signature | None = None) -> DedupVerdict:
        """Classify ``page`` against the window, then add it to the window.

        Exact copies (same ``doc_id``) are not stored twice. The cluster id of a story is the
        ``doc_id`` of its first page, so it is stable however many copies follow. ``signature``:
        the page's signature if already computed (``PageSigner``), else it is computed here.
        """
        at = page.fetched_at.timestamp()
        self._advance(at)
        known = self._clusters.get(page.doc_id)
        if known is not None:
            return DedupVerdict(
                status="exact_duplicate",
                cluster_id=known,
                nearest=Nearest(doc_id=page.doc_id, jaccard=1.0),
                cluster_size=self._cluster_sizes.get(known, 1),
            )
        if signature is None:
            signature = self.signature_of(page)
        nearest_id, best = self._lsh.nearest(signature)
        if nearest_id is not None and best >= self.config.threshold:
            cluster_id = self._clusters[nearest_id]
            status = "near_duplicate"
        else:
            cluster_id = page.doc_id
            status = "new"
        self._add(page.doc_id, cluster_id, at, signature)
        nearest = Nearest(doc_id=nearest_id, jaccard=round(best, 4)) if nearest_id is not None else None
        return DedupVerdict(
            status=status,
            cluster_id=cluster_id,
            nearest=nearest,
            cluster_size=self._cluster_sizes[cluster_id],
        )

    def _add(self, doc_id: str, cluster_id: str, at: float, signature: Signature, persist: bool = True) -> None:
        self._clusters[doc_id] = cluster_id
        self._order.append(doc_id)
        self._times.append(at)
        self._cluster_sizes[cluster_id] = self._cluster_sizes.get(cluster_id, 0) + 1
        self._lsh.insert(doc_id, signature)
        if persist and self._store is not None:
            self._store[doc_id] = {
                "cluster_id": cluster_id,
                "at": at,
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
        while self._times and self._times[0] < horizon:
            self._evict_oldest()

    def _evict_over_capacity(self) -> None:
        while len(self._clusters) > self.config.max_window_pages:
            self._evict_oldest()

    def _evict_oldest(self) -> None:
        doc_id = self._order.popleft()
        self._times.popleft()
        cluster_id = self._clusters.pop(doc_id)
        self._lsh.remove(doc_id)
        remaining = self._cluster_sizes[cluster_id] - 1
        if remaining:
            self._cluster_sizes[cluster_id] = remaining
        else:
            del self._cluster_sizes[cluster_id]
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
            self._add(doc_id, str(value["cluster_id"]), at, signature, persist=False)
        self._evict_older_than_window()
