"""Hostile input through every door: the streaming steps, files through the embedded pipeline, the CLI.

Each payload of :mod:`hostile` must come out processed or as a dead letter with a typed reason
(never ``internal_error``, never an exception), with a bounded prefix of the original; and the
good page sent right after it, through the same instance, must still process: the stream goes on.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import hostile
import pytest
from harness import (
    CONFIG,
    REJECTED_LINE,
    ROOT,
    assert_no_traceback,
    assert_typed,
    outcome_of,
    stream,
    wirewatch,
    with_limit,
)

from schemas.config import Settings, WatchEntity
from schemas.deadletter import ORIGINAL_PREFIX_BYTES, DeadLetter, Reason
from schemas.pages import CleanPage, DedupVerdict, RawPage
from streams.pipeline import Pipeline, Processed
from streams.sources import read_pages
from streams.steps import StageSteps
from streams.tag import MAX_MENTIONS, Tagger

SEED = ROOT / "seeds" / "000_4910a1d9556ff153.txt"
CORPUS = hostile.corpus()
BIG = 1024 * 1024

# name -> (outcome as a file read by read_pages, outcome as a pages.raw record); "ok" = processed.
# A wrapped record carries the bytes as a JSON string (undecodable bytes as lone surrogates, which
# are repaired to U+FFFD), so it differs from the file where the bytes are not text.
EXPECTED: dict[str, tuple[str, str]] = {
    "png_blob": ("binary_content", "binary_content"),
    "gzip_blob": ("binary_content", "binary_content"),
    "zip_blob": ("binary_content", "binary_content"),
    "random_bytes": ("binary_content", "binary_content"),
    "pdf_header_then_random": ("binary_content", "binary_content"),
    "all_byte_values": ("binary_content", "binary_content"),
    "random_html_suffix": ("binary_content", "binary_content"),
    "invalid_utf8_cp1252_fallback": ("ok", "ok"),
    "invalid_utf8_undecodable": ("ok", "ok"),
    "mixed_utf8_and_latin1": ("ok", "ok"),
    "utf16_le_without_bom": ("ok", "binary_content"),  # the record's body holds NUL characters
    "utf16_be_without_bom": ("ok", "binary_content"),
    "utf16_bom_then_odd_length": ("bad_encoding", "binary_content"),
    "utf8_bom_then_invalid": ("ok", "ok"),
    "utf8_encoded_surrogates": ("ok", "ok"),
    "meta_charset_utf16_on_ascii_html": ("ok", "ok"),
    "meta_charset_bogus": ("ok", "ok"),
    "meta_charset_lies_latin1_is_utf8": ("ok", "ok"),
    "overlong_utf8_nul": ("ok", "ok"),
    "html_no_body": ("no_article", "no_article"),
    "html_head_only_meta": ("no_article", "no_article"),
    "html_empty_body": ("no_article", "no_article"),
    "html_script_and_style_only": ("no_article", "no_article"),
    "html_text_only_in_comment": ("no_article", "no_article"),
    "html_unclosed_tags": ("ok", "ok"),
    "html_10000_nested_divs": ("no_article", "no_article"),
    "html_100000_nested_spans": ("no_article", "no_article"),
    "html_100000_unclosed_divs": ("no_article", "no_article"),
    "html_billion_laughs": ("ok", "ok"),
    "html_nul_and_surrogate_entities": ("ok", "ok"),
    "html_huge_attribute": ("ok", "ok"),
    "html_huge_json_ld": ("ok", "ok"),
    "html_many_comment_items": ("ok", "ok"),
    "html_50000_meta_tags": ("ok", "ok"),
    "html_as_text_plain_sniffed": ("ok", "ok"),
    "html_link_farm_no_prose": ("no_article", "no_article"),
    "xml_not_html": ("ok", "ok"),
    "empty_file": ("empty_body", "empty_body"),
    "whitespace_only": ("empty_body", "empty_body"),
    "nul_bytes_in_text": ("binary_content", "binary_content"),
    "only_nul_bytes": ("binary_content", "binary_content"),
    "control_characters": ("binary_content", "binary_content"),
    "rtl_and_zero_width": ("ok", "ok"),
    "zero_width_only": ("no_article", "no_article"),
    "emoji_only": ("no_article", "no_article"),
    "combining_marks_zalgo": ("no_article", "no_article"),
    "one_4mb_line_of_prose": ("ok", "ok"),
    "million_short_lines": ("no_article", "no_article"),
    "million_blank_lines": ("ok", "ok"),
    "200k_sentence_lines": ("no_article", "no_article"),
    "cr_only_line_endings": ("ok", "ok"),
    "one_4mb_word": ("no_article", "no_article"),
    "article_with_4mb_word": ("ok", "ok"),
    "many_separators_and_apostrophes": ("ok", "ok"),
    "alias_repeated_100k_times": ("ok", "ok"),
    "date_like_lines": ("ok", "ok"),
    "json_array": ("not_a_raw_page", "not_a_raw_page"),
    "json_number": ("not_a_raw_page", "not_a_raw_page"),
    "json_null": ("not_a_raw_page", "not_a_raw_page"),
    "json_true": ("not_a_raw_page", "not_a_raw_page"),
    "json_string": ("not_a_raw_page", "not_a_raw_page"),
    "json_nested_100k_arrays": ("invalid_json", "invalid_json"),
    "json_nested_100k_in_meta": ("invalid_json", "invalid_json"),
    "json_nested_objects_10k": ("invalid_json", "invalid_json"),
    "json_truncated": ("invalid_json", "invalid_json"),
    "json_single_quotes": ("invalid_json", "invalid_json"),
    "json_nan_body": ("not_a_raw_page", "not_a_raw_page"),
    "json_body_number": ("not_a_raw_page", "not_a_raw_page"),
    "json_body_list": ("not_a_raw_page", "not_a_raw_page"),
    "json_body_object": ("not_a_raw_page", "not_a_raw_page"),
    "json_missing_body": ("not_a_raw_page", "not_a_raw_page"),
    "json_extra_field": ("not_a_raw_page", "not_a_raw_page"),
    "json_wrong_schema_version": ("not_a_raw_page", "not_a_raw_page"),
    "json_bad_content_type": ("not_a_raw_page", "not_a_raw_page"),
    "json_bad_fetched_at": ("not_a_raw_page", "not_a_raw_page"),
    "json_fetched_at_out_of_range": ("not_a_raw_page", "not_a_raw_page"),
    "json_fetched_at_huge_int": ("not_a_raw_page", "not_a_raw_page"),
    "json_meta_not_object": ("not_a_raw_page", "not_a_raw_page"),
    "json_url_not_string": ("not_a_raw_page", "not_a_raw_page"),
    "json_url_garbage": ("not_a_raw_page", "not_a_raw_page"),
    "json_url_bad_port": ("ok", "ok"),
    "json_url_1mb": ("ok", "ok"),
    "json_title_4mb_in_meta": ("ok", "ok"),
    "json_empty_body": ("empty_body", "empty_body"),
    "json_whitespace_body": ("empty_body", "empty_body"),
    "json_empty_fields": ("ok", "ok"),
    "json_null_fields": ("not_a_raw_page", "not_a_raw_page"),
    "json_duplicate_keys": ("ok", "ok"),
    "json_lone_surrogate": ("ok", "ok"),
    "json_lone_surrogate_in_url": ("ok", "ok"),
    "json_lone_surrogate_in_meta_key": ("ok", "ok"),
    "json_nul_escape_body": ("binary_content", "binary_content"),
    "json_huge_number": ("invalid_json", "invalid_json"),
    "json_invalid_utf8": ("bad_encoding", "bad_encoding"),
    "json_utf16": ("bad_encoding", "bad_encoding"),
    "json_bom_utf8": ("ok", "ok"),
    "json_trailing_garbage": ("invalid_json", "invalid_json"),
    "json_html_body_in_text_plain": ("ok", "ok"),
    "json_binary_body": ("binary_content", "binary_content"),
}
# Bytes that are not a JSON record at all, sent as one: what the record decoder may say.
NOT_A_RECORD = {Reason.INVALID_JSON, Reason.BAD_ENCODING, Reason.EMPTY_BODY, Reason.NOT_A_RAW_PAGE}


def params(payloads: list[hostile.Payload], *, limit_heavy: bool = True) -> list[object]:
    """One test per payload; heavy ones get a 60 s limit (they must finish well within it)."""
    return [
        pytest.param(p, id=p.name, marks=[pytest.mark.timeout(60)] if limit_heavy and len(p.data) > BIG else [])
        for p in payloads
    ]


def test_every_payload_has_an_expectation() -> None:
    assert sorted(EXPECTED) == sorted(p.name for p in CORPUS)


# ------------------------------------------------------------------ (a) streaming steps, one instance


@pytest.fixture(scope="module")
def steps(settings: Settings) -> StageSteps:
    """One StageSteps for the whole module: every bad record and good page go through it in turn."""
    return StageSteps(Pipeline(settings))


def assert_good_page_still_streams(steps: StageSteps) -> None:
    after = stream(steps, hostile.good_record())
    assert after.letter is None, after.letter
    assert after.alerts is not None


@pytest.mark.parametrize("payload", params(CORPUS))
def test_streaming_steps_give_records_or_a_typed_dead_letter(steps: StageSteps, payload: hostile.Payload) -> None:
    record = payload.as_record()
    result = stream(steps, record)
    assert result.outcome == EXPECTED[payload.name][1]
    if result.letter is not None:
        # Rejected where the record was decoded: the dead letter keeps the record itself.
        assert result.letter.stage == "clean"
        assert_typed(result.letter, record)
    assert_good_page_still_streams(steps)


@pytest.mark.parametrize("payload", params([p for p in CORPUS if p.kind != "json"]))
def test_page_bytes_sent_as_a_record_are_rejected_as_not_a_record(
    steps: StageSteps, payload: hostile.Payload
) -> None:
    result = stream(steps, payload.data)
    assert result.letter is not None
    assert result.letter.error_type in NOT_A_RECORD
    assert_typed(result.letter, payload.data)
    assert_good_page_still_streams(steps)


# --------------------------------------------------------- (b) files through read_pages + Pipeline.run


@pytest.fixture(scope="module")
def pipeline(settings: Settings) -> Pipeline:
    """One embedded pipeline for the whole module, like one long `wirewatch run`."""
    return Pipeline(settings)


def run_files(pipeline: Pipeline, *paths: Path) -> list[Processed | DeadLetter]:
    return list(pipeline.run(read_pages(paths, pipeline.settings.limits.max_page_bytes)))


def assert_seed_processed(item: Processed | DeadLetter) -> None:
    assert isinstance(item, Processed), item
    assert item.tagged.page.source == str(SEED)
    assert {m.entity_id for m in item.tagged.mentions} >= {"qais-al-khazali", "asaib-ahl-al-haq"}


@pytest.mark.parametrize("payload", params(CORPUS))
def test_files_through_the_embedded_pipeline(pipeline: Pipeline, tmp_path: Path, payload: hostile.Payload) -> None:
    path = tmp_path / f"{payload.name}{payload.suffix}"
    path.write_bytes(payload.data)
    rejected_before = sum(pipeline.stats.rejected.values())
    *out, last = run_files(pipeline, path, SEED)
    assert [outcome_of(item) for item in out] == [EXPECTED[payload.name][0]]
    for item in out:
        if isinstance(item, DeadLetter):
            assert_typed(item)
            assert item.source is not None and item.source.startswith(str(path))
            assert item.original_size <= len(payload.data)
            if item.stage == "ingest":
                assert payload.data.startswith(item.original())
    assert sum(pipeline.stats.rejected.values()) - rejected_before == sum(isinstance(i, DeadLetter) for i in out)
    assert_seed_processed(last)


@pytest.mark.parametrize("payload", params([p for p in CORPUS if p.kind == "json"]))
def test_records_as_single_json_files(pipeline: Pipeline, tmp_path: Path, payload: hostile.Payload) -> None:
    path = tmp_path / f"{payload.name}.json"
    path.write_bytes(payload.data)
    *out, last = run_files(pipeline, path, SEED)
    assert len(out) == 1
    if isinstance(out[0], DeadLetter):
        assert_typed(out[0])
    assert_seed_processed(last)


@pytest.mark.parametrize("name", sorted(hostile.archive_files()))
def test_broken_archives_keep_what_was_readable_and_say_why_for_the_rest(
    pipeline: Pipeline, tmp_path: Path, name: str
) -> None:
    path = tmp_path / name
    path.write_bytes(hostile.archive_files()[name])
    *out, last = run_files(pipeline, path, SEED)
    letters = [item for item in out if isinstance(item, DeadLetter)]
    for letter in letters:
        assert_typed(letter)
    expected_letters = {
        "truncated.jsonl.gz": [Reason.UNREADABLE],
        "corrupt.jsonl.gz": [Reason.UNREADABLE],
        "not_gzip.jsonl.gz": [Reason.UNREADABLE],
        "garbage.warc.gz": [Reason.UNREADABLE],
        "malformed.warc": [Reason.UNREADABLE],
        "bom_first_line.jsonl": [],
        "lines_ok_bad_ok.jsonl": [Reason.BAD_ENCODING, Reason.NOT_A_RAW_PAGE, Reason.INVALID_JSON],
    }[name]
    assert [letter.error_type for letter in letters] == expected_letters
    if name in {"truncated.jsonl.gz", "bom_first_line.jsonl", "lines_ok_bad_ok.jsonl"}:
        assert any(isinstance(item, Processed) for item in out)  # the readable part was read
    assert_seed_processed(last)


# ----------------------------------------------------------------- what decoding must get right, exactly


def processed(pipeline: Pipeline, tmp_path: Path, name: str) -> Processed:
    payload = next(p for p in CORPUS if p.name == name)
    path = tmp_path / f"{name}{payload.suffix}"
    path.write_bytes(payload.data)
    item = run_files(pipeline, path)[0]
    assert isinstance(item, Processed), item
    return item


def test_mixed_utf8_and_latin1_page_reads_both_parts_without_mojibake(pipeline: Pipeline, tmp_path: Path) -> None:
    page = processed(pipeline, tmp_path, "mixed_utf8_and_latin1").tagged.page
    assert page.title == "Café talks — Baghdad"
    assert "The café near the ministry, où the talks were held, was closed." in page.body


def test_utf16_without_bom_is_read_as_text(pipeline: Pipeline, tmp_path: Path) -> None:
    for name in ("utf16_le_without_bom", "utf16_be_without_bom"):
        page = processed(pipeline, tmp_path, name).tagged.page
        assert "Iraqi officials said on Tuesday" in page.body


def test_meta_charset_utf16_on_an_ascii_page_is_read_as_utf8(pipeline: Pipeline, tmp_path: Path) -> None:
    page = processed(pipeline, tmp_path, "meta_charset_utf16_on_ascii_html").tagged.page
    assert "Iraqi officials said on Tuesday" in page.body


def test_lone_surrogates_in_json_become_replacement_characters(steps: StageSteps) -> None:
    payload = next(p for p in CORPUS if p.name == "json_lone_surrogate_in_url")
    result = stream(steps, payload.data)
    assert result.letter is None
    clean = steps.clean(payload.data)
    assert isinstance(clean, list)
    assert json.loads(clean[0].value)["url"] == "https://x.example/\ufffd"


def test_zero_width_and_bidi_characters_do_not_hide_a_name(pipeline: Pipeline, tmp_path: Path) -> None:
    tagged = processed(pipeline, tmp_path, "rtl_and_zero_width").tagged
    assert "qais-al-khazali" in {m.entity_id for m in tagged.mentions}


def test_nesting_beyond_the_parser_limit_says_so(pipeline: Pipeline, tmp_path: Path) -> None:
    payload = next(p for p in CORPUS if p.name == "html_10000_nested_divs")
    path = tmp_path / "deep.html"
    path.write_bytes(payload.data)
    letter = run_files(pipeline, path)[0]
    assert isinstance(letter, DeadLetter)
    assert letter.error_type is Reason.NO_ARTICLE
    assert "more than 2048 elements deep" in letter.error


def test_a_name_repeated_100k_times_is_reported_a_bounded_number_of_times(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    item = processed(pipeline, tmp_path, "alias_repeated_100k_times")
    body = [m for m in item.tagged.mentions if m.field == "body" and m.entity_id == "qais-al-khazali"]
    assert len(body) == MAX_MENTIONS
    assert all(len(alert.matched) <= 2 * MAX_MENTIONS for alert in item.alerts)


def test_regex_metacharacters_in_aliases_are_literal_text(settings: Settings) -> None:
    """No user-supplied pattern is ever a regular expression: aliases are literal keys (Aho-Corasick)."""
    evil = WatchEntity(id="evil", name="(a+)+$", type="organization", aliases=["(x|x?)+y", ".*z"])
    tagger = Tagger([evil])
    text = "a" * 200_000 + "! then (a+)+$ and (x|x?)+y and .*z, not zzzz or xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx!"
    page = CleanPage(doc_id="r", body=text, fetched_at=datetime.now(UTC))
    surfaces = [m.surface for m in tagger.tag(page, DedupVerdict(status="new", cluster_id="r")).mentions]
    assert surfaces == ["(a+)+$", "(x|x?)+y", ".*z"]


# ----------------------------------------------------------------- sizes: rejected early or completed


@pytest.mark.timeout(60)
def test_a_50mb_page_is_rejected_by_the_size_limit_keeping_a_bounded_prefix(
    settings: Settings, steps: StageSteps, tmp_path: Path
) -> None:
    big = hostile.page_50mb()
    assert settings.limits.max_page_bytes == 5 * 1024 * 1024

    record = json.dumps({"url": "https://big.example/a", "body": big.decode()}).encode()
    result = stream(steps, record)
    assert result.letter is not None and result.letter.error_type is Reason.TOO_LARGE
    assert result.letter.original_size == len(record)
    assert len(result.letter.original()) == ORIGINAL_PREFIX_BYTES and result.letter.truncated
    assert_good_page_still_streams(steps)

    pipeline = Pipeline(settings)
    letter = next(pipeline.run([RawPage(body=big.decode(), content_type="text/plain")]))
    assert isinstance(letter, DeadLetter) and letter.error_type is Reason.TOO_LARGE
    assert letter.original_size == len(big) and len(letter.original()) == ORIGINAL_PREFIX_BYTES

    page_file = tmp_path / "big.txt"
    page_file.write_bytes(big)
    lines_file = tmp_path / "big.jsonl"
    lines_file.write_bytes(record + b"\n" + hostile.good_record() + b"\n")
    *letters, good = run_files(pipeline, page_file, lines_file)
    assert [(d.error_type, d.original_size) for d in letters if isinstance(d, DeadLetter)] == [
        (Reason.TOO_LARGE, len(big)), (Reason.TOO_LARGE, len(record) + 1)]
    assert all(len(d.original()) <= ORIGINAL_PREFIX_BYTES for d in letters if isinstance(d, DeadLetter))
    assert isinstance(good, Processed)  # the line after the 50 MB line

    result_cli = wirewatch("run", "--config", str(CONFIG), str(page_file), timeout=60)
    assert result_cli.returncode == 1
    assert_no_traceback(result_cli)
    assert f"{page_file}: rejected at ingest (too_large)" in result_cli.stderr


@pytest.mark.timeout(60)
def test_one_10mb_word_completes_with_a_raised_limit(settings: Settings) -> None:
    word_page = hostile.word_10mb()
    default = next(Pipeline(settings).run([RawPage(body=word_page.decode(), content_type="text/plain")]))
    assert isinstance(default, DeadLetter) and default.error_type is Reason.TOO_LARGE

    raised = with_limit(settings, 16 * 1024 * 1024)
    item = next(Pipeline(raised).run([RawPage(body=word_page.decode(), content_type="text/plain")]))
    assert isinstance(item, Processed)
    assert "w" * 1000 in item.tagged.page.body
    assert "qais-al-khazali" in {m.entity_id for m in item.tagged.mentions}

    steps = StageSteps(Pipeline(raised))
    result = stream(steps, json.dumps({"body": word_page.decode(), "content_type": "text/plain"}).encode())
    assert result.letter is None
    assert_good_page_still_streams(steps)


def pathological_pages() -> Iterator[tuple[str, str]]:
    yield "one 10 MB word", "w" * (10 * 1024 * 1024)
    yield "a million short lines", hostile.million_short_lines()
    yield "a million names", "Khazali said.\n" * 1_000_000
    yield "a million distinct words", " ".join(f"w{i}" for i in range(1_000_000))


@pytest.mark.timeout(60)
def test_dedup_tagger_and_rules_complete_on_pathological_bodies(settings: Settings) -> None:
    pipeline = Pipeline(with_limit(settings, 32 * 1024 * 1024))
    now = datetime.now(UTC)
    for i, (label, body) in enumerate(pathological_pages()):
        page = CleanPage(doc_id=f"{i:016x}", body=body, title=body[:300], fetched_at=now)
        verdict = pipeline.dedup.observe(page)
        assert verdict.status == "new", label
        tagged = pipeline.tagger.tag(page, verdict)
        for mention in tagged.mentions:
            text = tagged.page.title if mention.field == "title" else tagged.page.body
            assert text is not None and text[mention.start : mention.end] == mention.surface
        assert sum(m.field == "body" for m in tagged.mentions) <= MAX_MENTIONS, label
        pipeline.alerts_for(tagged)
        assert pipeline.dedup.observe(page).status == "exact_duplicate", label


# ------------------------------------------------------------------------------------------- (c) the CLI

CLI_GROUP = 6  # bad files per `wirewatch run`: a process costs ~1 s of imports, the machine has few cores


@dataclass(frozen=True, slots=True)
class CliRun:
    """One `wirewatch run BAD1 SEED BAD2 SEED ...` and the bad files it was given."""

    paths: list[Path]
    result: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, CliRun]]:
    """Every payload through the CLI, each bad file followed by the good seed, in concurrent processes."""
    folder = tmp_path_factory.mktemp("cli")
    jobs: dict[str, Path] = {}
    for payload in CORPUS:
        jobs[payload.name] = folder / f"{payload.name}{payload.suffix}"
        jobs[payload.name].write_bytes(payload.data)
    for name, data in hostile.archive_files().items():
        jobs[name] = folder / name
        jobs[name].write_bytes(data)
    names = list(jobs)
    count = -(-len(names) // CLI_GROUP)
    groups = [names[i::count] for i in range(count)]  # striped, so the heavy payloads spread out

    def run(group: list[str]) -> CliRun:
        paths = [jobs[name] for name in group]
        args = [str(p) for path in paths for p in (path, SEED)]
        result = wirewatch("run", "--config", str(CONFIG), "--emit", "pages", "--format", "jsonl", *args, timeout=170)
        return CliRun(paths, result)

    with ThreadPoolExecutor(max_workers=(os.cpu_count() or 2) + 1) as pool:
        runs = list(pool.map(run, groups))
    return {name: (jobs[name], cli_run) for group, cli_run in zip(groups, runs, strict=True) for name in group}


def from_file(source: str, path: Path) -> bool:
    return source == str(path) or source.startswith((f"{path}:", f"{path}#"))


def check_cli(path: Path, run: CliRun) -> list[str]:
    """The CLI contract for one bad file among others, each followed by a good page.

    Returns the reasons of the rejections of ``path``: one line each on stderr.
    """
    result = run.result
    assert_no_traceback(result)
    lines = result.stderr.splitlines()
    assert lines and all(line.startswith("wirewatch: ") for line in lines), lines[:5]
    assert " pages: " in lines[-1]  # the summary comes last
    reasons = []
    for line in lines[:-1]:
        match = REJECTED_LINE.match(line)
        assert match is not None, line
        assert match["reason"] in {r.value for r in Reason} and match["reason"] != Reason.INTERNAL_ERROR.value
        assert any(from_file(match["source"], p) for p in run.paths), line
        if from_file(match["source"], path):
            reasons.append(match["reason"])
    assert result.returncode == (1 if len(lines) > 1 else 0), result.stderr[-2000:]
    pages = [json.loads(line)["page"]["source"] for line in result.stdout.splitlines()]
    assert pages.count(str(SEED)) == len(run.paths)  # the good page after every bad file was processed
    assert pages[-1] == str(SEED)
    return reasons


@pytest.mark.parametrize("payload", params(CORPUS, limit_heavy=False))  # the runs have their own timeout
def test_cli_rejects_in_one_line_or_processes_and_goes_on(
    cli_runs: dict[str, tuple[Path, CliRun]], payload: hostile.Payload
) -> None:
    path, run = cli_runs[payload.name]
    reasons = check_cli(path, run)
    expected = EXPECTED[payload.name][0]
    assert reasons == ([] if expected == "ok" else [expected])
    pages = [json.loads(line)["page"]["source"] for line in run.result.stdout.splitlines()]
    assert sum(from_file(source, path) for source in pages) == (1 if expected == "ok" else 0)


@pytest.mark.parametrize("name", sorted(hostile.archive_files()))
def test_cli_on_broken_archives(cli_runs: dict[str, tuple[Path, CliRun]], name: str) -> None:
    path, run = cli_runs[name]
    reasons = check_cli(path, run)
    assert (reasons == []) == (name == "bom_first_line.jsonl")


def test_cli_exit_code_is_0_when_nothing_is_rejected(tmp_path: Path) -> None:
    payload = next(p for p in CORPUS if p.name == "mixed_utf8_and_latin1")
    path = tmp_path / "mixed.txt"
    path.write_bytes(payload.data)
    result = wirewatch("run", "--config", str(CONFIG), str(path))
    assert_no_traceback(result)
    assert result.returncode == 0, result.stderr
    assert "rejected" not in result.stderr.replace("0 rejected", "")
