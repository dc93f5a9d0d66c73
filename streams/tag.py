"""Entity tagging: find watchlist entities and keywords in a page, with offsets as written.

:class:`Tagger` compiles a watchlist and keyword list once into a single Aho-Corasick automaton
(ahocorasick-rs, as a DFA) over *normalised* alias keys (see :mod:`streams.normalize`). Tagging a
text is one pass of that automaton over the normalised text, then checks on each hit, so the cost
of a page depends on the page and on how many hits it has, not on how many aliases the watchlist
holds: a DFA takes one table step per character however many keys it holds (an automaton that
searches each node's children, like pyahocorasick's, gets slower per character as it grows).

How an alias becomes keys (built once, bounded):

- The alias is normalised (case, diacritics, apostrophes deleted, dashes and spaces folded).
- **Arabic article**: in transliterations, ``al``/``el``/``ul`` before a following word (and the
  assimilated ``ar-``/``as-``/``ash-``/``at-``/``ath-``/``ad-``/``adh-``/``an-``/``az-`` when
  written with a hyphen) is optional and may be spaced, hyphenated or joined: "Qais al-Khazali"
  also matches "Qais al Khazali", "Qais alKhazali" and "Qais Khazali". An article that starts the
  alias is only dropped when two or more words remain ("Al-Qaeda" does not become "Qaeda"). In
  Arabic script the attached article ``ال`` of any word but the first is optional ("قيس الخزعلي"
  also matches "قيس خزعلي"; ``الله`` is never split). At most three articles per alias vary
  independently; beyond that all vary together.
- **Surname rule**: for each multi-word alias of a person, the last word (past "Jr."/"II"...),
  with and without its article, is added as a *page-conditional* key: it counts only on pages
  where a multi-word alias of the same person was found (in any field). When the surname is
  itself an alias of the person ("Khazali"), its article spellings ("al-Khazali",
  "alKhazali") count on any page, like the alias.

How a hit is checked (all against the original text):

- **Whole words**: a hit must start and end at a word boundary (letters and digits are word
  characters, in every script). "Khazali" does not match in "Khazalia" or "AlKhazaliya", and
  "Sheikh Khazal" is not "Khazali". A possessive "'s" after the alias is allowed and left out of
  the surface ("Khazali’s" gives "Khazali"). A key ending in "s" does not match "...'s" unless the
  alias itself is written so ("Forces" does not match "Force's"). Before an Arabic-script key,
  the one-letter clitics و ف ب ل ك, the article ال and the contraction لل may be attached
  ("والخزعلي", "للخزعلي"); the surface starts after them.
- **Case-sensitive** aliases (acronyms such as "AAH") match only when the text, normalised but
  not casefolded, spells one of the alias's forms exactly.
- **Weak** aliases (``weak: true``, or automatically a one-word alias that is a common English
  word, see :data:`COMMON_WORDS`) match only where the text writes them capitalised, and not as
  the first word of a sentence or line (where capitals say nothing). A person or place already
  named elsewhere on the page by a hit that needs no such excuse is the exception: then a
  sentence-initial "Trump" is Trump. Organisations and other entities (ships, companies) get no
  such exception: "Freedom of the press..." at the start of a sentence is never the tanker
  *Freedom*. In a Title Case headline a weak word that is not the first one reads as a name
  ("Press Freedom Day" is a false hit). Aliases in scripts without case (Arabic) cannot show
  capitals and are not held to it. Keyword terms are weak only when marked so.

Overlaps: for one entity (or keyword) in one field, hits are kept leftmost-longest, so "Qais
al-Khazali" wins over the "Khazali" inside it. Hits of *different* entities may overlap; each
is reported. A surname shared by two persons named in full on a page is attributed to both.

Bounds: at most ``max_mentions`` (default :data:`MAX_MENTIONS`) mentions of one entity or keyword
are reported per field (per comment), the first ones in the text. Rules only ask whether an entity
is in a field and alerts show the first matches, while a hostile page repeating a name a million
times would otherwise cost a Mention object (and an alert a matched entry) per repetition.

Not handled (documented limits): elided prefixes glued by an apostrophe ("d'Khazali"), the
"Abdul"/"Abd al" alternation, inserting an article the alias does not have (alias "Qais
Khazali" does not match "Qais al-Khazali"; list the full form), and Arabic suffix pronouns.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import ahocorasick_rs
from pydantic import TypeAdapter

from schemas.config import AliasSpec, ConfigError, Keyword, Settings, WatchEntity
from schemas.pages import CleanPage, DedupVerdict, Field_, Mention, MentionType, TaggedPage
from streams.normalize import APOSTROPHES, DASHES, Normalized, fold_text, is_word_char, normalize

FIELD_ORDER: Final[dict[str, int]] = {"title": 0, "body": 1, "comments": 2}
"""Order in which mentions are listed: title, body, then comments by index."""

MAX_MENTIONS: Final = 100
"""Mentions of one entity (or keyword) reported per field, or per comment; the first ones."""
# Hits kept per alias target and field while scanning: room for the overlaps resolved later.
_SCAN_HITS_PER_MENTION: Final = 4

_LATIN_ARTICLES: Final = frozenset({"al", "el", "ul"})
_HYPHENATED_ARTICLES: Final = frozenset({"ar", "as", "ash", "at", "ath", "ad", "adh", "an", "az"})
_ARABIC_ARTICLE: Final = "\u0627\u0644"  # ال
_ARABIC_ALLAH: Final = "\u0627\u0644\u0644\u0647"  # الله, never split into article + word
_NAME_SUFFIXES: Final = frozenset({"jr", "sr", "ii", "iii", "iv"})
_MAX_ARTICLE_SLOTS: Final = 3
_RELAXED_TYPES: Final = frozenset({"person", "place"})

_CONJUNCTIONS: Final = ("", "\u0648", "\u0641")  # و ف
_PREPOSITIONS: Final = ("", "\u0628", "\u0644", "\u0643")  # ب ل ك
_ARABIC_PREFIXES: Final = frozenset(
    {c + p + a for c in _CONJUNCTIONS for p in _PREPOSITIONS for a in ("", _ARABIC_ARTICLE)}
    | {c + "\u0644\u0644" for c in _CONJUNCTIONS}  # لل = ل + ال
) - {""}
_MAX_PREFIX: Final = max(len(p) for p in _ARABIC_PREFIXES)

_LINE_BREAKS: Final = frozenset("\n\r\u2028\u2029\x0b\x0c\x85")
_OPENERS: Final = frozenset("\"'“‘«‹„‚([{*_") | APOSTROPHES
_SENTENCE_ENDS: Final = frozenset(".!?…•·▪◦|")
_ASCII_SPLIT: Final = re.compile(r"([\s\-]+)")
_ASCII_APOSTROPHES: Final = re.compile("['`]")
_PART_RE: Final = re.compile("[^\\s" + re.escape("".join(sorted(DASHES))) + "\u200b]+")


@dataclass(frozen=True, slots=True)
class _Target:
    """What a key stands for and the checks a hit on it must pass."""

    owner: int  # index into the entities or the keywords
    keyword: bool
    weak: bool = False
    case_sensitive: bool = False
    exact: frozenset[str] = frozenset()  # case-preserving forms, for case-sensitive aliases
    conditional: bool = False  # surname key: counts only once the person is named in full
    full_name: bool = False  # a multi-word alias of a person: enables the surname keys
    apostrophe_s: bool = False  # the alias itself ends in "'s"


class _Key(NamedTuple):
    """A key of the automaton: what the whole-word checks need to know of it, and its targets."""

    word_start: bool  # starts with a letter or digit, so must not continue a word
    word_end: bool  # ends with a letter or digit, so must not run on into one
    arabic_start: bool  # may follow an attached Arabic clitic
    plural: bool  # ends in "s" after another character: the text may have "'s" there
    targets: tuple[tuple[int, _Target], ...]  # (index in Tagger._targets, target)


_Hit = tuple[int, int, int, str, bool]
"""A hit in one field, as ``(start, -end, target index, surface, sentence_initial)`` with offsets
into the original text: sorting hits sorts them leftmost-longest, then by the owner's id."""
_Section = tuple[Field_, int | None, list[_Hit]]
"""The hits of one field (or one comment, by index)."""
_MENTIONS: Final = TypeAdapter(list[Mention])


class _Token(NamedTuple):
    text: str  # normalised, case kept
    key: str  # normalised and casefolded
    hyphen_after: bool


@dataclass(frozen=True, slots=True)
class _AliasForms:
    variants: tuple[str, ...]  # case kept; the first is the alias as written
    words: int  # words that are not an article
    surnames: tuple[str, ...]  # last word with and without its article (case kept)


def _tokens(raw: str) -> list[_Token]:
    """The words of an alias, each normalised with and without case, and how they are joined."""
    if not raw.isascii():
        return _tokens_general(raw)
    pieces = _ASCII_SPLIT.split(_ASCII_APOSTROPHES.sub("", raw))  # words at even indices
    return [
        _Token(word, word.lower(), i + 1 < len(pieces) and "-" in pieces[i + 1])
        for i, word in enumerate(pieces)
        if i % 2 == 0 and word
    ]


def _tokens_general(raw: str) -> list[_Token]:
    parts = list(_PART_RE.finditer(raw))
    tokens: list[_Token] = []
    for i, part in enumerate(parts):
        gap = raw[part.end() : parts[i + 1].start()] if i + 1 < len(parts) else ""
        hyphen = any(c in DASHES for c in gap)
        pieces = [p for p in fold_text(part.group(), casefold=False).split(" ") if p]
        before = len(tokens)
        for j, piece in enumerate(pieces):
            key = fold_text(piece)
            if key:
                tokens.append(_Token(piece, key, hyphen and j == len(pieces) - 1))
        if len(tokens) == before and hyphen and tokens:
            # a part that folds to nothing (an apostrophe) between words: its dash still joins them
            tokens[-1] = tokens[-1]._replace(hyphen_after=True)
    return tokens


def _is_latin_article(tokens: Sequence[_Token], i: int) -> bool:
    if i + 1 >= len(tokens):
        return False
    key = tokens[i].key
    return key in _LATIN_ARTICLES or (key in _HYPHENATED_ARTICLES and tokens[i].hyphen_after)


def _has_arabic_article(tokens: Sequence[_Token], i: int) -> bool:
    key = tokens[i].key
    return i > 0 and key.startswith(_ARABIC_ARTICLE) and len(key) >= 4 and key != _ARABIC_ALLAH


def _alias_forms(raw: str) -> _AliasForms:
    """Every spelling of one alias that the automaton should know, and its surname forms."""
    tokens = _tokens(raw)
    latin = [_is_latin_article(tokens, i) for i in range(len(tokens))]
    words = sum(1 for flag in latin if not flag)
    # Choices per token: for a Latin article "sep" / "join" / "drop"; for an Arabic article
    # "keep" / "strip"; every other token is "keep".
    choices: list[tuple[str, ...]] = []
    for i in range(len(tokens)):
        if latin[i]:
            droppable = i > 0 or words >= 2
            choices.append(("sep", "join", "drop") if droppable else ("sep", "join"))
        elif _has_arabic_article(tokens, i):
            choices.append(("keep", "strip"))
        else:
            choices.append(("keep",))
    slots = [i for i, c in enumerate(choices) if len(c) > 1]
    if len(slots) <= _MAX_ARTICLE_SLOTS:
        combos: Iterable[tuple[str, ...]] = itertools.product(*choices)
    else:  # bounded: all articles vary together
        combos = [tuple(c[min(k, len(c) - 1)] for c in choices) for k in range(3)]
    variants: dict[str, None] = {}
    for combo in combos:
        out: list[str] = []
        glue = False
        for token, choice in zip(tokens, combo, strict=True):
            if choice == "drop":
                continue
            text = token.text[len(_ARABIC_ARTICLE) :] if choice == "strip" else token.text
            if glue and out:
                out[-1] += text
            else:
                out.append(text)
            glue = choice == "join"
        if out:
            variants[" ".join(out)] = None
    return _AliasForms(tuple(variants), words, _surnames(tokens, latin))


def _surnames(tokens: Sequence[_Token], latin: Sequence[bool]) -> tuple[str, ...]:
    last = len(tokens) - 1
    while last > 0 and tokens[last].key.rstrip(".") in _NAME_SUFFIXES:
        last -= 1
    if last <= 0 or latin[last] or sum(c.isalnum() for c in tokens[last].key) < 2:
        return ()
    token = tokens[last]
    if latin[last - 1]:
        article = tokens[last - 1].text
        return (token.text, f"{article} {token.text}", article + token.text)
    if _has_arabic_article(tokens, last):
        return (token.text, token.text[len(_ARABIC_ARTICLE) :])
    return (token.text,)


def _is_arabic(ch: str) -> bool:
    return "\u0600" <= ch <= "\u06ff" or "\u0750" <= ch <= "\u077f" or "\u08a0" <= ch <= "\u08ff"


def _after_clitic(text: str, start: int) -> bool:
    """Whether the letters before ``text[start]`` in its word are an Arabic clitic prefix."""
    begin = start - 1
    while begin > 0 and is_word_char(text[begin - 1]):
        begin -= 1
        if start - begin > _MAX_PREFIX:
            return False
    return text[begin:start] in _ARABIC_PREFIXES


def _has_apostrophe(chars: str) -> bool:
    return any(c in APOSTROPHES for c in chars)


def _sentence_initial(text: str, start: int) -> bool:
    """Whether ``text[start:]`` begins a sentence or a line, past spaces and opening quotes."""
    i = start - 1
    while i >= 0:
        ch = text[i]
        if ch in _LINE_BREAKS:
            return True
        if ch.isspace() or ch in _OPENERS:
            i -= 1
            continue
        return ch in _SENTENCE_ENDS
    return True


def _capitalised(surface: str) -> bool:
    first = surface[0]
    return first.isupper() or first.lower() == first.upper()  # uncased scripts pass


class Tagger:
    """Finds watchlist entities and keywords in pages; built once, used for every page.

    The constructor compiles every alias and keyword term, with its variants, into one
    Aho-Corasick automaton. :meth:`tag` and :meth:`find` are pure functions of their input
    and that automaton, which is never changed after construction.

    Args:
        watchlist: the tracked entities (``Settings.watchlist``).
        keywords: the tracked keywords (``Settings.keywords``).
        common_words: lower-case words that make a one-word alias weak automatically;
            :data:`COMMON_WORDS` by default, an empty collection to turn the rule off.
        max_mentions: mentions of one entity or keyword reported per field (per comment).

    Attributes:
        alias_count: aliases and keyword terms compiled (canonical names included).
        key_count: distinct normalised keys in the automaton (spelling variants, surnames).

    Raises:
        ConfigError: if an argument is not a list of :class:`WatchEntity` / :class:`Keyword`,
            an id repeats, or an alias or term has no letter or digit left once normalised.
        ValueError: if ``max_mentions`` is below 1.
    """

    def __init__(
        self,
        watchlist: Sequence[WatchEntity],
        keywords: Sequence[Keyword] = (),
        *,
        common_words: Collection[str] | None = None,
        max_mentions: int = MAX_MENTIONS,
    ) -> None:
        if max_mentions < 1:
            raise ValueError(f"max_mentions={max_mentions}: use 1 or more, or no mention would be reported")
        self.max_mentions = max_mentions
        self._entities: tuple[WatchEntity, ...] = tuple(_checked(watchlist, WatchEntity, "watchlist"))
        self._keywords: tuple[Keyword, ...] = tuple(_checked(keywords, Keyword, "keywords"))
        words = COMMON_WORDS if common_words is None else common_words
        self._common = frozenset(fold_text(w) for w in words)
        self._relaxed = tuple(e.type in _RELAXED_TYPES for e in self._entities)
        keys: dict[str, dict[_Target, None]] = {}
        self.alias_count = 0
        for index, entity in enumerate(self._entities):
            one_word: dict[str, _Target] = {}  # this entity's one-word aliases, by key
            surnames: dict[str, tuple[str, ...]] = {}  # a person's surname key -> its spellings
            for spec in entity.alias_specs():
                forms = self._forms(spec, f"watchlist entity {entity.id!r}", "alias")
                full = entity.type == "person" and forms.words >= 2
                base = fold_text(forms.variants[0])
                weak = spec.weak or (forms.words == 1 and base in self._common and not spec.case_sensitive)
                target = _target(index, False, spec, forms, weak=weak, full=full)
                self._add(keys, forms.variants, target)
                if forms.words == 1 and " " not in base and not spec.case_sensitive:
                    one_word.setdefault(base, target)
                if full and forms.surnames:
                    surnames.setdefault(fold_text(forms.surnames[0]), forms.surnames)
            for bare, spellings in surnames.items():
                alias = one_word.get(bare)
                if alias is not None:  # the surname is an alias itself: "al-X" counts anywhere too
                    self._add(keys, spellings, alias)
                    continue
                conditional = _Target(index, False, weak=bare in self._common, conditional=True)
                self._add(keys, spellings, conditional)
        for index, keyword in enumerate(self._keywords):
            for spec in keyword.term_specs():
                forms = self._forms(spec, f"keyword {keyword.id!r}", "term")
                self._add(keys, forms.variants, _target(index, True, spec, forms, weak=spec.weak, full=False))
        self.key_count = len(keys)
        # Ordered by the owner's id, so that sorting hits by target index lists mentions by id.
        self._targets: tuple[_Target, ...] = tuple(
            sorted({t: None for targets in keys.values() for t in targets}, key=self._sort_id)
        )
        position = {target: i for i, target in enumerate(self._targets)}
        self._labels = tuple(self._label(target) for target in self._targets)
        self._keys = tuple(
            _Key(
                word_start=is_word_char(key[0]),
                word_end=is_word_char(key[-1]),
                arabic_start=_is_arabic(key[0]),
                plural=len(key) > 1 and key[-1] == "s",
                targets=tuple((position[t], t) for t in targets),
            )
            for key, targets in keys.items()
        )
        self._automaton = (
            ahocorasick_rs.AhoCorasick(keys, store_patterns=False, implementation=ahocorasick_rs.Implementation.DFA)
            if keys
            else None
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Tagger:
        """Build a tagger from the validated configuration file."""
        return cls(settings.watchlist, settings.keywords)

    def _forms(self, spec: AliasSpec, owner: str, what: str) -> _AliasForms:
        forms = _alias_forms(spec.text)
        if not forms.variants or not any(is_word_char(c) for c in forms.variants[0]):
            raise ConfigError(
                f"{owner}: {what} {spec.text!r} has no letter or digit once normalised "
                "(case, accents, apostrophes, dashes and spaces are folded away); "
                "remove it or spell the name out"
            )
        self.alias_count += 1
        return forms

    @staticmethod
    def _add(keys: dict[str, dict[_Target, None]], variants: Iterable[str], target: _Target) -> None:
        for variant in variants:
            keys.setdefault(fold_text(variant), {})[target] = None

    def _sort_id(self, target: _Target) -> tuple[str, bool]:
        owners = self._keywords if target.keyword else self._entities
        return owners[target.owner].id, target.keyword

    def _label(self, target: _Target) -> tuple[str, str, MentionType]:
        """The ``entity_id``, ``name`` and ``type`` of the mentions of a target."""
        if target.keyword:
            kid = self._keywords[target.owner].id
            return kid, kid, "keyword"
        entity = self._entities[target.owner]
        return entity.id, entity.name, entity.type

    def tag(self, page: CleanPage, verdict: DedupVerdict) -> TaggedPage:
        """Tag one page: entity mentions and keyword hits in its title, body and comments.

        Mentions are sorted by field (title, body, comments by index) and start offset; each
        ``start``/``end`` indexes the original string of its field, so
        ``text[start:end] == surface``. The surname rule and the sentence-initial exception
        for weak aliases look at the whole page.
        """
        sections: list[_Section] = []
        if page.title:
            sections.append(("title", None, self._scan(page.title)))
        sections.append(("body", None, self._scan(page.body)))
        for i, comment in enumerate(page.comments):
            sections.append(("comments", i, self._scan(comment.text)))
        mentions, keywords = self._resolve(sections)
        return TaggedPage(page=page, verdict=verdict, mentions=mentions, keywords=keywords)

    def find(self, text: str, field: Field_ = "body", comment_index: int | None = None) -> list[Mention]:
        """Entity mentions and keyword hits (``type="keyword"``) in one string, by start offset.

        The string is treated as a whole page of its own for the surname rule and the
        sentence-initial exception.
        """
        mentions, keywords = self._resolve([(field, comment_index, self._scan(text))])
        return sorted(_MENTIONS.validate_python([*mentions, *keywords]), key=_sort_key)

    def _scan(self, text: str) -> list[_Hit]:
        """Every hit in one string that passes the checks needing no page context."""
        if self._automaton is None or not text:
            return []
        norm = normalize(text)
        folded = norm.text
        offsets = norm.offsets
        size = len(folded)
        marks = not text.isascii()  # only then can a hit end before a combining mark
        hits: list[_Hit] = []
        cap = self.max_mentions * _SCAN_HITS_PER_MENTION
        # Hits kept per target index, times two, plus one for sentence-initial weak hits (which
        # may be dropped later).
        kept: dict[int, int] = {}
        saturated = False
        for key, start, end in self._automaton.find_matches_as_indexes(folded, overlapping=True):
            word_start, word_end, arabic_start, plural, targets = self._keys[key]
            # Whole words first: most raw hits are short keys inside longer words, cheap to drop.
            last = end - 1
            if (
                start
                and word_start
                and is_word_char(folded[start - 1])
                and not (arabic_start and _after_clitic(folded, start))
            ):
                continue
            if word_end and end < size and is_word_char(folded[end]) and not _possessive(norm, end):
                continue
            if saturated and all(
                kept.get(2 * i, 0) >= cap and (not t.weak or kept.get(2 * i + 1, 0) >= cap) for i, t in targets
            ):
                continue  # enough of these already: a page repeating a name cannot blow up
            if marks:
                o_start, o_end = norm.span(start, end)
            else:
                o_start, o_end = offsets[start], offsets[last] + 1
            surface = text[o_start:o_end]
            apostrophe_s = plural and _has_apostrophe(norm.deleted_before(last))
            initial: bool | None = None
            for i, target in targets:
                if apostrophe_s and not target.apostrophe_s:
                    continue
                if target.case_sensitive and fold_text(surface, casefold=False) not in target.exact:
                    continue
                if target.weak:
                    if not _capitalised(surface):
                        continue
                    if initial is None:
                        initial = _sentence_initial(text, o_start)
                excused = target.weak and bool(initial)
                slot = 2 * i + excused
                count = kept.get(slot, 0) + 1
                if count > cap:
                    continue
                kept[slot] = count
                saturated = saturated or count == cap
                hits.append((o_start, -o_end, i, surface, excused))
        return hits

    def _resolve(self, sections: Sequence[_Section]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Apply the page-level rules, drop overlaps, and list the mentions in order.

        Each mention is a dict of the fields of :class:`Mention`: pydantic validates them all in
        one call (building the TaggedPage), which costs less than a ``Mention(...)`` each.
        """
        targets = self._targets
        named: set[int] = set()  # entities with a hit that needs no page context
        in_full: set[int] = set()  # persons named by a multi-word alias
        for _, _, hits in sections:
            for _, _, i, _, sentence_initial in hits:
                target = targets[i]
                if target.keyword or target.conditional or sentence_initial:
                    continue
                named.add(target.owner)
                if target.full_name:
                    in_full.add(target.owner)
        mentions: list[dict[str, Any]] = []
        keywords: list[dict[str, Any]] = []
        for field, comment_index, hits in sections:
            hits.sort()
            # Per owner (an entity, or a keyword: negative) in this field: end of the last
            # mention, and mentions reported.
            covered: dict[int, int] = {}
            reported: dict[int, int] = {}
            for start, neg_end, i, surface, sentence_initial in hits:
                target = targets[i]
                owner = target.owner
                if target.conditional and owner not in in_full:
                    continue
                if sentence_initial and (target.keyword or not self._relaxed[owner] or owner not in named):
                    continue
                group = ~owner if target.keyword else owner
                if start < covered.get(group, -1):
                    continue
                count = reported.get(group, 0)
                if count >= self.max_mentions:
                    continue
                reported[group] = count + 1
                covered[group] = -neg_end
                entity_id, name, kind = self._labels[i]
                mention = {
                    "entity_id": entity_id,
                    "name": name,
                    "type": kind,
                    "surface": surface,
                    "field": field,
                    "start": start,
                    "end": -neg_end,
                    "comment_index": comment_index,
                }
                (keywords if target.keyword else mentions).append(mention)
        return mentions, keywords


def _possessive(norm: Normalized, end: int) -> bool:
    """Whether the word goes on past ``end`` only by a possessive "'s"."""
    folded = norm.text
    if folded[end] != "s" or not _has_apostrophe(norm.deleted_before(end)):
        return False
    return end + 1 == len(folded) or not is_word_char(folded[end + 1])


def _target(owner: int, keyword: bool, spec: AliasSpec, forms: _AliasForms, *, weak: bool, full: bool) -> _Target:
    text = spec.text.rstrip()
    return _Target(
        owner=owner,
        keyword=keyword,
        weak=weak,
        case_sensitive=spec.case_sensitive,
        exact=frozenset(forms.variants) if spec.case_sensitive else frozenset(),
        full_name=full,
        apostrophe_s=len(text) >= 2 and text[-1] in "sS" and text[-2] in APOSTROPHES,
    )


def _sort_key(mention: Mention) -> tuple[int, int, int, int, str]:
    index = -1 if mention.comment_index is None else mention.comment_index
    return (FIELD_ORDER[mention.field], index, mention.start, -mention.end, mention.entity_id)


def _checked(items: object, kind: type[Any], what: str) -> list[Any]:
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise ConfigError(
            f"{what} must be a list of {kind.__name__}, got {type(items).__name__}; "
            "load it with schemas.config.load_settings"
        )
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        if not isinstance(item, kind):
            raise ConfigError(
                f"{what}[{i}] is a {type(item).__name__}, not a {kind.__name__}; "
                f"build it with schemas.config.{kind.__name__}(...) or load_settings"
            )
        if item.id in seen:
            raise ConfigError(
                f"{what}[{i}]: duplicate id {item.id!r} (first at {what}[{seen[item.id]}]); "
                "give each entry one id and merge their aliases"
            )
        seen[item.id] = i
    return list(items)


_COMMON_WORDS_TEXT: Final = """
a abandon ability able about above abroad absence absolute absorb abuse academic academy accent
accept access accident account accused achieve acid acquire across act action active activity actor
actual actually adapt add address admiral admit adopt adult advance advantage adventure advice
advocate aerial affair affect afford afraid after afternoon again against age agency agenda agent
ago agree agreement agriculture ahead aid aim air aircraft airport alarm album alert alien alive all
alliance allow alloy ally almost alone along alpha alpine already also alter always amateur amazing
ambassador amber ambition amid among amount ample an analysis anchor ancient and angel anger angle
angry animal annual another answer anthem anxiety any anyone anything apart apex apparent appeal
appear appetite apple apply approach approve arch archer archive arctic area arena argue arm armed
armor armour army around arrest arrival arrive arrow art article artist as ash aside ask asleep
aspect assault assembly asset assist assume at athlete atlas atom attach attack attempt attend
attention attic attitude attract auction audience august aurora author authority auto autumn
available avenue average avoid awake award aware away awful axis baby back background bad badge bag
baker balance ball ban band bank banner bar bare barely barrel base basic basin basis basket bass
bat battle bay be beach beacon beam bean bear beat beautiful beauty because become bed bee beef
before begin behalf behind being belief believe bell belong below belt bench bend beneath benefit
berry beside best bet beta better between beyond bid big bill bird birth bishop bison bit bite
bitter black blade blame blank blast blaze blend bless blind block blood bloom blossom blow blue
board boat body bold bolt bomb bond bone bonus book boom boost boot border born borrow boss both
bother bottle bottom bound bounty bow bowl box boy brain branch brand brave bread break breaker
breath breeze brick bride bridge brief bright brilliant bring broad broken brook brother brown brush
bubble buck budget buffalo build bull bullet bunch burden burn burst bury bus bush business busy but
butter button buy by cabin cabinet cable cake call calm camera camp campaign can canal canary cancel
cancer candle candidate cannon canyon cap capable capital captain capture car carbon card cardinal
care career careful cargo carnival carpet carry cascade case cash cast castle cat catch category
cattle cause cave cease cedar ceiling cell center centre central century ceremony certain chain
chair chairman challenge chamber champion chance change channel chapter character charge chariot
charity charm chart chase cheap check cheer cheese chemical cherry chest chicken chief child chip
choice choose church circle citizen city civil claim class classic clean clear clerk clever client
cliff climate climb clock close cloth cloud club clue coach coal coast coat cobra code coffee coin
cold collapse collect college colonel colony color colour column combat come comet comfort command
comment commerce commission common community company compare compass complete concern concert
condition condor conduct confidence conflict congress connect consider constant contact contain
content contest context continue contract control convention cook cool copper copy coral core corn
corner corporal correct cosmos cost cotton cougar council count country county couple courage course
court cousin cover cow coyote crack craft crane crash crazy cream create credit crew cricket crime
crisis critic crop cross crow crowd crown crucial cruel crush cry crystal culture cup cure curious
current curtain curve custom customer cut cycle cyclone dad daily dairy damage dance danger dare
dark dart data date daughter dawn day dead deal dear death debate debt decade decide decision deck
declare deep deer defeat defence defender defense degree delay deliver delta demand deny depart
depend deposit depth deputy describe desert design desire desk despite destiny detail develop device
devil diamond diet differ difficult dig dignity dinner direct dirt discover dish display distance
district dive divide doctor document dog dollar dolphin domain door dot double doubt dove down dozen
draft dragon drama draw dream dress drift drink drive drop drum dry duck due dust duty dwarf dynasty
each eager eagle ear early earn earth ease east easy eat echo eclipse economy edge edition editor
effect effort egg eight either elder elect element elephant elite else embassy ember emerald
emergency emotion empire employ empress empty end endeavour enemy energy engine enjoy enough enter
enterprise entire entry envoy equal equinox equity era error escape essay estate even evening event
ever every evidence evil exact exam example excellent except exchange exercise exile exist exit
expert explain explorer express extra eye face fact factor fail fair faith falcon fall false fame
family famous fan far farm fashion fast fat fate father fault favor favour fear feather feature
federal fee feed feel fellow fence fern festival few field fierce fiesta fight figure file fill film
final finance find fine finger finish fire firm first fish fit five fix flag flame flash flat fleet
flight flint float flood floor flow flower fly focus fold folk follow food fool foot for force
foreign forest forever forge forget form fortress fortune forum forward fossil found fountain four
fox frame free freedom fresh friend front frontier frost fruit fuel full fun fund funny fury future
gain galaxy game gang gap garden gas gate gather gauge gaze gazelle gem general generous gentle
genuine gesture get giant gift girl give glacier glad glass glide global glory glove go goal goat
god gold golden good govern grace grade grain grand grant grape grass grave gray great green grey
grid grief ground group grove grow growth guard guardian guess guest guide guilt gulf gun guy habit
hair half hall hammer hand handle hang happen happy harbor harbour hard harm harmony harvest hat
hate have haven hawk hay he head health hear heart heat heaven heavy hedge height hello help her
herald here hero heron hidden hide high hill him hint hire his history hit hold hole holiday hollow
holy home honest honey honor honour hope horizon horn horse hospital host hot hotel hour house how
however huge human humble hunt hunter hurricane hurry hurt husband ice idea ideal if ignore ill
image impact import in income index industry infant infinity inform initial injury inner innocent
input inside insight instance intent interest into invest iris iron island issue it item ivory ivy
jacket jade jaguar jail jam jar jasmine jazz jet jewel job join joint joke journal journey joy judge
juice jump junior jury just justice keen keep kernel key kick kid kill kind king kingdom kiss kit
kitchen kite knee knife knight knock know knowledge label labor labour lack lady lake lamb lamp land
lane language large last late later laugh launch law lawyer lay layer lead leader leaf league lean
learn least leather leave left leg legacy legal legend lemon lend length less lesson let letter
level liberty library lie life lift light like likely lily lime limit line link lion lip liquid list
listen little live load loan local lock lodge log logic lone long look lord lose loss lost lot lotus
loud love lovely low loyal luck lucky lunar lunch machine mad magic magnet magnolia maid mail main
major make male mall mammoth man manage manner many map maple marble march margin marine mark market
marsh marvel mask mass master match mate material matter maximum may maybe mayor me meadow meal mean
measure meat medal media medium meet member memory mental mention mercury mercy mere meridian merit
mess message metal meteor method middle might mild mile military milk mill mind mine minor minute
miracle mirror miss mission mist mistake mix model modern moment monarch money monitor monk month
mood moon moral more morning most mother motion motor mount mountain mouse mouth move much mud
murder muscle museum music must mustang mutual my mystery nail name narrow nation native nature navy
near neat nebula neck need needle neighbor neighbour neither nerve nest net network never new news
next nice night nine no noble nobody noise none noon nor normal north nose not note nothing notice
nova novel now number nurse nut oak oasis object ocean odd of off offer office officer official
often oil old olive omega on once one only onyx open opal opera operation opinion option or oracle
orange orbit orchid order ordinary organ origin osprey other our out outside oval over owl own owner
oxygen pace pack page pain paint pair palace pale palm pan panel panic panther paper parade paragon
parent park part partner party pass passage past patch path patient patriot pattern pause pay peace
peak pearl pelican peer pen penny people pepper per perfect period person pet phase phone photo
piano pick picture piece pig pike pilgrim pilot pin pine pink pinnacle pioneer pipe pirate pit pitch
place plain plan plane planet plant plate play player plaza plea please pleasure plenty plot plus
pocket poem poet point poison polar pole police policy polish pond pool poor pop popular port portal
position positive post pot potato pound pour power practice prairie praise pray precious present
president press prestige pretty prevent price pride priest prime prince princess print prior prison
private prize problem process prodigy produce product profit program progress project promise proof
proper property prophet protect proud prove provide public pull pulse puma pump punch pupil pure
purple purpose push put puzzle pyramid quality quarter quartz queen quest question quick quiet quite
rabbit race radar radiant radio rage rail rain rainbow raise range ranger rank rapid raptor rare
rate rather raven raw ray reach read ready real reason rebel recall record red reef reform refuge
region reliance relief remain remote rent repair report rescue reserve resist resolute resolve rest
result return reveal reward rhythm rice rich ride ridge rifle right ring riot rise risk rival river
road rock role roll roof room root rope rose rough round route royal rub ruby rude ruin rule run
rural rush rust saber sad safe sail saint salt same sample sand sapphire satellite save say scale
scene school science score scorpion scout screen sea seal search season seat second secret section
sector security see seed seek seem sell send senior sense sentinel serenity series serious servant
serve service session set settle seven severe shade shadow shake shall shape share shark sharp she
sheep sheet shelf shell shelter shield shift shine ship shirt shock shoe shoot shop shore short shot
should shoulder shout show shower shut sick side sierra sight sign signal silent silk silver simple
since sing single sister sit site six size skill skin sky slave sleep slice slide slim slip slow
small smart smell smile smoke smooth snake snow so soap social society soft soil solar soldier solid
solo some son song soon sort soul sound source south sovereign space spare spark sparrow speak
special spectrum speech speed spell spend sphere spice spider spirit spite split spoke sport spot
spring spy square staff stage stake stand standard star start state station stay steady steam steel
steep stem step sterling stick still stingray stock stone stop store storm story stove straight
strange stream street strength stress strike string strip strong student study stuff style subject
success such sudden sugar suit summer summit sun sunny sunrise sunset super supply support supreme
sure surface surge surprise swallow swan sweet swift swim sword symbol system table tail take talk
tall talon tank tanker tap target task taste tax tea teach team tear tell temple tempest ten tender
tent term test text than thank that the their them then theory there these they thick thin thing
think third this thorn those though thought thread threat three throne through throw thunder ticket
tide tie tiger tight timber time tin tiny tip titan title to today together token tomorrow tone
tongue tonight too tool tooth top topaz topic torch tornado total touch tough tour tower town toy
track trade trail train transfer trap travel treasure treat tree trend trial tribe tribune trick
trident trip triumph troop trouble truck true trump trust truth try tube tulip tune tunnel turkey
turn twin twist two type typhoon ugly under unicorn union unique unit unity universe until up upon
upper urban urge us use usual valiant valley value van vanguard vast vault vector velvet venom
venture verse very vessel veteran victim victory view viking village violet viper virtue vision
vista visit vital voice volume vote voyage voyager wage wait wake walk wall want war ward warden
warm warn warrior wash waste watch water wave way we weak wealth weapon wear weather web wedding
week weight welcome well west wet whale what wheat wheel when where which while white who whole why
wide wife wild will willow win wind window wine wing winter wire wise wish with within without
witness wolf woman wonder wood word work worker world worry worth would wound write wrong yard year
yellow yes yet you young youth zenith zephyr zero zone
"""

COMMON_WORDS: Final[frozenset[str]] = frozenset(_COMMON_WORDS_TEXT.split())
"""About 2,100 common lower-case English words (function words, everyday nouns, adjectives and
verbs, and the nature, gem, animal and virtue words that ships and companies are named after).
A one-word alias that is one of them ("Freedom", "Amber", "Trump") is weak unless marked
``case_sensitive``: it must be written capitalised and not start a sentence alone."""


__all__ = ["COMMON_WORDS", "FIELD_ORDER", "MAX_MENTIONS", "Tagger"]
