"""The cleaning stage: from a raw page to its article, title, date, language and reader comments.

``clean(raw)`` is a pure function of the page (and, optionally, of an :class:`OutletTemplates`
memory the caller owns and passes in). Text renders go straight to the line classifier of
:mod:`streams.clean_text`; HTML is taken apart with lxml by :mod:`streams.clean_html` (metadata,
comments, furniture by tag and class name) and its blocks go through the same classifier.

trafilatura is only a rescue, for HTML pages where our reading finds no article, because of its
cost: on the same 20 KB news pages (one core, shared machine), ``clean()`` ran at ~900 pages/s
(~2,000 since it was tuned), ``trafilatura.extract(fast=True)`` at ~430 pages/s and
``bare_extraction(fast=True, with_metadata=True)`` at ~190 pages/s — its date search (htmldate)
alone halves the rate — against a pipeline target of 1,000 pages/s on two cores. Dates come instead
from ``<meta>``, JSON-LD, ``<time datetime>``, the lines near the headline and, last, the URL. Text
renders (the seeds) clean at ~2,000 pages/s.

A page is rejected with a :class:`~streams.errors.RejectedPage` carrying a dead-letter reason:
``EMPTY_BODY`` (nothing but whitespace), ``BINARY_CONTENT`` (NUL characters or more than
``BINARY_CONTROL_RATIO`` control characters in a sample) or ``NO_ARTICLE`` (no run of prose).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import datetime

from schemas.deadletter import Reason
from schemas.pages import CleanPage, RawPage
from streams.clean_html import HtmlPage, parse_html
from streams.clean_text import (
    Extraction,
    Line,
    char_span,
    collapse_spaces,
    contains_any,
    date_from_url,
    extract,
    lines_from_text,
    normalize_text,
)
from streams.errors import RejectedPage

__all__ = ["OutletTemplates", "clean", "content_id", "guess_lang"]

# Share of control characters (C0 other than whitespace, DEL, C1, U+FFFD) above which a body is binary.
BINARY_CONTROL_RATIO = 0.03
_SAMPLE_CHARS = 8192
_CONTROL_CHARS = char_span("\x01", "\x08") + char_span("\x0e", "\x1f") + char_span("\x7f", "\x9f") + "\ufffd"
_CONTROL = re.compile(f"[{re.escape(_CONTROL_CHARS)}]")
_ARABIC = re.compile(r"[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]")
_PERSIAN = re.compile(r"[\u067e\u0686\u0698\u06af\u06a9\u06cc]")
_LATIN = re.compile(r"[A-Za-z]")
_ENGLISH = frozenset([
    b"the", b"of", b"and", b"to", b"in", b"is", b"that", b"for", b"on", b"with", b"as", b"was", b"by", b"at",
    b"from", b"it", b"his", b"said", b"has", b"are", b"be",
])
_NOT_WORD_TO_SPACE = bytes([byte if 0x61 <= byte <= 0x7A else 0x20 for byte in range(256)])
_HTML_SNIFF = re.compile(r"\s*(?:<!doctype html|<html[\s>])", re.IGNORECASE)
_RESCUE_MIN_CHARS = 500
# trafilatura's pruning is not linear on pathological trees; beyond this a page gets no rescue.
_RESCUE_MAX_CHARS = 1_000_000


def content_id(body: str) -> str:
    """A stable id of an article body: equal for bodies that differ only in case and whitespace.

    The body is NFKC-normalised, case-folded and its whitespace collapsed, then hashed with BLAKE2b
    (64 bits, 16 hex characters). Dedup uses it to recognise exact duplicates.

    Args:
        body: the article text.

    Returns:
        16 lowercase hex characters.
    """
    return _digest(" ".join(unicodedata.normalize("NFKC", body).casefold().split()))


def _digest(normalised: str) -> str:
    return hashlib.blake2b(normalised.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def _article_id(found: Extraction, article: str) -> str:
    """``content_id(article)``, without splitting the article when its paragraphs are collapsed lines."""
    if found.collapsed and unicodedata.is_normalized("NFKC", article):
        # Case folding makes and removes no whitespace: the words are those of the paragraphs.
        return _digest(" ".join(found.paragraphs).casefold())
    return content_id(article)


def guess_lang(text: str, hint: str | None = None) -> str | None:
    """Guess the language of an article cheaply: by script, and English by its commonest words.

    Args:
        text: the article body; only its first 1,500 characters are looked at.
        hint: a declared language (``<html lang>``), used when the text alone does not tell.

    Returns:
        ``"ar"`` (``"fa"`` when Persian letters are common), ``"en"``, the hint, or None.
    """
    sample = text[:1500]
    arabic = 0 if sample.isascii() else len(_ARABIC.findall(sample))
    latin = len(_LATIN.findall(sample)) if arabic else len(sample)
    if arabic >= 20 and arabic > latin:
        return "fa" if len(_PERSIAN.findall(sample)) * 50 > arabic else "ar"
    if latin >= 20 and latin > arabic:
        # The words [a-z]+ finds, several times faster than the regex: every byte but a-z becomes a
        # space, and so does the "?" each other character is encoded as.
        lowered = sample.lower().encode("ascii", "replace")
        words = lowered.translate(_NOT_WORD_TO_SPACE).split()
        common = sum(map(_ENGLISH.__contains__, words))
        if len(_ENGLISH.intersection(words)) >= 5 and common >= 0.08 * len(words):
            return "en"
    if hint and hint.isalpha() and 2 <= len(hint) <= 3:
        return hint
    return None


class OutletTemplates:
    """A bounded memory of the lines each outlet prints on many pages (menus, promos, footers).

    A line seen on at least ``min_pages`` distinct pages of one outlet is template text: the
    cleaner removes it (counted as ``template``) even where it sits inside the article area. The
    memory is an LRU of ``max_outlets`` outlets, each an LRU of ``max_lines`` line hashes with at
    most ``min_pages`` page keys apiece, so it stays bounded however long the stream runs. Pages
    are told apart by URL (or by content when there is none), so refetching one page does not make
    its text look like a template; and when template lines would be most of an article (a
    re-post), the cleaner keeps them.

    Not thread-safe; one instance belongs to one worker.
    """

    def __init__(self, min_pages: int = 3, max_outlets: int = 512, max_lines: int = 4096) -> None:
        """Create an empty memory.

        Args:
            min_pages: distinct pages a line must appear on to count as template text (>= 2).
            max_outlets: outlets remembered; the least recently seen is forgotten first.
            max_lines: line hashes remembered per outlet; the least recently seen go first.

        Raises:
            ValueError: when an argument is out of range; the message says which and why.
        """
        if min_pages < 2:
            raise ValueError(f"min_pages={min_pages}: use 2 or more, a line on one page is not a template")
        if max_outlets < 1 or max_lines < 1:
            raise ValueError(
                f"max_outlets={max_outlets}, max_lines={max_lines}: both must be >= 1 to remember anything"
            )
        self.min_pages = min_pages
        self.max_outlets = max_outlets
        self.max_lines = max_lines
        # outlet -> line hash -> hashes of the (at most min_pages) distinct pages it was seen on
        self._outlets: OrderedDict[str, OrderedDict[int, tuple[int, ...]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._outlets)

    @staticmethod
    def line_key(text: str, *, collapsed: bool = False) -> int:
        """A line's key in the memory: its first 1,000 characters, case-folded, whitespace collapsed.

        Python's string hash: fast, and stable for the life of the process, which is the life of
        this memory (it is not persisted). ``collapsed`` says the text is known to be collapsed
        already (``Line.collapsed``); case folding makes and removes no whitespace.
        """
        text = text[:1000].casefold()
        return hash(text.rstrip(" ") if collapsed else collapse_spaces(text))

    def pages_with(self, outlet: str, line: str) -> int:
        """On how many distinct pages of ``outlet`` the line was seen (capped at ``min_pages``)."""
        lines = self._outlets.get(outlet)
        if lines is None:
            return 0
        return len(lines.get(self.line_key(line), ()))

    def is_template(self, outlet: str, line: str) -> bool:
        """Whether ``line`` is template text of ``outlet``."""
        return self.pages_with(outlet, line) >= self.min_pages

    def templated(self, outlet: str, keys: Sequence[int]) -> list[bool]:
        """Which of a page's lines, given by their :meth:`line_key`, are template text of ``outlet``."""
        lines = self._outlets.get(outlet)
        if lines is None:
            return [False] * len(keys)
        min_pages = self.min_pages
        return [len(lines.get(key, ())) >= min_pages for key in keys]

    def observe(self, outlet: str, page_key: str, lines: Iterable[str], max_lines_per_page: int = 2000) -> None:
        """Remember the lines of one page of ``outlet``.

        Args:
            outlet: the outlet the page belongs to.
            page_key: what tells pages apart (the URL, or a content hash).
            lines: the page's lines; only the first ``max_lines_per_page`` distinct ones are kept,
                so one huge page cannot flush the memory.
            max_lines_per_page: see ``lines``.
        """
        self.observe_keys(outlet, page_key, map(self.line_key, lines), max_lines_per_page)

    def observe_keys(
        self, outlet: str, page_key: str, keys: Iterable[int], max_lines_per_page: int = 2000
    ) -> None:
        """:meth:`observe` for lines already reduced to their :meth:`line_key`."""
        if not outlet:
            return
        memory = self._outlets.get(outlet)
        if memory is None:
            memory = self._outlets[outlet] = OrderedDict()
            if len(self._outlets) > self.max_outlets:
                self._outlets.popitem(last=False)
        else:
            self._outlets.move_to_end(outlet)
        page = hash(page_key)
        min_pages, max_lines = self.min_pages, self.max_lines
        get, move_to_end = memory.get, memory.move_to_end
        seen: set[int] = set()
        for key in keys:  # lazily: a huge page stops at its first max_lines_per_page distinct lines
            if len(seen) >= max_lines_per_page:
                break
            if key in seen:
                continue
            seen.add(key)
            pages = get(key)
            if pages is None:
                memory[key] = (page,)
                if len(memory) > max_lines:
                    memory.popitem(last=False)
                continue
            move_to_end(key)
            if page not in pages and len(pages) < min_pages:
                memory[key] = (*pages, page)


def clean(raw: RawPage, templates: OutletTemplates | None = None) -> CleanPage:
    """Reduce a raw page to its article: body paragraphs, title, date, language and comments.

    Navigation, tickers, related-story lists, share bars, bylines, captions, comment forms,
    footers and (with ``templates``) the outlet's recurring lines are removed and counted by kind
    in ``removed``; reader comments go to ``comments``, never to ``body``.

    Args:
        raw: the page; ``text/html`` bodies are parsed as HTML (so is ``text/plain`` that is
            evidently an HTML document), anything else as a text render.
        templates: the caller's memory of outlet templates, updated with this page's lines; None
            keeps no memory.

    Returns:
        The clean page.

    Raises:
        RejectedPage: ``EMPTY_BODY``, ``BINARY_CONTENT`` or ``NO_ARTICLE``.
    """
    body = raw.body
    if not body.strip():
        raise RejectedPage(Reason.EMPTY_BODY, "the page body is empty or only whitespace")
    _reject_binary(body)
    is_html = raw.content_type == "text/html" or _HTML_SNIFF.match(body[:200]) is not None
    outlet = raw.outlet

    page: HtmlPage | None = None
    if is_html:
        page = parse_html(body)
        lines = page.lines
        if not lines:
            stopped = f" before the parser stopped ({page.truncated})" if page.truncated else ""
            raise RejectedPage(Reason.NO_ARTICLE, f"the HTML page has no visible text{stopped}")
    else:
        lines = lines_from_text(normalize_text(body))
    keys: list[int] = []
    templated: list[bool] | None = None
    if templates is not None:
        # Each line's key is computed once, to look the page up and then to remember it.
        keys = _line_keys(lines)
        templated = templates.templated(outlet, keys)
    found = extract(lines, templated=templated)

    published_at: datetime | None = None
    lang_hint: str | None = None
    if page is None:
        title, comments = found.title, found.comments
    else:
        if not found.paragraphs:
            found = _rescue(body, templates, outlet) or found
        found.removed.update(page.removed)
        title = page.title or found.title or page.h1
        published_at, lang_hint = page.published_at, page.lang
        comments = page.comments + found.comments
    if templates is not None:
        templates.observe_keys(outlet, raw.url or content_id(body[:1_000_000]), keys)
    if not found.paragraphs:
        raise RejectedPage(Reason.NO_ARTICLE, f"no article text among {len(lines)} lines of the page")

    article = "\n\n".join(found.paragraphs)
    return CleanPage(
        doc_id=_article_id(found, article),
        url=raw.url,
        outlet=outlet,
        title=title,
        published_at=published_at or found.published_at or date_from_url(raw.url),
        fetched_at=raw.fetched_at,
        lang=guess_lang(article, lang_hint),
        body=article,
        comments=comments,
        removed=dict(sorted(found.removed.items())),
        source=raw.source,
    )


def _line_keys(lines: Sequence[Line]) -> list[int]:
    line_key = OutletTemplates.line_key
    return [line_key(line.text, collapsed=line.collapsed) for line in lines]


def _reject_binary(body: str) -> None:
    if "\x00" in body:
        raise RejectedPage(Reason.BINARY_CONTENT, "the page body contains NUL characters: binary data")
    n = len(body)
    if n <= 3 * _SAMPLE_CHARS:
        samples = [body]
    else:
        middle = n // 2
        samples = [body[:_SAMPLE_CHARS], body[middle : middle + _SAMPLE_CHARS], body[-_SAMPLE_CHARS:]]
    total = sum(len(s) for s in samples)
    control = sum(len(_CONTROL.findall(s)) for s in samples if contains_any(s, _CONTROL_CHARS))
    if control > BINARY_CONTROL_RATIO * total:
        raise RejectedPage(
            Reason.BINARY_CONTENT,
            f"{control} of {total} sampled characters are control characters: binary data",
        )


def _rescue(html: str, templates: OutletTemplates | None, outlet: str) -> Extraction | None:
    """Ask trafilatura for the main text when our own HTML reading found no article.

    Its output still goes through the line classifier, so a page of links stays rejected. The
    import is lazy and optional: without trafilatura (or with a broken install) there is no rescue.
    """
    if not _RESCUE_MIN_CHARS <= len(html) <= _RESCUE_MAX_CHARS:
        return None
    try:
        import trafilatura  # noqa: PLC0415 - optional and slow to import; only needed here
    except ImportError:
        return None
    try:
        text = trafilatura.extract(html, fast=True, include_comments=False)
    except Exception:
        return None
    if not text:
        return None
    lines = lines_from_text(normalize_text(text))
    templated = templates.templated(outlet, _line_keys(lines)) if templates is not None else None
    found = extract(lines, templated=templated)
    return found if found.paragraphs else None
