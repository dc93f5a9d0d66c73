"""Dead letters: anything that could not be processed, with its reason and original bytes."""

from __future__ import annotations

import base64
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.pages import SCHEMA_VERSION, utcnow

ORIGINAL_PREFIX_BYTES = 64 * 1024

Stage = Literal["ingest", "decode", "clean", "dedup", "tag", "rules", "deliver"]


class Reason(StrEnum):
    """Typed reason codes for rejected input; one per kind of failure, counted in metrics."""

    INVALID_JSON = "invalid_json"
    NOT_A_RAW_PAGE = "not_a_raw_page"
    BAD_ENCODING = "bad_encoding"
    EMPTY_BODY = "empty_body"
    TOO_LARGE = "too_large"
    BINARY_CONTENT = "binary_content"
    NO_ARTICLE = "no_article"
    UNSUPPORTED_INPUT = "unsupported_input"
    UNREADABLE = "unreadable"
    INVALID_RECORD = "invalid_record"
    DELIVERY_FAILED = "delivery_failed"
    INTERNAL_ERROR = "internal_error"


class DeadLetter(BaseModel):
    """A record that was rejected, kept with a bounded prefix of its original bytes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    stage: Stage
    error_type: Reason
    error: str
    original_b64: str = ""
    original_size: int = 0
    truncated: bool = False
    source: str | None = None
    at: datetime = Field(default_factory=utcnow)

    @classmethod
    def of(
        cls,
        original: bytes | str,
        *,
        stage: Stage,
        error_type: Reason,
        error: str,
        source: str | None = None,
    ) -> DeadLetter:
        """Build a dead letter, keeping at most ``ORIGINAL_PREFIX_BYTES`` of the original."""
        data = original.encode("utf-8", "surrogateescape") if isinstance(original, str) else original
        prefix = data[:ORIGINAL_PREFIX_BYTES]
        return cls(
            stage=stage,
            error_type=error_type,
            error=error,
            original_b64=base64.b64encode(prefix).decode("ascii"),
            original_size=len(data),
            truncated=len(data) > len(prefix),
            source=source,
        )

    def original(self) -> bytes:
        """The kept prefix of the original bytes."""
        return base64.b64decode(self.original_b64)
