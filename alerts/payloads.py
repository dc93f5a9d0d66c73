"""Request bodies of webhook deliveries: the generic Alert JSON, or a Slack message.

``generic`` is the :class:`~schemas.alerts.Alert` model as JSON, exactly what the ``alerts``
topic carries, so a receiver can validate it with the same model. ``slack`` is an
incoming-webhook payload (``{"text": ..., "blocks": [...]}``) that reads well in a channel:
severity, rule, the tracked actors that matched, the title linked to the article, the outlet, the
snippet and the other outlets that carry the story. An ``update`` (a later copy of a story that
already alerted) is a short "also reported by ..." message instead of a second full alert.

Slack limits are respected (a section's text is at most 3,000 characters, a field's 2,000) and
``&``, ``<`` and ``>`` are escaped so page text cannot inject links or mentions.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from schemas.alerts import Alert

PayloadFormat = Literal["generic", "slack"]

_SECTION_MAX = 3000
_FIELD_MAX = 2000
_LINK_TEXT_MAX = 300
_SEVERITY_EMOJI = {
    "critical": ":rotating_light:",
    "high": ":red_circle:",
    "medium": ":large_orange_circle:",
    "low": ":white_circle:",
}


def render(alert: Alert, fmt: PayloadFormat) -> bytes:
    """The request body of ``alert`` for a webhook of format ``fmt``, as UTF-8 JSON bytes.

    Raises:
        ValueError: for a format other than ``generic`` or ``slack``.
    """
    if fmt == "generic":
        return alert.model_dump_json().encode("utf-8")
    if fmt == "slack":
        return json.dumps(slack_message(alert), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    raise ValueError(f"unknown webhook format {fmt!r}: use 'generic' or 'slack'")


def slack_message(alert: Alert) -> dict[str, Any]:
    """The Slack incoming-webhook message for ``alert`` (``text`` fallback plus ``blocks``)."""
    return _slack_update(alert) if alert.kind == "update" else _slack_alert(alert)


def _escape(text: str) -> str:
    """Slack mrkdwn escaping: only ``&``, ``<`` and ``>`` are special."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _title_link(alert: Alert) -> str:
    title = _escape(_cut(" ".join((alert.title or alert.doc_id).split()), _LINK_TEXT_MAX)).replace("|", "¦")
    if alert.url and alert.url.startswith(("http://", "https://")):
        url = alert.url.replace("<", "%3C").replace(">", "%3E").replace("|", "%7C").replace(" ", "%20")
        return f"<{url}|{title}>"
    return title


def _actors(alert: Alert) -> list[str]:
    return list(dict.fromkeys(m.name for m in alert.matched if m.type != "keyword"))


def _keywords(alert: Alert) -> list[str]:
    return list(dict.fromkeys(m.name for m in alert.matched if m.type == "keyword"))


def _outlets(names: list[str]) -> str:
    return ", ".join(names) if names else "—"


def _mrkdwn(text: str, limit: int = _SECTION_MAX) -> dict[str, str]:
    return {"type": "mrkdwn", "text": _cut(text, limit)}


def _slack_alert(alert: Alert) -> dict[str, Any]:
    severity = alert.severity.upper()
    emoji = _SEVERITY_EMOJI.get(alert.severity, "")
    actors = _actors(alert)
    keywords = _keywords(alert)
    title_plain = " ".join((alert.title or alert.doc_id).split())
    fallback = f"[{severity}] {alert.rule_id}: {title_plain}"
    if alert.outlet:
        fallback += f" ({alert.outlet})"
    if actors:
        fallback += f" — {', '.join(actors)}"

    fields = [
        _mrkdwn(f"*Severity*\n{emoji} {severity}".replace("\n ", "\n"), _FIELD_MAX),
        _mrkdwn(f"*Rule*\n`{_escape(alert.rule_id)}`", _FIELD_MAX),
        _mrkdwn(f"*Actors*\n{_escape(', '.join(actors)) or '—'}", _FIELD_MAX),
        _mrkdwn(f"*Outlet*\n{_escape(alert.outlet) or '—'}", _FIELD_MAX),
    ]
    if keywords:
        fields.append(_mrkdwn(f"*Keywords*\n{_escape(', '.join(keywords))}", _FIELD_MAX))
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": _mrkdwn(f"{emoji} *{_title_link(alert)}*".strip())},
        {"type": "section", "fields": fields},
    ]
    if alert.snippet:
        quoted = "\n".join(f">{line}" for line in _escape(alert.snippet).splitlines() or [""])
        blocks.append({"type": "section", "text": _mrkdwn(quoted)})
    context = [_mrkdwn(f"Also reported by: {_escape(_outlets(alert.also_reported_by))}")]
    if alert.published_at is not None:
        context.append(_mrkdwn(f"Published {alert.published_at.isoformat()}"))
    context.append(_mrkdwn(f"Alert `{_escape(alert.alert_id)}`"))
    blocks.append({"type": "context", "elements": context})
    return {"text": _cut(fallback, _SECTION_MAX), "blocks": blocks}


def _slack_update(alert: Alert) -> dict[str, Any]:
    title_plain = " ".join((alert.title or alert.doc_id).split())
    outlets = _outlets(alert.also_reported_by)
    fallback = f"Update [{alert.severity.upper()}] {alert.rule_id}: {title_plain} — also reported by {outlets}"
    text = (
        f":newspaper: *{_title_link(alert)}* is also reported by *{_escape(outlets)}*"
        f" (rule `{_escape(alert.rule_id)}`, {alert.severity})"
    )
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": _mrkdwn(text)},
        {"type": "context", "elements": [_mrkdwn(f"Update to alert `{_escape(alert.alert_id)}`")]},
    ]
    return {"text": _cut(fallback, _SECTION_MAX), "blocks": blocks}


__all__ = ["PayloadFormat", "render", "slack_message"]
