from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.rules import alert_id_for, evaluate, snippet
from alerts.suppression import StoryLedger
from schemas.config import AlertsConfig, Rule
from schemas.pages import CleanPage, DedupVerdict, Mention, TaggedPage

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
BODY = (
    "Baghdad saw protests on Tuesday. Qais al-Khazali, the secretary-general of Asaeb Ahl al-Haq, "
    "said the resistance would continue. Rockets struck the base overnight."
)


def mention(entity_id: str, surface: str, field: str = "body", kind: str = "person") -> Mention:
    text = BODY if field == "body" else "Khazali warns US"
    start = text.index(surface)
    return Mention(entity_id=entity_id, name=entity_id, type=kind, surface=surface, field=field,  # type: ignore[arg-type]
                   start=start, end=start + len(surface))


def tagged(doc_id: str = "d1", cluster: str = "c1", outlet: str = "a.example", at: datetime = T0,
           mentions: list[Mention] | None = None, keywords: list[Mention] | None = None,
           status: str = "new") -> TaggedPage:
    page = CleanPage(doc_id=doc_id, outlet=outlet, fetched_at=at, title="Khazali warns US", body=BODY)
    return TaggedPage(
        page=page,
        verdict=DedupVerdict(status=status, cluster_id=cluster),  # type: ignore[arg-type]
        mentions=mentions if mentions is not None else [mention("khazali", "Qais al-Khazali")],
        keywords=keywords or [],
    )


def test_any_entity_rule_fires_with_matched_mentions_and_snippet() -> None:
    rule = Rule(id="actor", any_entity=["khazali"], severity="high", notify=["ops"])
    [alert] = evaluate([rule], tagged(), now=T0)
    assert alert.rule_id == "actor"
    assert alert.severity == "high"
    assert [m.surface for m in alert.matched] == ["Qais al-Khazali"]
    assert "Qais al-Khazali, the secretary-general" in alert.snippet
    assert alert.alert_id == alert_id_for("c1", "actor")
    assert alert.notify == ["ops"]


def test_alert_id_is_the_same_for_the_same_story_and_rule_only() -> None:
    assert alert_id_for("c1", "r") == alert_id_for("c1", "r")
    assert alert_id_for("c1", "r") != alert_id_for("c2", "r")
    assert alert_id_for("c1", "r") != alert_id_for("c1", "s")


def test_combinators_must_all_hold() -> None:
    rocket = mention("rocket", "Rockets", kind="keyword")
    rule = Rule(id="attack", any_entity=["aah", "khazali"], any_keyword=["rocket"])
    both = Rule(id="both", all_entities=["khazali", "aah"])
    assert evaluate([rule], tagged()) == []
    fired = evaluate([rule], tagged(keywords=[rocket]))
    assert [m.entity_id for m in fired[0].matched] == ["khazali", "rocket"]
    assert evaluate([both], tagged()) == []
    aah = mention("aah", "Asaeb Ahl al-Haq", kind="organization")
    assert len(evaluate([both], tagged(mentions=[mention("khazali", "Qais al-Khazali"), aah]))) == 1


def test_mentions_outside_the_rule_fields_do_not_count() -> None:
    in_title = mention("khazali", "Khazali", field="title")
    body_only = Rule(id="body", any_entity=["khazali"], fields=["body"])
    title_too = Rule(id="title", any_entity=["khazali"], fields=["title", "body"])
    assert evaluate([body_only], tagged(mentions=[in_title])) == []
    [alert] = evaluate([title_too], tagged(mentions=[in_title]))
    assert alert.snippet == "Khazali warns US"


def test_disabled_rule_never_fires() -> None:
    assert evaluate([Rule(id="off", any_entity=["khazali"], enabled=False)], tagged()) == []


def test_snippet_is_cut_at_word_boundaries_with_ellipses() -> None:
    long_body = "word " * 100 + "Qais al-Khazali spoke. " + "tail " * 100
    page = tagged()
    page = page.model_copy(update={"page": page.page.model_copy(update={"body": long_body})})
    start = long_body.index("Qais")
    m = Mention(entity_id="k", name="k", type="person", surface="Qais al-Khazali", field="body",
                start=start, end=start + 15)
    text = snippet(page, m, width=80)
    assert text.startswith("…word") and text.endswith("tail…")
    assert "Qais al-Khazali spoke." in text
    assert len(text) <= 90


def ledger(**config: float) -> StoryLedger:
    return StoryLedger(AlertsConfig(**config), [Rule(id="actor", any_entity=["khazali"])])


def decide(led: StoryLedger, page: TaggedPage) -> list[tuple[str, str, list[str]]]:
    rule = Rule(id="actor", any_entity=["khazali"])
    return [(a.kind, a.alert_id, a.also_reported_by) for a in led.decide(page, evaluate([rule], page))]


def test_one_story_alerts_once_and_later_copies_become_updates() -> None:
    led = ledger(update_min_interval_s=0)
    first = decide(led, tagged("d1", outlet="a.example"))
    second = decide(led, tagged("d2", outlet="b.example", at=T0 + timedelta(minutes=1), status="near_duplicate"))
    third = decide(led, tagged("d3", outlet="b.example", at=T0 + timedelta(minutes=2), status="near_duplicate"))
    assert [k for k, _, _ in first] == ["alert"]
    assert second == [("update", first[0][1], ["b.example"])]
    assert third == []  # same outlet again: nothing new to tell


def test_updates_are_rate_limited_per_story() -> None:
    led = ledger(update_min_interval_s=600)
    decide(led, tagged("d1", outlet="a.example"))
    assert decide(led, tagged("d2", outlet="b.example", at=T0 + timedelta(minutes=1))) == []
    later = decide(led, tagged("d3", outlet="c.example", at=T0 + timedelta(minutes=11)))
    assert later == [("update", alert_id_for("c1", "actor"), ["b.example", "c.example"])]


def test_copy_without_the_match_still_updates_the_story() -> None:
    led = ledger(update_min_interval_s=0)
    decide(led, tagged("d1", outlet="a.example"))
    out = decide(led, tagged("d2", outlet="b.example", mentions=[], at=T0 + timedelta(minutes=1)))
    assert out == [("update", alert_id_for("c1", "actor"), ["b.example"])]


def test_different_stories_alert_separately() -> None:
    led = ledger()
    a = decide(led, tagged("d1", cluster="c1"))
    b = decide(led, tagged("d2", cluster="c2"))
    assert a[0][0] == b[0][0] == "alert"
    assert a[0][1] != b[0][1]


def test_realert_window_suppresses_same_actor_unless_severity_rises() -> None:
    low = Rule(id="low", any_entity=["khazali"], severity="low", realert_minutes=60)
    high = Rule(id="high", any_entity=["khazali"], severity="high", realert_minutes=60)
    led = StoryLedger(AlertsConfig(), [low, high])
    p1 = tagged("d1", cluster="c1")
    p2 = tagged("d2", cluster="c2", at=T0 + timedelta(minutes=10))
    p3 = tagged("d3", cluster="c3", at=T0 + timedelta(minutes=20))
    p4 = tagged("d4", cluster="c4", at=T0 + timedelta(minutes=90))
    assert len(led.decide(p1, evaluate([low], p1))) == 1
    assert led.decide(p2, evaluate([low], p2)) == []
    assert [a.rule_id for a in led.decide(p3, evaluate([high], p3))] == ["high"]
    assert len(led.decide(p4, evaluate([low], p4))) == 1
    assert led.suppressed == 1


def test_ledger_state_survives_a_restart_through_its_store() -> None:
    store: dict[str, object] = {}
    decide(StoryLedger(AlertsConfig(), [], store), tagged("d1"))
    again = decide(StoryLedger(AlertsConfig(), [], store), tagged("d1", at=T0 + timedelta(hours=1)))
    assert again == []


def test_an_alert_names_at_most_the_first_twenty_matches() -> None:
    repeated = [mention("khazali", "Qais al-Khazali").model_copy(update={"start": i, "end": i + 15}) for i in range(50)]
    [alert] = evaluate([Rule(id="actor", any_entity=["khazali"])], tagged(mentions=repeated))
    assert [m.start for m in alert.matched] == list(range(20))


def test_an_update_repeats_the_first_alert_without_its_matches() -> None:
    rule = Rule(id="actor", any_entity=["khazali"])
    led = ledger(update_min_interval_s=0)
    [first] = led.decide(tagged("d1", outlet="a.example"), evaluate([rule], tagged("d1", outlet="a.example")))
    copy = tagged("d2", outlet="b.example", at=T0 + timedelta(minutes=1))
    [update] = led.decide(copy, evaluate([rule], copy))
    assert first.matched and update.matched == []
    assert (update.kind, update.alert_id, update.doc_id, update.title) == ("update", first.alert_id, "d1", first.title)


def test_matches_are_listed_in_text_order_entities_first_on_ties() -> None:
    rocket = mention("rocket", "Rockets", kind="keyword")
    khazali = mention("khazali", "Qais al-Khazali")
    same_place = rocket.model_copy(update={"start": khazali.start, "end": khazali.end})
    in_title = mention("khazali", "Khazali", field="title")
    rule = Rule(id="attack", any_entity=["khazali"], any_keyword=["rocket"])
    page = tagged(mentions=[khazali, in_title], keywords=[rocket, same_place])
    [alert] = evaluate([rule], page)
    assert [(m.field, m.entity_id, m.start) for m in alert.matched] == [
        ("title", "khazali", 0), ("body", "khazali", khazali.start), ("body", "rocket", khazali.start),
        ("body", "rocket", rocket.start),
    ]


def test_a_keyword_does_not_count_as_an_entity_of_the_same_id() -> None:
    as_keyword = mention("khazali", "Qais al-Khazali", kind="keyword")
    assert evaluate([Rule(id="actor", any_entity=["khazali"])], tagged(mentions=[], keywords=[as_keyword])) == []
    [alert] = evaluate([Rule(id="kw", any_keyword=["khazali"])], tagged(mentions=[mention("aah", "Asaeb Ahl al-Haq")],
                                                                       keywords=[as_keyword]))
    assert [m.type for m in alert.matched] == ["keyword"]
