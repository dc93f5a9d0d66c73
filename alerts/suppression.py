"""Story-level suppression: one story raises one alert per rule; later copies become updates.

The ledger's clock is page time (``fetched_at``), not wall time, so replaying history gives the
same decisions as the live stream did.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Any

from schemas.alerts import SEVERITY_RANK, Alert
from schemas.config import AlertsConfig, Rule
from schemas.pages import TaggedPage

_STORY = "story:"
_REALERT = "realert:"
_SWEEP_EVERY = 1024


class StoryLedger:
    """Remembers which stories alerted for which rules, and which outlets reported them.

    Args:
        config: update rate limit and how long story state is kept.
        rules: the configured rules (for their ``realert_minutes``).
        store: where state lives: a dict (in memory), or in a worker the shards of the rules
            stage, written to a changelog topic (``streams.exactly_once``). Values are JSON-compatible.
    """

    def __init__(
        self,
        config: AlertsConfig,
        rules: Sequence[Rule],
        store: MutableMapping[str, Any] | None = None,
    ) -> None:
        self.config = config
        self._realert_s = {r.id: r.realert_minutes * 60.0 for r in rules if r.realert_minutes}
        self._store: MutableMapping[str, Any] = store if store is not None else {}
        self._decisions = 0
        self.suppressed = 0

    def decide(self, page: TaggedPage, candidates: Sequence[Alert]) -> list[Alert]:
        """What to send for ``page``: first alerts of its story, and updates of earlier ones.

        Args:
            page: the tagged page (its verdict names the story).
            candidates: the alerts :func:`alerts.rules.evaluate` gave for it.

        Returns:
            New alerts (``kind="alert"``) for rules this story has not alerted on yet, and
            ``kind="update"`` events for rules it has, when its outlets grew and the story's
            last update is older than ``update_min_interval_s``. An update repeats the first
            alert's fields with the grown ``also_reported_by``, without its ``matched`` list.
        """
        now = page.page.fetched_at.timestamp()
        self._decisions += 1
        if self._decisions % _SWEEP_EVERY == 0:
            self._forget_before(now - self.config.story_window_days * 86400.0)
        key = _STORY + page.verdict.cluster_id
        story: dict[str, Any] = self._store.get(key) or {"outlets": [], "rules": {}, "last_seen": now}
        outlet = page.page.outlet
        outlets: list[str] = story["outlets"]
        if outlet and outlet not in outlets and len(outlets) < self.config.max_outlets_per_story:
            outlets.append(outlet)
        story["last_seen"] = max(float(story["last_seen"]), now)

        out: list[Alert] = []
        fresh = {a.rule_id: a for a in candidates if a.rule_id not in story["rules"]}
        for state in story["rules"].values():
            update = self._update(state, outlets, now)
            if update is not None:
                out.append(update)
        for rule_id, alert in fresh.items():
            if self._realert_blocks(alert, now):
                self.suppressed += 1
                continue
            others = [o for o in outlets if o != alert.outlet]
            # Usually a story's first page, reported by no one else yet: no copy needed.
            first = alert if others == alert.also_reported_by else alert.model_copy(
                update={"also_reported_by": others}
            )
            story["rules"][rule_id] = {
                # the matches are in the first alert already; an update only says who else reported
                "alert": first.model_dump(mode="json", exclude={"matched"}),
                "reported": list(first.also_reported_by),
                "last_update": now,
            }
            out.append(first)
        self._store[key] = story
        return out

    def _update(self, state: dict[str, Any], outlets: list[str], now: float) -> Alert | None:
        others = [o for o in outlets if o != state["alert"]["outlet"]]
        if others == state["reported"]:
            return None
        interval = self.config.update_min_interval_s
        if interval and now - float(state["last_update"]) < interval:
            return None
        state["reported"] = others
        state["last_update"] = now
        return Alert.model_validate({**state["alert"], "kind": "update", "also_reported_by": others})

    def _realert_blocks(self, alert: Alert, now: float) -> bool:
        """Whether a recent alert on the same actors blocks this one (unless severity rose)."""
        window = self._realert_s.get(alert.rule_id)
        if window is None:
            return False
        actors = sorted({m.entity_id for m in alert.matched if m.type != "keyword"})
        key = _REALERT + "+".join(actors)
        rank = SEVERITY_RANK[alert.severity]
        last = self._store.get(key)
        if last is not None and now - float(last["at"]) < window and rank <= int(last["rank"]):
            return True
        self._store[key] = {"at": now, "rank": rank, "window": window}
        return False

    def _forget_before(self, horizon: float) -> None:
        stale = []
        for key, value in self._store.items():
            story_gone = key.startswith(_STORY) and float(value["last_seen"]) < horizon
            realert_over = key.startswith(_REALERT) and float(value["at"]) + float(value["window"]) < horizon
            if story_gone or realert_over:
                stale.append(key)
        for key in stale:
            del self._store[key]
