"""Errors of rule evaluation and delivery."""

from __future__ import annotations

from schemas.errors import WirewatchError


class DeliveryError(WirewatchError):
    """A webhook could not take an alert; ``status`` is the last HTTP status, if any."""

    def __init__(self, message: str, status: int | None = None, retryable: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
