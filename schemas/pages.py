"""Models of a page as it moves through the pipeline: raw, clean, deduplicated, tagged."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION: Final = 1

ContentType = Literal["text/html", "text/plain"]
Field_ = Literal["title", "body", "comments"]
EntityType = Literal["person", "organization", "place", "other"]
MentionType = Literal["person", "organization", "place", "other", "keyword"]
DedupStatus = Literal["new", "near_duplicate", "exact_duplicate"]


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RawPage(_Model):
    """A page as fetched: the input of the pipeline, the payload of ``pages.raw``."""

    schema_version: Literal[1] = SCHEMA_VERSION
    url: str | None = None
    outlet: str = ""
    fetched_at: datetime = Field(default_factory=utcnow)
    content_type: ContentType = "text/html"
    body: str
    source: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _outlet_from_url(self) -> RawPage:
        if not self.outlet and self.url:
            host = urlsplit(self.url).hostname or ""
            object.__setattr__(self, "outlet", host.removeprefix("www."))
        return self


class Comment(_Model):
    """A reader comment, kept apart from the article body."""

    author: str | None = None
    posted_at: datetime | None = None
    text: str


class CleanPage(_Model):
    """The article of a page: body without page furniture, comments apart, metadata found."""

    schema_version: Literal[1] = SCHEMA_VERSION
    doc_id: str
    url: str | None = None
    outlet: str = ""
    title: str | None = None
    published_at: datetime | None = None
    fetched_at: datetime
    lang: str | None = None
    body: str
    comments: list[Comment] = Field(default_factory=list)
    removed: dict[str, int] = Field(default_factory=dict)
    source: str | None = None

    def text_of(self, field: Field_, comment_index: int | None = None) -> str:
        """The text a mention's offsets index: the title, the body, or one comment."""
        if field == "title":
            return self.title or ""
        if field == "body":
            return self.body
        index = comment_index or 0
        return self.comments[index].text if index < len(self.comments) else ""


class Nearest(_Model):
    """The closest earlier page of the same story."""

    doc_id: str
    jaccard: float


class DedupVerdict(_Model):
    """Whether a page is a new story or a copy of one seen within the window."""

    status: DedupStatus
    cluster_id: str
    nearest: Nearest | None = None
    cluster_size: int = 1


class DedupedPage(_Model):
    """A clean page and its dedup verdict: the payload of ``pages.deduped``."""

    schema_version: Literal[1] = SCHEMA_VERSION
    page: CleanPage
    verdict: DedupVerdict


class Mention(_Model):
    """A tracked entity or keyword found in a page, with where and how it was written."""

    entity_id: str
    name: str
    type: MentionType
    surface: str
    field: Field_
    start: int
    end: int
    comment_index: int | None = None


class TaggedPage(_Model):
    """A clean page with its dedup verdict and what it mentions."""

    schema_version: Literal[1] = SCHEMA_VERSION
    page: CleanPage
    verdict: DedupVerdict
    mentions: list[Mention] = Field(default_factory=list)
    keywords: list[Mention] = Field(default_factory=list)
