from __future__ import annotations

from pathlib import Path

import pytest

from schemas.config import ConfigError, load_settings, parse_settings, resolve_webhook_secrets
from schemas.config import Settings as SettingsModel

VALID = """\
watchlist:
  - id: qais-al-khazali
    name: Qais al-Khazali
    type: person
    aliases: [Qais Khazali, {text: AAH, case_sensitive: true}]
keywords:
  - id: rocket-attack
    terms: [rocket, rockets]
rules:
  - id: r1
    any_entity: [qais-al-khazali]
    notify: [ops]
webhooks:
  - id: ops
    url: http://127.0.0.1:9000/hook
    secret_env: HOOK_SECRET
"""


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_settings(text, "w.yml")
    return str(info.value)


def test_project_config_is_valid_and_tracks_the_seed_actors(settings: SettingsModel) -> None:
    ids = {e.id for e in settings.watchlist}
    assert {"qais-al-khazali", "asaib-ahl-al-haq"} <= ids
    assert settings.dedup.threshold == 0.5


def test_design_example_parses_with_defaults() -> None:
    s = parse_settings(VALID)
    assert s.rules[0].fields == ["title", "body"]
    assert s.watchlist[0].alias_specs()[2].case_sensitive is True
    assert s.kafka.bootstrap == "127.0.0.1:9092"


def test_wrong_enum_names_file_line_and_field() -> None:
    message = error_of(VALID.replace("type: person", "type: persn"))
    assert "w.yml:4: watchlist[0].type:" in message


def test_unknown_field_is_rejected_with_its_line() -> None:
    message = error_of(VALID.replace("    notify: [ops]", "    notfy: [ops]"))
    assert "w.yml:12: rules[0].notfy: Extra inputs are not permitted" in message


def test_rule_naming_unknown_entity_or_webhook_says_which() -> None:
    message = error_of(VALID.replace("any_entity: [qais-al-khazali]", "any_entity: [qais]").replace(
        "notify: [ops]", "notify: [pager]"))
    assert "w.yml:11: rules[0].any_entity[0]: unknown watchlist id 'qais'" in message
    assert "w.yml:12: rules[0].notify[0]: unknown webhooks id 'pager'" in message


def test_rule_without_condition_and_duplicate_ids_are_errors() -> None:
    text = VALID.replace("webhooks:", "  - id: r1\n    severity: low\nwebhooks:")
    message = error_of(text)
    assert "w.yml:13: rules[1].id: duplicate id 'r1'" in message
    assert "w.yml:13: rules[1]: needs at least one of any_entity, all_entities, any_keyword" in message


def test_bad_webhook_url_is_rejected() -> None:
    message = error_of(VALID.replace("http://127.0.0.1:9000/hook", "ftp://example"))
    assert "webhooks[0].url" in message and "http:// or https://" in message


def test_invalid_yaml_names_the_line() -> None:
    assert error_of("watchlist:\n  - id: [unclosed\n").startswith("w.yml:")


def test_top_level_must_be_a_mapping() -> None:
    assert "top level must be a mapping" in error_of("- just\n- a list\n")


def test_missing_file_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--config"):
        load_settings(tmp_path / "nope.yml")


def test_webhook_secret_comes_from_the_environment_only() -> None:
    s = parse_settings(VALID)
    secrets = resolve_webhook_secrets(s, {"HOOK_SECRET": "s3cret"})
    assert secrets["ops"].get_secret_value() == "s3cret"
    assert "s3cret" not in repr(secrets)
    with pytest.raises(ConfigError, match=r"webhooks\[0\]\.secret_env: environment variable HOOK_SECRET"):
        resolve_webhook_secrets(s, {})
