"""Find the article in a page render split into lines: a linear-time line classifier.

Text dumps of news pages (like ``seeds/``) interleave the article with menus, tickers, "Most Read"
lists, share bars, footers and reader comments, and off-the-shelf extractors built for HTML fail on
them. This module marks every line with generic signals only — length and word count, sentence
punctuation, bullet markers, boilerplate section headers ("Most Read", "Related News", "Leave a
Comment", ...), duplicated caption lines, lines an outlet repeats on every page — and then keeps the
densest run of prose: the maximum-sum segment of per-line scores (Kadane's algorithm, as in Finn et
al.'s Body Text Extraction). The title and the date are looked for just before that run, reader
comments just after it.

Every pass is linear in the number of lines and every regular expression either runs on a bounded
slice of a line or is free of nested quantifiers, so a pathological page (one 10 MB word, a million
short lines) costs time proportional to its size.

Kinds of removed text, as counted (in lines, or text pieces for HTML) in ``CleanPage.removed``:
``navigation``, ``ticker``, ``related``, ``tags``, ``share``, ``byline``, ``caption``, ``heading``,
``comment_form``, ``footer``, ``template`` (and ``promo`` from HTML class names).

Known limits, by design of a generic classifier:

- Subheadings inside an article are dropped (counted as ``heading``): a short line without
  sentence punctuation between paragraphs is more often a teaser or a label than a subhead.
- A related-story teaser glued into a paragraph is found only when the dumper left a sentence end
  directly before it ("agency.Armed ..."); one glued without punctuation ("agencyArmed ...") cannot
  be told from a camel-case name (YouTube, McDonald) and stays in the paragraph.
- Reader comments are recognised by a header line (a timestamp with a time, "3 hours ago",
  "Name says:") or a "Comments" section title after the article; a live blog whose updates start
  with bulleted timestamps after the first paragraphs would be read the same way.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from schemas.pages import Comment

NAVIGATION = "navigation"
TICKER = "ticker"
RELATED = "related"
TAGS = "tags"
SHARE = "share"
BYLINE = "byline"
CAPTION = "caption"
HEADING = "heading"
COMMENT_FORM = "comment_form"
COMMENTS = "comments"  # lines moved to ``CleanPage.comments``: not counted as removed
FOOTER = "footer"
TEMPLATE = "template"
PROMO = "promo"

# Lines longer than this are never headers, dates, bylines or captchas; it bounds the regex work.
_SHORT_LINE = 160
_TITLE_LOOKBACK = 12  # non-blank lines searched back from the article for its title
_MIN_ARTICLE_WORDS = 12

# Prose classes of a line.
_NONE, _WEAK, _SHORT, _GOOD = 0, 1, 2, 3

_BULLETS = frozenset("•*-–—·▪►»◦‣○●■□▸→")
_TERMINAL = re.compile(r"[.!?…][\"'”’»)\]]{0,3}$")
_SENTENCE_BREAK = re.compile(r"[.!?][\"'”’]? +[A-Z\"“‘]")
_DIGIT = re.compile(r"\d")
_CAPTCHA = re.compile(r"^\d{1,3} ?[-+x×*/÷] ?\d{1,3} ?= ?[?_.\d]{0,4}$", re.IGNORECASE)
_COPYRIGHT = re.compile(r"©|\(c\) ?\d{4}|\bcopyright\b|\ball rights reserved\b", re.IGNORECASE)
_BYLINE = re.compile(
    r"^(?:by|written by|posted by|reported by|reporting by|edited by|author|authors|source|sources"
    r"|photo|photos|image|images|credit|credits|updated|published|posted|last updated)\b ?:? ",
    re.IGNORECASE,
)
_READ_TIME = re.compile(r"^(?:\d{1,3} ?(?:min|mins|minute|minutes)(?: read)?|reading time\b.*)$", re.IGNORECASE)
_TEASER_PREFIX = re.compile(
    r"^(?:read more|read also|also read|more|related|see also|recommended|watch|listen|click here)"
    r" ?[:|»>]",
    re.IGNORECASE,
)
_SAYS = re.compile(r"^[^\d:]{1,40}? (?:says|said|wrote|commented|replied) ?:?$", re.IGNORECASE)
_RELATIVE_TIME = re.compile(
    r"^(?:about )?(?:\d{1,3}|an?|one) (?:second|sec|minute|min|hour|hr|day|week|month|year)s? ago$",
    re.IGNORECASE,
)
_TEASER_MARKS = frozenset(":|»>")
_SAYS_WORDS = frozenset({"says", "said", "wrote", "commented", "replied"})
_BYLINE_WORDS = frozenset(
    [
        "by", "written", "posted", "reported", "reporting", "edited", "author", "authors", "source",
        "sources", "photo", "photos", "image", "images", "credit", "credits", "updated", "published", "last",
    ]
)
_HEADING_HINTS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_COMMENT_ACTIONS = frozenset({"reply", "report", "like", "share", "flag", "quote", "permalink", "edit"})
_KEY_JUNK = re.compile(r"[^\w' ]+")
_KEY_COUNT = re.compile(r"^\d+ | \d+$")
# A glued render: a sentence end directly followed by a capitalised word, with no space. Starting
# at the punctuation (not at the letter before it) lets the regex engine skip ahead to candidates.
def _glue_at(mark: str) -> re.Pattern[str]:
    return re.compile(mark + r"(?<=[a-z]" + mark + r")[\"”’']?(?=[A-Z][a-z])")


_STRONG_GLUE = _glue_at("[.!?]")
# The same, one pattern per mark: each starts with a fixed character, which the regex engine scans
# for faster than for a class, so three searches of a line cost less than one of ``_STRONG_GLUE``.
_GLUE_AT_MARK = tuple(_glue_at(re.escape(mark)) for mark in ".!?")
# Inside a glued teaser: a lowercase word directly followed by a capitalised one ("warnsThe").
_WEAK_GLUE = re.compile(r"[a-z]{2}(?=[A-Z][a-z])")
_CAMEL = re.compile(r"[a-z][A-Z]")
# Latin-1 bytes of the letters a word of prose starts with: [a-zà-ÿ] become "a", [A-ZÀ-Þ] become "A".
_CASE_MARKS = bytes.maketrans(
    string.ascii_lowercase.encode() + bytes(range(0xE0, 0x100)) + string.ascii_uppercase.encode()
    + bytes(range(0xC0, 0xDF)),
    b"a" * 58 + b"A" * 57,
)

_SOCIAL = frozenset(
    [
        "facebook", "twitter", "x", "whatsapp", "telegram", "email", "e-mail", "mail", "print", "linkedin",
        "reddit", "pinterest", "share", "tweet", "messenger", "vk", "instagram", "youtube", "tiktok", "copy",
        "link", "url", "on", "via",
    ]
)

_HEADER_PHRASES: dict[str, tuple[str, ...]] = {
    RELATED: (
        "most read", "most popular", "most viewed", "most shared", "most commented", "popular",
        "popular now", "popular stories", "read next", "read more", "read also", "also read",
        "related", "related news", "related articles", "related stories", "related posts",
        "related content", "related coverage", "you may also like", "you might also like",
        "you may like", "you might like", "you may be interested in", "recommended",
        "recommended for you", "recommended stories", "more stories", "more news", "more from",
        "more on this", "more on this story", "trending", "trending now", "trending news",
        "trending stories", "coverage", "editors picks", "editor's picks", "don't miss", "dont miss",
        "in case you missed it", "see also", "further reading", "top stories", "featured",
        "what to read next", "latest stories", "more in", "also on",
    ),
    TICKER: (
        "breaking", "breaking news", "latest", "latest news", "latest headlines", "latest updates",
        "headlines", "top headlines", "just in", "live", "live updates", "news ticker", "ticker",
    ),
    TAGS: ("tags", "tagged", "topics", "related topics", "keywords", "filed under", "categories"),
    SHARE: (
        "share", "share this", "share this article", "share this story", "share this post",
        "share on", "share article", "share via", "follow us", "follow us on",
    ),
    COMMENT_FORM: (
        "leave a comment", "leave a reply", "post a comment", "add a comment", "write a comment",
        "add comment", "post comment", "submit comment", "submit", "cancel reply", "your comment",
        "leave a comment below", "your email address will not be published",
        "required fields are marked", "save my name email and website in this browser",
    ),
    COMMENTS: (
        "comments", "reader comments", "responses", "discussion", "join the discussion",
        "join the conversation", "show comments", "view comments", "load comments",
    ),
    FOOTER: (
        "back to top", "back to top button", "scroll to top", "go to top", "all rights reserved",
        "privacy policy", "privacy", "terms of use", "terms of service", "terms and conditions",
        "cookie policy", "cookies policy", "about us", "contact us", "contact", "advertise",
        "advertise with us", "careers", "sitemap", "site map", "disclaimer", "imprint",
    ),
    NAVIGATION: (
        "home", "menu", "main menu", "search", "skip to content", "skip to main content", "sign in",
        "log in", "login", "register", "subscribe", "newsletter", "toggle navigation", "close",
        "open menu",
    ),
}
_HEADERS: dict[str, str] = {
    phrase: kind for kind, phrases in _HEADER_PHRASES.items() for phrase in phrases
}
# Header kinds that open a block: the lines after them share their kind until real prose resumes.
_ZONE_KINDS = frozenset({RELATED, TICKER, TAGS, SHARE, COMMENT_FORM, COMMENTS, FOOTER})


def char_span(first: str, last: str) -> str:
    """The characters from ``first`` to ``last``, both included, as one string."""
    return "".join(map(chr, range(ord(first), ord(last) + 1)))


def contains_any(text: str, chars: str) -> bool:
    """Whether ``text`` holds any of ``chars``.

    Finding one character in a string is a memchr-like scan, so on a whole page one scan per
    character is several times faster than a regular expression's character class.
    """
    return any(map(text.__contains__, chars))


# Whitespace and invisible characters normalised over the whole page: a look for any of them (see
# contains_any), then one regex pass calling back per odd character only (``str.translate`` with a
# table is several times slower on typical pages).
_SPACES = "\t\u00a0\u1680" + char_span("\u2000", "\u200a") + "\u202f\u205f\u3000"
_BREAKS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_DROPPED = char_span("\x00", "\x08") + char_span("\x0e", "\x1b") + "\x7f\u00ad\u200b\u2060\ufeff"
_ODD = _SPACES + _BREAKS + _DROPPED + "\r"
_ODD_CHARS = re.compile(f"[{re.escape(_ODD)}]")
_INVISIBLE = re.compile("[\u00ad\u200b\u2060\ufeff]")
_ASCII_CONTROLS_TO_NUL = bytes([0 if byte < 0x20 or byte == 0x7F else byte for byte in range(256)])


def _replace_odd(match: re.Match[str]) -> str:
    char = match.group()
    if char in _SPACES:
        return " "
    if char == "\r" or char in _BREAKS:
        return "\n"
    return ""


# --------------------------------------------------------------------------------------------- dates

_MONTH_NUMBERS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}
_MONTH = (
    r"(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)(?![a-z])\.?"
)
_TIME = (
    r"(?:(?: ?[-–—,|@•] ?| at | ?T| )(?P<h>\d{1,2}):(?P<mi>\d{1,2})(?::(?P<s>\d{1,2})(?:\.\d+)?)?"
    r" ?(?P<ampm>[ap]\.?m\b\.?)? ?(?P<tz>z\b|utc\b|gmt\b|[+-]\d{2}:?\d{2}\b)?)?"
)
_DATE_PATTERNS = (
    re.compile(r"(?<!\d)(?P<y>(?:19|20)\d{2})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})(?!\d)" + _TIME, re.I),
    re.compile(r"\b" + _MONTH + r" (?P<d>\d{1,2})(?:st|nd|rd|th)?,? (?P<y>(?:19|20)\d{2})\b" + _TIME, re.I),
    re.compile(
        r"(?<!\d)(?P<d>\d{1,2})(?:st|nd|rd|th)? (?:of )?" + _MONTH + r",? (?P<y>(?:19|20)\d{2})\b" + _TIME,
        re.I,
    ),
)
_URL_DATE = re.compile(r"/((?:19|20)\d{2})[/-](\d{1,2})[/-](\d{1,2})(?:/|$|[-_])")


@dataclass(frozen=True, slots=True)
class FoundDate:
    """A date found in a short text: the value, where it was written and whether a time was given."""

    value: datetime
    start: int
    end: int
    has_time: bool


def find_date(text: str) -> FoundDate | None:
    """Find the first calendar date (and its time, if written) in a short text.

    Understands ISO dates ("2021-03-06 02:09", "2021-03-06T02:09:00Z"), month-name dates in both
    orders ("March 5, 2021 - 18:5", "21 Jul 2021 14:49", "5th of March 2021 at 6:05 pm") and an
    optional UTC offset. A date without a zone is taken as UTC.

    Args:
        text: the text to search; only its first ``_SHORT_LINE * 2`` characters are looked at.

    Returns:
        The first date found, or None.
    """
    text = collapse_spaces(text[: _SHORT_LINE * 2])
    best: FoundDate | None = None
    for pattern in _DATE_PATTERNS:
        match = pattern.search(text)
        if match is None or (best is not None and match.start() >= best.start):
            continue
        value = _date_from_match(match)
        if value is not None:
            best = FoundDate(value, match.start(), match.end(), match.group("h") is not None)
    return best


def _date_from_match(match: re.Match[str]) -> datetime | None:
    groups = match.groupdict()
    month = _MONTH_NUMBERS[groups["mon"][:3].lower()] if groups.get("mon") else int(groups["m"])
    hour = int(groups["h"] or 0)
    minute = int(groups["mi"] or 0)
    second = int(groups["s"] or 0)
    ampm = (groups["ampm"] or "").lower()
    if ampm.startswith("p") and hour < 12:
        hour += 12
    elif ampm.startswith("a") and hour == 12:
        hour = 0
    tz = _zone(groups["tz"])
    if not (1 <= month <= 12 and 1 <= int(groups["d"]) <= 31 and hour < 24 and minute < 60 and second < 60):
        return None
    try:
        return datetime(int(groups["y"]), month, int(groups["d"]), hour, minute, second, tzinfo=tz)
    except ValueError:  # a day the month does not have, e.g. 31 June
        return None


def _zone(text: str | None) -> timezone:
    if not text or text.lower() in {"z", "utc", "gmt"}:
        return UTC
    digits = text[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4]))
    if offset >= timedelta(hours=24):
        return UTC
    return timezone(-offset if text[0] == "-" else offset)


def parse_datetime(value: str) -> datetime | None:
    """Parse a machine-readable date (HTML meta, JSON-LD, ``<time datetime>``) into an aware datetime.

    Tries ISO 8601 first, then the written forms :func:`find_date` understands. A value without a
    zone is taken as UTC.

    Args:
        value: the attribute or property value.

    Returns:
        The date, or None when the value holds none.
    """
    value = value.strip()[:100]
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        found = find_date(value)
        return found.value if found else None
    if not 1900 <= parsed.year <= 2100:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def date_from_url(url: str | None) -> datetime | None:
    """The date a URL path spells out (``/2021/03/05/...``), at midnight UTC, or None."""
    if not url:
        return None
    match = _URL_DATE.search(url[:2000])
    if match is None:
        return None
    year, month, day = [int(g) for g in match.groups()]
    try:
        return datetime(year, month, day, tzinfo=UTC)
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------- lines


@dataclass(slots=True)
class Line:
    """One non-blank line of a page render, with the signals the classifier reads and writes.

    Attributes:
        text: the line with its bullet marker removed and its whitespace collapsed.
        words: number of whitespace-separated words.
        gap: a blank line (or a block boundary) precedes it.
        bullet: it was a list item ("•", "*", "-" marker or an HTML ``<li>``).
        indent: leading spaces in a text render.
        hint: the HTML block it came from ("h1".."h6", "li", "p", ...), empty for text renders.
        link_ratio: share of its characters inside links (HTML only).
        collapsed: ``text`` is known to hold no whitespace but single spaces between words (nearly
            always so; see :func:`make_line`), which saves checking it again.
        kind: the kind of furniture it is, once known; empty while it may be article text.
    """

    text: str
    words: int
    gap: bool = False
    bullet: bool = False
    indent: int = 0
    hint: str = ""
    link_ratio: float = 0.0
    collapsed: bool = False
    kind: str = ""
    prose: int = _NONE
    header: str = ""
    date: FoundDate | None = None
    comment_head: bool = False
    boundary: bool = False


@dataclass(slots=True)
class Extraction:
    """What the classifier found in a page: the article, its metadata, comments and removals."""

    paragraphs: list[str]
    collapsed: bool = False  # every paragraph is a collapsed line (see Line.collapsed)
    title: str | None = None
    published_at: datetime | None = None
    comments: list[Comment] = field(default_factory=list)
    removed: Counter[str] = field(default_factory=Counter)


def _printable(text: str) -> bool:
    """``text.isprintable()``, several times faster on ASCII text: its control bytes become NUL."""
    if text.isascii():
        return 0 not in text.encode("ascii").translate(_ASCII_CONTROLS_TO_NUL)
    return text.isprintable()


def collapse_spaces(text: str) -> str:
    """``" ".join(text.split())``: the text with every run of whitespace made one space, and stripped.

    Most text needs nothing done, and telling so takes two scans (no whitespace but single spaces:
    every other whitespace character is unprintable) instead of splitting the text into words and
    joining them again.
    """
    if _printable(text) and "  " not in text:
        return text.strip(" ")
    return " ".join(text.split())


def normalize_text(text: str) -> str:
    """Normalise line breaks, spaces and invisible characters of a whole page in linear time."""
    if not contains_any(text, _ODD):  # the common case, "\r" included
        return text
    return _ODD_CHARS.sub(_replace_odd, text.replace("\r\n", "\n"))


def make_line(
    raw: str, gap: bool = False, hint: str = "", link_ratio: float = 0.0, *, collapsed: bool = False
) -> Line | None:
    """Build a :class:`Line` from one rendered line; None when it holds no text.

    ``collapsed`` says that ``raw`` has been through :func:`collapse_spaces` already, which strips it.
    """
    if collapsed:
        text, indent = raw, 0
    else:
        text = raw.strip()
        indent = len(raw) - len(raw.lstrip(" ")) if text and raw[0] == " " else 0
    if not text:
        return None
    bullet = hint == "li"
    while text[0] in _BULLETS and (len(text) == 1 or text[1] == " "):
        bullet = True
        text = text[1:].lstrip()
        if not text:
            return None
    if collapsed or (_printable(text) and "  " not in text):
        # Single spaces and no other whitespace: counting spaces gives the words without splitting.
        words = text.count(" ") + 1
        collapsed = True
    else:
        parts = text.split()  # also splits on no-break and other Unicode spaces
        words = len(parts)
        # Joined again only when the spaces do not match the words: left as is, it may hold others.
        collapsed = words - 1 != text.count(" ")
        if collapsed:
            text = " ".join(parts)
    if not text.isascii() and _INVISIBLE.search(text):
        text = _INVISIBLE.sub("", text)
        if not text:
            return None
        collapsed = False  # a character removed between two spaces leaves both
    return Line(text, words, gap, bullet, indent, hint, link_ratio, collapsed)


def lines_from_text(text: str) -> list[Line]:
    """Split a text render into :class:`Line` objects, undoing glued related-story teasers.

    Args:
        text: the page as plain text, already passed through :func:`normalize_text`.

    Returns:
        The non-blank lines, in order.
    """
    lines: list[Line] = []
    gap = False
    period, exclamation, question = _GLUE_AT_MARK
    for raw in text.split("\n"):
        line = make_line(raw, gap) if raw else None
        if line is None:
            gap = True
            continue
        gap = False
        line_text = line.text
        if (
            period.search(line_text) is None
            and exclamation.search(line_text) is None
            and question.search(line_text) is None
        ):
            lines.append(line)
        else:
            lines.extend(_unglue(line))
    return lines


def _unglue(line: Line) -> list[Line]:
    """Split a line where a text dumper glued blocks together without a space (``_STRONG_GLUE``).

    "...its spy agency.Armed resistance ... leader warnsThe leader of ..." is a paragraph ending,
    then a related story's headline and teaser glued on. A sentence end directly followed by a
    capitalised word opens a headline-like run (no sentence punctuation, at most 30 words) that
    either ends the line or ends where a lowercase word is glued to a capitalised one; that run and
    the rest of the line are a related-story teaser. A glue point followed by anything else is only
    a missing space, which is put back.
    """
    text = line.text
    pieces: list[str] = []
    pos = 0
    teaser: list[str] = []
    for match in _STRONG_GLUE.finditer(text):
        cut = match.end()
        window = text[cut : cut + 400]
        weak = _WEAK_GLUE.search(window)
        if weak is not None and _headline_like(window[: weak.end()]):
            teaser = [text[cut : cut + weak.end()], text[cut + weak.end() :]]
        elif len(text) - cut <= 400 and _headline_like(text[cut:]):
            teaser = [text[cut:]]
        if teaser:
            pieces.append(text[pos:cut])
            pos = len(text)
            break
        pieces.append(text[pos:cut])
        pos = cut
    if not pieces:
        return [line]
    pieces.append(text[pos:])
    head = " ".join(p for p in pieces if p)
    # Cut where no space was, so each piece is as collapsed as the line.
    out = [
        Line(
            text=head, words=len(head.split()), gap=line.gap, bullet=line.bullet, indent=line.indent,
            collapsed=line.collapsed,
        )
    ]
    for part in teaser:
        stripped = part.strip()
        if stripped:
            out.append(Line(text=stripped, words=len(stripped.split()), kind=RELATED, collapsed=line.collapsed))
    return out


def _headline_like(text: str) -> bool:
    words = len(text.split())
    return (
        3 <= words <= 30
        and text[:1].isupper()
        and _SENTENCE_BREAK.search(text) is None
        and _TERMINAL.search(text[-6:]) is None
    )


# ----------------------------------------------------------------------------------------- classifier


def extract(lines: Sequence[Line], *, templated: Sequence[bool] | None = None) -> Extraction:
    """Find the article, its title and date, and the reader comments among the lines of a page.

    Args:
        lines: the page's non-blank lines (:func:`lines_from_text`, or HTML blocks).
        templated: for each line, whether it is text the outlet repeats on every page (see
            ``OutletTemplates``); None when no such memory is kept.

    Returns:
        The extraction; ``paragraphs`` is empty when no article was found.
    """
    for line in lines:
        _mark_line(line)
    seen_prose = _mark_zones(lines)
    _mark_captions(lines)
    if templated is not None:
        for line, is_template in zip(lines, templated, strict=True):
            if is_template and not line.kind:
                line.kind = TEMPLATE
    start, end = _best_segment(lines, seen_prose)
    result = Extraction(paragraphs=[])
    if start < 0:
        result.removed.update(line.kind or NAVIGATION for line in lines)
        return result
    title_at = _find_title(lines, start, skip_templates=True)
    if title_at < 0 and templated is not None:
        title_at = _find_title(lines, start, skip_templates=False)
    result.title = lines[title_at].text if title_at >= 0 else _repeated_title(lines, start)
    result.published_at = _find_published(lines, start, title_at)
    result.comments = _take_comments(lines, end)
    body = _take_body(lines, start, end)
    result.paragraphs = [line.text for line in body]
    result.collapsed = all(line.collapsed for line in body)
    result.removed.update(
        line.kind or _positional_kind(line, i, start, end)
        for i, line in enumerate(lines)
        if i != title_at and line.kind not in {"body", COMMENTS}
    )
    if _fewer_words(result.paragraphs, _MIN_ARTICLE_WORDS) and not any(
        line.prose == _GOOD for line in lines[start : end + 1] if line.kind == "body"
    ):
        result.paragraphs = []
    return result


def _fewer_words(texts: list[str], limit: int) -> bool:
    """Whether the texts hold fewer than ``limit`` words, counting no further than that."""
    words = 0
    for text in texts:
        words += len(text.split(maxsplit=limit))
        if words >= limit:
            return False
    return True


def _mark_line(line: Line) -> None:
    """Set the per-line signals that need no context; cheap tests first, most lines exit early."""
    text = line.text
    words = line.words
    line.prose = _prose_class(text, words) if words >= 4 else _NONE
    if line.kind:
        return
    if line.link_ratio >= 0.9 or (line.link_ratio >= 0.5 and line.prose < _GOOD):
        line.kind = "link"
        return
    if len(text) > _SHORT_LINE:
        return
    if line.hint in _HEADING_HINTS:
        line.prose = _NONE
    if words <= 8:
        key = _header_key(text)
        header = _HEADERS.get(key, "")
        if header:
            line.header = line.kind = header
            return
        if key and all(w in _SOCIAL for w in key.split()):
            line.kind = SHARE
            return
    if words <= 30 and line.prose < _GOOD and _has_copyright(text):
        line.header = line.kind = FOOTER
        return
    if _DIGIT.search(text):
        if _CAPTCHA.match(text):
            line.kind = COMMENT_FORM
            return
        found = find_date(text)
        # A date with a few words around it ("Published 5 March 2021, 18:05 GMT"); a sentence that
        # mentions a date ("The talks began on March 5, 2021.") is prose.
        if found is not None and len((text[: found.start] + text[found.end :]).split()) <= (
            6 if line.prose == _NONE else 2
        ):
            line.date = found
            line.comment_head = found.has_time
            line.kind = BYLINE
            return
        if _READ_TIME.match(text):
            line.kind = BYLINE
            return
    if line.prose < _GOOD and _TEASER_MARKS.intersection(text[:20]) and _TEASER_PREFIX.match(text):
        line.kind = RELATED
        return
    # "Omar says:" opens a comment; "Resistance will respond, Khazali says" is a headline.
    if (text.endswith("ago") and _RELATIVE_TIME.match(text)) or (
        (words <= 3 or (words <= 6 and text.endswith(":")))
        and text.rsplit(" ", 1)[-1].rstrip(":").lower() in _SAYS_WORDS
        and _SAYS.match(text)
    ):
        line.comment_head = True
        line.kind = BYLINE
        return
    first, _, rest = text.partition(" ")
    if (
        words <= 14
        and line.prose < _GOOD
        and first.rstrip(":").lower() in _BYLINE_WORDS
        and (first.lower() != "by" or rest[:1].isupper())  # "By John Smith", not "By the end of..."
        and _BYLINE.match(text)
    ):
        line.kind = BYLINE
        return
    if words <= 6 and line.prose == _NONE and " " in text and len(_CAMEL.findall(text)) >= 2:
        line.kind = NAVIGATION  # a menu glued by the dumper: "IraqMiddle EastPalestine"


def _has_copyright(text: str) -> bool:
    """Whether a line holds a copyright notice (``_COPYRIGHT``).

    The regex gives the engine no first character to skip ahead to, so it only runs on lines with
    "©", "(" or the "ght" of both its words (letters without unusual case-insensitive matches).
    """
    return ("©" in text or "(" in text or "ght" in text.lower()) and _COPYRIGHT.search(text) is not None


def _prose_class(text: str, words: int) -> int:
    """How much a line of 4 or more words looks like prose: sentence punctuation, length, lowercase.

    Word starts are " x". They are counted on Latin-1 bytes with every letter mapped to "a" or "A"
    (other characters to "?"), several times faster than regexes for " [a-zà-ÿ]" and " [A-ZÀ-Þ]".
    """
    terminal = _TERMINAL.search(text[-6:]) is not None
    if not terminal and words < 15:
        return _NONE
    marks = (" " + text[:240]).encode("latin-1", "replace").translate(_CASE_MARKS)
    lower = marks.count(b" a")
    cased = lower + marks.count(b" A")
    # Headlines capitalise (nearly) every word; prose does not. Uncased scripts are not judged.
    if cased >= 4 and lower < 0.3 * cased:
        return _NONE
    if terminal:
        return _GOOD if words >= 10 else _SHORT
    return _WEAK if not cased or lower >= 0.5 * cased else _NONE


def _header_key(text: str) -> str:
    if len(text) > 60:
        return ""
    key = text.lower()
    if key in _HEADERS:
        return key
    if not key.replace(" ", "").isalnum():
        key = " ".join(_KEY_JUNK.sub(" ", key.replace("’", "'")).split())
    if key and (key[0].isdigit() or key[-1].isdigit()):
        key = _KEY_COUNT.sub("", key).strip()
    return key


def _mark_zones(lines: Sequence[Line]) -> bool:
    """Give the lines after a boilerplate header the header's kind, and find tickers.

    A zone lasts until a line of real prose (a long sentence-terminated line) resumes, except that
    comment zones last until the next header. Comment and comment-form headers only open a zone
    once the article has started, since "Leave a comment" links also sit next to bylines. A ticker
    is the run of one-sentence headline lines directly after a ticker header ("BREAKING") before
    the article; after the article the same header opens a related-stories list.

    Returns:
        Whether any article prose was seen (which makes later comment headers trustworthy).
    """
    zone = ""
    prose_lines = prose_words = 0
    i = 0
    n = len(lines)
    while i < n:
        line = lines[i]
        started = prose_lines >= 2 and prose_words >= 40
        if line.header:
            zone = line.header
            if zone in {COMMENTS, COMMENT_FORM}:
                line.boundary = started
                if not started:
                    zone = ""
            elif zone == TICKER:
                if started:
                    zone = RELATED
                else:
                    i = _mark_ticker(lines, i + 1)
                    zone = ""
                    continue
            elif zone not in _ZONE_KINDS:
                zone = ""
            i += 1
            continue
        if line.comment_head and started and zone in {"", COMMENTS}:
            line.boundary = True
        strong = line.prose == _GOOD and line.words >= 15 and not line.bullet
        if zone and strong and zone not in {COMMENTS, COMMENT_FORM}:
            zone = ""
        if zone and not line.kind:
            line.kind = zone
        elif not line.kind and line.prose == _GOOD:
            prose_lines += 1
            prose_words += line.words
        i += 1
    return prose_lines > 0


def _mark_ticker(lines: Sequence[Line], i: int) -> int:
    """Mark the contiguous run of headline lines at ``i`` as ticker; return the index after it."""
    first = i
    while i < len(lines):
        line = lines[i]
        if (i > first and line.gap) or line.header or line.words < 3 or line.words > 60:
            break
        if len(_SENTENCE_BREAK.findall(line.text[:1000])) > 1:
            break
        line.kind = TICKER
        i += 1
    return i


def _mark_captions(lines: Sequence[Line]) -> None:
    """An image's alt text followed by the same text as caption: both lines are a caption."""
    previous: Line | None = None
    for line in lines:
        if (
            previous is not None
            and not line.kind
            and (line.words < 25 or line.prose < _GOOD)
            and line.text.casefold() == previous.text.casefold()
        ):
            line.kind = CAPTION
            if not previous.kind or previous.kind == "link":
                previous.kind = CAPTION
        previous = line


def _score(line: Line) -> float:
    if line.boundary:
        return float("-inf")
    if line.kind == TEMPLATE and line.prose >= _SHORT:
        # Barely positive: kept out of the body by _take_body unless it is most of the article.
        return 0.05 * line.words
    if line.header:
        return -4.0 - line.words
    if line.kind:
        return -2.0 - 0.5 * line.words
    weight = 0.5 if line.bullet else 1.0
    if line.prose == _GOOD:
        return weight * line.words
    if line.prose == _SHORT:
        return weight * 0.5 * line.words
    if line.prose == _WEAK:
        return weight * 0.25 * line.words
    return -1.0 - 0.5 * min(line.words, 20)


def _best_segment(lines: Sequence[Line], seen_prose: bool) -> tuple[int, int]:
    """The maximum-sum run of line scores (Kadane); (-1, -1) when no line scores above zero."""
    if not seen_prose and not any(line.prose and not line.kind for line in lines):
        return -1, -1
    best = 0.0
    best_start = best_end = -1
    current = 0.0
    current_start = 0
    for i, line in enumerate(lines):
        score = _score(line)
        if current <= 0:
            current = 0.0
            current_start = i
        current += score
        if current > best:
            best, best_start, best_end = current, current_start, i
        if score == float("-inf"):
            current = 0.0
            current_start = i + 1
    return best_start, best_end


def _take_body(lines: Sequence[Line], start: int, end: int) -> list[Line]:
    """The article paragraphs in the chosen run; template lines go unless they are most of it."""
    body = [i for i in range(start, end + 1) if _is_body(lines[i])]
    templated = [i for i in range(start, end + 1) if lines[i].kind == TEMPLATE and lines[i].prose >= _SHORT]
    body_words = sum(lines[i].words for i in body)
    template_words = sum(lines[i].words for i in templated)
    if templated and template_words > body_words:
        # The outlet has printed most of this article before (a re-post or an update): keep it.
        body = sorted(body + templated)
    for i in body:
        lines[i].kind = "body"
    return [lines[i] for i in body]


def _is_body(line: Line) -> bool:
    return not line.kind and line.prose >= _WEAK


def _positional_kind(line: Line, i: int, start: int, end: int) -> str:
    if line.kind == "link":
        return NAVIGATION if i < start else RELATED
    if i < start:
        return NAVIGATION
    if i > end:
        return FOOTER
    return HEADING


def _find_title(lines: Sequence[Line], start: int, *, skip_templates: bool) -> int:
    """Index of the headline just before the article, skipping bylines, dates and captions.

    Lines the outlet repeats on every page are skipped too, unless ``skip_templates`` is false (a
    re-posted article whose headline the outlet printed before).
    """
    seen = 0
    for i in range(start - 1, -1, -1):
        line = lines[i]
        seen += 1
        if seen > _TITLE_LOOKBACK:
            break
        if line.kind in {BYLINE, CAPTION} or line.bullet or (line.kind == TEMPLATE and skip_templates):
            continue
        if line.kind == TEMPLATE and line.prose < _SHORT and 3 <= line.words <= 30:
            return i
        if line.kind in {"", "link"} and line.hint in {"h1", "h2"} and line.words >= 2:
            return i
        if line.kind:
            if line.kind in {TICKER, RELATED, COMMENT_FORM, COMMENTS, FOOTER}:
                break
            continue
        if line.prose >= _SHORT and not line.text.endswith(("?", "!")):
            continue  # a standfirst between the headline and the article
        if 3 <= line.words <= 30:
            return i
    return -1


def _repeated_title(lines: Sequence[Line], start: int) -> str | None:
    """A headline-like line before the article that the page prints again (page title and heading)."""
    candidates: dict[str, str] = {}
    for line in lines[: min(start, 2000)]:
        if 4 <= line.words <= 30 and line.prose < _SHORT and line.kind in {"", "link", CAPTION}:
            candidates.setdefault(line.text.casefold(), line.text)
    if not candidates:
        return None
    seen: set[str] = set()
    for line in lines:
        key = line.text.casefold()
        if key in candidates:
            if key in seen:
                return candidates[key]
            seen.add(key)
    return None


def _find_published(lines: Sequence[Line], start: int, title_at: int) -> datetime | None:
    """The first date line near the title, between it and the article or just around them."""
    first = max(0, (title_at if title_at >= 0 else start) - 3)
    for i in range(first, min(len(lines), start + 3)):
        found = lines[i].date
        if found is not None and lines[i].kind == BYLINE:
            return found.value
    return None


def _take_comments(lines: Sequence[Line], end: int) -> list[Comment]:
    """Reader comments after the article: blocks opened by a timestamp or "X says:" line.

    A block runs until the next comment header, boilerplate header or furniture line; in an
    indented render, until a line no deeper than its header. Lines of a "Comments" zone without
    such headers become one comment per paragraph.
    """
    comments: list[Comment] = []
    i = end + 1
    n = len(lines)
    while i < n:
        line = lines[i]
        if line.comment_head and line.kind == BYLINE:
            author, posted_at = _comment_header(line)
            j = i + 1
            # "Omar says:" then "March 6, 2021 at 2:09 am": one header on two lines.
            if j < n and lines[j].comment_head and lines[j].kind == BYLINE and not lines[j].gap:
                more_author, more_posted_at = _comment_header(lines[j])
                author, posted_at = author or more_author, posted_at or more_posted_at
                lines[j].kind = COMMENTS
                j += 1
            text: list[str] = []
            deeper: bool | None = None
            while j < n:
                nxt = lines[j]
                if nxt.comment_head or nxt.header or nxt.kind not in {"", COMMENTS, "link", CAPTION}:
                    break
                if deeper is None:
                    deeper = line.indent > 0 and nxt.indent > line.indent
                elif (deeper and nxt.indent <= line.indent) or (not deeper and nxt.gap):
                    break
                if nxt.text.lower() not in _COMMENT_ACTIONS:
                    text.append(nxt.text)
                nxt.kind = COMMENTS
                j += 1
            if text:
                line.kind = COMMENTS
                comments.append(Comment(author=author, posted_at=posted_at, text="\n".join(text)))
            i = j
            continue
        if line.kind == COMMENTS and not line.header:
            block = [line.text]
            j = i + 1
            while j < n and lines[j].kind == COMMENTS and not lines[j].gap and not lines[j].comment_head:
                block.append(lines[j].text)
                j += 1
            comments.append(Comment(text="\n".join(block)))
            i = j
            continue
        i += 1
    return comments


def _comment_header(line: Line) -> tuple[str | None, datetime | None]:
    text = line.text
    posted_at = None
    if line.date is not None:
        posted_at = line.date.value
        text = text[: line.date.start] + text[line.date.end :]
    text = re.sub(r"\b(?:says|said|wrote|commented|replied|on|at|posted)\b|[:|,•·-]", " ", text[:200])
    author = " ".join(text.split())
    if _RELATIVE_TIME.match(line.text) or not author or author.isdigit():
        return None, posted_at
    return author[:100], posted_at
