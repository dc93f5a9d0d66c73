"""Entity tagging: aliases as outlets spell them, whole words only, weak and case-sensitive aliases."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.config import AliasSpec, ConfigError, Keyword, WatchEntity, load_settings
from schemas.pages import CleanPage, Comment, DedupVerdict, Mention
from streams.tag import COMMON_WORDS, Tagger, _tokens, _tokens_general

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "seeds"
VERDICT = DedupVerdict(status="new", cluster_id="c1")


def make_page(body: str, title: str | None = None, comments: Sequence[str] = ()) -> CleanPage:
    return CleanPage(
        doc_id="doc",
        title=title,
        body=body,
        comments=[Comment(text=c) for c in comments],
        fetched_at=datetime(2024, 1, 1, tzinfo=UTC),
    )


def surfaces(mentions: Sequence[Mention], entity_id: str) -> list[str]:
    return [m.surface for m in mentions if m.entity_id == entity_id]


def assert_offsets_exact(page: CleanPage, mentions: Sequence[Mention]) -> None:
    for m in mentions:
        assert m.field != "comments" or m.comment_index is not None
        text = page.text_of(m.field, m.comment_index)
        assert text[m.start : m.end] == m.surface, m


@pytest.fixture(scope="module")
def config_tagger() -> Tagger:
    return Tagger.from_settings(load_settings(ROOT / "wirewatch.yml"))


def person(name: str, *aliases: str | AliasSpec, entity_id: str = "p") -> WatchEntity:
    return WatchEntity(id=entity_id, name=name, type="person", aliases=list(aliases))


# --- the seed pages, with the real configuration ---------------------------------------------


def seed(prefix: str) -> CleanPage:
    (path,) = SEEDS.glob(f"{prefix}_*.txt")
    return make_page(path.read_text(encoding="utf-8"))


def test_seed_000_finds_khazali_in_every_spelling(config_tagger: Tagger) -> None:
    page = seed("000")
    tagged = config_tagger.tag(page, VERDICT)
    assert surfaces(tagged.mentions, "qais-al-khazali") == [
        "Qais al-Khazali",
        "Qais al-Khazali",
        "Khazali",
        "Al- Khazali",
    ]
    assert surfaces(tagged.mentions, "asaib-ahl-al-haq") == ["Asaeb Ahl al-Haq"]
    assert [k.surface for k in tagged.keywords] == ["rockets", "hunt and attack"]
    assert_offsets_exact(page, [*tagged.mentions, *tagged.keywords])


def test_seed_002_finds_curly_apostrophe_spellings(config_tagger: Tagger) -> None:
    page = seed("002")
    tagged = config_tagger.tag(page, VERDICT)
    assert surfaces(tagged.mentions, "qais-al-khazali") == ["Qais Khazali", "Khazali", "Khazali"]
    assert surfaces(tagged.mentions, "asaib-ahl-al-haq") == ["Asa’ib", "Asa’ib Ahl al-Haq", "Asa’ib"]
    assert surfaces(tagged.mentions, "kataib-hezbollah") == ["Kata’ib Hezbollah"]
    assert surfaces(tagged.mentions, "popular-mobilization-forces") == ["Popular Mobilization Units", "PMU"]
    assert surfaces(tagged.mentions, "donald-trump") == ["Donald Trump"]
    assert surfaces(tagged.mentions, "mossad") == ["Mossad"] * 3
    assert_offsets_exact(page, tagged.mentions)


def test_seed_004_finds_straight_apostrophes_and_leaves_the_possessive_out(config_tagger: Tagger) -> None:
    page = seed("004")
    tagged = config_tagger.tag(page, VERDICT)
    assert surfaces(tagged.mentions, "qais-al-khazali") == ["Khazali"] + ["Qais Khazali"] * 3 + ["Khazali"] * 5
    assert surfaces(tagged.mentions, "asaib-ahl-al-haq") == ["Asa'ib Ahl al-Haq"] * 4
    assert surfaces(tagged.mentions, "popular-mobilization-forces") == [
        "Popular Mobilization Forces",
        "Popular Mobilization Force",  # written "Force's weapons depots"
    ]
    assert surfaces(tagged.mentions, "nicolas-maduro") == ["Maduro"]
    assert_offsets_exact(page, tagged.mentions)


def test_mentions_carry_the_entity_name_type_and_field(config_tagger: Tagger) -> None:
    tagged = config_tagger.tag(seed("000"), VERDICT)
    first = tagged.mentions[0]
    assert (first.entity_id, first.name, first.type, first.field) == (
        "qais-al-khazali",
        "Qais al-Khazali",
        "person",
        "body",
    )
    assert (first.start, first.end, first.comment_index) == (0, 15, None)
    rockets = tagged.keywords[0]
    assert (rockets.entity_id, rockets.name, rockets.type) == ("rocket-attack", "rocket-attack", "keyword")


# --- spellings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["QAIS AL-KHAZALI spoke", "qais al-khazali spoke", "Qais Al-Khazali spoke", "Qais AL KHAZALI spoke"],
)
def test_case_does_not_matter(text: str) -> None:
    tagger = Tagger([person("Qais al-Khazali")])
    assert [m.surface for m in tagger.find(text)] == [text.removesuffix(" spoke")]


@pytest.mark.parametrize("apostrophe", ["'", "’", "‘", "`", "ʿ", "ʾ", ""])
def test_every_apostrophe_spelling_matches(apostrophe: str) -> None:
    tagger = Tagger([WatchEntity(id="aah", name="Asa'ib Ahl al-Haq", type="organization", aliases=["Asa’ib"])])
    text = f"members of Asa{apostrophe}ib Ahl al-Haq and Asa{apostrophe}ib fighters"
    found = tagger.find(text)
    assert [m.surface for m in found] == [f"Asa{apostrophe}ib Ahl al-Haq", f"Asa{apostrophe}ib"]


@pytest.mark.parametrize(
    "written",
    ["Qais al-Khazali", "Qais al Khazali", "Qais alKhazali", "Qais Khazali", "Qais Al- Khazali", "Qais al‑Khazali"],
)
def test_the_arabic_article_may_be_hyphenated_spaced_joined_or_left_out(written: str) -> None:
    tagger = Tagger([person("Qais al-Khazali")])
    assert [m.surface for m in tagger.find(f"Yesterday {written} said")] == [written]


def test_assimilated_article_varies_only_when_hyphenated() -> None:
    tagger = Tagger([WatchEntity(id="s", name="Saraya as-Salam", type="organization")])
    assert [m.surface for m in tagger.find("Saraya Salam and Saraya as Salam and Saraya asSalam")] == [
        "Saraya Salam",
        "Saraya as Salam",
        "Saraya asSalam",
    ]


def test_a_leading_article_is_not_dropped_from_a_one_word_name() -> None:
    tagger = Tagger([WatchEntity(id="q", name="Al-Qaeda", type="organization")])
    assert [m.surface for m in tagger.find("Al Qaeda, AlQaeda and al-Qaeda; Qaeda alone")] == [
        "Al Qaeda",
        "AlQaeda",
        "al-Qaeda",
    ]


@pytest.mark.parametrize("possessive", ["'s", "’s"])
def test_possessives_match_and_stay_out_of_the_surface(possessive: str) -> None:
    tagger = Tagger([person("Qais al-Khazali", "Khazali")])
    text = f"Khazali{possessive} remarks"
    (mention,) = tagger.find(text)
    assert (mention.surface, mention.start, mention.end) == ("Khazali", 0, 7)


def test_a_plural_alias_does_not_swallow_a_possessive() -> None:
    tagger = Tagger(
        [
            WatchEntity(id="forces", name="Popular Mobilization Forces", type="organization"),
            WatchEntity(id="force", name="Popular Mobilization Force", type="organization"),
        ]
    )
    found = tagger.find("the Popular Mobilization Force's depots")
    assert [(m.entity_id, m.surface) for m in found] == [("force", "Popular Mobilization Force")]


@pytest.mark.parametrize("written", ["Nicolas Maduro", "Nicolás Maduro", "NICOLÁS MADURO", "Nicola\u0301s Maduro"])
def test_diacritics_do_not_matter(written: str) -> None:
    tagger = Tagger([person("Nicolás Maduro", entity_id="maduro")])
    assert [m.surface for m in tagger.find(f"President {written} spoke")] == [written]


def test_unaccented_alias_matches_accented_text() -> None:
    tagger = Tagger([person("Nicolas Maduro", entity_id="maduro")])
    assert [m.surface for m in tagger.find("Nicolás Maduro")] == ["Nicolás Maduro"]


# --- Arabic script ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "surface"),
    [
        ("قال قيس الخزعلي إن", "قيس الخزعلي"),
        ("قال قَيْس الخَزْعَلِي إن", "قَيْس الخَزْعَلِي"),  # harakat
        ("قال قيس الخزعلــــي إن", "قيس الخزعلــــي"),  # tatweel
        ("قال قيس خزعلي إن", "قيس خزعلي"),  # no article
        ("ووقيس الخزعلي", None),  # two conjunctions: not a clitic
    ],
)
def test_arabic_name_matches_with_harakat_tatweel_and_optional_article(text: str, surface: str | None) -> None:
    tagger = Tagger([person("Qais al-Khazali", "قيس الخزعلي")])
    found = [m.surface for m in tagger.find(text)]
    assert found == ([surface] if surface else [])


def test_arabic_alef_forms_are_one_letter() -> None:
    tagger = Tagger([person("Ibrahim", "إبراهيم")])
    found = tagger.find("ابراهيم ثم أبراهيم ثم إبراهيم")
    assert [m.surface for m in found] == ["ابراهيم", "أبراهيم", "إبراهيم"]


def test_arabic_clitic_prefixes_are_allowed_but_left_out_of_the_surface() -> None:
    tagger = Tagger([person("Qais al-Khazali", "قيس الخزعلي", "الخزعلي")])
    text = "وقيس الخزعلي وللخزعلي بالخزعلي"
    found = tagger.find(text)
    assert [m.surface for m in found] == ["قيس الخزعلي", "خزعلي", "الخزعلي"]
    assert [text[m.start - 1] for m in found] == ["و", "ل", "ب"]


def test_arabic_word_boundaries_hold() -> None:
    tagger = Tagger([WatchEntity(id="haq", name="Haq", aliases=["الحق"])])
    assert tagger.find("الحقيقة") == []  # "the truth" merely starts with it


# --- look-alikes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Sheikh Khazal met them",
        "the Khazalia district",
        "in AlKhazaliya today",
        "Khazalis and others",
        "a Trumpet sounded",
        "he played a trump card",
        "aah, he said",
        "Aah, he said",
    ],
)
def test_look_alikes_do_not_match(config_tagger: Tagger, text: str) -> None:
    assert config_tagger.find(text) == []


def test_case_sensitive_acronym_matches_only_its_own_case(config_tagger: Tagger) -> None:
    found = config_tagger.find("the AAH and AAH’s leaders, not aah")
    assert [(m.entity_id, m.surface) for m in found] == [("asaib-ahl-al-haq", "AAH")] * 2


def test_common_word_alias_is_weak_capitalised_and_not_sentence_initial() -> None:
    tagger = Tagger([WatchEntity(id="freedom", name="Freedom", type="other")])
    text = "Freedom of the press matters. They seized the tanker Freedom on Monday. freedom!\nFreedom again"
    found = tagger.find(text)
    assert [(m.surface, m.start) for m in found] == [("Freedom", text.index("Freedom on"))]


def test_sentence_initial_inside_quotes_is_still_sentence_initial() -> None:
    tagger = Tagger([WatchEntity(id="amber", name="Amber", type="other")])
    assert tagger.find('He left. "Amber is nice," she said.') == []
    assert [m.surface for m in tagger.find("the ship ‘Amber’ docked")] == ["Amber"]


def test_alias_marked_weak_is_weak_even_if_not_a_common_word() -> None:
    tagger = Tagger([WatchEntity(id="ph", name="MV Phoenix Star", aliases=[AliasSpec(text="Phoenix", weak=True)])])
    assert tagger.find("Phoenix rose. a phoenix rose") == []
    assert [m.surface for m in tagger.find("the ship Phoenix docked")] == ["Phoenix"]


def test_common_words_list_is_built_in_and_can_be_turned_off() -> None:
    assert len(COMMON_WORDS) >= 2000
    assert {"freedom", "amber", "trump"} <= COMMON_WORDS
    tagger = Tagger([WatchEntity(id="freedom", name="Freedom")], common_words=())
    assert [m.surface for m in tagger.find("freedom")] == ["freedom"]


def test_sentence_initial_weak_name_counts_for_a_person_already_named_on_the_page() -> None:
    tagger = Tagger([person("Donald Trump", "Trump", entity_id="trump")])
    assert tagger.find("Trump denied it.") == []
    text = "The envoy met Trump. Trump denied it."
    assert [m.start for m in tagger.find(text)] == [14, 21]


def test_sentence_initial_exception_does_not_apply_to_ships() -> None:
    tagger = Tagger([WatchEntity(id="freedom", name="Freedom", type="other")])
    found = tagger.find("They boarded the tanker Freedom. Freedom of navigation matters.")
    assert [m.start for m in found] == [24]


# --- surname rule -------------------------------------------------------------------------------


def test_surname_alone_counts_once_the_page_names_the_person_in_full() -> None:
    tagger = Tagger([person("Qais al-Khazali")])
    text = "Qais al-Khazali spoke. Later Khazali said more, and al-Khazali's aides agreed."
    assert [m.surface for m in tagger.find(text)] == ["Qais al-Khazali", "Khazali", "al-Khazali"]


def test_surname_alone_does_not_count_without_the_full_name() -> None:
    tagger = Tagger([person("Qais al-Khazali")])
    assert tagger.find("Khazali said more, al-Khazali added") == []


def test_full_name_in_the_title_enables_the_surname_in_the_body() -> None:
    tagger = Tagger([person("Qais al-Khazali")])
    page = make_page("Khazali said more.", title="Interview with Qais al-Khazali")
    tagged = tagger.tag(page, VERDICT)
    assert [(m.field, m.surface) for m in tagged.mentions] == [("title", "Qais al-Khazali"), ("body", "Khazali")]


def test_surname_that_is_an_alias_matches_with_its_article_on_any_page() -> None:
    tagger = Tagger([person("Qais al-Khazali", "Khazali")])
    assert [m.surface for m in tagger.find("AL-KHAZALI said, and alKhazali agreed")] == ["AL-KHAZALI", "alKhazali"]


def test_surname_rule_skips_generational_suffixes() -> None:
    tagger = Tagger([person("Martin Luther King Jr.")])
    text = "Martin Luther King Jr. spoke. Later King said more; the king of France did not."
    assert [m.surface for m in tagger.find(text)] == ["Martin Luther King Jr.", "King"]


def test_common_word_surname_stays_weak_under_the_surname_rule() -> None:
    tagger = Tagger([person("Donald Trump", entity_id="trump")])
    text = "Donald Trump arrived. Later Trump left; he played a trump card."
    assert [m.surface for m in tagger.find(text)] == ["Donald Trump", "Trump"]


def test_longest_alias_wins_at_a_position(config_tagger: Tagger) -> None:
    found = config_tagger.find("Sheikh Qais al-Khazali spoke")
    assert [m.surface for m in found] == ["Sheikh Qais al-Khazali"]


# --- pages, fields, keywords --------------------------------------------------------------------


def test_tag_reports_title_body_then_comments_in_order(config_tagger: Tagger) -> None:
    page = make_page(
        "Mossad and Khazali.",
        title="Khazali speaks",
        comments=["no names here", "i will kill them, Mossad", "Qais Khazali"],
    )
    tagged = config_tagger.tag(page, VERDICT)
    assert tagged.page == page
    assert tagged.verdict == VERDICT
    assert [(m.field, m.comment_index, m.surface) for m in tagged.mentions] == [
        ("title", None, "Khazali"),
        ("body", None, "Mossad"),
        ("body", None, "Khazali"),
        ("comments", 1, "Mossad"),
        ("comments", 2, "Qais Khazali"),
    ]
    assert [(k.entity_id, k.field, k.comment_index, k.surface) for k in tagged.keywords] == [
        ("violent-threat", "comments", 1, "i will kill"),
    ]
    assert_offsets_exact(page, [*tagged.mentions, *tagged.keywords])


def test_keywords_match_whole_words_only(config_tagger: Tagger) -> None:
    found = config_tagger.find("Rockets fell; rocketry is a science; a drone\nstrike hit")
    assert [(m.entity_id, m.surface) for m in found] == [
        ("rocket-attack", "Rockets"),
        ("rocket-attack", "drone\nstrike"),
    ]


def test_an_empty_watchlist_finds_nothing() -> None:
    assert Tagger([], []).find("Qais al-Khazali") == []


# --- constructor checks -------------------------------------------------------------------------


@pytest.mark.parametrize("alias", ["---", "’’", "!!!"])
def test_alias_with_nothing_left_after_normalising_is_a_config_error(alias: str) -> None:
    with pytest.raises(ConfigError, match=r"watchlist entity 'qais'.*alias") as info:
        Tagger([person("Qais al-Khazali", alias, entity_id="qais")])
    assert repr(alias) in str(info.value)


def test_keyword_term_with_nothing_left_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="keyword 'kw': term '--'"):
        Tagger([], [Keyword(id="kw", terms=["--"])])


def test_duplicate_entity_ids_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="duplicate id 'p'"):
        Tagger([person("A B"), person("C D")])


def test_wrong_argument_types_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"watchlist\[0\] is a dict"):
        Tagger([{"id": "x", "name": "X"}])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="keywords must be a list"):
        Tagger([], "rocket")  # type: ignore[arg-type]


# --- scale (not a timing test: the benchmark is in the report) ----------------------------------


def fake_names(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    syllables = ["ka", "zu", "mir", "tal", "von", "rek", "shi", "dor", "quen", "bex", "lio", "nar", "oth", "pry"]

    def word() -> str:
        return "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))).capitalize()

    return [f"{word()} {word()}" for _ in range(count)]


def test_a_large_watchlist_finds_exactly_the_planted_names() -> None:
    names = fake_names(5000)
    watchlist = [person(n, entity_id=f"e{i}") for i, n in enumerate(names)]
    tagger = Tagger(watchlist)
    text = f"Reports say {names[42]} met {names[4242]} in the capital."
    found = tagger.find(text)
    assert [m.surface for m in found] == [names[42], names[4242]]
    assert_offsets_exact(make_page(text), found)


# --- properties ---------------------------------------------------------------------------------

STRONG_SPELLINGS = [
    ("qais-al-khazali", "Qais al-Khazali"),
    ("qais-al-khazali", "Khazali"),
    ("qais-al-khazali", "قيس الخزعلي"),
    ("asaib-ahl-al-haq", "Asa’ib"),
    ("asaib-ahl-al-haq", "Asaeb Ahl al‑Haq"),
    ("mossad", "MOSSAD"),
    ("nicolas-maduro", "Nicolas Maduro"),
]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(st.text(max_size=30), st.sampled_from(range(len(STRONG_SPELLINGS)))),
        max_size=12,
    )
)
def test_inserted_aliases_are_found_with_exact_offsets(config_tagger: Tagger, pieces: list[str | int]) -> None:
    text = ""
    planted: list[tuple[str, int, int]] = []
    for piece in pieces:
        text += " "
        if isinstance(piece, int):
            entity_id, spelling = STRONG_SPELLINGS[piece]
            planted.append((entity_id, len(text), len(text) + len(spelling)))
            text += spelling
        else:
            text += piece
        text += " "
    found = config_tagger.find(text)
    for m in found:
        assert text[m.start : m.end] == m.surface
    for entity_id, start, end in planted:
        assert any(m.entity_id == entity_id and m.start <= start and m.end >= end for m in found), (
            entity_id,
            text[start:end],
        )


@settings(max_examples=200, deadline=None)
@given(title=st.one_of(st.none(), st.text()), body=st.text(), comments=st.lists(st.text(), max_size=3))
def test_tagging_never_raises_on_arbitrary_text(
    config_tagger: Tagger, title: str | None, body: str, comments: list[str]
) -> None:
    page = make_page(body, title=title, comments=comments)
    tagged = config_tagger.tag(page, VERDICT)
    assert_offsets_exact(page, [*tagged.mentions, *tagged.keywords])


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=40))
def test_ascii_alias_fast_path_splits_like_the_general_one(raw: str) -> None:
    fast = _tokens(raw)
    general = _tokens_general(raw)
    assert [(t.text, t.key) for t in fast] == [(t.text, t.key) for t in general]
    assert [t.hyphen_after for t in fast[:-1]] == [t.hyphen_after for t in general[:-1]]
