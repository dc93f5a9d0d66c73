"""Models of what leaves the pipeline: alerts and story updates."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.pages import SCHEMA_VERSION, Mention, utcnow

Severity = Literal["low", "medium", "high", "critical"]
SEVERITY_RANK: dict[str, int] = {"low": 0, "medium": 1, "high": 2, "critical": 3}
AlertKind = Literal["alert", "update"]


class Alert(BaseModel):
    """A rule fired on a story.

    ``kind="alert"`` is the first sighting of a story for a rule. Later copies of the same story
    do not alert again; they produce ``kind="update"`` events with the same ``alert_id`` and a
    grown ``also_reported_by``, so receivers can update what they already show.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    kind: AlertKind = "alert"
    alert_id: str
    rule_id: str
    severity: Severity
    doc_id: str
    cluster_id: str
    url: str | None = None
    outlet: str = ""
    title: str | None = None
    published_at: datetime | None = None
    matched: list[Mention] = Field(default_factory=list)
    snippet: str = ""
    also_reported_by: list[str] = Field(default_factory=list)
    notify: list[str] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)
