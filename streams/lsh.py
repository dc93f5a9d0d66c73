"""LSH indexes over MinHash signatures: which earlier pages a new page should be compared with.

Both indexes band signatures the same way (the bands and rows datasketch's ``MinHashLSH``
chooses for the threshold) and answer the same question: the stored page most similar to a
signature among those sharing at least one band with it.

* :class:`DatasketchLsh` is datasketch's ``MinHashLSH`` itself: the reference, about 10 KB per
  page in the window (a bytes object, a dict entry and a set per band and page).
* :class:`CompactLsh` keeps the band keys in one sorted numpy array (plus a small dict of recent
  insertions, merged in batches) and the signatures in one matrix: about 1 KB per page, and
  candidate similarities computed in one vectorised step. The default.
"""

from __future__ import annotations

from itertools import repeat
from typing import Protocol

import numpy as np
import numpy.typing as npt
from datasketch import MinHash, MinHashLSH

Signature = npt.NDArray[np.uint32]

_U64 = np.uint64
_BAND_SALT = _U64(0x9E3779B97F4A7C15)
_ROW_MULTIPLIER = 0xFF51AFD7ED558CCD


class LshIndex(Protocol):
    """What the dedup stage needs from an LSH index."""

    def insert(self, key: str, signature: Signature) -> None:
        """Add a page's signature under ``key`` (a key not in the index)."""

    def remove(self, key: str) -> None:
        """Forget ``key``; unknown keys are ignored."""

    def nearest(self, signature: Signature) -> tuple[str | None, float]:
        """The most similar stored page sharing a band with ``signature``, and its estimated Jaccard.

        Ties go to the smallest key, so the answer does not depend on insertion order.
        """

    def __len__(self) -> int:
        """Pages stored."""


def _best(keys: list[str], scores: npt.NDArray[np.float64]) -> tuple[str | None, float]:
    if not keys:
        return None, 0.0
    top = float(scores.max())
    return min(k for k, s in zip(keys, scores.tolist(), strict=True) if s == top), top


class DatasketchLsh:
    """datasketch's ``MinHashLSH``, with the signatures kept beside it for scoring candidates."""

    def __init__(self, lsh: MinHashLSH, num_perm: int, seed: int, permutations: tuple[object, object]) -> None:
        self._lsh = lsh
        self._seed = seed
        self._permutations = permutations
        self._signatures: dict[str, Signature] = {}
        self.num_perm = num_perm

    def _minhash(self, signature: Signature) -> MinHash:
        return MinHash(seed=self._seed, hashvalues=signature, permutations=self._permutations, scheme="affine32")

    def insert(self, key: str, signature: Signature) -> None:
        self._signatures[key] = signature
        self._lsh.insert(key, self._minhash(signature), check_duplication=False)

    def remove(self, key: str) -> None:
        if self._signatures.pop(key, None) is not None:
            self._lsh.remove(key)

    def nearest(self, signature: Signature) -> tuple[str | None, float]:
        keys = sorted(self._lsh.query(self._minhash(signature)))
        if not keys:
            return None, 0.0
        stored = np.stack([self._signatures[k] for k in keys])
        return _best(keys, (stored == signature).mean(axis=1))

    def __len__(self) -> int:
        return len(self._signatures)


class CompactLsh:
    """Banded LSH in flat numpy arrays: about 1 KB per page instead of datasketch's ~10 KB.

    Each band of a signature is folded into one 64-bit key (band number included). Keys of
    recent pages sit in a dict; every ``merge_every`` insertions they are merged into a sorted
    array of ``(key, slot)`` pairs. A 64-bit key collision can only add a candidate, never hide
    one, and every candidate is scored on its full signature.

    Args:
        bands: number of bands.
        rows: signature values per band (``bands * rows <= num_perm``).
        num_perm: signature length.
        merge_every: insertions between merges (memory of the recent dict vs merge work).
    """

    def __init__(self, bands: int, rows: int, num_perm: int, merge_every: int = 256) -> None:
        if bands < 1 or rows < 1 or bands * rows > num_perm:
            raise ValueError(f"bands={bands}, rows={rows} must be >= 1 with bands * rows <= num_perm={num_perm}")
        if merge_every < 1:
            raise ValueError(f"merge_every={merge_every} must be >= 1")
        self.bands, self.rows, self.num_perm, self.merge_every = bands, rows, num_perm, merge_every
        self._salts = np.arange(bands, dtype=_U64) * _BAND_SALT
        # Distinct odd 64-bit multipliers, one per row of a band.
        self._row_multipliers = np.arange(1, 2 * rows, 2, dtype=_U64) * _U64(_ROW_MULTIPLIER)
        self._signatures: npt.NDArray[np.uint32] = np.empty((256, num_perm), dtype=np.uint32)
        self._alive: npt.NDArray[np.bool_] = np.zeros(256, dtype=np.bool_)
        self._key_of_slot: list[str | None] = []
        self._slot_of: dict[str, int] = {}
        self._free: list[int] = []
        self._removed: list[int] = []  # slots of removed pages, reusable once their pairs are dropped
        self._stale_pairs = 0
        self._sorted_keys: npt.NDArray[np.uint64] = np.zeros(0, dtype=_U64)
        self._sorted_slots: npt.NDArray[np.int32] = np.zeros(0, dtype=np.int32)
        # Recent pairs: the last slot of each key, older slots of keys recent pages share, and
        # every pair in insertion order (for merging).
        self._recent: dict[int, int] = {}
        self._recent_shared: dict[int, list[int]] = {}
        self._recent_keys: list[int] = []
        self._recent_slots: list[int] = []
        self._recent_pages = 0

    def __len__(self) -> int:
        return len(self._slot_of)

    def band_keys(self, signature: Signature) -> npt.NDArray[np.uint64]:
        """One 64-bit key per band: its values times odd multipliers, summed, salted by band number."""
        values = signature[: self.bands * self.rows].reshape(self.bands, self.rows)
        keys: npt.NDArray[np.uint64] = np.matmul(values, self._row_multipliers, dtype=_U64)
        keys += self._salts
        return keys

    def _new_slot(self) -> int:
        if self._free:
            return self._free.pop()
        slot = len(self._key_of_slot)
        self._key_of_slot.append(None)
        if slot >= self._alive.size:  # grow by a quarter: little slack, amortised copies
            size = max(slot + 1, int(self._alive.size * 1.25))
            signatures = np.empty((size, self.num_perm), dtype=np.uint32)
            signatures[:slot] = self._signatures
            alive = np.zeros(size, dtype=np.bool_)
            alive[:slot] = self._alive
            self._signatures, self._alive = signatures, alive
        return slot

    def insert(self, key: str, signature: Signature) -> None:
        slot = self._new_slot()
        self._signatures[slot] = signature
        self._alive[slot] = True
        self._key_of_slot[slot] = key
        self._slot_of[key] = slot
        band_keys = self.band_keys(signature).tolist()
        recent = self._recent
        for band_key in recent.keys() & band_keys:
            self._recent_shared.setdefault(band_key, []).append(recent[band_key])
        recent.update(zip(band_keys, repeat(slot)))
        self._recent_keys += band_keys
        self._recent_slots += [slot] * self.bands
        self._recent_pages += 1
        if self._recent_pages >= self.merge_every:
            self._merge()

    def remove(self, key: str) -> None:
        slot = self._slot_of.pop(key, None)
        if slot is None:
            return
        self._alive[slot] = False
        self._key_of_slot[slot] = None
        self._removed.append(slot)
        self._stale_pairs += self.bands

    def _merge(self) -> None:
        """Move the recent pairs into the sorted arrays; drop removed pages' pairs when they pile up.

        Sorted insertion costs one pass over the arrays, so merging often keeps the recent dict
        small. Pairs of removed pages are filtered out only once they are a quarter of all pairs;
        until then their slots are not reused, so a stale pair never points at a new page.
        """
        if self._recent_keys:
            keys = np.array(self._recent_keys, dtype=_U64)
            slots = np.array(self._recent_slots, dtype=np.int32)
            live = self._alive[slots]
            keys, slots = keys[live], slots[live]
            order = np.argsort(keys, kind="stable")
            keys, slots = keys[order], slots[order]
            at = np.searchsorted(self._sorted_keys, keys, side="right")
            self._sorted_keys = np.insert(self._sorted_keys, at, keys)
            self._sorted_slots = np.insert(self._sorted_slots, at, slots)
            self._recent.clear()
            self._recent_shared.clear()
            self._recent_keys.clear()
            self._recent_slots.clear()
        self._recent_pages = 0
        if self._stale_pairs * 4 > self._sorted_keys.size:
            live = self._alive[self._sorted_slots]
            self._sorted_keys, self._sorted_slots = self._sorted_keys[live], self._sorted_slots[live]
            self._stale_pairs = 0
            self._free.extend(self._removed)
            self._removed.clear()

    def nearest(self, signature: Signature) -> tuple[str | None, float]:
        band_keys = self.band_keys(signature)
        candidates: list[int] = []
        sorted_keys = self._sorted_keys
        if sorted_keys.size:
            at = np.searchsorted(sorted_keys, band_keys)
            found = sorted_keys.take(at, mode="clip") == band_keys
            if found.any():
                ends = np.searchsorted(sorted_keys, band_keys[found], side="right")
                for begin, end in zip(at[found].tolist(), ends.tolist(), strict=True):
                    candidates += self._sorted_slots[begin:end].tolist()
        key_list = band_keys.tolist()
        candidates += [slot for slot in map(self._recent.get, key_list) if slot is not None]
        if self._recent_shared:
            for shared_slots in map(self._recent_shared.get, key_list):
                if shared_slots is not None:
                    candidates += shared_slots
        live = [slot for slot in set(candidates) if self._alive[slot]]
        if not live:
            return None, 0.0
        scores = (self._signatures[live] == signature).mean(axis=1)
        keys = [self._key_of_slot[slot] or "" for slot in live]
        return _best(keys, scores)
