from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import datasketch
import numpy as np
import pytest
import xxhash

from bench.corpus import generate
from schemas.config import DedupConfig
from schemas.pages import CleanPage
from streams.clean import clean
from streams.dedup import (
    _SHINGLE_MULTIPLIERS,
    DedupIndex,
    LshParams,
    MinHasher,
    PageSigner,
    shingle_hashes,
    words,
)
from streams.lsh import CompactLsh

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def paragraphs(seed: str) -> list[str]:
    """Long prose lines of a seed page: a stand-in for its article body."""
    lines = (SEEDS / seed).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if len(line.strip()) > 120]


def page(doc_id: str, body: list[str] | str, at: datetime = T0, outlet: str = "a.example") -> CleanPage:
    text = body if isinstance(body, str) else "\n\n".join(body)
    return CleanPage(doc_id=doc_id, outlet=outlet, fetched_at=at, body=text)


def reword(paragraph: str, rng: random.Random) -> str:
    words = paragraph.split()
    for i in rng.sample(range(len(words)), k=len(words) // 3):
        words[i] = rng.choice(["reportedly", "officials", "said", "the", "country", "forces"])
    return " ".join(words)


def republished(paras: list[str], rng: random.Random) -> list[str]:
    """A copy as another outlet runs it: dateline added, one paragraph dropped, one reworded."""
    copy = list(paras)
    copy[0] = "BAGHDAD, March 6 (Wire Agency) - " + copy[0]
    del copy[rng.randrange(1, len(copy))]
    i = rng.randrange(1, len(copy))
    copy[i] = reword(copy[i], rng)
    return copy


def test_signatures_equal_datasketch_minhash_of_the_same_shingles() -> None:
    hashes = shingle_hashes("Qais al-Khazali said the resistance would continue its operations", 3)
    reference = datasketch.MinHash(num_perm=128, seed=1, hashfunc=int)
    reference.update_batch([int(h) for h in hashes])
    assert np.array_equal(MinHasher(128, 1).signature(hashes), reference.hashvalues)


def test_shingles_ignore_case_and_punctuation_but_keep_word_order() -> None:
    a = shingle_hashes("Khazali said: the US must leave.", 3)
    b = shingle_hashes("KHAZALI SAID the us must leave", 3)
    c = shingle_hashes("leave must US the said Khazali", 3)
    assert set(a.tolist()) == set(b.tolist())
    assert not set(a.tolist()) & set(c.tolist())


def test_lsh_params_follow_threshold_and_explain_candidate_probability() -> None:
    params = LshParams.for_config(DedupConfig(threshold=0.5, num_perm=128))
    assert params.bands * params.rows <= 128
    assert params.candidate_probability(0.8) > 0.99
    assert params.candidate_probability(0.1) < 0.01


def test_the_three_seed_stories_are_three_new_stories() -> None:
    index = DedupIndex(DedupConfig())
    verdicts = [index.observe(page(name, paragraphs(name))) for name in sorted(p.name for p in SEEDS.glob("*.txt"))]
    assert [v.status for v in verdicts] == ["new", "new", "new"]
    assert len({v.cluster_id for v in verdicts}) == 3


@pytest.mark.parametrize("seed", ["000_4910a1d9556ff153.txt", "004_4ba49e555d3fefc6.txt"])
def test_republished_copy_with_dateline_dropped_and_reworded_paragraphs_is_near_duplicate(seed: str) -> None:
    rng = random.Random(7)
    original = paragraphs(seed)
    index = DedupIndex(DedupConfig())
    first = index.observe(page("orig", original))
    copy = index.observe(page("copy", republished(original, rng), T0 + timedelta(hours=3), outlet="b.example"))
    assert first.status == "new"
    assert copy.status == "near_duplicate"
    assert copy.cluster_id == first.cluster_id == "orig"
    assert copy.nearest is not None and copy.nearest.doc_id == "orig"
    assert copy.nearest.jaccard >= 0.5
    assert copy.cluster_size == 2


def test_same_doc_id_again_is_exact_duplicate_of_its_story() -> None:
    index = DedupIndex(DedupConfig())
    body = paragraphs("000_4910a1d9556ff153.txt")
    index.observe(page("d1", body))
    verdict = index.observe(page("d1", body, T0 + timedelta(minutes=5)))
    assert verdict.status == "exact_duplicate"
    assert verdict.cluster_id == "d1"
    assert len(index) == 1


def test_pages_older_than_the_window_are_forgotten() -> None:
    index = DedupIndex(DedupConfig(window_days=7))
    body = paragraphs("000_4910a1d9556ff153.txt")
    index.observe(page("old", body, T0))
    index.observe(page("other", paragraphs("002_872e85a642eb28e8.txt"), T0 + timedelta(days=8)))
    verdict = index.observe(page("again", republished(body, random.Random(1)), T0 + timedelta(days=8)))
    assert verdict.status == "new"
    assert len(index) == 2


def test_window_is_capped_by_page_count() -> None:
    index = DedupIndex(DedupConfig(max_window_pages=100))
    rng = random.Random(3)
    vocabulary = [f"w{i}" for i in range(5000)]
    for i in range(250):
        index.observe(page(f"p{i}", " ".join(rng.choices(vocabulary, k=200)), T0 + timedelta(seconds=i)))
    assert len(index) == 100


def test_durable_store_restores_the_window_after_a_restart() -> None:
    store: dict[str, object] = {}
    body = paragraphs("004_4ba49e555d3fefc6.txt")
    DedupIndex(DedupConfig(), store).observe(page("before-restart", body))
    restarted = DedupIndex(DedupConfig(), store)
    verdict = restarted.observe(page("after", republished(body, random.Random(2)), T0 + timedelta(hours=1)))
    assert verdict.status == "near_duplicate"
    assert verdict.cluster_id == "before-restart"
    assert set(store) == {"before-restart", "after"}


def test_higher_threshold_keeps_a_heavy_rewrite_apart() -> None:
    rng = random.Random(5)
    original = paragraphs("000_4910a1d9556ff153.txt")
    rewrite = [reword(p, rng) for p in original]
    loose = DedupIndex(DedupConfig(threshold=0.2))
    strict = DedupIndex(DedupConfig(threshold=0.9))
    for index in (loose, strict):
        index.observe(page("orig", original))
    assert loose.observe(page("rw", rewrite, T0 + timedelta(hours=1))).status == "near_duplicate"
    assert strict.observe(page("rw", rewrite, T0 + timedelta(hours=1))).status == "new"


def test_ascii_words_are_the_regular_expression_words() -> None:
    text = "Khazali's al-Haq: U.S. forces_2021 (AAH) -- 10 Grad rockets!\tdone\x1cend"
    assert words(text) == re.findall(r"\w+", text.lower())


def test_compact_and_datasketch_indexes_give_the_same_verdicts() -> None:
    pages = [clean(p.raw) for p in generate(400, seed=13)]
    for window in (100, 100_000):  # a small window exercises removals, compaction and slot reuse
        compact = DedupIndex(DedupConfig(index="compact", max_window_pages=window))
        reference = DedupIndex(DedupConfig(index="datasketch", max_window_pages=window))
        compact._lsh.merge_every = 16  # type: ignore[attr-defined]
        verdicts = [(compact.observe(p), reference.observe(p)) for p in pages]
        assert all(a == b for a, b in verdicts)
        assert sum(a.status == "near_duplicate" for a, _ in verdicts) > 30


def test_compact_index_forgets_removed_pages_and_reuses_their_slots() -> None:
    index = CompactLsh(bands=25, rows=5, num_perm=128, merge_every=2)
    hasher = MinHasher(128, 1)
    sig = hasher.signature(shingle_hashes(" ".join(paragraphs("000_4910a1d9556ff153.txt")), 3))
    other = hasher.signature(shingle_hashes(" ".join(paragraphs("002_872e85a642eb28e8.txt")), 3))
    index.insert("a", sig)
    index.insert("b", other)
    assert index.nearest(sig) == ("a", 1.0)
    index.remove("a")
    assert index.nearest(sig) == (None, 0.0)
    index.insert("c", other)
    index.insert("d", sig)
    assert index.nearest(sig) == ("d", 1.0)
    assert len(index) == 3


def reference_shingle_hashes(text: str, shingle_words: int) -> list[int]:
    """Shingle hashes one word and one shingle at a time, as plain Python integers."""
    hashes = [xxhash.xxh32_intdigest(w.encode("utf-8", "surrogatepass")) for w in words(text)]
    if not hashes:
        return []
    k = min(shingle_words, len(hashes))
    shingles = []
    for begin in range(len(hashes) - k + 1):
        combined = 0
        for offset in range(k):
            combined ^= hashes[begin + offset] * int(_SHINGLE_MULTIPLIERS[offset]) & 0xFFFFFFFF
            combined = (combined << 5 | combined >> 27) & 0xFFFFFFFF
        shingles.append(combined)
    return shingles


def test_shingle_hashes_of_short_and_long_texts_equal_hashing_word_by_word() -> None:
    rng = random.Random(5)
    pieces = ["the", "a", "Khazali's", "al-Haq", "U.S.", "forces_2021", "résumé", "İstanbul", "\u212a", "ß",
              "بغداد", "الحشد_الشعبي", "中文", "\ud800", "x" * 15, "y" * 16, "z" * 17, "w" * 260, "-", "--",
              "Gr\u00e5d", "10", "\t", "\n", "\x1c"]
    for size in (0, 1, 2, 3, 40, 900, 1500, 4000):
        ascii_only = [w for w in pieces if w.isascii()]
        for vocabulary in (pieces, ascii_only):
            text = " ".join(rng.choice(vocabulary) for _ in range(size))
            for k in (1, 3, 4):
                assert shingle_hashes(text, k).tolist() == reference_shingle_hashes(text, k)


def test_compact_index_finds_every_recent_page_sharing_a_band() -> None:
    index = CompactLsh(bands=25, rows=5, num_perm=128)
    sig = MinHasher(128, 1).signature(shingle_hashes(" ".join(paragraphs("000_4910a1d9556ff153.txt")), 3))
    index.insert("b", sig)
    index.insert("a", sig)
    index.insert("c", sig)
    assert index.nearest(sig) == ("a", 1.0)
    index.remove("a")
    assert index.nearest(sig) == ("b", 1.0)


def test_a_signature_header_gives_back_the_signature_for_its_page_and_configuration_only() -> None:
    config = DedupConfig()
    signer = PageSigner(config)
    story, other = page("story", paragraphs("000_4910a1d9556ff153.txt")), page("other", "Another story entirely.")
    signature = signer.signature(story)
    value = signer.header(story, signature)
    assert np.array_equal(signer.from_header(story, value), signature)
    assert np.array_equal(signature, DedupIndex(config).signature_of(story))
    assert signer.from_header(other, value) is None  # made for another page
    assert signer.from_header(story, value[:-9] + value[-8:]) is None  # damaged
    assert signer.from_header(story, None) is None
    for changed in ({"num_perm": 64}, {"seed": 2}, {"shingle_words": 4}):
        assert PageSigner(config.model_copy(update=changed)).from_header(story, value) is None, changed


def test_a_page_observed_with_its_signature_gets_the_verdict_it_gets_without() -> None:
    body = paragraphs("000_4910a1d9556ff153.txt")
    pages = [page("orig", body), page("copy", republished(body, random.Random(3)), T0 + timedelta(hours=1)),
             page("other", paragraphs("002_872e85a642eb28e8.txt"), T0 + timedelta(hours=2))]
    signer = PageSigner(DedupConfig())
    computed, given = DedupIndex(DedupConfig()), DedupIndex(DedupConfig())
    assert [computed.observe(p) for p in pages] == [given.observe(p, signer.signature(p)) for p in pages]
