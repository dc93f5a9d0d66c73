"""Rule evaluation: which rules a tagged page satisfies, as candidate alerts.

``evaluate`` is pure: it looks at one page and says which rules match it. Whether a candidate
is sent (first sighting of the story), becomes an update (a later copy) or is suppressed is
decided by :class:`alerts.suppression.StoryLedger`, which holds the state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from schemas.alerts import Alert
from schemas.config import Rule
from schemas.pages import Mention, TaggedPage, utcnow

SNIPPET_CHARS = 240
# An alert names the first matches, not every repetition of a name in a long page.
MAX_MATCHED = 20
_FIELD_ORDER = {"title": 0, "body": 1, "comments": 2}


def alert_id_for(cluster_id: str, rule_id: str) -> str:
    """Deterministic alert id: the same story and the same rule always give the same id."""
    digest = hashlib.blake2b(f"{cluster_id}\x1f{rule_id}".encode(), digest_size=12)
    return digest.hexdigest()


def snippet(page: TaggedPage, mention: Mention, width: int = SNIPPET_CHARS) -> str:
    """A short excerpt of the field around ``mention``, cut at word boundaries."""
    text = page.page.text_of(mention.field, mention.comment_index)
    if not text:
        return mention.surface
    half = max(0, (width - (mention.end - mention.start)) // 2)
    start = max(0, mention.start - half)
    end = min(len(text), mention.end + half)
    if start > 0:
        space = text.find(" ", start, mention.start)
        start = space + 1 if space != -1 else start
    if end < len(text):
        space = text.rfind(" ", mention.end, end)
        end = space if space != -1 else end
    excerpt = " ".join(text[start:end].split())
    return f"{'…' if start > 0 else ''}{excerpt}{'…' if end < len(text) else ''}"


def _snippet_anchor(matched: Sequence[Mention]) -> Mention:
    """The match a snippet is cut around: the first in the body, else the first at all.

    The title is shown with every alert anyway, so a body excerpt says more.
    """
    return next((m for m in matched if m.field == "body"), matched[0])


def matching_mentions(rule: Rule, page: TaggedPage) -> list[Mention] | None:
    """The mentions that make ``rule`` fire on ``page`` (the first ``MAX_MATCHED``), or None."""
    fields = set(rule.fields)
    entities = [m for m in page.mentions if m.field in fields]
    keywords = [m for m in page.keywords if m.field in fields]
    found_entities = {m.entity_id for m in entities}
    found_keywords = {m.entity_id for m in keywords}
    if rule.any_entity and not found_entities.intersection(rule.any_entity):
        return None
    if rule.all_entities and not found_entities.issuperset(rule.all_entities):
        return None
    if rule.any_keyword and not found_keywords.intersection(rule.any_keyword):
        return None
    wanted_entities = set(rule.any_entity) | set(rule.all_entities)
    wanted_keywords = set(rule.any_keyword)
    matched = [m for m in entities if m.entity_id in wanted_entities]
    matched += [m for m in keywords if m.entity_id in wanted_keywords]
    matched.sort(key=lambda m: (_FIELD_ORDER[m.field], m.comment_index or 0, m.start))
    return matched[:MAX_MATCHED] or None


def evaluate(rules: Sequence[Rule], page: TaggedPage, now: datetime | None = None) -> list[Alert]:
    """Candidate alerts for every enabled rule that ``page`` satisfies.

    Args:
        rules: the configured rules.
        page: a tagged page.
        now: the alert's ``created_at`` (defaults to the current time).
    """
    created_at = now or utcnow()
    alerts = []
    for rule in rules:
        if not rule.enabled:
            continue
        matched = matching_mentions(rule, page)
        if matched is None:
            continue
        clean = page.page
        alerts.append(
            Alert(
                alert_id=alert_id_for(page.verdict.cluster_id, rule.id),
                rule_id=rule.id,
                severity=rule.severity,
                doc_id=clean.doc_id,
                cluster_id=page.verdict.cluster_id,
                url=clean.url,
                outlet=clean.outlet,
                title=clean.title,
                published_at=clean.published_at,
                matched=matched,
                snippet=snippet(page, _snippet_anchor(matched)),
                notify=list(rule.notify),
                created_at=created_at,
            )
        )
    return alerts
