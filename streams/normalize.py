"""Text normalisation for name matching, with a map back to offsets in the original text.

Tagging matches watchlist aliases against *normalised* text so that the spellings real outlets
use compare equal, then reports every match with offsets into the *original* string. One
function, :func:`normalize`, does both in a single linear pass and returns a :class:`Normalized`
that holds the folded text and, for each of its characters, the index of the original
character it came from.

What folds together (each decision is deliberate; tests pin them):

- **Case**: full Unicode casefolding (``"ß"`` becomes ``"ss"``), unless ``casefold=False``.
- **Diacritics**: NFKD, then every combining mark is dropped (``"Nicolás"`` = ``"Nicolas"``);
  compatibility forms fold too (ligatures, full-width letters, Arabic presentation forms).
- **Apostrophes** (``' ’ ‘ ` ´ ʹ ʻ ʼ ʽ ʾ ʿ ′ ‵ ＇ ‛``) are *deleted*, not unified: transliterations
  write the Arabic ʿayn and hamza with any of them or with nothing, so ``"Asa’ib"``,
  ``"Asa'ib"``, ``"Asaʿib"`` and ``"Asaib"`` are one spelling. The price is that ``"Force's"``
  folds to ``"forces"``; the tagger checks the original text for that case.
- **Hyphens, dashes and whitespace**: any run of them, including the zero-width space, becomes
  one space, and leading/trailing space is dropped, so ``"al-Khazali"``, ``"al Khazali"``,
  ``"Al- Khazali"`` and ``"al\\nKhazali"`` all read ``"al khazali"``.
- **Invisible format characters** (soft hyphen, zero-width joiners, bidi marks, BOM) are
  deleted.
- **Arabic script**: harakat (U+064B–U+065F) and the superscript alef (U+0670) go with the
  other combining marks; tatweel (U+0640) is deleted; the hamza/madda alef forms ``أ إ آ``
  decompose to bare ``ا`` and alef wasla ``ٱ`` maps to it; alef maqsura ``ى`` and Farsi yeh
  ``ی`` become ``ي``; teh marbuta ``ة`` becomes ``ه`` (outlets write either); Farsi keheh ``ک``
  becomes ``ك``. Hamza carriers ``ؤ ئ`` fold to ``و ي`` through NFKD.

Everything else (letters, digits, other punctuation) is kept, so punctuation still separates
words and aliases such as ``"U.S."`` still match.
"""

from __future__ import annotations

import re
import unicodedata
from array import array
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

APOSTROPHES = frozenset("'’‘`´ʹʻʼʽʾʿ′‵＇‛")
"""Characters deleted by normalisation: the apostrophe family and the ʿayn/hamza letters."""

DASHES = frozenset("-‐‑‒–—―−⁃﹘﹣－⸺⸻")
"""Hyphens and dashes; like whitespace, a run of them becomes one space."""

ZERO_WIDTH_SPACE = "\u200b"
TATWEEL = "\u0640"

ARABIC_FOLDS: dict[str, str] = {
    "\u0671": "\u0627",  # alef wasla -> alef
    "\u0649": "\u064a",  # alef maqsura -> yeh
    "\u06cc": "\u064a",  # Farsi yeh -> yeh
    "\u0629": "\u0647",  # teh marbuta -> heh
    "\u06a9": "\u0643",  # keheh -> kaf
    TATWEEL: "",
}
"""Arabic letters folded beyond what NFKD does (the hamza/madda alef forms decompose by NFKD)."""

_SEPARATOR_RUN = re.compile("[\\s" + re.escape("".join(sorted(APOSTROPHES | DASHES | {ZERO_WIDTH_SPACE}))) + "]+")
_CACHE_LIMIT = 65_536
_FOLD_CACHE: dict[str, str] = {}
_KEEP_CASE_CACHE: dict[str, str] = {}


def _strip_marks(text: str) -> str:
    return "".join(c for c in text if unicodedata.category(c) not in ("Mn", "Me"))


def _post_map(ch: str) -> str:
    if ch in APOSTROPHES:
        return ""
    if ch in DASHES or ch.isspace() or ch == ZERO_WIDTH_SPACE:
        return " "
    folded = ARABIC_FOLDS.get(ch)
    if folded is not None:
        return folded
    if unicodedata.category(ch) == "Cf":
        return ""
    return ch


def fold_char(ch: str, *, casefold: bool = True) -> str:
    """Normalise one character: what it becomes in normalised text (possibly several or none).

    Args:
        ch: a single character.
        casefold: fold case too (the default); ``False`` keeps case, for case-sensitive aliases.

    Returns:
        The replacement: ``""`` for deleted characters, ``" "`` for separators.
    """
    first = _post_map(ch)
    if first != ch:
        return first
    out = _strip_marks(unicodedata.normalize("NFKD", ch))
    if casefold:
        out = _strip_marks(unicodedata.normalize("NFKD", out.casefold()))
    return "".join(_post_map(c) for c in out)


def _fold_cached(ch: str, casefold: bool) -> str:
    cache = _FOLD_CACHE if casefold else _KEEP_CASE_CACHE
    mapped = cache.get(ch)
    if mapped is None:
        mapped = fold_char(ch, casefold=casefold)
        if len(cache) < _CACHE_LIMIT:
            cache[ch] = mapped
    return mapped


def is_mark(ch: str) -> bool:
    """Whether ``ch`` only decorates the character before it (combining mark or tatweel)."""
    return ch == TATWEEL or unicodedata.category(ch) in ("Mn", "Me")


@dataclass(frozen=True, slots=True)
class Normalized:
    """Normalised text and where each of its characters came from.

    Attributes:
        original: the text as written.
        text: the normalised text.
        offsets: ``offsets[i]`` is the index in ``original`` of the character that produced
            ``text[i]`` (a character that expands, like ``"ß"``, gives several entries with the
            same index); ``len(offsets) == len(text)``. A compact array of 8-byte integers, so
            a long page costs 8 bytes per character, not a Python int each.
    """

    original: str
    text: str
    offsets: array[int]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map the normalised slice ``[start, end)`` to the original slice it was made from.

        The original slice runs from the source of ``text[start]`` to just after the source of
        ``text[end - 1]``, extended over combining marks and tatweel that decorate its last
        character, so ``original[a:b]`` is the span as written.

        Raises:
            IndexError: if the slice is empty or outside ``text``.
        """
        if not 0 <= start < end <= len(self.text):
            raise IndexError(f"normalised span [{start}, {end}) is empty or outside 0..{len(self.text)}")
        o_start = self.offsets[start]
        o_end = self.offsets[end - 1] + 1
        original = self.original
        while o_end < len(original) and is_mark(original[o_end]):
            o_end += 1
        return o_start, o_end

    def deleted_before(self, index: int) -> str:
        """The original characters dropped between ``text[index - 1]`` and ``text[index]``.

        Used to see, for example, whether an apostrophe stood before a possessive ``s``.
        """
        if index <= 0 or index >= len(self.text):
            return ""
        return self.original[self.offsets[index - 1] + 1 : self.offsets[index]]


def normalize(text: str, *, casefold: bool = True) -> Normalized:
    """Normalise ``text`` for matching and keep the map back to the original offsets.

    Runs in time linear in ``len(text)``: ASCII text (most news in Latin script) in a few
    whole-array steps; other text with one regular-expression pass over separator runs, ASCII
    words lower-cased in bulk and only other characters one by one (through a bounded cache).

    Args:
        text: the text as written.
        casefold: fold case (the default); ``False`` keeps case but applies every other rule.

    Returns:
        The :class:`Normalized` text with its offset map.
    """
    if text.isascii():
        return _normalize_ascii(text, casefold)
    return _normalize_general(text, casefold)


def _normalize_general(text: str, casefold: bool) -> Normalized:
    """:func:`normalize` for any text: one regular-expression pass over separator runs."""
    parts: list[str] = []
    offsets: array[int] = array("q")
    pending_space = -1  # original index of a separator to emit before the next character
    pos = 0

    def emit_word(start: int, end: int) -> None:
        nonlocal pending_space
        if start >= end:
            return
        word = text[start:end]
        if word.isascii():
            if pending_space >= 0 and offsets:
                parts.append(" ")
                offsets.append(pending_space)
            pending_space = -1
            parts.append(word.lower() if casefold else word)
            offsets.extend(range(start, end))
            return
        for i in range(start, end):
            for c in _fold_cached(text[i], casefold):
                if c == " ":
                    if pending_space < 0:
                        pending_space = i
                    continue
                if pending_space >= 0 and offsets:
                    parts.append(" ")
                    offsets.append(pending_space)
                pending_space = -1
                parts.append(c)
                offsets.append(i)

    for match in _SEPARATOR_RUN.finditer(text):
        emit_word(pos, match.start())
        if pending_space < 0:
            for i in range(match.start(), match.end()):
                if text[i] not in APOSTROPHES:
                    pending_space = i
                    break
        pos = match.end()
    emit_word(pos, len(text))
    return Normalized(original=text, text="".join(parts), offsets=offsets)


def _ascii_table(mapping: Callable[[str], int]) -> bytes:
    """A ``bytes.translate`` table for ASCII text (the other 128 bytes never occur)."""
    return bytes([mapping(chr(i)) for i in range(128)]) + bytes(128)


def _is_spacer(ch: str) -> bool:
    """A separator that is not deleted: each run of them becomes one space."""
    return ch not in APOSTROPHES and _SEPARATOR_RUN.fullmatch(ch) is not None


_ASCII_APOSTROPHES = "".join(sorted(c for c in APOSTROPHES if c.isascii()))
_ASCII_PRESENT = _ascii_table(lambda c: c not in APOSTROPHES)
_ASCII_FOLD = _ascii_table(lambda c: 32 if _is_spacer(c) else ord(c.lower()))
_ASCII_KEEP_CASE = _ascii_table(lambda c: 32 if _is_spacer(c) else ord(c))


def _normalize_ascii(text: str, casefold: bool) -> Normalized:
    """:func:`normalize` for ASCII text, as whole-array operations instead of a loop per word.

    Same result, character for character. Once apostrophes are deleted, a character is kept if
    it is part of a word, or if it is the first separator after a word: that one becomes the
    space of its run. A run before the first word follows no word; the one after the last word
    is dropped at the end.
    """
    raw = text.encode("ascii")
    present: npt.NDArray[np.intp] | None = None  # original index of each character not deleted
    if any(c in text for c in _ASCII_APOSTROPHES):
        present = np.flatnonzero(np.frombuffer(raw.translate(_ASCII_PRESENT), dtype=np.bool_))
        raw = raw.translate(None, _ASCII_APOSTROPHES.encode("ascii"))
    chars = np.frombuffer(raw.translate(_ASCII_FOLD if casefold else _ASCII_KEEP_CASE), dtype=np.uint8)
    word = chars != 32  # what is left of the separators, all turned to spaces
    keep = word.copy()
    keep[1:] |= word[:-1]
    folded = chars[keep].tobytes().decode("ascii")
    offsets = np.flatnonzero(keep) if present is None else present[keep]
    if folded.endswith(" "):  # the separator after the last word
        folded, offsets = folded[:-1], offsets[:-1]
    mapped: array[int] = array("q", offsets.astype(np.int64, copy=False).tobytes())
    return Normalized(original=text, text=folded, offsets=mapped)


_ASCII_DELETED = re.compile("['`]")
_ASCII_SEPARATORS = re.compile(r"[\s\-]+")


def fold_text(text: str, *, casefold: bool = True) -> str:
    """The normalised text alone, without the offset map: ``normalize(text).text``, faster.

    For compiling aliases, where offsets are not needed. ASCII text takes a short path.
    """
    if text.isascii():
        folded = _ASCII_SEPARATORS.sub(" ", _ASCII_DELETED.sub("", text)).strip(" ")
        return folded.lower() if casefold else folded
    return normalize(text, casefold=casefold).text


is_word_char: Callable[[str], bool] = str.isalnum  # the method itself: tagging calls it for every hit
"""Whether ``ch`` (a normalised character) is part of a word: a letter or a digit."""


__all__ = [
    "APOSTROPHES",
    "ARABIC_FOLDS",
    "DASHES",
    "Normalized",
    "fold_char",
    "fold_text",
    "is_mark",
    "is_word_char",
    "normalize",
]
