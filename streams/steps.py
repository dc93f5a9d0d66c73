"""One step per stage for the streaming engine: record bytes in, records (or a dead letter) out.

Agents stay thin: they hand each record to a step and forward what it returns. A step decodes
the record, calls the stage, and encodes the result; it never raises, so no exception can
escape an agent (an exception there would ack the record and lose it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from schemas.deadletter import DeadLetter, Reason, Stage
from schemas.pages import CleanPage, DedupedPage, TaggedPage
from streams.decode import decode_raw_record
from streams.dedup import SIGNATURE_HEADER
from streams.errors import RejectedPage
from streams.pipeline import Pipeline, internal_error

M = TypeVar("M", bound=BaseModel)


Headers = Sequence[tuple[str, bytes]] | Mapping[str, bytes]
"""A Kafka record's headers, as Faust gives them (a mapping in its test contexts)."""


@dataclass(frozen=True, slots=True)
class Record:
    """A record to produce: its key (for partitioning), JSON value and headers."""

    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


def header(headers: Headers | None, name: str) -> bytes | None:
    """The value of the last header called ``name``, if any."""
    if isinstance(headers, Mapping):
        return headers.get(name)
    found = None
    for key, value in headers or ():
        if key == name:
            found = value
    return found


def _decode(data: bytes, model: type[M]) -> M:
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        raise RejectedPage(Reason.INVALID_RECORD, f"not a {model.__name__}: {exc.errors()[0]['msg']}") from None


class StageSteps:
    """A never-raising step for each stage, over the stage objects of one pipeline.

    Args:
        pipeline: the stage objects; in a worker, its dedup window is a Faust table and its
            story ledger the rules stage's shards (``streams.exactly_once``).
    """

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.settings = pipeline.settings

    def _guard(self, stage: Stage, data: bytes, step: Callable[[], list[Record]]) -> list[Record] | DeadLetter:
        try:
            return step()
        except RejectedPage as exc:
            return DeadLetter.of(data, stage=exc.stage or stage, error_type=exc.reason, error=exc.message)
        except Exception as exc:  # a bug must not lose the record: dead-letter it
            rejected = internal_error(exc, stage, self.pipeline.warned)
            return DeadLetter.of(data, stage=stage, error_type=rejected.reason, error=rejected.message)

    def clean(self, data: bytes) -> list[Record] | DeadLetter:
        """``pages.raw`` record → ``pages.clean`` record keyed by doc id, with the page's dedup
        signature as a header (``PageSigner``) if the pipeline's dedup index takes one."""
        def step() -> list[Record]:
            page = self.pipeline.clean(decode_raw_record(data, self.settings.limits.max_page_bytes))
            signer = self.pipeline.signer
            headers = () if signer is None else ((SIGNATURE_HEADER, signer.header(page, signer.signature(page))),)
            return [Record(page.doc_id.encode(), page.model_dump_json().encode(), headers)]
        return self._guard("clean", data, step)

    def dedup(self, data: bytes, headers: Headers | None = None) -> list[Record] | DeadLetter:
        """``pages.clean`` record (and its headers) → ``pages.deduped`` record keyed by story (cluster id)."""
        def step() -> list[Record]:
            page = _decode(data, CleanPage)
            signer = self.pipeline.signer
            signature = None if signer is None else signer.from_header(page, header(headers, SIGNATURE_HEADER))
            verdict = self.pipeline.dedup.observe(page, signature)
            out = DedupedPage(page=page, verdict=verdict)
            return [Record(verdict.cluster_id.encode(), out.model_dump_json().encode())]
        return self._guard("dedup", data, step)

    def tag(self, data: bytes) -> list[Record] | DeadLetter:
        """``pages.deduped`` record → ``pages.tagged`` record keyed by story."""
        def step() -> list[Record]:
            deduped = _decode(data, DedupedPage)
            tagged = self.pipeline.tagger.tag(deduped.page, deduped.verdict)
            return [Record(deduped.verdict.cluster_id.encode(), tagged.model_dump_json().encode())]
        return self._guard("tag", data, step)

    def rules(self, data: bytes) -> list[Record] | DeadLetter:
        """``pages.tagged`` record → ``alerts`` records (first alerts and updates) keyed by alert id."""
        def step() -> list[Record]:
            tagged = _decode(data, TaggedPage)
            alerts = self.pipeline.alerts_for(tagged)
            return [Record(a.alert_id.encode(), a.model_dump_json().encode()) for a in alerts]
        return self._guard("rules", data, step)
