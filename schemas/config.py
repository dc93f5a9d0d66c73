"""The configuration file: watchlist, keywords, rules, webhooks, dedup and Kafka settings.

One YAML file, validated by pydantic. Errors name the file, the line and the field, so a user
can fix a typo without reading a traceback. Secrets never live in the file: a webhook names the
environment variable that holds its secret (``secret_env``), resolved once at the entry point by
:func:`resolve_webhook_secrets`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
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
MAX_CONFIG_BYTES = 64 * 1024 * 1024
"""Largest configuration file read (a 500,000-alias watchlist is about 20 MB of YAML)."""
MAX_REPORTED_PROBLEMS = 50
"""Problems listed one per line; more are summed up in one last line."""
_MAX_ALIAS_CHARS = 300

_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
Id = Annotated[str, Field(pattern=_ID_PATTERN)]


class ConfigError(WirewatchError):
    """The configuration file is missing, unreadable or invalid; the message says where."""


class _Config(BaseModel):
    # No .nan or .inf: NaN fails every bound with a misleading message, and an infinite window or
    # interval would keep state forever.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


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
    ``index`` is ``compact`` (sorted numpy arrays, about 1.5 KB per page in the window) or
    ``datasketch`` (datasketch's ``MinHashLSH``, about 10 KB per page); both give the same verdicts.
    """

    threshold: float = Field(default=0.5, gt=0.0, lt=1.0)
    num_perm: int = Field(default=128, ge=16, le=1024)
    shingle_words: int = Field(default=3, ge=1, le=10)
    window_days: float = Field(default=7.0, gt=0)
    max_window_pages: int = Field(default=200_000, ge=100)
    index: Literal["compact", "datasketch"] = "compact"
    seed: int = Field(default=1, ge=0, le=2**32 - 1)


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
    # Under load, the rules stage begins a batch (one transaction per partition) at most this
    # often; see streams.exactly_once.ExactlyOnceRules. 0: every batch at once.
    rules_commit_interval_ms: int = Field(default=100, ge=0, le=60_000)


class WorkerConfig(_Config):
    """How a streaming worker (``wirewatch worker``) uses its machine.

    ``stage_process``: run the clean and tag stages in one helper process, on a second core, while
    the worker's own process moves records and runs dedup and rules (``streams.stage_process``).
    false: all stages in the worker's process, for a machine with one core to spare.
    """

    stage_process: bool = True


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
    worker: WorkerConfig = Field(default_factory=WorkerConfig)
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
        for i, entity in enumerate(self.watchlist):
            for j, alias in enumerate(entity.aliases):
                found.extend(_alias_problems(alias, ("watchlist", i, "aliases", j)))
        for i, keyword in enumerate(self.keywords):
            for j, term in enumerate(keyword.terms):
                found.extend(_alias_problems(term, ("keywords", i, "terms", j)))
        aliases = sum(1 + len(e.aliases) for e in self.watchlist) + sum(len(k.terms) for k in self.keywords)
        if aliases > self.limits.max_aliases:
            found.append((("watchlist",), f"{aliases} aliases exceed limits.max_aliases={self.limits.max_aliases}"))
        if len(self.rules) > self.limits.max_rules:
            found.append((("rules",), f"{len(self.rules)} rules exceed limits.max_rules={self.limits.max_rules}"))
        return found


def _alias_problems(alias: AliasInput, loc: tuple[str | int, ...]) -> list[tuple[tuple[str | int, ...], str]]:
    """What is wrong with one alias or term written as a plain string (AliasSpec checks itself)."""
    if isinstance(alias, AliasSpec):
        return []
    if not any(c.isalnum() for c in alias):
        return [(loc, f"{alias!r} has no letter or digit, so it can match nothing; remove it or spell the name")]
    if len(alias) > _MAX_ALIAS_CHARS:
        return [(loc, f"{len(alias)} characters: an alias is at most {_MAX_ALIAS_CHARS}")]
    return []


def _format_key(key: str) -> str:
    """A mapping key as it can be shown on one line: quoted when odd (empty, spaces, controls), cut when long."""
    shown = key if key and key.isprintable() and " " not in key else repr(key)
    return shown if len(shown) <= 60 else shown[:59] + "…"


def _format_loc(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{_format_key(part)}" if out else _format_key(part))
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


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _compose(text: str, origin: str) -> tuple[yaml.Node | None, Any]:
    """Parse YAML once: the node tree (for line numbers) and the data built from it.

    Raises:
        ConfigError: for syntax errors, tags outside safe YAML, nesting too deep to parse, and
            numbers too long to convert; one line, with the line number where YAML gives one.
    """
    loader: yaml.SafeLoader | None = None
    root: yaml.Node | None = None
    try:
        loader = yaml.SafeLoader(text)  # the reader rejects characters YAML forbids right here
        root = loader.get_single_node()
        return root, (loader.construct_document(root) if root is not None else None)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else _reader_line(text, exc)
        where = f"{origin}:{line}" if line is not None else origin
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: not valid YAML: {_one_line(reason)}") from None
    except RecursionError:
        where = f"{origin}:{loader.get_mark().line + 1}" if loader is not None else origin
        raise ConfigError(f"{where}: not valid YAML: nested too deeply to read") from None
    except ValueError as exc:  # an integer of more than 4,300 digits
        where = origin
        for node, loc in _nodes(root):
            if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":int") and len(str(node.value)) > 4000:
                where = f"{origin}:{node.start_mark.line + 1}: {_format_loc(loc)}"
                break
        raise ConfigError(f"{where}: not a usable value: {_one_line(str(exc)).split(';')[0]}") from None
    finally:
        if loader is not None:
            loader.dispose()


def _reader_line(text: str, exc: yaml.YAMLError) -> int | None:
    position = getattr(exc, "position", None)  # a ReaderError: a character YAML does not allow
    return text.count("\n", 0, position) + 1 if isinstance(position, int) else None


def _nodes(root: yaml.Node | None) -> Iterator[tuple[yaml.Node, tuple[str | int, ...]]]:
    """Every node of the tree with its location, iteratively (deep trees cannot overflow the stack)."""
    stack: list[tuple[yaml.Node, tuple[str | int, ...]]] = [(root, ())] if root is not None else []
    seen: set[int] = set()
    while stack:
        node, loc = stack.pop()
        if id(node) in seen:  # an alias (*anchor) points at a node already walked
            continue
        seen.add(id(node))
        yield node, loc
        if isinstance(node, yaml.MappingNode):
            stack.extend((value, (*loc, str(key.value))) for key, value in reversed(node.value))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, (*loc, i)) for i, item in reversed(list(enumerate(node.value))))


def _duplicate_keys(root: yaml.Node | None, origin: str) -> list[str]:
    """A key given twice in one mapping: YAML keeps the last silently, hiding the first."""
    found = []
    for node, loc in _nodes(root):
        if not isinstance(node, yaml.MappingNode):
            continue
        first: dict[str, int] = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.value == "<<":
                continue
            line = key.start_mark.line + 1
            if key.value in first:
                found.append(f"{origin}:{line}: {_format_loc((*loc, key.value))}: duplicate key "
                             f"(first at line {first[key.value]}; YAML would keep only the last)")
            else:
                first[key.value] = line
    return found


# Members of the alias union (``str | AliasSpec``) as pydantic names them in error locations, and
# whether each is the one meant for a mapping.
_ALIAS_BRANCHES = {"str": False, "AliasSpec": True}


def _branch_loc(data: Any, loc: tuple[str | int, ...]) -> tuple[str | int, ...] | None:
    """The location of an error without its union member, or None for the member not meant.

    An alias written as a mapping is an AliasSpec: "should be a valid string" about it is noise,
    and so is an AliasSpec complaint about a plain string.
    """
    for i in range(1, len(loc)):
        part = loc[i]
        if isinstance(part, str) and part in _ALIAS_BRANCHES and isinstance(loc[i - 1], int):
            value = data
            for key in loc[:i]:
                try:
                    value = value[key]
                except (KeyError, IndexError, TypeError):
                    return loc
            if isinstance(value, Mapping) != _ALIAS_BRANCHES[part]:
                return None
            return loc[:i] + loc[i + 1 :]
    return loc


def _invalid(lines: list[str]) -> ConfigError:
    if len(lines) > MAX_REPORTED_PROBLEMS:
        more = len(lines) - MAX_REPORTED_PROBLEMS
        lines = [*lines[:MAX_REPORTED_PROBLEMS], f"... and {more} more problems"]
    return ConfigError("invalid configuration\n" + "\n".join(lines))


def parse_settings(text: str, origin: str = "<config>") -> Settings:
    """Parse and validate configuration text.

    An empty document (an empty file, or comments only) is an error: it is far more often a
    wrong or truncated file than a wish to track nothing. Keys given twice in one mapping are
    errors too, where YAML itself would silently keep the last.

    Raises:
        ConfigError: with one line per problem, each ``origin:line: field: message`` (at most
            ``MAX_REPORTED_PROBLEMS`` of them).
    """
    root, data = _compose(text, origin)
    if data is None:
        raise ConfigError(f"{origin}:1: the configuration is empty; it needs at least a watchlist or keywords, "
                          "and rules (see the wirewatch.yml of the project)")
    if not isinstance(data, Mapping):
        raise ConfigError(f"{origin}:1: the top level must be a mapping (watchlist:, rules:, ...)")
    duplicates = _duplicate_keys(root, origin)
    if duplicates:
        raise _invalid(duplicates)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        lines: dict[str, None] = {}
        for err in exc.errors(include_url=False):
            loc = _branch_loc(data, tuple(err["loc"]))
            if loc is None:
                continue
            line = _line_of(root, loc)
            lines[f"{origin}:{line or '?'}: {_format_loc(loc)}: {_one_line(err['msg'])}"] = None
        raise _invalid(list(lines)) from None
    issues = settings.problems()
    if issues:
        raise _invalid([f"{origin}:{_line_of(root, loc) or '?'}: {_format_loc(loc)}: {msg}" for loc, msg in issues])
    return settings


def load_settings(path: Path) -> Settings:
    """Read and validate the configuration file at ``path`` (UTF-8, at most ``MAX_CONFIG_BYTES``)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found (use --config PATH or ${CONFIG_ENV})") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a configuration file (use --config PATH/wirewatch.yml)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES // (1024 * 1024)} MiB: not a configuration file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                          "the configuration must be a UTF-8 YAML file") from None
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
