"""The streaming steps: bytes in, records or a typed dead letter out, never an exception."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemas.config import Settings
from schemas.deadletter import DeadLetter, Reason
from schemas.pages import CleanPage, RawPage
from streams.dedup import SIGNATURE_HEADER
from streams.pipeline import Pipeline
from streams.steps import StageSteps

SEED = Path(__file__).resolve().parents[2] / "seeds" / "000_4910a1d9556ff153.txt"


def raw_record() -> bytes:
    page = RawPage(url="https://a.example/khazali", content_type="text/plain", body=SEED.read_text(encoding="utf-8"))
    return page.model_dump_json().encode()


def test_a_page_flows_through_every_step_to_alert_records(settings: Settings) -> None:
    steps = StageSteps(Pipeline(settings))
    [clean] = steps.clean(raw_record())  # type: ignore[misc]
    [deduped] = steps.dedup(clean.value)  # type: ignore[misc]
    [tagged] = steps.tag(deduped.value)  # type: ignore[misc]
    alerts = steps.rules(tagged.value)
    assert not isinstance(alerts, DeadLetter)
    verdict = json.loads(deduped.value)["verdict"]
    assert deduped.key == tagged.key == verdict["cluster_id"].encode()  # one story, one partition
    rules = {json.loads(r.value)["rule_id"] for r in alerts}
    assert {"tracked-actor-in-news", "threat-in-comments"} <= rules
    assert all(r.key == json.loads(r.value)["alert_id"].encode() for r in alerts)


def test_a_record_of_the_wrong_model_is_dead_lettered_at_its_stage(settings: Settings) -> None:
    steps = StageSteps(Pipeline(settings))
    letter = steps.tag(raw_record())
    assert isinstance(letter, DeadLetter)
    assert (letter.stage, letter.error_type) == ("tag", Reason.INVALID_RECORD)


def test_a_bug_in_a_stage_becomes_an_internal_error_dead_letter(settings: Settings,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = Pipeline(settings)
    steps = StageSteps(pipeline)
    [clean] = steps.clean(raw_record())  # type: ignore[misc]
    [deduped] = steps.dedup(clean.value)  # type: ignore[misc]

    class BrokenTagger:
        def tag(self, *_: object) -> None:
            raise ZeroDivisionError("boom")

    # The pipeline's tagger is replaced whole: a compiled Tagger's methods cannot be patched.
    monkeypatch.setattr(pipeline, "tagger", BrokenTagger())
    letter = steps.tag(deduped.value)
    assert isinstance(letter, DeadLetter)
    assert letter.error_type == Reason.INTERNAL_ERROR and "ZeroDivisionError: boom" in letter.error
    assert letter.original() == deduped.value


def test_a_cleaned_page_carries_its_signature_and_dedup_takes_it_from_there(settings: Settings) -> None:
    steps = StageSteps(Pipeline(settings))
    [clean] = steps.clean(raw_record())  # type: ignore[misc]
    assert [name for name, _ in clean.headers] == [SIGNATURE_HEADER]
    signer = steps.pipeline.signer
    assert signer is not None
    page = CleanPage.model_validate_json(clean.value)
    # A page that says it has the seed's signature is a copy of the seed, whatever its body says.
    other = page.model_copy(update={"doc_id": "other", "body": "A different story about the weather."})
    claimed = signer.header(other, signer.signature(page))
    [first] = steps.dedup(clean.value, clean.headers)  # type: ignore[misc]
    [copy] = steps.dedup(other.model_dump_json().encode(), [(SIGNATURE_HEADER, claimed)])  # type: ignore[misc]
    assert json.loads(first.value)["verdict"]["status"] == "new"
    assert json.loads(copy.value)["verdict"]["status"] == "near_duplicate"
    # A header made for another page is not used: the signature is computed from the body.
    stranger = other.model_copy(update={"doc_id": "stranger"})
    [alone] = steps.dedup(stranger.model_dump_json().encode(), [(SIGNATURE_HEADER, claimed)])  # type: ignore[misc]
    assert json.loads(alone.value)["verdict"]["status"] == "new"
