"""Turn an HTML page into classifier lines, metadata and reader comments, with lxml only.

One parse, a few XPath look-ups (``<meta>``, JSON-LD, ``<title>``, ``<h1>``, ``<p>``) and two linear
walks: the first reads the class, id, role and microdata of the elements that have them — comment
sections, single comments, and names of page furniture (navigation, share bars, related lists,
tickers, tags, ads); the second renders block elements as lines (with their share of link text) and
skips furniture subtrees — ``nav``/``header``/``footer``/``aside``/``form``/``script``... and the
named ones — counting what it skipped by kind. The element holding the most paragraph text and its
ancestors are never skipped, so a ``<div class="article-widget">`` around the story cannot take it
along. Reader comments are parsed from their containers (WordPress ``ol.commentlist``,
``.comment``, ``[itemprop=comment]``, ``#comments``...) into ``Comment`` objects, never lines.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lxml import etree

from schemas.pages import Comment
from streams.clean_text import (
    CAPTION,
    COMMENT_FORM,
    FOOTER,
    NAVIGATION,
    PROMO,
    RELATED,
    SHARE,
    TAGS,
    TICKER,
    Line,
    collapse_spaces,
    find_date,
    make_line,
    parse_datetime,
)

# ``huge_tree`` lifts libxml2's nesting limit from 256 to 2048 elements: pages with a few hundred
# unclosed <div>/<font> tags are common enough, and beyond 256 the default parser drops the rest of
# the page. The page size limit (``limits.max_page_bytes``) still bounds what it parses.
# Nothing looks elements up by id: ``collect_ids=False`` spares the parser its id table.
_PARSER = etree.HTMLParser(
    encoding="utf-8", remove_comments=True, remove_pis=True, no_network=True, huge_tree=True, collect_ids=False
)
_MAX_JSON_LD = 200_000
_MAX_COMMENT_CHARS = 20_000

_BLOCK_TAGS = frozenset(
    [
        "p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "td", "th", "tr", "dd",
        "dt", "dl", "section", "article", "main", "address", "figcaption", "caption", "table", "ul", "ol",
        "hr", "summary", "details", "body", "center", "header", "footer", "nav", "aside",
    ]
)
_HINT_TAGS = frozenset([
    "h1", "h2", "h3", "h4", "h5", "h6", "li", "p", "td", "th", "blockquote", "pre", "figcaption", "dt", "dd",
])
# Tags whose content is never article text, with the kind their removal is counted as ("" = not counted).
_ALWAYS_DROPPED: dict[str, str] = {
    "script": "", "style": "", "noscript": "", "template": "", "svg": "", "iframe": "", "head": "",
    "object": "", "embed": "", "canvas": "", "video": "", "audio": "", "map": "", "input": "",
    "nav": NAVIGATION, "menu": NAVIGATION, "button": NAVIGATION, "select": NAVIGATION, "label": NAVIGATION,
    "figcaption": CAPTION, "textarea": COMMENT_FORM,
}
# Tags whose content a reader never sees: no part of any text taken from the page.
_SCRIPT_TAGS = frozenset({"script", "style", "noscript", "template"})
# ... and with the document head, never a reader comment.
_UNRENDERED = _SCRIPT_TAGS | {"head", "title"}
# Tags that are furniture unless they hold the article (an <article><header> with the headline).
_DROP_TAGS: dict[str, str] = {"header": NAVIGATION, "footer": FOOTER, "aside": RELATED, "form": NAVIGATION}
# Parts of class and id names (split on "-" and "_") that mark page furniture.
_CLASS_KINDS: dict[str, str] = {
    "nav": NAVIGATION, "navbar": NAVIGATION, "navigation": NAVIGATION, "menu": NAVIGATION,
    "breadcrumb": NAVIGATION, "breadcrumbs": NAVIGATION, "masthead": NAVIGATION, "topbar": NAVIGATION,
    "share": SHARE, "sharing": SHARE, "social": SHARE, "sharebar": SHARE, "shares": SHARE,
    "related": RELATED, "recommended": RELATED, "trending": RELATED, "popular": RELATED,
    "mostread": RELATED, "outbrain": RELATED, "taboola": RELATED, "sidebar": RELATED, "widget": RELATED,
    "ticker": TICKER, "marquee": TICKER, "newsticker": TICKER, "breaking": TICKER,
    "tags": TAGS, "taglist": TAGS, "keywords": TAGS,
    "footer": FOOTER, "copyright": FOOTER,
    "newsletter": PROMO, "subscribe": PROMO, "promo": PROMO, "advert": PROMO, "advertisement": PROMO,
    "ad": PROMO, "ads": PROMO, "sponsored": PROMO, "cookie": PROMO, "cookies": PROMO, "consent": PROMO,
    "popup": PROMO, "modal": PROMO, "paywall": PROMO,
    "respond": COMMENT_FORM, "commentform": COMMENT_FORM,
    "caption": CAPTION,
}
_CLASS_SPLIT = re.compile(r"[\s_-]+")
_SAYS_SUFFIX = re.compile(r"\s*\b(?:says|said|wrote|replied)\s*:?\s*$", re.IGNORECASE)

_COMMENT_SECTIONS = frozenset(
    [
        "comments", "comment-list", "commentlist", "comments-area", "comment-section", "comments-section",
        "comments-list", "disqus_thread", "comment-area", "comments-container",
    ]
)
_COMMENT_FORMS = frozenset(["respond", "comment-respond", "commentform", "comment-form", "reply-form"])
_COMMENT_ITEMS = frozenset(["comment", "comment-item", "comments-item", "commentlist-item", "user-comment"])
_COMMENT_LISTS = frozenset(["commentlist", "comment-list", "comments-list"])
_COMMENT_AUTHORS = frozenset([
    "comment-author", "author", "fn", "username", "user-name", "comment-user", "comment__author",
])
_COMMENT_DATES = frozenset(["comment-date", "comment-metadata", "comment-meta", "comment-time", "date", "timestamp"])
_COMMENT_TEXTS = frozenset(
    ["comment-content", "comment-text", "comment-body-text", "comment__text", "comment-message", "comment__body"]
)

# The elements parse_html reads, found in one walk of the tree.
_LOOKED_UP_TAGS = ("meta", "script", "title", "h1", "p", "br")
_BR_PARENT_XPATH = etree.XPath("//br/..")
_OWN_TEXT_XPATH = etree.XPath("text()")
_NAME_ATTRIBUTES = frozenset({"class", "id", "itemprop", "itemtype", "role", "aria-hidden", "hidden"})
_TEXT_COUNT_XPATH = etree.XPath("count(.//text()[normalize-space()])")

_DATE_META = (
    "article:published_time", "og:article:published_time", "article:published", "datepublished",
    "pubdate", "publishdate", "publish-date", "publish_date", "dc.date", "dc.date.issued",
    "dc.date.created", "dcterms.created", "dcterms.issued", "sailthru.date", "parsely-pub-date",
    "citation_publication_date", "citation_date", "publication_date", "og:published_time",
    "article.published", "article_date_original", "originalpublicationdate", "release_date",
    "datecreated", "date",
)
_TITLE_SEPARATORS = (" | ", " - ", " – ", " — ", " :: ", " · ", " » ", " / ")


@dataclass(slots=True)
class HtmlPage:
    """An HTML page taken apart: its text as classifier lines, metadata, comments and removals."""

    lines: list[Line] = field(default_factory=list)
    title: str | None = None
    h1: str | None = None
    published_at: datetime | None = None
    lang: str | None = None
    comments: list[Comment] = field(default_factory=list)
    removed: Counter[str] = field(default_factory=Counter)
    truncated: str | None = None


def parse_html(html: str) -> HtmlPage:
    """Parse an HTML page into lines, title, date, language attribute and reader comments.

    Args:
        html: the page markup.

    Returns:
        The page; its ``lines`` are empty when the markup holds no text. ``truncated`` says why
        the parser stopped early (nesting deeper than libxml2 allows), keeping what came before.
    """
    page = HtmlPage()
    root = etree.fromstring(html.encode("utf-8", "replace"), parser=_PARSER)
    for error in _PARSER.error_log:
        if error.type == etree.ErrorTypes.ERR_RESOURCE_LIMIT:
            depth = "depth" in error.message.lower()
            page.truncated = "the markup nests more than 2048 elements deep" if depth else error.message.strip()
            break
    if root is None:  # an empty document
        return page
    meta: dict[str, str] = {}
    facts = _Facts()
    title_el: etree._Element | None = None
    h1_el: etree._Element | None = None
    paragraphs: list[etree._Element] = []
    has_br = False
    for el in root.iter(*_LOOKED_UP_TAGS):
        tag = el.tag
        if tag == "p":
            paragraphs.append(el)
        elif tag == "meta":
            content = el.get("content")
            if content is not None:
                key = (el.get("property") or el.get("name") or el.get("itemprop") or "").strip().lower()
                if key and key not in meta:
                    meta[key] = content
        elif tag == "script":
            if el.get("type") == "application/ld+json" and el.text:
                _read_json_ld(el.text, facts)
        elif tag == "br":
            has_br = True
        elif tag == "h1" and h1_el is None:
            h1_el = el
        elif tag == "title" and title_el is None:
            title_el = el
    facts.title = _text(title_el) if title_el is not None else None
    named = _Named(root, facts)
    text_by_parent: Counter[etree._Element] = Counter()
    for el in paragraphs:
        parent = el.getparent()
        if parent is not None:
            text_by_parent[parent] += len(_text(el))
    # Old-style articles: text broken by <br><br>. The parents are counted in document order, which
    # is not the order of their first <br> when one holds another.
    if has_br:
        for el in _elements(root, _BR_PARENT_XPATH):
            own = _OWN_TEXT_XPATH(el)
            if isinstance(own, list):
                text_by_parent[el] += sum(len(t.strip()) for t in own if isinstance(t, str))

    page.lang = (root.get("lang") or "").split("-")[0].strip().lower() or None
    page.h1 = _text(h1_el) if h1_el is not None else None
    site = meta.get("og:site_name")
    title = meta.get("og:title") or meta.get("twitter:title") or facts.headline or page.h1 or facts.title
    page.title = _strip_site(title, site) if title else None
    page.published_at = _meta_date(meta) or facts.ld_date or facts.item_date

    sections, comment_items = named.sections, named.items
    protected: set[etree._Element] = set()
    for container, _ in text_by_parent.most_common(1):
        ancestors = [container, *container.iterancestors()]
        # Unless the most paragraph text sits in the comments (a short article, a long thread).
        if not any(el in sections or el in named.item_set for el in ancestors):
            protected.update(ancestors)
    if h1_el is not None:
        protected.update(h1_el.iterancestors())
    page.comments = _comments(comment_items, sections)
    page.removed.update(kind for kind in sections.values() if kind)
    body = root.find("body")
    _render(body if body is not None else root, page, named.kinds, protected)
    return page


@dataclass(slots=True)
class _Facts:
    title: str | None = None
    headline: str | None = None
    ld_date: datetime | None = None
    item_date: datetime | None = None


def _text(el: etree._Element) -> str:
    """The visible text of an element, whitespace collapsed (script and style text left out)."""
    if not len(el):
        return collapse_spaces(el.text or "")
    if next(el.iterdescendants(*_SCRIPT_TAGS), None) is None:
        return collapse_spaces(str(etree.tostring(el, method="text", encoding="unicode", with_tail=False)))
    pieces: list[str] = []
    walker = etree.iterwalk(el, events=("start", "end"))
    for event, node in walker:
        if event == "start":
            if node is not el and node.tag in _SCRIPT_TAGS:
                walker.skip_subtree()
                continue
            if node.text and isinstance(node.tag, str):
                pieces.append(node.text)
        elif node is not el and node.tail:
            pieces.append(node.tail)
    return collapse_spaces("".join(pieces))


def _elements(root: etree._Element, xpath: etree.XPath) -> list[etree._Element]:
    result = xpath(root)
    return [el for el in result if isinstance(el, etree._Element)] if isinstance(result, list) else []


class _Named:
    """One pass over the elements with a class, id, role or microdata: comments and furniture.

    Attributes:
        sections: comment sections and comment forms, with the kind a form is counted as.
        items: single comments, in page order.
        kinds: what each element is, when its name says: a comment area (skipped, counted by
            ``sections``) or page furniture (``_CLASS_KINDS``); ``_render`` skips these.
    """

    def __init__(self, root: etree._Element, facts: _Facts) -> None:
        self.sections: dict[etree._Element, str] = {}
        self.kinds: dict[etree._Element, str] = {}
        items: list[etree._Element] = []
        # A Python walk testing attribute names is several times faster than the equivalent XPath.
        for el in root.iter(etree.Element):
            keys = el.keys()
            if not keys or _NAME_ATTRIBUTES.isdisjoint(keys) or el.tag in _UNRENDERED:
                continue
            itemprop = el.get("itemprop") if "itemprop" in keys else None
            if itemprop == "datePublished" and facts.item_date is None:
                facts.item_date = parse_datetime(el.get("content") or el.get("datetime") or _text(el))
            names = f"{el.get('class') or ''} {el.get('id') or ''}".lower()
            tokens = set(names.split())
            if tokens & _COMMENT_FORMS:
                self.sections[el] = self.kinds[el] = COMMENT_FORM
            elif tokens & _COMMENT_SECTIONS:
                self.sections[el] = ""
                self.kinds[el] = ""
            if tokens & _COMMENT_ITEMS or itemprop == "comment" or "Comment" in (el.get("itemtype") or ""):
                items.append(el)
                self.kinds[el] = ""
            elif tokens & _COMMENT_LISTS and el.tag in {"ol", "ul"}:
                for child in el.iterchildren("li"):
                    items.append(child)
                    self.kinds[child] = ""
            if el not in self.kinds and el.tag not in {"html", "body"}:
                kind = _named_kind(el, keys, names)
                if kind is not None:
                    self.kinds[el] = kind
        self.items = list(dict.fromkeys(items))
        self.item_set = set(self.items)


def _named_kind(el: etree._Element, keys: Sequence[str | bytes], names: str) -> str | None:
    """The kind of furniture an element's class, id, role or hidden state names, if any."""
    if "hidden" in keys or ("aria-hidden" in keys and (el.get("aria-hidden") or "").lower() == "true"):
        return ""
    role = (el.get("role") or "").lower() if "role" in keys else ""
    if role in {"navigation", "banner", "menu", "menubar", "search"}:
        return NAVIGATION
    if role in {"complementary", "contentinfo"}:
        return RELATED if role == "complementary" else FOOTER
    for part in _CLASS_SPLIT.split(names):
        kind = _CLASS_KINDS.get(part)
        if kind is not None:
            return kind
    return None


def _tokens(el: etree._Element) -> set[str]:
    names = f"{el.get('class') or ''} {el.get('id') or ''}".lower()
    return set(names.split()) if names.strip() else set()


def _read_json_ld(text: str, facts: _Facts) -> None:
    if len(text) > _MAX_JSON_LD:
        return
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return
    for obj in _json_objects(data, depth=0):
        if facts.ld_date is None and isinstance(obj.get("datePublished"), str):
            facts.ld_date = parse_datetime(obj["datePublished"])
        if facts.headline is None and isinstance(obj.get("headline"), str):
            facts.headline = " ".join(obj["headline"].split()) or None


def _json_objects(data: Any, depth: int) -> Iterator[dict[str, Any]]:
    if depth > 5:
        return
    if isinstance(data, dict):
        yield data
        for key in ("@graph", "mainEntity", "mainEntityOfPage", "itemListElement"):
            if key in data:
                yield from _json_objects(data[key], depth + 1)
    elif isinstance(data, list):
        for item in data[:50]:
            yield from _json_objects(item, depth + 1)


def _meta_date(meta: dict[str, str]) -> datetime | None:
    for key in _DATE_META:
        value = meta.get(key)
        if value:
            parsed = parse_datetime(value)
            if parsed is not None:
                return parsed
    return None


def _strip_site(title: str, site: str | None) -> str | None:
    """Drop a " | Site name" suffix (or prefix) from a page title."""
    title = " ".join(title.split())
    for sep in _TITLE_SEPARATORS:
        if sep not in title:
            continue
        head, _, tail = title.rpartition(sep)
        if site and tail.strip().casefold() == site.strip().casefold():
            return head.strip() or None
        first, _, rest = title.partition(sep)
        if site and first.strip().casefold() == site.strip().casefold():
            return rest.strip() or None
        # " | " and the like are site separators; a dash may be part of the headline.
        min_head = 1 if sep in {" | ", " :: ", " » "} else 3
        if len(tail.split()) <= 4 and len(head.split()) >= min_head:
            return head.strip()
    return title or None


# ------------------------------------------------------------------------------------------- comments


def _comments(
    items: list[etree._Element], sections: dict[etree._Element, str]
) -> list[Comment]:
    """Reader comments from comment items; a comment section without items gives one per paragraph."""
    item_set = set(items)
    comments: list[Comment] = []
    for item in items:
        comment = _comment(item, item_set)
        if comment is not None:
            comments.append(comment)
    if not items:
        forms = {el for el, kind in sections.items() if kind}
        for section, kind in sections.items():
            if kind:
                continue
            walker = etree.iterwalk(section, events=("start",))
            for _, el in walker:
                if el in forms or el.tag in {"form", "h1", "h2", "h3", "h4", "h5", "h6"}:
                    walker.skip_subtree()
                elif el.tag in {"p", "li"}:
                    text = _text(el)
                    if len(text.split()) >= 2:
                        comments.append(Comment(text=text[:_MAX_COMMENT_CHARS]))
                    walker.skip_subtree()
    return comments


def _own_elements(item: etree._Element, items: set[etree._Element]) -> Iterator[Any]:
    """The descendants of a comment that do not belong to a reply nested inside it."""
    walker = etree.iterwalk(item, events=("start",))
    for _, el in walker:
        if el is not item and (el in items or el.tag in _UNRENDERED):
            walker.skip_subtree()
            continue
        yield el


def _comment(item: etree._Element, items: set[etree._Element]) -> Comment | None:
    author: str | None = None
    posted_at: datetime | None = None
    texts: list[str] = []
    paragraphs: list[str] = []
    furniture: list[str] = []
    for el in _own_elements(item, items):
        if el is item or not isinstance(el.tag, str):
            continue
        tokens = _tokens(el)
        itemprop = el.get("itemprop") or ""
        if tokens & _COMMENT_AUTHORS or itemprop in {"author", "creator", "name"} or el.tag == "cite":
            # The innermost match wins: <div class="comment-author"><b class="fn">Ali</b> says:</div>
            name = _SAYS_SUFFIX.sub("", _text(el))
            if name and (author is None or name in author):
                author = name
            furniture.append(_text(el))
        elif posted_at is None and (el.tag == "time" or itemprop in {"dateCreated", "datePublished"}):
            posted_at = parse_datetime(el.get("datetime") or el.get("content") or _text(el))
            furniture.append(_text(el))
        elif posted_at is None and tokens & _COMMENT_DATES:
            found = find_date(_text(el))
            posted_at = found.value if found else None
            furniture.append(_text(el))
        elif tokens & _COMMENT_TEXTS or itemprop in {"text", "commentText"}:
            texts.append(_own_text(el, items))
        elif el.tag == "p":
            paragraphs.append(_own_text(el, items))
    parts = [t for t in (texts or paragraphs) if t]
    if not parts:
        rest = _own_text(item, items)
        for piece in furniture:
            if piece:
                rest = rest.replace(piece, " ", 1)
        words = [w for w in rest.split() if w.lower() not in {"reply", "report", "like"}]
        parts = [" ".join(words)] if words else []
    text = "\n".join(parts)[:_MAX_COMMENT_CHARS]
    if not text:
        return None
    return Comment(author=author[:100] if author else None, posted_at=posted_at, text=text)


def _own_text(el: etree._Element, items: set[etree._Element]) -> str:
    """The text of an element without the replies nested in it; blocks are kept apart by a space."""
    pieces: list[str] = []
    walker = etree.iterwalk(el, events=("start", "end"))
    for event, node in walker:
        if event == "start":
            if node is not el and (node in items or node.tag in _UNRENDERED):
                walker.skip_subtree()
                continue
            if node.tag in _BLOCK_TAGS or node.tag == "br":
                pieces.append(" ")
            if node.text and isinstance(node.tag, str):
                pieces.append(node.text)
        elif node is not el and node.tail:
            pieces.append(node.tail)
    return collapse_spaces("".join(pieces))


# -------------------------------------------------------------------------------------------- render


def _count_texts(el: etree._Element) -> int:
    count = _TEXT_COUNT_XPATH(el)
    return int(count) if isinstance(count, float) else 0


class _Renderer:
    """Accumulates the text of block elements into lines while the tree is walked."""

    def __init__(self, page: HtmlPage) -> None:
        self.page = page
        self.buf: list[str] = []
        self.link_chars = 0
        self.hints: list[str] = []
        self.last_hint = ""

    def flush(self, soft: bool = False) -> None:
        """Make a line of the text gathered since the last block boundary (``soft``: a ``<br>``)."""
        text = collapse_spaces("".join(self.buf))
        self.buf.clear()
        link_chars, self.link_chars = self.link_chars, 0
        if not text:
            return
        hint = self.hints[-1] if self.hints else ""
        contiguous = soft or (hint == "li" and self.last_hint == "li")
        line = make_line(text, not contiguous, hint, min(1.0, link_chars / len(text)), collapsed=True)
        if line is not None:
            self.page.lines.append(line)
            self.last_hint = hint


def _render(
    root: etree._Element,
    page: HtmlPage,
    kinds: dict[etree._Element, str],
    protected: set[etree._Element],
) -> None:
    """Walk the tree once, turning block elements into lines and skipping furniture subtrees.

    Tags that never hold article text are skipped wherever they are; ``header``/``footer``/
    ``aside``/``form`` and elements named as furniture (``kinds``) are skipped unless they hold
    the article (``protected``), except comment areas, which are always skipped.
    """
    out = _Renderer(page)
    buf = out.buf
    hints = out.hints
    removed = page.removed
    skipped: set[etree._Element] = set()
    link_depth = 0
    walker = etree.iterwalk(root, events=("start", "end"))
    # ``el.text`` and ``el.tail`` build a new string on every access: each is read once. Text is
    # gathered in ``buf`` (with its length inside links) and flushed as a line at block boundaries.
    for event, el in walker:
        tag = el.tag
        if not isinstance(tag, str):
            if event == "end" and (tail := el.tail):
                buf.append(tail)
                if link_depth:
                    out.link_chars += len(tail.strip())
            continue
        if event == "start":
            kind = _ALWAYS_DROPPED.get(tag)
            if kind is None and el not in protected:
                kind = _DROP_TAGS.get(tag)
                if kind is None:
                    kind = kinds.get(el)
            if kind is not None:
                if kind:
                    removed[kind] += _count_texts(el)
                skipped.add(el)
                walker.skip_subtree()
                continue
            if tag in _BLOCK_TAGS:
                if buf:
                    out.flush()
                hints.append(tag if tag in _HINT_TAGS else (hints[-1] if hints else ""))
            elif tag == "br":
                if buf:
                    out.flush(soft=True)
            elif tag == "a":
                link_depth += 1
            if tag == "time" and page.published_at is None and el.get("datetime"):
                page.published_at = parse_datetime(el.get("datetime") or "")
            if text := el.text:
                buf.append(text)
                if link_depth:
                    out.link_chars += len(text.strip())
            continue
        if el in skipped:
            skipped.discard(el)
        elif tag in _BLOCK_TAGS:
            if buf:
                out.flush()
            if hints:
                hints.pop()
        elif tag == "a":
            link_depth -= 1
        if tail := el.tail:
            buf.append(tail)
            if link_depth:
                out.link_chars += len(tail.strip())
    if buf:
        out.flush()
