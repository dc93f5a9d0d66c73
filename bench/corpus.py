"""A deterministic corpus of realistic pages with known duplicates, for benchmarks and tests.

Stories come from the seed articles and from generated news prose. Each story is rendered by
one of several made-up sites — text renders and HTML, each with its own menus, tickers, "most
read" lists and footers — and about a fifth of the pages are republished copies: another
site's template, a new headline, a dateline, and two of the paragraphs dropped or reworded.
Everything follows from ``seed``; nothing is downloaded or committed as bulk data.
"""

from __future__ import annotations

import html
import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from schemas.pages import RawPage

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
EPOCH = datetime(2026, 10, 1, 6, tzinfo=UTC)

_ACTORS = [
    "Qais al-Khazali", "Asa'ib Ahl al-Haq", "Kata'ib Hezbollah", "the Popular Mobilization Forces",
    "the interior ministry", "a government spokesman", "the UN envoy", "local officials",
    "the provincial council", "the defence minister", "residents", "a senior commander",
]
_VERBS = ["said", "warned", "announced", "denied", "confirmed", "claimed", "stressed", "reported"]
_TOPICS = [
    "the security situation in {place}", "new elections in {place}", "the reconstruction of {place}",
    "a drone strike near {place}", "rising prices in {place}", "the water crisis in {place}",
    "talks over the border crossing at {place}", "a rocket attack on a base near {place}",
    "protests by teachers in {place}", "the arrest of smugglers in {place}",
]
_PLACES = ["Basra", "Mosul", "Kirkuk", "Erbil", "Najaf", "Karbala", "Anbar", "Diyala", "Sulaymaniyah",
           "Nasiriyah", "Fallujah", "Samarra", "Tikrit", "Kut", "Hillah", "Ramadi"]
_FILLER = (
    "officials budget council village road hospital school contract water power electricity convoy "
    "checkpoint district committee ministry parliament vote session statement investigation witness "
    "market farmers harvest drought river bridge airport border crossing trucks fuel shortage salary "
    "pension teachers doctors nurses students university court judge lawyer sentence prison release "
    "tribe elders meeting agreement dispute land property compensation families displaced camp return "
    "winter summer heat storm flood damage repair engineers company tender investors oil field export"
).split()


@dataclass(frozen=True)
class Story:
    """An article: what every rendering of it has in common."""

    story_id: str
    title: str
    published_at: datetime
    paragraphs: tuple[str, ...]
    comments: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Site:
    """A made-up outlet and its page template."""

    name: str
    domain: str
    menu: tuple[str, ...]
    ticker: tuple[str, ...]
    most_read: tuple[str, ...]
    footer: tuple[str, ...]
    html: bool


@dataclass(frozen=True)
class CorpusPage:
    """A page of the corpus and the truth about it."""

    raw: RawPage
    story_id: str
    is_copy: bool


@dataclass
class CorpusStats:
    """What a generated corpus holds."""

    pages: int = 0
    copies: int = 0
    bytes: int = 0
    sizes: list[int] = field(default_factory=list)


def _sentence(rng: random.Random, place: str) -> str:
    actor = rng.choice(_ACTORS)
    topic = rng.choice(_TOPICS).format(place=place)
    tail = " ".join(rng.choices(_FILLER, k=rng.randint(6, 16)))
    return f"{actor[0].upper()}{actor[1:]} {rng.choice(_VERBS)} on {rng.choice(['Monday', 'Tuesday', 'Sunday'])} " \
           f"that {topic} would shape {tail}."


def generated_story(rng: random.Random, story_id: str, at: datetime, paragraphs: int = 10) -> Story:
    """A news story in generated prose, distinct from every other generated story."""
    place = rng.choice(_PLACES)
    body = tuple(" ".join(_sentence(rng, place) for _ in range(rng.randint(2, 4))) for _ in range(paragraphs))
    title = f"{rng.choice(_ACTORS).capitalize()} {rng.choice(_VERBS)} over {rng.choice(_TOPICS).format(place=place)}"
    return Story(story_id, title, at, body)


def seed_stories() -> list[Story]:
    """The seed articles, as the cleaner reads them."""
    from streams.clean import clean  # noqa: PLC0415 - the cleaner is only needed for seed stories

    stories = []
    for path in sorted(SEEDS.glob("*.txt")):
        page = clean(RawPage(content_type="text/plain", body=path.read_text(encoding="utf-8"), source=str(path)))
        stories.append(Story(
            story_id=path.stem,
            title=page.title or path.stem,
            published_at=page.published_at or EPOCH,
            paragraphs=tuple(p for p in page.body.split("\n\n") if p.strip()),
            comments=tuple((c.author or "reader", c.text) for c in page.comments),
        ))
    return stories


def make_sites(rng: random.Random, count: int = 8) -> list[Site]:
    """Outlets with distinct templates, half text renders and half HTML."""
    sections = ["World", "Politics", "Economy", "Middle East", "Opinion", "Sports", "Culture", "Video",
                "Podcasts", "Science", "Business", "Health", "Travel", "Weather", "Live"]
    sites = []
    for i in range(count):
        name = f"{rng.choice(['Daily', 'Evening', 'Free', 'National', 'Gulf', 'River'])} " \
               f"{rng.choice(['Herald', 'Courier', 'Observer', 'Tribune', 'Monitor', 'Post'])} {i}"
        place = rng.choice(_PLACES)
        sites.append(Site(
            name=name,
            domain=f"{name.lower().replace(' ', '')}.example",
            menu=tuple(rng.sample(sections, k=rng.randint(6, 12))),
            ticker=tuple(_sentence(rng, place)[:110].rstrip(" .") for _ in range(rng.randint(3, 8))),
            most_read=tuple(f"{rng.choice(_ACTORS).capitalize()} {rng.choice(_VERBS)} over "
                            f"{rng.choice(_TOPICS).format(place=rng.choice(_PLACES))}" for _ in range(5)),
            footer=(f"© 2026 {name}. All Rights Reserved", "Privacy Policy", "Terms of Use", "Contact Us"),
            html=i % 2 == 1,
        ))
    return sites


def render_text(site: Site, story: Story) -> str:
    """A text render of a page, like the seeds: menus, ticker, article, lists, footer."""
    lines = [site.name, "", *(f"  • {m}" for m in site.menu), "", "BREAKING", *site.ticker, "",
             story.title, "", story.published_at.strftime("%d %b %Y %H:%M"), ""]
    for paragraph in story.paragraphs:
        lines += [paragraph, ""]
    lines += ["Share this article", "", "Most Read", "", *(f"{t}\n" for t in site.most_read)]
    if story.comments:
        lines += ["Comments", ""]
        for author, text in story.comments:
            lines += [f"  • {story.published_at + timedelta(hours=5):%Y-%m-%d %H:%M}", f"    {author}: {text}", ""]
    lines += ["", *site.footer, "Back to top"]
    return "\n".join(lines)


def render_html(site: Site, story: Story) -> str:
    """An HTML page: nav, ticker, article with metadata, related list, comments, footer."""
    e = html.escape
    menu = "".join(f'<li><a href="/{e(m.lower())}">{e(m)}</a></li>' for m in site.menu)
    ticker = "".join(f"<li>{e(t)}</li>" for t in site.ticker)
    body = "".join(f"<p>{e(p)}</p>" for p in story.paragraphs)
    related = "".join(f'<li><a href="/story/{i}">{e(t)}</a></li>' for i, t in enumerate(site.most_read))
    comments = "".join(
        f'<li class="comment"><span class="author">{e(a)}</span>'
        f'<time datetime="{(story.published_at + timedelta(hours=5)).isoformat()}"></time><p>{e(t)}</p></li>'
        for a, t in story.comments
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{e(story.title)} | {e(site.name)}</title>'
        f'<meta property="og:title" content="{e(story.title)}">'
        f'<meta property="article:published_time" content="{story.published_at.isoformat()}"></head><body>'
        f"<header><nav><ul>{menu}</ul></nav><div class=\"ticker\"><h3>Breaking</h3><ul>{ticker}</ul></div></header>"
        f"<main><article><h1>{e(story.title)}</h1><time datetime=\"{story.published_at.isoformat()}\">"
        f"{story.published_at:%B %d, %Y}</time>{body}</article>"
        f'<aside><h2>Most Read</h2><ul>{related}</ul></aside>'
        f'<section id="comments"><h2>Comments</h2><ol class="commentlist">{comments}</ol></section></main>'
        f"<footer>{''.join(f'<p>{e(f)}</p>' for f in site.footer)}</footer></body></html>"
    )


def _reword(paragraph: str, rng: random.Random) -> str:
    words = paragraph.split()
    for i in rng.sample(range(len(words)), k=max(1, len(words) // 4)):
        words[i] = rng.choice(_FILLER)
    return " ".join(words)


def republish(story: Story, rng: random.Random, outlet: str) -> Story:
    """A copy as another outlet runs it: new headline, a dateline, two paragraphs dropped or reworded."""
    paragraphs = list(story.paragraphs)
    place = rng.choice(_PLACES).upper()
    paragraphs[0] = f"{place}, {story.published_at:%b %d} ({outlet}) - {paragraphs[0]}"
    if len(paragraphs) > 3:
        del paragraphs[rng.randrange(1, len(paragraphs))]
        i = rng.randrange(1, len(paragraphs))
        paragraphs[i] = _reword(paragraphs[i], rng)
    title = rng.choice(["{t}", "WATCH: {t}", "{t} - report", "Update: {t}"]).format(t=story.title)
    return replace(story, title=title, paragraphs=tuple(paragraphs), comments=())


def render(site: Site, story: Story, fetched_at: datetime, copy_of: str | None = None) -> RawPage:
    """The RawPage a crawler would fetch for ``story`` on ``site``."""
    # A copy's URL names its site and when it was fetched: one site may run a story twice.
    slug = story.story_id + (f"-{site.domain.split('.')[0]}-{int(fetched_at.timestamp())}" if copy_of else "")
    return RawPage(
        url=f"https://{site.domain}/news/{slug}",
        outlet=site.domain,
        fetched_at=fetched_at,
        content_type="text/html" if site.html else "text/plain",
        body=render_html(site, story) if site.html else render_text(site, story),
        meta={"story_id": story.story_id, "copy": bool(copy_of)},
    )


def generate(pages: int, seed: int = 7, duplicate_ratio: float = 0.2, with_seeds: bool = True,
             min_paragraphs: int = 4, max_paragraphs: int = 40) -> Iterator[CorpusPage]:
    """Yield ``pages`` pages in fetch order, about ``duplicate_ratio`` of them republished copies.

    Story lengths vary between ``min_paragraphs`` and ``max_paragraphs`` (pages of about 2 to
    60 KB with their templates). Copies follow their original within a few hours.
    """
    rng = random.Random(seed)
    sites = make_sites(rng)
    originals: list[tuple[Story, Site]] = []
    base = list(seed_stories()) if with_seeds else []
    at = EPOCH
    for n in range(pages):
        at += timedelta(seconds=rng.randint(5, 90))
        if originals and rng.random() < duplicate_ratio:
            story, home = rng.choice(originals[-200:])
            site = rng.choice([s for s in sites if s is not home])
            copy = republish(story, rng, site.name)
            yield CorpusPage(render(site, copy, at, copy_of=story.story_id), story.story_id, True)
            continue
        story = base.pop(0) if base else generated_story(
            rng, f"story-{seed}-{n}", at - timedelta(hours=1), rng.randint(min_paragraphs, max_paragraphs))
        site = rng.choice(sites)
        originals.append((story, site))
        yield CorpusPage(render(site, story, at), story.story_id, False)


def write_jsonl(path: Path, pages: int, seed: int = 7) -> CorpusStats:
    """Write a generated corpus as JSONL of RawPage (an archive for ingest and replay)."""
    stats = CorpusStats()
    with path.open("w", encoding="utf-8") as handle:
        for page in generate(pages, seed):
            line = page.raw.model_dump_json()
            handle.write(line + "\n")
            stats.pages += 1
            stats.copies += page.is_copy
            stats.bytes += len(line)
            stats.sizes.append(len(page.raw.body))
    return stats
