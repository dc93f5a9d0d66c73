"""Configuration files with every kind of mistake: `wirewatch run --config F` exits 2 and says where.

Each mistake gives exit code 2, nothing on stdout, no traceback, and on stderr one line per
problem naming the file, the line and the field (``F:LINE: field: message``), so a user can fix
the file without reading code. The same files go through ``parse_settings`` in-process, where the
exact lines are pinned.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from harness import ROOT, assert_no_traceback, wirewatch

from schemas.config import MAX_REPORTED_PROBLEMS, ConfigError, Settings, load_settings

SEED = ROOT / "seeds" / "000_4910a1d9556ff153.txt"

BASE = """\
watchlist:
  - id: qk
    name: Qais al-Khazali
    type: person
    aliases: [Khazali, {text: AAH, case_sensitive: true}]
keywords:
  - id: rocket
    terms: [rocket, rockets]
rules:
  - id: r1
    any_entity: [qk]
    any_keyword: [rocket]
    fields: [title, body]
    severity: high
    notify: [ops]
webhooks:
  - id: ops
    url: http://127.0.0.1:9000/hook
    secret_env: HOOK_SECRET
    format: generic
dedup:
  threshold: 0.5
  num_perm: 128
  window_days: 7
alerts:
  update_min_interval_s: 300
kafka:
  bootstrap: 127.0.0.1:9092
  topic_partitions: 4
limits:
  max_page_bytes: 5242880
  max_aliases: 1000
  max_rules: 100
"""


def edit(old: str, new: str) -> Callable[[str], str]:
    def apply(text: str) -> str:
        assert text.count(old) == 1, old
        return text.replace(old, new)

    return apply


def append(extra: str) -> Callable[[str], str]:
    return lambda text: text + extra


def whole(content: str) -> Callable[[str], str]:
    return lambda _: content


def chain(*edits: Callable[[str], str]) -> Callable[[str], str]:
    def apply(text: str) -> str:
        for one in edits:
            text = one(text)
        return text

    return apply


@dataclass(frozen=True, slots=True)
class Mistake:
    """A broken configuration and the problems it must be reported with: (line, field, words)."""

    name: str
    make: Callable[[str], str]
    problems: tuple[tuple[int | None, str | None, str], ...]


MISTAKES = [
    # YAML itself
    Mistake("unclosed_bracket", edit("terms: [rocket, rockets]", "terms: [rocket, rockets"),
            ((9, None, "not valid YAML"),)),
    Mistake("tab_indentation", edit("  - id: qk\n", "\t- id: qk\n"), ((2, None, "'\\t'"),)),
    Mistake("bad_indentation", edit("    name: Qais", "      name: Qais"), ((3, None, "not valid YAML"),)),
    Mistake("unsafe_python_tag", append("extra: !!python/object/apply:os.system ['true']\n"),
            ((34, None, "python/object/apply"),)),
    Mistake("duplicate_section", append("dedup:\n  threshold: 0.6\n"),
            ((34, "dedup", "duplicate key (first at line 21"),)),
    Mistake("duplicate_key_in_item", edit("    type: person\n", "    type: person\n    type: place\n"),
            ((5, "watchlist[0].type", "duplicate key (first at line 4"),)),
    Mistake("nesting_too_deep", append("x: " + "[" * 5000 + "]" * 5000 + "\n"), ((None, None, "nested too deeply"),)),
    Mistake("number_too_long", edit("num_perm: 128", "num_perm: 1" + "0" * 5000),
            ((23, "dedup.num_perm", "not a usable value"),)),
    Mistake("nul_character", append("x: a\x00b\n"), ((34, None, "unacceptable character #x0000"),)),
    # shape
    Mistake("empty_file", whole(""), ((1, None, "the configuration is empty"),)),
    Mistake("comments_only", whole("# watchlist: []\n"), ((1, None, "the configuration is empty"),)),
    Mistake("top_level_list", whole("- watchlist\n- rules\n"), ((1, None, "top level must be a mapping"),)),
    Mistake("top_level_scalar", whole("watchlist\n"), ((1, None, "top level must be a mapping"),)),
    Mistake("section_is_null", edit("keywords:\n  - id: rocket\n    terms: [rocket, rockets]\n", "keywords:\n"),
            ((6, "keywords", "valid list"),)),
    # wrong types
    Mistake("list_is_a_string", edit("aliases: [Khazali, {text: AAH, case_sensitive: true}]", "aliases: Khazali"),
            ((5, "watchlist[0].aliases", "valid list"),)),
    Mistake("number_is_a_word", edit("threshold: 0.5", "threshold: half"), ((22, "dedup.threshold", "valid number"),)),
    Mistake("id_is_a_bool", edit("  - id: qk\n", "  - id: yes\n"), ((2, "watchlist[0].id", "valid string"),)),
    Mistake("id_is_a_number", edit("  - id: r1\n", "  - id: 12\n"), ((10, "rules[0].id", "valid string"),)),
    Mistake("bool_is_a_word", edit("case_sensitive: true", "case_sensitive: maybe"),
            ((5, "watchlist[0].aliases[1].case_sensitive", "valid boolean"),)),
    Mistake("section_is_a_list", edit("dedup:\n  threshold: 0.5\n  num_perm: 128\n  window_days: 7\n",
                                      "dedup: [0.5]\n"), ((21, "dedup", "valid dictionary"),)),
    # unknown keys at every level
    Mistake("unknown_top_level_key", append("watchlists: []\n"), ((34, "watchlists", "Extra inputs"),)),
    Mistake("unknown_entity_key", edit("    type: person\n", "    type: person\n    kind: person\n"),
            ((5, "watchlist[0].kind", "Extra inputs"),)),
    Mistake("unknown_alias_key", edit("case_sensitive: true", "case_sensitve: true"),
            ((5, "watchlist[0].aliases[1].case_sensitve", "Extra inputs"),)),
    Mistake("unknown_keyword_key", edit("    terms: [rocket, rockets]\n", "    terms: [rocket]\n    term: [x]\n"),
            ((9, "keywords[0].term", "Extra inputs"),)),
    Mistake("unknown_rule_key", edit("    notify: [ops]", "    notfy: [ops]"),
            ((15, "rules[0].notfy", "Extra inputs"),)),
    Mistake("unknown_webhook_key", edit("    format: generic", "    fromat: generic"),
            ((20, "webhooks[0].fromat", "Extra inputs"),)),
    Mistake("unknown_dedup_key", edit("  window_days: 7", "  window: 7"), ((24, "dedup.window", "Extra inputs"),)),
    Mistake("unknown_alerts_key", edit("  update_min_interval_s: 300", "  interval: 300"),
            ((26, "alerts.interval", "Extra inputs"),)),
    Mistake("unknown_kafka_key", edit("  topic_partitions: 4", "  partitions: 4"),
            ((29, "kafka.partitions", "Extra inputs"),)),
    Mistake("unknown_limits_key", edit("  max_rules: 100", "  max_rule: 100"),
            ((33, "limits.max_rule", "Extra inputs"),)),
    # ids and references
    Mistake("duplicate_entity_id", edit("keywords:\n", "  - id: qk\n    name: Someone Else\nkeywords:\n"),
            ((6, "watchlist[1].id", "duplicate id 'qk'"),)),
    Mistake("duplicate_rule_id", edit("webhooks:\n", "  - id: r1\n    any_keyword: [rocket]\nwebhooks:\n"),
            ((16, "rules[1].id", "duplicate id 'r1'"),)),
    Mistake("duplicate_webhook_id", edit("dedup:\n", "  - id: ops\n    url: http://127.0.0.1:9001/hook\ndedup:\n"),
            ((21, "webhooks[1].id", "duplicate id 'ops'"),)),
    Mistake("bad_id_characters", edit("  - id: qk\n", "  - id: q k!\n"), ((2, "watchlist[0].id", "match pattern"),)),
    Mistake("dangling_entity", edit("any_entity: [qk]", "any_entity: [qais]"),
            ((11, "rules[0].any_entity[0]", "unknown watchlist id 'qais'"),)),
    Mistake("dangling_all_entities", edit("    any_entity: [qk]\n", "    all_entities: [qk, kh]\n"),
            ((11, "rules[0].all_entities[1]", "unknown watchlist id 'kh'"),)),
    Mistake("dangling_keyword", edit("any_keyword: [rocket]", "any_keyword: [rockets]"),
            ((12, "rules[0].any_keyword[0]", "unknown keywords id 'rockets'"),)),
    Mistake("dangling_webhook", edit("notify: [ops]", "notify: [pager]"),
            ((15, "rules[0].notify[0]", "unknown webhooks id 'pager'"),)),
    Mistake("rule_without_condition", edit("    any_entity: [qk]\n    any_keyword: [rocket]\n", ""),
            ((10, "rules[0]", "needs at least one of"),)),
    Mistake("alias_without_letters", edit("aliases: [Khazali,", "aliases: ['--',"),
            ((5, "watchlist[0].aliases[0]", "no letter or digit"),)),
    Mistake("empty_alias", edit("aliases: [Khazali,", "aliases: ['',"), ((5, "watchlist[0].aliases[0]", "no letter"),)),
    Mistake("empty_terms", edit("terms: [rocket, rockets]", "terms: []"), ((8, "keywords[0].terms", "at least 1"),)),
    # enums
    Mistake("bad_entity_type", edit("type: person", "type: human"), ((4, "watchlist[0].type", "'person'"),)),
    Mistake("bad_severity", edit("severity: high", "severity: urgent"), ((14, "rules[0].severity", "'critical'"),)),
    Mistake("bad_field", edit("fields: [title, body]", "fields: [title, headline]"),
            ((13, "rules[0].fields[1]", "'comments'"),)),
    Mistake("bad_webhook_format", edit("format: generic", "format: teams"), ((20, "webhooks[0].format", "'slack'"),)),
    Mistake("bad_security_protocol", edit("  topic_partitions: 4", "  topic_partitions: 4\n  security_protocol: TLS"),
            ((30, "kafka.security_protocol", "'SASL_SSL'"),)),
    # numbers
    Mistake("zero_num_perm", edit("num_perm: 128", "num_perm: 0"),
            ((23, "dedup.num_perm", "greater than or equal to 16"),)),
    Mistake("negative_window", edit("window_days: 7", "window_days: -1"),
            ((24, "dedup.window_days", "greater than 0"),)),
    Mistake("zero_window", edit("window_days: 7", "window_days: 0"), ((24, "dedup.window_days", "greater than 0"),)),
    Mistake("negative_page_limit", edit("max_page_bytes: 5242880", "max_page_bytes: -1"),
            ((31, "limits.max_page_bytes", "greater than or equal to 1024"),)),
    Mistake("zero_partitions", edit("topic_partitions: 4", "topic_partitions: 0"),
            ((29, "kafka.topic_partitions", "greater than or equal to 1"),)),
    Mistake("zero_webhook_timeout", edit("    format: generic", "    format: generic\n    timeout_s: 0"),
            ((21, "webhooks[0].timeout_s", "greater than 0"),)),
    Mistake("negative_realert", edit("    severity: high", "    severity: high\n    realert_minutes: -5"),
            ((15, "rules[0].realert_minutes", "greater than or equal to 0"),)),
    Mistake("negative_seed", edit("window_days: 7", "window_days: 7\n  seed: -1"),
            ((25, "dedup.seed", "greater than or equal to 0"),)),
    Mistake("threshold_zero", edit("threshold: 0.5", "threshold: 0"), ((22, "dedup.threshold", "greater than 0"),)),
    Mistake("threshold_one", edit("threshold: 0.5", "threshold: 1"), ((22, "dedup.threshold", "less than 1"),)),
    Mistake("threshold_above_one", edit("threshold: 0.5", "threshold: 1.5"), ((22, "dedup.threshold", "less than 1"),)),
    Mistake("threshold_negative", edit("threshold: 0.5", "threshold: -0.1"),
            ((22, "dedup.threshold", "greater than 0"),)),
    Mistake("threshold_nan", edit("threshold: 0.5", "threshold: .nan"), ((22, "dedup.threshold", "finite number"),)),
    Mistake("window_infinite", edit("window_days: 7", "window_days: .inf"),
            ((24, "dedup.window_days", "finite number"),)),
    Mistake("interval_infinite", edit("update_min_interval_s: 300", "update_min_interval_s: .inf"),
            ((26, "alerts.update_min_interval_s", "finite number"),)),
    # webhooks
    Mistake("webhook_url_ftp", edit("url: http://127.0.0.1:9000/hook", "url: ftp://127.0.0.1/hook"),
            ((18, "webhooks[0].url", "http:// or https://"),)),
    Mistake("webhook_url_no_host", edit("url: http://127.0.0.1:9000/hook", "url: http:///hook"),
            ((18, "webhooks[0].url", "with a host"),)),
    Mistake("webhook_url_not_a_url", edit("url: http://127.0.0.1:9000/hook", "url: my webhook"),
            ((18, "webhooks[0].url", "http:// or https://"),)),
    Mistake("secret_env_not_a_variable_name", edit("secret_env: HOOK_SECRET", "secret_env: hook-secret value"),
            ((19, "webhooks[0].secret_env", "match pattern"),)),
    Mistake("secret_in_the_file", edit("secret_env: HOOK_SECRET", "secret: s3cr3t"),
            ((19, "webhooks[0].secret", "Extra inputs"),)),
    # limits
    Mistake("over_max_aliases", edit("max_aliases: 1000", "max_aliases: 3"),
            ((1, "watchlist", "5 aliases exceed limits.max_aliases=3"),)),
    Mistake("over_max_rules", chain(edit("max_rules: 100", "max_rules: 1"),
                                    edit("webhooks:\n", "  - id: r2\n    any_keyword: [rocket]\nwebhooks:\n")),
            ((9, "rules", "2 rules exceed limits.max_rules=1"),)),
    Mistake("many_problems_at_once", chain(edit("type: person", "type: human"),
                                           edit("severity: high", "severity: urgent"),
                                           edit("threshold: 0.5", "threshold: 2")),
            ((4, "watchlist[0].type", "'person'"), (14, "rules[0].severity", "'critical'"),
             (22, "dedup.threshold", "less than 1"))),
]


# Every mistake is pinned in-process above; the CLI prints the same ConfigError, so a process per
# kind of mistake (imports cost ~1 s a process) checks the exit code and the framing.
CLI_MISTAKES = [m for m in MISTAKES if m.name in {
    "unclosed_bracket", "tab_indentation", "nul_character", "nesting_too_deep", "number_too_long",
    "duplicate_section", "empty_file", "top_level_list", "number_is_a_word", "unknown_alias_key",
    "unknown_dedup_key", "duplicate_rule_id", "dangling_webhook", "alias_without_letters", "bad_severity",
    "zero_num_perm", "negative_seed", "threshold_one", "threshold_nan", "window_infinite", "webhook_url_ftp",
    "secret_env_not_a_variable_name", "over_max_aliases", "over_max_rules", "many_problems_at_once",
}]


def problem_lines(message: str) -> list[str]:
    lines = message.splitlines()
    return lines[1:] if lines[0].endswith("invalid configuration") else lines


def assert_reports(message: str, path: str, mistake: Mistake) -> None:
    lines = problem_lines(message)
    assert len(lines) == len(mistake.problems), message
    for line, (number, field, words) in zip(lines, mistake.problems, strict=True):
        where = f"{path}:{number}: " if number is not None else f"{path}"
        assert line.startswith(where.removeprefix("wirewatch: ")) or line.startswith(f"wirewatch: {where}"), line
        if field is not None:
            assert f": {field}: " in line, line
        assert words in line, line


def test_every_kind_of_mistake_is_also_run_through_the_cli() -> None:
    assert len(CLI_MISTAKES) == 25  # a misspelt name above would silently drop a case


def test_the_base_configuration_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "ok.yml"
    path.write_text(BASE, encoding="utf-8")
    assert isinstance(load_settings(path), Settings)


@pytest.mark.parametrize("mistake", MISTAKES, ids=[m.name for m in MISTAKES])
def test_parse_settings_reports_each_problem_on_its_line(tmp_path: Path, mistake: Mistake) -> None:
    path = tmp_path / "w.yml"
    path.write_text(mistake.make(BASE), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert_reports(str(info.value), str(path), mistake)


def test_a_flood_of_problems_is_cut_short(tmp_path: Path) -> None:
    path = tmp_path / "w.yml"
    path.write_text("watchlist:\n" + "".join(f"  - id: e{i}\n    type: human\n" for i in range(500)), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    lines = str(info.value).splitlines()
    assert len(lines) == 1 + MAX_REPORTED_PROBLEMS + 1
    assert lines[-1] == f"... and {1000 - MAX_REPORTED_PROBLEMS} more problems"


# --------------------------------------------------------------------------------------------- the CLI

Special = Callable[[Path], Path]


def binary_file(folder: Path) -> Path:
    path = folder / "config.yml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    return path


def binary_after_text(folder: Path) -> Path:
    path = folder / "config.yml"
    path.write_bytes(BASE.encode() + b"# \xff\xfe\n")
    return path


def a_directory(folder: Path) -> Path:
    path = folder / "conf.d"
    path.mkdir()
    return path


def missing_file(folder: Path) -> Path:
    return folder / "nope.yml"


SPECIAL: dict[str, tuple[Special, str]] = {
    "binary_file": (binary_file, r"config\.yml:1: not UTF-8 text"),
    "binary_after_text": (binary_after_text, r"config\.yml:34: not UTF-8 text"),
    "directory": (a_directory, r"conf\.d: is a folder, not a configuration file"),
    "missing_file": (missing_file, r"nope\.yml: configuration file not found"),
}


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, subprocess.CompletedProcess[str]]]:
    """`wirewatch run --config F SEED` for each kind of mistake, concurrently."""
    jobs: dict[str, Path] = {}
    for mistake in CLI_MISTAKES:
        path = tmp_path_factory.mktemp(mistake.name) / "wirewatch.yml"
        path.write_text(mistake.make(BASE), encoding="utf-8")
        jobs[mistake.name] = path
    for name, (make, _) in SPECIAL.items():
        jobs[name] = make(tmp_path_factory.mktemp(name))

    def run(path: Path) -> subprocess.CompletedProcess[str]:
        return wirewatch("run", "--config", str(path), str(SEED), timeout=120)

    with ThreadPoolExecutor(max_workers=(os.cpu_count() or 2) + 1) as pool:
        results = list(pool.map(run, jobs.values()))
    return {name: (jobs[name], result) for name, result in zip(jobs, results, strict=True)}


def assert_usage_error(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert_no_traceback(result)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines and lines[0].startswith("wirewatch: ")
    return lines


@pytest.mark.parametrize("mistake", CLI_MISTAKES, ids=[m.name for m in CLI_MISTAKES])
def test_cli_exits_2_naming_file_line_and_field(
    cli_results: dict[str, tuple[Path, subprocess.CompletedProcess[str]]], mistake: Mistake
) -> None:
    path, result = cli_results[mistake.name]
    lines = assert_usage_error(result)
    if len(lines) == 1:
        assert lines[0].startswith(f"wirewatch: {path}:")
    else:
        assert lines[0] == "wirewatch: invalid configuration"
        assert all(line.startswith(f"{path}:") for line in lines[1:])
    assert_reports(result.stderr.removeprefix("wirewatch: "), str(path), mistake)


@pytest.mark.parametrize("name", sorted(SPECIAL))
def test_cli_exits_2_on_files_that_are_not_configurations(
    cli_results: dict[str, tuple[Path, subprocess.CompletedProcess[str]]], name: str
) -> None:
    path, result = cli_results[name]
    lines = assert_usage_error(result)
    assert len(lines) == 1
    assert lines[0].startswith(f"wirewatch: {path}")
    assert re.search(SPECIAL[name][1], lines[0]), lines[0]


def test_cli_runs_with_the_base_configuration(tmp_path: Path) -> None:
    path = tmp_path / "wirewatch.yml"
    path.write_text(BASE, encoding="utf-8")
    result = wirewatch("run", "--config", str(path), str(SEED))
    assert_no_traceback(result)
    assert result.returncode == 0, result.stderr
    assert "[HIGH] r1: Qais al-Khazali" in result.stdout
