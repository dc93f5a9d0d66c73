"""Errors of the pipeline stages: a rejected page carries a typed reason code."""

from __future__ import annotations

from schemas.deadletter import Reason, Stage
from schemas.errors import WirewatchError


class RejectedPage(WirewatchError):
    """A page the pipeline cannot process.

    ``reason`` is the dead-letter reason code; ``stage`` is where it was rejected, filled in by
    the engine that ran the stage when the stage itself does not say.
    """

    def __init__(self, reason: Reason, message: str, stage: Stage | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.stage = stage

    def __str__(self) -> str:
        return f"{self.reason.value}: {self.message}"
