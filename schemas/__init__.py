"""Models that travel on wirewatch topics, and the configuration model. Models only."""

from schemas.alerts import SEVERITY_RANK, Alert, Severity
from schemas.deadletter import DeadLetter, Reason
from schemas.errors import WirewatchError
from schemas.pages import (
    CleanPage,
    Comment,
    DedupedPage,
    DedupVerdict,
    Mention,
    Nearest,
    RawPage,
    TaggedPage,
)

__all__ = [
    "SEVERITY_RANK",
    "Alert",
    "CleanPage",
    "Comment",
    "DeadLetter",
    "DedupVerdict",
    "DedupedPage",
    "Mention",
    "Nearest",
    "RawPage",
    "Reason",
    "Severity",
    "TaggedPage",
    "WirewatchError",
]
