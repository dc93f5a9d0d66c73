"""The configuration file: watchlist, keywords, rules, webhooks, dedup and Kafka settings.

One YAML file, validated by pydantic. Errors name the file, the line and the field, so a user
can fix a typo without reading a traceback. Secrets never live in the file: a webhook names the
environment variable that holds its secret (``secret_env``), resolved once at the entry point by
:func:`resolve_webhook_secrets`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from schemas.alerts import Severity
from schemas.errors import WirewatchError
from schemas.pages import EntityType, Field_

DEFAULT_CONFIG_NAME = "wirewatch.yml"
CONFIG_ENV = "WIREWATCH_CONFIG"
BOOTSTRAP_ENV = "KAFKA_BOOTSTRAP"

_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
Id = Annotated[str, Field(pattern=_ID_PATTERN)]


class ConfigError(WirewatchError):
    """The configuration file is missing, unreadable or invalid; the message says where."""


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AliasSpec(_Config):
    """One way a tracked name is written.

    ``case_sensitive`` matches only the exact case (for acronyms such as "AAH").
    ``weak`` marks an alias that is also a common word ("Freedom", "Amber"): it matches only
    where the text writes it as a name, capitalised and not alone at the start of a sentence.
    """

    text: str = Field(min_length=1, max_length=300)
    case_sensitive: bool = False
    weak: bool = False


AliasInput = str | AliasSpec


def _as_alias(value: AliasInput) -> AliasSpec:
    return value if isinstance(value, AliasSpec) else AliasSpec(text=value)


class WatchEntity(_Config):
    """A tracked actor: a person, organisation, place or anything else with a name."""

    id: Id
    name: str = Field(min_length=1, max_length=300)
    type: EntityType = "other"
    aliases: list[AliasInput] = Field(default_factory=list)

    def alias_specs(self) -> list[AliasSpec]:
        """The canonical name and every alias, as :class:`AliasSpec`."""
        return [AliasSpec(text=self.name), *(_as_alias(a) for a in self.aliases)]


class Keyword(_Config):
    """A tracked keyword: one id, the terms that count as it."""

    id: Id
    terms: list[AliasInput] = Field(min_length=1)

    def term_specs(self) -> list[AliasSpec]:
        """Every term, as :class:`AliasSpec`."""
        return [_as_alias(t) for t in self.terms]


_DEFAULT_RULE_FIELDS: tuple[Field_, ...] = ("title", "body")


class Rule(_Config):
    """When to raise an alert.

    The combinators given must all hold: ``any_entity`` (at least one of these entities),
    ``all_entities`` (every one of them) and ``any_keyword`` (at least one of these keywords),
    each counted only in ``fields``. ``realert_minutes`` keeps a rule from alerting again on the
    same entities within that many minutes, unless the severity rises.
    """

    id: Id
    any_entity: list[str] = Field(default_factory=list)
    all_entities: list[str] = Field(default_factory=list)
    any_keyword: list[str] = Field(default_factory=list)
    fields: list[Field_] = Field(default_factory=lambda: list(_DEFAULT_RULE_FIELDS), min_length=1)
    severity: Severity = "medium"
    notify: list[str] = Field(default_factory=list)
    realert_minutes: float | None = Field(default=None, ge=0)
    enabled: bool = True

    def has_condition(self) -> bool:
        """Whether the rule says anything at all (an empty rule would fire on every page)."""
        return bool(self.any_entity or self.all_entities or self.any_keyword)


class Webhook(_Config):
    """An HTTP endpoint alerts are POSTed to.

    ``format`` is ``generic`` (the Alert model as JSON) or ``slack`` (an incoming-webhook
    payload). The secret for the HMAC-SHA256 signature comes from the environment variable named
    by ``secret_env``; without one, requests are sent unsigned.
    """

    id: Id
    url: str
    secret_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    format: Literal["generic", "slack"] = "generic"
    timeout_s: float = Field(default=5.0, gt=0, le=120)
    max_attempts: int = Field(default=5, ge=1, le=50)
    backoff_initial_s: float = Field(default=0.5, gt=0, le=600)
    backoff_max_s: float = Field(default=60.0, gt=0, le=3600)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host, e.g. https://example.org/hook")
        return value


class DedupConfig(_Config):
    """Near-duplicate detection parameters.

    ``threshold`` is the estimated Jaccard similarity of two cleaned bodies' word shingles at or
    above which they are one story. Lower finds more heavily edited copies but risks merging
    different stories on the same topic; higher keeps stories apart but misses rewrites. The LSH
    bands and rows are derived from ``threshold`` and ``num_perm`` (see ``streams.dedup``).
    """

    threshold: float = Field(default=0.5, gt=0.0, lt=1.0)
    num_perm: int = Field(default=128, ge=16, le=1024)
    shingle_words: int = Field(default=3, ge=1, le=10)
    window_days: float = Field(default=7.0, gt=0)
    max_window_pages: int = Field(default=200_000, ge=100)
    seed: int = 1


class AlertsConfig(_Config):
    """Story-level suppression.

    A story (dedup cluster) alerts once per rule. Later copies produce ``update`` events that
    grow ``also_reported_by``, at most one per story and rule every ``update_min_interval_s``
    seconds of page time. Story state is forgotten ``story_window_days`` after the story was
    last seen.
    """

    update_min_interval_s: float = Field(default=300.0, ge=0)
    story_window_days: float = Field(default=7.0, gt=0)
    max_outlets_per_story: int = Field(default=200, ge=1)


class KafkaConfig(_Config):
    """How workers reach Kafka.

    ``$KAFKA_BOOTSTRAP`` overrides ``bootstrap``; the SASL password comes from the environment
    variable named by ``sasl_password_env``, never from the file.
    """

    bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    topic_partitions: int = Field(default=4, ge=1, le=1024)
    replication_factor: int = Field(default=1, ge=1, le=16)
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password_env: str | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    group_id: str = "wirewatch"


class Limits(_Config):
    """Bounds that protect workers from hostile or broken input."""

    max_page_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    max_aliases: int = Field(default=500_000, ge=1)
    max_rules: int = Field(default=10_000, ge=1)


class Settings(_Config):
    """The whole configuration file."""

    watchlist: list[WatchEntity] = Field(default_factory=list)
    keywords: list[Keyword] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)
    webhooks: list[Webhook] = Field(default_factory=list)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    kafka: KafkaConfig = Field(default_factory=KafkaConfig)
    limits: Limits = Field(default_factory=Limits)

    def problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Cross-reference mistakes pydantic cannot see field by field, with their location."""
        found: list[tuple[tuple[str | int, ...], str]] = []

        def unique(section: str, ids: Sequence[str]) -> set[str]:
            seen: set[str] = set()
            for i, item_id in enumerate(ids):
                if item_id in seen:
                    found.append(((section, i, "id"), f"duplicate id {item_id!r}"))
                seen.add(item_id)
            return seen

        entities = unique("watchlist", [e.id for e in self.watchlist])
        keywords = unique("keywords", [k.id for k in self.keywords])
        hooks = unique("webhooks", [w.id for w in self.webhooks])
        unique("rules", [r.id for r in self.rules])
        for i, rule in enumerate(self.rules):
            if not rule.has_condition():
                found.append((("rules", i), "needs at least one of any_entity, all_entities, any_keyword"))
            for key, known, what in (
                ("any_entity", entities, "watchlist"),
                ("all_entities", entities, "watchlist"),
                ("any_keyword", keywords, "keywords"),
                ("notify", hooks, "webhooks"),
            ):
                for j, ref in enumerate(getattr(rule, key)):
                    if ref not in known:
                        found.append(((("rules", i, key, j)), f"unknown {what} id {ref!r}"))
        aliases = sum(1 + len(e.aliases) for e in self.watchlist) + sum(len(k.terms) for k in self.keywords)
        if aliases > self.limits.max_aliases:
            found.append((("watchlist",), f"{aliases} aliases exceed limits.max_aliases={self.limits.max_aliases}"))
        if len(self.rules) > self.limits.max_rules:
            found.append((("rules",), f"{len(self.rules)} rules exceed limits.max_rules={self.limits.max_rules}"))
        return found


def _format_loc(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _line_of(root: yaml.Node | None, loc: Sequence[str | int]) -> int | None:
    """1-based line of the deepest YAML node on ``loc`` (so errors point at the field)."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            child = next(((k, v) for k, v in node.value if getattr(k, "value", None) == part), None)
            if child is None:
                break
            line = child[0].start_mark.line + 1
            node = child[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def parse_settings(text: str, origin: str = "<config>") -> Settings:
    """Parse and validate configuration text.

    Raises:
        ConfigError: with one line per problem, each ``origin:line: field: message``.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{origin}:{mark.line + 1}" if mark is not None else origin
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: not valid YAML: {reason}") from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{origin}:1: the top level must be a mapping (watchlist:, rules:, ...)")
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            line = _line_of(root, loc)
            lines.append(f"{origin}:{line or '?'}: {_format_loc(loc)}: {err['msg']}")
        raise ConfigError("invalid configuration\n" + "\n".join(lines)) from None
    issues = settings.problems()
    if issues:
        lines = [f"{origin}:{_line_of(root, loc) or '?'}: {_format_loc(loc)}: {msg}" for loc, msg in issues]
        raise ConfigError("invalid configuration\n" + "\n".join(lines))
    return settings


def load_settings(path: Path) -> Settings:
    """Read and validate the configuration file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found (use --config PATH or ${CONFIG_ENV})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc}") from None
    return parse_settings(text, str(path))


def resolve_webhook_secrets(settings: Settings, environ: Mapping[str, str]) -> dict[str, SecretStr]:
    """Read each webhook's secret from the environment, once, at the entry point.

    Raises:
        ConfigError: naming the webhook field whose variable is unset or empty.
    """
    secrets: dict[str, SecretStr] = {}
    missing = []
    for i, hook in enumerate(settings.webhooks):
        if hook.secret_env is None:
            continue
        value = environ.get(hook.secret_env, "")
        if not value:
            missing.append(f"webhooks[{i}].secret_env: environment variable {hook.secret_env} is not set")
        else:
            secrets[hook.id] = SecretStr(value)
    if missing:
        raise ConfigError("missing webhook secrets\n" + "\n".join(missing))
    return secrets


__all__ = [
    "BOOTSTRAP_ENV",
    "CONFIG_ENV",
    "DEFAULT_CONFIG_NAME",
    "AlertsConfig",
    "AliasSpec",
    "ConfigError",
    "DedupConfig",
    "KafkaConfig",
    "Keyword",
    "Limits",
    "Rule",
    "Settings",
    "WatchEntity",
    "Webhook",
    "load_settings",
    "parse_settings",
    "resolve_webhook_secrets",
]
