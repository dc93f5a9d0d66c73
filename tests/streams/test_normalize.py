"""Normalisation for name matching: what folds together, and offsets back to the original."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.normalize import (
    APOSTROPHES,
    DASHES,
    _normalize_ascii,
    _normalize_general,
    fold_char,
    fold_text,
    normalize,
)


def test_case_and_diacritics_fold_away() -> None:
    assert normalize("Nicolás MADURO").text == "nicolas maduro"
    assert normalize("Nicola\u0301s").text == "nicolas"  # decomposed accent too
    assert normalize("Straße").text == "strasse"
    assert normalize("İstanbul").text == "istanbul"


def test_every_apostrophe_is_deleted_so_transliterations_agree() -> None:
    spellings = ["Asa'ib", "Asa’ib", "Asa‘ib", "Asa`ib", "Asaʿib", "Asaʾib", "Asa′ib", "Asaib"]
    assert {normalize(s).text for s in spellings} == {"asaib"}


def test_dash_and_whitespace_runs_become_one_space_and_ends_are_trimmed() -> None:
    for text in ["al-Khazali", "al Khazali", "Al- Khazali", "al\n\tKhazali", "al — Khazali", "al\u2011Khazali"]:
        assert normalize(text).text == "al khazali", text
    assert normalize("  -- Qais  ").text == "qais"
    assert normalize("Qais\u200bKhazali").text == "qais khazali"


def test_invisible_format_characters_are_deleted() -> None:
    assert normalize("Kha\u00adzali").text == "khazali"  # soft hyphen
    assert normalize("\ufeffKhazali\u200e").text == "khazali"  # BOM, left-to-right mark


def test_case_can_be_kept_for_case_sensitive_aliases() -> None:
    assert normalize("AAH’s al-Haq", casefold=False).text == "AAHs al Haq"


def test_arabic_harakat_tatweel_and_letter_variants_fold() -> None:
    assert normalize("قَيْسٌ الخَزْعَلِيّ").text == "قيس الخزعلي"
    assert normalize("الخزعلــــي").text == "الخزعلي"
    assert {normalize(w).text for w in ["إبراهيم", "أبراهيم", "آبراهيم", "ٱبراهيم", "ابراهيم"]} == {"ابراهيم"}
    assert normalize("مصطفى").text == normalize("مصطفي").text
    assert normalize("حماة").text == normalize("حماه").text
    # hamza carriers fold to their bare letters: ئ -> ي, ؤ -> و
    assert normalize("عصائب أهل الحق").text == normalize("عصايب اهل الحق").text == "عصايب اهل الحق"
    assert normalize("مؤسسة").text == "موسسه"


def test_offsets_point_at_the_source_character_of_each_folded_character() -> None:
    norm = normalize("Al- Khazali’s")
    assert norm.text == "al khazalis"
    assert list(norm.offsets) == [0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 12]


def test_an_expanding_character_shares_one_offset() -> None:
    norm = normalize("Straße")
    assert norm.text == "strasse"
    assert list(norm.offsets) == [0, 1, 2, 3, 4, 4, 5]


def test_span_maps_back_to_the_text_as_written() -> None:
    text = "Said Qais al‑Khazali’s aide"
    norm = normalize(text)
    start = norm.text.index("qais al khazali")
    a, b = norm.span(start, start + len("qais al khazali"))
    assert text[a:b] == "Qais al‑Khazali"


def test_span_takes_in_marks_that_decorate_its_last_character() -> None:
    text = "Madur\u006f\u0301 said"  # "o" + combining acute
    norm = normalize(text)
    a, b = norm.span(0, len("maduro"))
    assert text[a:b] == "Maduro\u0301"
    arabic = "قيس الخزعليّ قال"  # shadda on the last letter
    norm = normalize(arabic)
    a, b = norm.span(0, len("قيس الخزعلي"))
    assert arabic[a:b] == "قيس الخزعليّ"


def test_span_rejects_an_empty_or_outside_slice() -> None:
    norm = normalize("abc")
    with pytest.raises(IndexError):
        norm.span(1, 1)
    with pytest.raises(IndexError):
        norm.span(0, 4)


def test_deleted_before_shows_a_dropped_apostrophe() -> None:
    norm = normalize("Khazali’s")
    assert norm.deleted_before(len("khazali")) == "’"
    assert norm.deleted_before(1) == ""
    assert norm.deleted_before(0) == ""


def test_fold_char_maps_separators_and_deletions() -> None:
    assert fold_char("’") == ""
    assert fold_char("—") == " "
    assert fold_char("\u0640") == ""
    assert fold_char("É") == "e"
    assert fold_char("É", casefold=False) == "E"
    assert all(fold_char(c) == "" for c in APOSTROPHES)
    assert all(fold_char(c) == " " for c in DASHES)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_offsets_are_a_monotone_map_into_the_original(text: str) -> None:
    norm = normalize(text)
    assert len(norm.offsets) == len(norm.text)
    assert all(0 <= o < len(text) for o in norm.offsets)
    assert list(norm.offsets) == sorted(norm.offsets)
    assert not norm.text.startswith(" ")
    assert not norm.text.endswith(" ")
    assert "  " not in norm.text
    for i, ch in enumerate(norm.text):
        source = text[norm.offsets[i]]
        if ch == " ":
            assert fold_char(source) == " " or source.isspace()
        else:
            assert ch in fold_char(source)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=100))
def test_normalising_is_idempotent(text: str) -> None:
    once = normalize(text).text
    assert normalize(once).text == once
    assert all(unicodedata.category(c) not in ("Mn", "Me") for c in once)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=60), st.text(alphabet=st.characters(max_codepoint=127), max_size=60)))
def test_fold_text_agrees_with_normalize(text: str) -> None:
    assert fold_text(text) == normalize(text).text
    assert fold_text(text, casefold=False) == normalize(text, casefold=False).text


_ASCII_PIECES = [*" \t\n-'`.,;:!?AbCdeXyz019\x1c\x0b\x00", "Qais", "al-", "Khazali's", " - ", "' "]
_ASCII_TEXT = st.lists(st.sampled_from(_ASCII_PIECES), max_size=40).map("".join)


@given(_ASCII_TEXT, st.booleans())
@settings(max_examples=400, deadline=None)
def test_ascii_fast_path_equals_the_general_normalisation(text: str, casefold: bool) -> None:
    fast, general = _normalize_ascii(text, casefold), _normalize_general(text, casefold)
    assert fast.text == general.text
    assert list(fast.offsets) == list(general.offsets)
