"""Properties every stage keeps on any input hypothesis can think of.

Each stage either returns its model or raises its one typed error (``RejectedPage`` with a reason
that is not ``internal_error``, ``ConfigError``), and what it returns is consistent: offsets
point at the text they name, comment text stays out of the body, one story alerts once per rule.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from schemas.config import ConfigError, DedupConfig, Settings, load_settings, parse_settings
from schemas.deadletter import Reason
from schemas.pages import CleanPage, Comment, DedupVerdict, Mention, RawPage, TaggedPage
from streams.clean import OutletTemplates, clean, content_id
from streams.decode import decode_body, decode_raw_record
from streams.dedup import SIGNATURE_BLOCK, DedupIndex, MinHasher
from streams.errors import RejectedPage
from streams.pipeline import Pipeline
from streams.tag import Tagger

ROOT = Path(__file__).resolve().parents[2]
PROJECT = load_settings(ROOT / "wirewatch.yml")
PROJECT_TEXT = (ROOT / "wirewatch.yml").read_text(encoding="utf-8")
T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Words that make the classifier, the tagger and the shingler work: names, furniture, dates, glue.
WORDS = [
    "the", "talks", "in", "Baghdad", "said", "officials", "on", "Tuesday", "would", "resume", "Khazali",
    "Qais", "al-Khazali", "Khazali's", "Asa'ib", "Ahl", "al-Haq", "AAH", "PMF", "rocket", "rockets",
    "Trump", "Maduro", "Nicolás", "قيس", "الخزعلي", "Most", "Read", "Related", "News", "Share", "Comments",
    "Leave", "a", "Comment", "Back", "to", "top", "2021-03-05", "12:00", "March", "5,", "says:", "ago",
    "•", "-", "—", "'", "’", "ʿ", ".", "!", "?", "|", "\u200b", "\u0301", "\u202e", "\t",
]
word_lists = st.lists(st.sampled_from(WORDS), max_size=40)
sentences = word_lists.map(" ".join)
lines = st.lists(st.one_of(sentences, st.text(max_size=80)), max_size=30)
texts = st.one_of(st.text(max_size=2000), lines.map("\n".join), lines.map("\n\n".join))
HTML_TAGS = ["p", "div", "span", "a", "li", "ul", "h1", "h2", "nav", "footer", "aside", "article", "section",
             "script", "style", "br", "table", "td", "time", "header", "form", "figure", "figcaption"]
CLASSES = ["", "comments", "comment", "share", "related", "nav", "footer", "article", "content", "widget",
           "comment-content", "commentlist", "ad", "author", "byline"]


def typed(exc: RejectedPage) -> None:
    assert isinstance(exc.reason, Reason)
    assert exc.reason is not Reason.INTERNAL_ERROR
    assert exc.message and "\n" not in exc.message


# ----------------------------------------------------------------------------------------- decoding

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=50))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)), max_leaves=20)
raw_fields = st.fixed_dictionaries({}, optional={
    "url": st.one_of(st.none(), st.text(max_size=40), st.just("https://x.example/a"), st.just("http://[::1")),
    "outlet": st.one_of(st.text(max_size=20), st.integers()),
    "fetched_at": st.one_of(st.text(max_size=30), st.integers(), st.just("2026-11-01T00:00:00Z")),
    "content_type": st.sampled_from(["text/html", "text/plain", "image/png", ""]),
    "body": st.one_of(texts, st.integers(), st.none()),
    "source": st.one_of(st.none(), st.text(max_size=20)),
    "meta": json_values,
    "schema_version": st.sampled_from([1, 2, "1"]),
    "extra": json_values,
})
SURROGATE_ESCAPES = st.sampled_from(["\\ud800", "\\udfff", "\\ud83d", "\\ude00", "\\ud83d\\ude00", "\\u0000"])


@st.composite
def records(draw: st.DrawFn) -> bytes:
    """Bytes a pages.raw topic might carry: junk, JSON of any shape, RawPage-ish objects, damaged ones."""
    kind = draw(st.sampled_from(["bytes", "json", "raw", "raw-escapes", "raw-damaged"]))
    if kind == "bytes":
        return draw(st.binary(max_size=2000))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    if kind == "raw-escapes":  # a valid page whose strings hold escaped (lone) surrogates
        hole = "\x7fHOLE\x7f"
        fields = {"body": draw(sentences) + hole + draw(sentences) + " text", "meta": {hole: draw(json_values)}}
        if draw(st.booleans()):
            fields["url"] = "https://x.example/" + hole
        text = json.dumps(fields).replace(json.dumps(hole)[1:-1], draw(SURROGATE_ESCAPES))
    else:
        text = json.dumps(draw(raw_fields))
    data = text.encode("utf-8", "surrogatepass")
    if kind == "raw-damaged" and data:
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + draw(st.binary(max_size=4)) + data[at + draw(st.integers(0, 3)) :]
    return data


@FAST
@given(records())
@example(b'{"\\n": null}')  # an unknown key with a line break once split the error message
@example(b'{"body": "x", "meta": {"n": 1' + b"0" * 5000 + b"}}")  # once a ValueError: internal_error
@example(b'{"url": "https://x.example/\\udfff", "body": "x"}')  # once unwritable to the next topic
def test_decode_raw_record_gives_a_raw_page_or_a_typed_rejection(data: bytes) -> None:
    try:
        page = decode_raw_record(data, 1 << 20)
    except RejectedPage as exc:
        typed(exc)
        return
    assert isinstance(page, RawPage)
    assert page.body.strip()
    RawPage.model_validate_json(page.model_dump_json())  # writable to the next topic, and back


@FAST
@given(st.binary(max_size=3000), st.one_of(st.none(), st.sampled_from(["utf-8", "latin-1", "utf-16", "bogus"])),
       st.booleans())
def test_decode_body_gives_text_or_a_typed_rejection(data: bytes, charset: str | None, html: bool) -> None:
    try:
        text, encoding = decode_body(data, charset, html=html)
    except RejectedPage as exc:
        typed(exc)
        return
    assert isinstance(text, str) and encoding
    text.encode("utf-8")  # no lone surrogates


# ------------------------------------------------------------------------------------------- config

CONFIG_KEYS = ["watchlist", "keywords", "rules", "webhooks", "dedup", "alerts", "kafka", "limits", "id", "name",
               "type", "aliases", "terms", "any_entity", "all_entities", "any_keyword", "fields", "severity",
               "notify", "url", "secret_env", "threshold", "num_perm", "window_days", "max_page_bytes",
               "max_aliases", "max_rules", "text", "case_sensitive", "weak", "seed", "realert_minutes"]
yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(),
                         st.sampled_from(["person", "high", "title", "http://x.example/h", "1-bad", "", "qk"]),
                         st.text(max_size=20))
yaml_values = st.recursive(yaml_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(st.sampled_from(CONFIG_KEYS), st.text(max_size=8)), inner, max_size=5)),
    max_leaves=25)


@st.composite
def config_texts(draw: st.DrawFn) -> str:
    """Configuration files: random text, random YAML of config-like shape, the project file damaged."""
    kind = draw(st.sampled_from(["text", "yaml", "damaged"]))
    if kind == "text":
        return draw(st.text(max_size=400))
    if kind == "yaml":
        return yaml.safe_dump(draw(yaml_values), allow_unicode=True)
    text = PROJECT_TEXT
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text) - 1))
        cut = draw(st.integers(0, 20))
        text = text[:at] + draw(st.sampled_from(["", "\t", ":", "- ", "\n  ", "'", "[", "x", "1.5", "&a", "*a"])) \
            + text[at + cut :]
    return text


@FAST
@given(config_texts())
@example('"\\r": null\n')  # an unknown key with a line break once split the problem line
@example("a: " + "[" * 5000 + "]" * 5000)  # once a RecursionError
def test_parse_settings_gives_settings_or_a_config_error_naming_file_and_line(text: str) -> None:
    try:
        result = parse_settings(text, "w.yml")
    except ConfigError as exc:
        message = str(exc)
        lines = message.splitlines()
        assert lines
        if lines[0] == "invalid configuration":
            assert len(lines) >= 2
            assert all(line.startswith("w.yml:") for line in lines[1:] if not line.startswith("... and "))
        else:
            assert len(lines) == 1 and lines[0].startswith("w.yml:")
        return
    assert isinstance(result, Settings)
    Pipeline(result)  # every configuration that validates builds its stages


@settings(max_examples=40, deadline=None)
@given(st.one_of(st.floats(min_value=0.0, max_value=1.0, exclude_min=True, exclude_max=True),
                 st.floats(min_value=0.85, max_value=1.0, exclude_max=True)),
       st.integers(16, 1024), st.integers(1, 10), st.integers(0, 2**32 - 1))
def test_every_valid_dedup_config_builds_an_index(threshold: float, num_perm: int, shingles: int, seed: int) -> None:
    config = DedupConfig(threshold=threshold, num_perm=num_perm, shingle_words=shingles, seed=seed)
    index = DedupIndex(config)
    assert index.params.bands >= 2 and index.params.bands * index.params.rows <= num_perm


# ------------------------------------------------------------------------------------------ cleaning

COMMENT_MARK = "zzhtmlcommentmark"
READER_MARK = "zzreadercommentmark"


@st.composite
def html_pages(draw: st.DrawFn) -> str:
    """Random HTML: random tags, classes and text, with an HTML comment and a reader comment section."""
    parts: list[str] = []
    for _ in range(draw(st.integers(0, 25))):
        tag = draw(st.sampled_from(HTML_TAGS))
        cls = draw(st.sampled_from(CLASSES))
        attr = f' class="{cls}"' if cls else ""
        inner = draw(st.one_of(sentences, st.text(max_size=60)))
        inner = inner.replace("<", " ").replace(">", " ").replace("&", " ")
        closing = draw(st.booleans())
        parts.append(f"<{tag}{attr}>{inner}" + (f"</{tag}>" if closing else ""))
        if draw(st.integers(0, 9)) == 0:
            parts.append(f"<!-- {COMMENT_MARK} {inner} -->")
    article = draw(st.lists(st.sampled_from([
        "Iraqi officials said on Tuesday that the talks over the withdrawal of foreign troops would resume.",
        "Qais al-Khazali said in a televised speech that his movement would watch the talks closely.",
        "Analysts said the new round was unlikely to settle every question before the elections.",
    ]), min_size=1, max_size=6))
    parts.insert(draw(st.integers(0, len(parts))), "".join(f"<p>{p}</p>" for p in article))
    reader = f'<div id="comments"><div class="comment"><p>{READER_MARK} I agree with this, it is true.</p></div></div>'
    parts.insert(draw(st.integers(0, len(parts))), f"<!-- {COMMENT_MARK} -->")
    parts.append(reader)
    return "<html><head><title>Talks resume</title></head><body>" + "".join(parts) + "</body></html>"


def clean_or_rejected(raw: RawPage, templates: OutletTemplates | None = None) -> CleanPage | None:
    try:
        page = clean(raw, templates)
    except RejectedPage as exc:
        typed(exc)
        return None
    assert page.body.strip()
    assert page.doc_id == content_id(page.body)
    CleanPage.model_validate_json(page.model_dump_json())
    return page


@SLOW
@given(texts, st.sampled_from(["text/plain", "text/html"]))
def test_clean_gives_a_clean_page_or_a_typed_rejection(body: str, content_type: str) -> None:
    assume(body.strip())
    clean_or_rejected(RawPage(body=body, content_type=content_type))  # type: ignore[arg-type]


@SLOW
@given(html_pages())
@example(f'<html><body><p>{"Officials said the talks would resume next week in the capital. " * 2}</p>'
         f'<script class="comment"><!-- {COMMENT_MARK} --></body></html>')  # script text was a comment
@example(f'<html><body><p>{"Officials said the talks would resume next week in the capital. " * 2}</p>'
         f'<h1>Talks<script><!-- {COMMENT_MARK} --></body></html>')  # script text was in the title
def test_clean_keeps_html_comments_and_reader_comments_out_of_the_body(html: str) -> None:
    page = clean_or_rejected(RawPage(body=html, content_type="text/html", url="https://x.example/a"))
    event("processed" if page is not None else "rejected")
    if page is None:
        return
    assert COMMENT_MARK not in page.body and COMMENT_MARK not in (page.title or "")
    assert READER_MARK not in page.body
    assert all(COMMENT_MARK not in c.text for c in page.comments)


@SLOW
@given(st.lists(st.tuples(texts, st.sampled_from(["a.example", "b.example"])), min_size=1, max_size=8))
def test_clean_with_a_shared_template_memory_never_raises_anything_untyped(pages: list[tuple[str, str]]) -> None:
    templates = OutletTemplates(max_outlets=2, max_lines=64)
    for i, (body, outlet) in enumerate(pages):
        if body.strip():
            clean_or_rejected(RawPage(body=body, outlet=outlet, url=f"https://{outlet}/{i}"), templates)
    assert len(templates) <= 2


# --------------------------------------------------------------------------------------------- dedup

bodies = st.lists(st.sampled_from(WORDS[:20]), max_size=60).map(" ".join)


@FAST
@given(st.lists(st.tuples(bodies, st.integers(-30 * 24, 30 * 24)), min_size=1, max_size=40),
       st.floats(min_value=0.05, max_value=0.99), st.sampled_from([16, 64, 128]))
def test_dedup_observes_any_sequence(pages: list[tuple[str, int]], threshold: float, num_perm: int) -> None:
    index = DedupIndex(DedupConfig(threshold=threshold, num_perm=num_perm, window_days=3, max_window_pages=100))
    for body, hours in pages:
        page = CleanPage(doc_id=content_id(body), body=body, fetched_at=T0 + timedelta(hours=hours))
        verdict = index.observe(page)
        assert verdict.cluster_size >= 1
        assert verdict.nearest is None or 0.0 <= verdict.nearest.jaccard <= 1.0
        again = index.observe(page)
        assert again.status == "exact_duplicate"
        assert again.cluster_id == verdict.cluster_id
        assert len(index) <= 100


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 3 * SIGNATURE_BLOCK + 5), st.integers(0, 2**32), st.integers(1, 2**32 - 1),
       st.sampled_from([16, 128]))
def test_signature_in_blocks_equals_the_signature_in_one_step(size: int, seed: int, high: int, num_perm: int) -> None:
    hasher = MinHasher(num_perm)
    array = np.random.default_rng(seed).integers(0, high, size=size, dtype=np.uint32, endpoint=True)
    reference = hasher._block_minimum(array) if size else hasher.signature(array)
    assert np.array_equal(hasher.signature(array), reference)


# ------------------------------------------------------------------------------------------- tagging

TAGGER = Tagger(PROJECT.watchlist, PROJECT.keywords)
VERDICT = DedupVerdict(status="new", cluster_id="c")


def assert_offsets(page: CleanPage, mentions: list[Mention]) -> None:
    for m in mentions:
        assert m.field != "comments" or m.comment_index is not None
        text = page.text_of(m.field, m.comment_index)
        assert 0 <= m.start < m.end <= len(text)
        assert text[m.start : m.end] == m.surface


@FAST
@given(texts, texts, st.lists(texts, max_size=3))
def test_tagger_offsets_point_at_the_surface_in_every_field(title: str, body: str, comments: list[str]) -> None:
    page = CleanPage(doc_id="d", title=title or None, body=body, fetched_at=T0,
                     comments=[Comment(text=c) for c in comments if c])
    tagged = TAGGER.tag(page, VERDICT)
    assert_offsets(page, tagged.mentions)
    assert_offsets(page, tagged.keywords)
    assert all(m.type == "keyword" for m in tagged.keywords)
    assert all(m.type != "keyword" for m in tagged.mentions)


# ----------------------------------------------------------------------------------- rules, suppression

ENTITIES = {e.id: e for e in PROJECT.watchlist}
KEYWORDS = [k.id for k in PROJECT.keywords]
mention_specs = st.tuples(st.sampled_from([*ENTITIES, *KEYWORDS]), st.sampled_from(["title", "body", "comments"]))


def mention(entity_id: str, field: str) -> Mention:
    entity = ENTITIES.get(entity_id)
    return Mention(entity_id=entity_id, name=entity.name if entity else entity_id,
                   type=entity.type if entity else "keyword", surface="x", field=field,  # type: ignore[arg-type]
                   start=0, end=1, comment_index=0 if field == "comments" else None)


tagged_pages = st.tuples(
    st.sampled_from(["story-a", "story-b", "story-c"]),
    st.sampled_from(["one.example", "two.example", "three.example", ""]),
    st.lists(mention_specs, max_size=6),
    st.integers(0, 3 * 24 * 60),
)


@FAST
@given(st.lists(tagged_pages, max_size=30))
def test_one_story_raises_at_most_one_alert_per_rule(pages: list[tuple[str, str, list[tuple[str, str]], int]]) -> None:
    pipeline = Pipeline(PROJECT)
    alerts: Counter[tuple[str, str]] = Counter()
    ids: dict[tuple[str, str], str] = {}
    for n, (cluster, outlet, specs, minutes) in enumerate(pages):
        page = CleanPage(doc_id=f"doc{n}", outlet=outlet, title="t", body="b", comments=[Comment(text="c")],
                         fetched_at=T0 + timedelta(minutes=minutes))
        mentions = [mention(e, f) for e, f in specs]
        tagged = TaggedPage(page=page, verdict=DedupVerdict(status="new", cluster_id=cluster),
                            mentions=[m for m in mentions if m.type != "keyword"],
                            keywords=[m for m in mentions if m.type == "keyword"])
        for alert in pipeline.alerts_for(tagged):
            key = (alert.cluster_id, alert.rule_id)
            assert ids.setdefault(key, alert.alert_id) == alert.alert_id  # same story and rule, same id
            if alert.kind == "alert":
                alerts[key] += 1
            else:
                assert alerts[key] == 1  # an update follows the story's one alert
            assert alert.outlet not in alert.also_reported_by
    assert all(count == 1 for count in alerts.values())


@pytest.mark.parametrize("limit", [1024, 4096])
def test_record_size_limit_is_exact(limit: int) -> None:
    body = "x" * (limit - len(json.dumps({"body": ""})))
    record = json.dumps({"body": body}).encode()
    assert len(record) == limit
    assert decode_raw_record(record, limit).body == body
    with pytest.raises(RejectedPage) as info:
        decode_raw_record(record + b" ", limit)
    assert info.value.reason is Reason.TOO_LARGE
