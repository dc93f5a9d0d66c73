"""Tests of the cleaning stage on the seed pages and on pages built here in other site templates."""

from __future__ import annotations

import html
import random
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.deadletter import Reason
from schemas.pages import CleanPage, RawPage
from streams.clean import OutletTemplates, clean, content_id, guess_lang
from streams.clean_text import collapse_spaces, find_date, make_line, parse_datetime
from streams.errors import RejectedPage

SEEDS = Path(__file__).resolve().parents[2] / "seeds"

# The real articles of the seeds: their first and last paragraphs, and the paragraph count.
FIRST_000 = "Qais al-Khazali, the secretary-general of Asaeb Ahl al-Haq, has said Israel is behind attacks"
LAST_000 = "It also resulted in material damage to both parts of the outpost."
FIRST_002 = "The leader of Iraq’s anti-terror Asa’ib Ahl al-Haq movement says Israel’s Mossad spy agency"
LAST_002 = "as the only option that guarantees the liberation of Iraq from the occupiers."
FIRST_004 = "Until the US Forces are dismissed from Iraq, the Resistance will resume operations"
LAST_004 = "the accusations raised doubts about who’s behind it."

COMMENT_000 = "pure true the dirty filthy jewish zionists are in to much fear"
TITLE_000 = "Qais al-Khazali: Israel directing attacks on U.S. headquarters in Iraq"
TITLE_002 = "‘Israel’ pursuing ultimate goal of destroying Iraq, annihilating its people: Asa’ib leader"
TITLE_004 = "Khazali: Resistance Operations Will Continue Until US Out"


def seed_text(prefix: str) -> str:
    (path,) = SEEDS.glob(f"{prefix}_*.txt")
    return path.read_text(encoding="utf-8")


def clean_seed(prefix: str, templates: OutletTemplates | None = None) -> CleanPage:
    raw = RawPage(body=seed_text(prefix), content_type="text/plain", outlet=f"seed-{prefix}", source=prefix)
    return clean(raw, templates)


def seed_article(prefix: str, first: str, last: str) -> list[str]:
    """The article paragraphs of a seed, cut from the file by their known first and last lines."""
    lines = [line.strip() for line in seed_text(prefix).splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith(first))
    end = next(i for i, line in enumerate(lines) if line.endswith(last))
    return [line for line in lines[start : end + 1] if line]


ARTICLE_000 = seed_article("000", FIRST_000, LAST_000)


# ------------------------------------------------------------------------------------------- seeds


def test_seed_000_body_is_the_article_without_comment_or_comment_form() -> None:
    page = clean_seed("000")
    assert page.body.startswith(FIRST_000)
    assert page.body.endswith(LAST_000)
    assert len(page.body.split("\n\n")) == 11
    assert COMMENT_000 not in page.body
    assert "Leave a Comment" not in page.body
    assert "4 + 0 =" not in page.body
    assert "2021-03-06" not in page.body
    assert page.removed["comment_form"] == 2


def test_seed_000_reader_comment_is_split_out_with_its_timestamp() -> None:
    page = clean_seed("000")
    assert len(page.comments) == 1
    comment = page.comments[0]
    assert comment.text.startswith(COMMENT_000)
    assert comment.text.endswith("i will hunt and attack every dirty filthy jewish zionists")
    assert comment.posted_at == datetime(2021, 3, 6, 2, 9, tzinfo=UTC)


def test_seed_000_title_and_date() -> None:
    page = clean_seed("000")
    assert page.title == TITLE_000
    assert page.published_at is not None
    assert page.published_at.date() == date(2021, 3, 5)
    assert (page.published_at.hour, page.published_at.minute) == (18, 5)


def test_seed_002_body_drops_glued_menu_footer_and_glued_related_teaser() -> None:
    page = clean_seed("002")
    assert page.body.startswith(FIRST_002)
    assert page.body.endswith(LAST_002)
    assert len(page.body.split("\n\n")) == 9
    assert "IraqMiddle EastPalestine" not in page.body
    assert "Back to top" not in page.body
    # The paragraph the teaser was glued to keeps its own end...
    assert "dealing a heavy blow to the regime and its spy agency.\n\n" in page.body
    # ...and the related story's headline and standfirst are gone.
    assert "Armed resistance against US forces in Iraq to persist" not in page.body
    assert "The leader of an Iraqi resistance group says" not in page.body
    assert page.removed["related"] == 2
    assert page.title == TITLE_002


def test_seed_004_body_has_no_ticker_menu_related_or_footer() -> None:
    page = clean_seed("004")
    body = page.body
    assert body.startswith(FIRST_004)
    assert body.endswith(LAST_004)
    assert len(body.split("\n\n")) == 9
    # the article continues after the "Related News" box in its middle
    assert "Political incentives are behind the bombing of Woheilat market" in body
    for furniture in (
        "Maduro:", "Netanyahu", "Trump has not yet decided", "BREAKING",  # ticker
        "Arts&Culture", "Infographs", "Digital Series", "Slogan",  # menu
        "Related News", "UK picks North Wales", "Congress pushes vote",  # related box
        "Most Read", "Read Next", "Yemen busts", "Khan Younis warns", "Coverage",  # lists after it
        "All Rights Reserved", "Privacy Policy", "About Us", "Arab Independent Media",  # footer
        "Min Read", "Source: Al Mayadeen", "Iraq, Qais Khazali",  # byline and image caption
    ):
        assert furniture not in body, furniture


def test_seed_004_removed_counts_name_the_furniture() -> None:
    removed = clean_seed("004").removed
    assert removed["ticker"] >= 10
    assert removed["caption"] == 2
    assert removed["navigation"] >= 50
    assert removed["related"] >= 10
    assert removed["footer"] >= 5
    assert "template" not in removed


def test_seed_004_title_and_date() -> None:
    page = clean_seed("004")
    assert page.title == TITLE_004
    assert page.published_at == datetime(2021, 7, 21, 14, 49, tzinfo=UTC)
    assert page.comments == []


@pytest.mark.parametrize("prefix", ["000", "002", "004"])
def test_seeds_are_english_with_a_content_id(prefix: str) -> None:
    page = clean_seed(prefix)
    assert page.lang == "en"
    assert page.doc_id == content_id(page.body)
    assert page.outlet == f"seed-{prefix}"
    assert page.source == prefix


def test_seeds_are_three_different_documents() -> None:
    assert len({clean_seed(p).doc_id for p in ("000", "002", "004")}) == 3


# ------------------------------------------------------------------ the seed article in other templates


def other_site_text(paragraphs: list[str], *, promo: str | None = None) -> str:
    """A made-up outlet's text render around an article: menu, ticker, trending list, footer."""
    body = list(paragraphs)
    if promo:
        body.insert(3, promo)
    return "\n".join(
        [
            "The Daily Example",
            "",
            "* World",
            "* Business",
            "* Opinion",
            "* Sport",
            "* Culture",
            "Subscribe",
            "",
            "Latest headlines",
            "Flooding closes roads across the northern province as rivers keep rising.",
            "Central bank holds interest rates steady for a third month in a row.",
            "Football club appoints new coach after a difficult and long season.",
            "Parliament to vote on the budget bill next week, speaker says.",
            "",
            "Israel directing attacks on US bases, Khazali claims",
            "",
            "Published 5 March 2021, 18:05 GMT",
            "By Staff Reporter",
            "",
            *[p + "\n" for p in body],
            "Share this article",
            "Facebook",
            "Twitter",
            "Email",
            "",
            "Trending now",
            "",
            "Storm warning issued for the coast",
            "Ten things to know about the new tax rules",
            "Museum reopens after five years of renovation",
            "",
            "© 2024 The Daily Example. All rights reserved.",
            "Terms of use",
            "Cookie settings",
        ]
    )


def test_prose_that_mentions_dates_bylines_or_copyright_stays_in_the_body() -> None:
    paragraphs = [
        "The talks began on March 5, 2021, officials said in a statement to reporters on Monday.",
        "By the end of the year, prices rose.",
        "The court said the copyright claim against the broadcaster was invalid and dismissed it.",
        *ARTICLE_000[:2],
    ]
    text = "Home\nWorld\n\nResistance will respond to the attacks, Khazali says\n\nMarch 5, 2021\n\n"
    page = clean(RawPage(body=text + "\n\n".join(paragraphs), content_type="text/plain"))
    assert page.body == "\n\n".join(paragraphs).replace("\xa0", " ")
    assert page.title == "Resistance will respond to the attacks, Khazali says"
    assert page.published_at == datetime(2021, 3, 5, tzinfo=UTC)
    assert page.comments == []


def test_title_is_the_headline_the_page_repeats_when_a_ticker_hides_it() -> None:
    headline = "Khazali claims Israel is behind the attacks"
    text = "\n".join(
        [
            headline,
            "",
            "Breaking News",
            "Flooding closes roads across the northern province as rivers keep rising.",
            "Central bank holds interest rates steady for a third month in a row.",
            "",
            *[p + "\n" for p in ARTICLE_000],
            headline,
            "© 2021 Example",
        ]
    )
    page = clean(RawPage(body=text, content_type="text/plain"))
    assert page.title == headline
    assert page.body == "\n\n".join(ARTICLE_000).replace("\xa0", " ")
    assert page.removed["ticker"] == 3


def test_text_comments_with_authors_and_timestamps_are_split_out() -> None:
    comments = "\n".join(
        [
            "3 Comments",
            "",
            "Omar says:",
            "March 6, 2021 at 2:09 am",
            "I disagree with this analysis entirely.",
            "Reply",
            "",
            "Lina - 2021-03-06 08:30",
            "Thanks for the report, it was useful to read the whole statement.",
            "",
            "Leave a Reply",
            "Your email address will not be published.",
        ]
    )
    page = clean(RawPage(body="\n\n".join(ARTICLE_000) + "\n\n" + comments, content_type="text/plain"))
    assert page.body == "\n\n".join(ARTICLE_000).replace("\xa0", " ")
    assert [(c.author, c.posted_at, c.text) for c in page.comments] == [
        ("Omar", datetime(2021, 3, 6, 2, 9, tzinfo=UTC), "I disagree with this analysis entirely."),
        (
            "Lina",
            datetime(2021, 3, 6, 8, 30, tzinfo=UTC),
            "Thanks for the report, it was useful to read the whole statement.",
        ),
    ]
    assert page.removed["comment_form"] == 2


def test_text_page_in_another_template_gives_the_same_article() -> None:
    page = clean(RawPage(body=other_site_text(ARTICLE_000), content_type="text/plain", outlet="example"))
    assert page.body == "\n\n".join(ARTICLE_000).replace("\xa0", " ")
    assert page.title == "Israel directing attacks on US bases, Khazali claims"
    assert page.published_at == datetime(2021, 3, 5, 18, 5, tzinfo=UTC)
    assert page.removed["ticker"] == 5  # the header and its four headlines
    assert page.removed["related"] == 4
    assert page.removed["share"] == 4
    assert page.comments == []


def test_same_article_in_two_templates_has_the_same_doc_id() -> None:
    seed = clean_seed("000")
    other = clean(RawPage(body=other_site_text(ARTICLE_000), content_type="text/plain", outlet="example"))
    assert other.doc_id == seed.doc_id


def other_site_html(paragraphs: list[str], *, comments: str = "") -> str:
    """A made-up outlet's HTML page around an article, without tell-tale class names on its furniture."""
    menu = "".join(f'<li><a href="/{w.lower()}">{w}</a></li>' for w in ("World", "Business", "Sport", "Culture"))
    ticker = "".join(
        f"<li>{html.escape(h)}</li>"
        for h in (
            "Flooding closes roads across the northern province as rivers keep rising.",
            "Central bank holds interest rates steady for a third month in a row.",
            "Football club appoints new coach after a difficult and long season.",
        )
    )
    trending = "".join(
        f'<li><a href="/t/{i}">{h}</a></li>'
        for i, h in enumerate(("Storm warning issued for the coast", "Museum reopens after renovation"))
    )
    article = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Israel directing attacks on US bases, Khazali claims | The Daily Example</title>
<script type="application/ld+json">{{"@context": "https://schema.org", "@type": "NewsArticle",
 "datePublished": "2021-03-05T18:05:00+03:00"}}</script>
<style>p {{ margin: 0 }}</style></head>
<body><div id="top"><ul>{menu}</ul></div>
<div id="bar"><h4>Latest headlines</h4><ul>{ticker}</ul></div>
<div id="page"><h1>Israel directing attacks on US bases, Khazali claims</h1>
<div>By Staff Reporter</div>
<div id="story">{article}</div>
<div><h3>Trending now</h3><ul>{trending}</ul></div>
{comments}
</div>
<div id="bottom"><p>© 2024 The Daily Example. All rights reserved.</p><a href="/terms">Terms of use</a></div>
<script>window.analytics = {{"page": "article"}};</script>
</body></html>"""


def test_html_page_in_another_template_gives_the_same_article() -> None:
    raw = RawPage(body=other_site_html(ARTICLE_000), url="https://example.org/news/khazali")
    page = clean(raw)
    assert page.body == "\n\n".join(ARTICLE_000).replace("\xa0", " ")
    assert page.title == "Israel directing attacks on US bases, Khazali claims"
    assert page.published_at == datetime(2021, 3, 5, 18, 5, tzinfo=timezone(timedelta(hours=3)))
    assert page.lang == "en"
    assert page.outlet == "example.org"
    for furniture in ("World", "Latest headlines", "Flooding", "Trending", "Storm warning", "rights reserved"):
        assert furniture not in page.body
    assert page.removed["ticker"] == 4


WORDPRESS_COMMENTS = """
<div id="comments" class="comments-area">
  <h2 class="comments-title">2 thoughts on “Khazali claims”</h2>
  <ol class="comment-list">
    <li id="comment-11" class="comment even thread-even depth-1">
      <article class="comment-body">
        <footer class="comment-meta">
          <div class="comment-author vcard"><b class="fn">Omar</b> <span class="says">says:</span></div>
          <div class="comment-metadata"><a href="#c11"><time datetime="2021-03-06T02:09:00+00:00">
            March 6, 2021 at 2:09 am</time></a></div>
        </footer>
        <div class="comment-content"><p>This reader comment must never be mixed into the body.</p></div>
        <div class="reply"><a class="comment-reply-link" href="#">Reply</a></div>
      </article>
      <ol class="children">
        <li id="comment-12" class="comment odd alt depth-2">
          <article class="comment-body">
            <footer class="comment-meta">
              <div class="comment-author vcard"><b class="fn">Lina</b> <span class="says">says:</span></div>
              <div class="comment-metadata"><time datetime="2021-03-06T08:30:00+00:00">March 6</time></div>
            </footer>
            <div class="comment-content"><p>A reply to the first comment, also kept apart.</p></div>
          </article>
        </li>
      </ol>
    </li>
  </ol>
  <div id="respond" class="comment-respond"><h3>Leave a Reply</h3>
    <form><p>Your email address will not be published.</p><textarea name="comment"></textarea>
    <p>5 + 3 =</p><input type="submit" value="Post Comment"></form></div>
</div>"""


def test_html_comments_go_to_comments_not_body() -> None:
    page = clean(RawPage(body=other_site_html(ARTICLE_000, comments=WORDPRESS_COMMENTS), outlet="example"))
    assert page.body == "\n\n".join(ARTICLE_000).replace("\xa0", " ")
    assert [(c.author, c.text) for c in page.comments] == [
        ("Omar", "This reader comment must never be mixed into the body."),
        ("Lina", "A reply to the first comment, also kept apart."),
    ]
    assert page.comments[0].posted_at == datetime(2021, 3, 6, 2, 9, tzinfo=UTC)
    assert page.comments[1].posted_at == datetime(2021, 3, 6, 8, 30, tzinfo=UTC)
    for text in ("reader comment", "Leave a Reply", "email address", "5 + 3"):
        assert text not in page.body
    assert page.removed["comment_form"] >= 1


def test_html_generic_comment_markup_goes_to_comments() -> None:
    comments = """<section class="comments"><h3>Comments</h3>
      <div class="comment"><span class="author">Bob</span> <span class="date">2021-03-07 10:00</span>
        <p>Generic markup comment text here.</p></div>
      <div itemprop="comment" itemscope><span itemprop="author">Eve</span>
        <meta itemprop="dateCreated" content="2021-03-08T11:00:00Z"><div itemprop="text">Second one.</div></div>
    </section>"""
    page = clean(RawPage(body=other_site_html(ARTICLE_000, comments=comments), outlet="example"))
    assert [(c.author, c.text, c.posted_at) for c in page.comments] == [
        ("Bob", "Generic markup comment text here.", datetime(2021, 3, 7, 10, 0, tzinfo=UTC)),
        ("Eve", "Second one.", datetime(2021, 3, 8, 11, 0, tzinfo=UTC)),
    ]
    assert "Generic markup" not in page.body
    assert "Second one" not in page.body


def test_html_seed_wrapped_in_article_markup_with_meta() -> None:
    paragraphs = [p for p in seed_article("004", FIRST_004, LAST_004) if p.endswith((".", "”", '"'))]
    article = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    page_html = f"""<html><head>
      <meta property="og:title" content="{TITLE_004} - Example Net">
      <meta property="og:site_name" content="Example Net">
      <meta property="article:published_time" content="2021-07-21T14:49:00Z"></head>
      <body><header><nav><a href="/">Home</a><a href="/news">News</a></nav></header>
      <main><article><h1>{TITLE_004}</h1><time datetime="2021-07-22T00:00:00Z">22 Jul</time>
      {article}<div class="share-bar"><a>Facebook</a><a>Twitter</a></div></article>
      <aside><h3>Most Read</h3><ul><li><a href="/x">Yemen busts spy network</a></li></ul></aside></main>
      <footer>All Rights Reserved</footer></body></html>"""
    page = clean(RawPage(body=page_html, outlet="example"))
    assert page.title == TITLE_004
    assert page.published_at == datetime(2021, 7, 21, 14, 49, tzinfo=UTC)
    assert page.body.startswith(FIRST_004)
    assert page.body.endswith(LAST_004)
    assert "Yemen" not in page.body
    assert page.removed["share"] == 2
    assert page.removed["related"] >= 2
    assert page.removed["navigation"] >= 2
    assert page.removed["footer"] == 1
    assert len(page.body.split("\n\n")) == len(paragraphs) == 9


def test_html_article_broken_by_br_inside_a_widget_class_is_kept() -> None:
    paragraphs = ARTICLE_000[:3]
    page_html = (
        "<html><body><div class='menu'><a href='/'>Home</a> <a href='/w'>World</a></div>"
        "<div class='story-widget'><b>Israel directing attacks on US bases, Khazali claims</b><br><br>"
        + "<br><br>".join(html.escape(p) for p in paragraphs)
        + "</div><div class='site-footer'>© 2024 Example</div></body></html>"
    )
    page = clean(RawPage(body=page_html, outlet="example"))
    assert page.body == "\n\n".join(paragraphs).replace("\xa0", " ")
    assert page.title == "Israel directing attacks on US bases, Khazali claims"
    assert page.removed == {"footer": 1, "navigation": 2}


def test_html_article_wrapped_in_a_link_is_rescued_by_trafilatura() -> None:
    try:
        import trafilatura  # noqa: F401, PLC0415
    except ImportError as exc:  # not installed, or its lxml_html_clean dependency is missing
        pytest.skip(f"trafilatura cannot be imported: {exc}")
    paragraphs = ARTICLE_000[:4]
    linked = "".join(f"<p><a href='/s/{i}'>{html.escape(p)}</a></p>" for i, p in enumerate(paragraphs))
    page_html = (
        "<html><head><title>Khazali claims | Example</title></head><body>"
        "<ul><li><a href='/'>Home</a></li><li><a href='/w'>World</a></li></ul>"
        f"<article>{linked}</article></body></html>"
    )
    page = clean(RawPage(body=page_html, outlet="example"))
    # Every paragraph is a link, which our own reading takes for a menu; trafilatura's is kept.
    assert " ".join(page.body.split()) == " ".join(" ".join(paragraphs).split())
    assert page.title == "Khazali claims"


def test_text_plain_that_is_an_html_document_is_parsed_as_html() -> None:
    page = clean(RawPage(body=other_site_html(ARTICLE_000), content_type="text/plain", outlet="example"))
    assert page.body == "\n\n".join(ARTICLE_000).replace("\xa0", " ")


# ---------------------------------------------------------------------------------------- rejections


def test_html_with_only_navigation_links_is_no_article() -> None:
    links = "".join(f'<li><a href="/s/{i}">Section number {i}</a></li>' for i in range(60))
    raw = RawPage(body=f"<html><body><nav><ul>{links}</ul></nav><div><ul>{links}</ul></div></body></html>")
    with pytest.raises(RejectedPage) as excinfo:
        clean(raw)
    assert excinfo.value.reason is Reason.NO_ARTICLE


def test_text_menu_without_prose_is_no_article() -> None:
    body = "Home\nWorld\nSport\n\nMost Read\nStorm warning issued\n© 2024 Example"
    raw = RawPage(body=body, content_type="text/plain")
    with pytest.raises(RejectedPage) as excinfo:
        clean(raw)
    assert excinfo.value.reason is Reason.NO_ARTICLE


@pytest.mark.parametrize("content_type", ["text/plain", "text/html"])
@pytest.mark.parametrize("body", ["", "   \n\t \r\n  "])
def test_empty_body_is_rejected(body: str, content_type: str) -> None:
    with pytest.raises(RejectedPage) as excinfo:
        clean(RawPage(body=body, content_type=content_type))  # type: ignore[arg-type]
    assert excinfo.value.reason is Reason.EMPTY_BODY


def test_html_without_visible_text_is_no_article() -> None:
    with pytest.raises(RejectedPage) as excinfo:
        clean(RawPage(body="<html><head><script>var a = 1;</script></head><body></body></html>"))
    assert excinfo.value.reason is Reason.NO_ARTICLE


def test_binary_blob_is_rejected() -> None:
    blob = random.Random(7).randbytes(4096).decode("latin-1")
    with pytest.raises(RejectedPage) as excinfo:
        clean(RawPage(body=blob, content_type="text/plain"))
    assert excinfo.value.reason is Reason.BINARY_CONTENT


def test_control_characters_without_nul_are_binary() -> None:
    text = "Some words here. " * 20 + "\x01\x02\x03\x04\x05\x06\x07\x08" * 40
    with pytest.raises(RejectedPage) as excinfo:
        clean(RawPage(body=text, content_type="text/plain"))
    assert excinfo.value.reason is Reason.BINARY_CONTENT


def test_a_few_stray_control_characters_are_not_binary() -> None:
    text = seed_text("000").replace("Iraq.", "Iraq.\x07", 1)
    assert clean(RawPage(body=text, content_type="text/plain")).body.startswith(FIRST_000)


# --------------------------------------------------------------------------------- template learning


def outlet_page(topic: str, promo: str) -> str:
    paragraphs = [
        f"Officials in the capital said on Monday that the {topic} talks would resume next week after a pause.",
        f"The {topic} negotiations stalled last month when delegates failed to agree on a timetable for the plan.",
        promo,
        f"Analysts said the {topic} deal remained possible, although both sides kept their public positions.",
        f"A final round on the {topic} question is expected before the end of the year, officials added.",
    ]
    return other_site_text(paragraphs)


PROMO = "Download our app today and get the latest stories about the region delivered straight to your phone."


def test_template_line_repeated_on_three_pages_is_removed_from_the_fourth() -> None:
    templates = OutletTemplates(min_pages=3)
    for i, topic in enumerate(("water", "trade", "border")):
        raw = RawPage(body=outlet_page(topic, PROMO), content_type="text/plain", url=f"https://ex.com/{i}")
        assert PROMO in clean(raw, templates).body  # not yet a template
    fourth = clean(
        RawPage(body=outlet_page("energy", PROMO), content_type="text/plain", url="https://ex.com/3"), templates
    )
    assert PROMO not in fourth.body
    assert "energy talks would resume" in fourth.body
    assert fourth.removed["template"] >= 1
    assert len(templates) == 1
    # Without the memory the same page keeps the line: it is the memory that removed it.
    alone = clean(RawPage(body=outlet_page("energy", PROMO), content_type="text/plain", url="https://ex.com/3"))
    assert PROMO in alone.body


def test_refetching_one_page_does_not_make_its_text_a_template() -> None:
    templates = OutletTemplates(min_pages=3)
    raw = RawPage(body=outlet_page("water", PROMO), content_type="text/plain", url="https://ex.com/same")
    pages = [clean(raw, templates) for _ in range(5)]
    assert all(PROMO in page.body for page in pages)
    assert templates.pages_with("ex.com", PROMO) == 1


def test_article_reposted_under_many_urls_keeps_its_body_and_title() -> None:
    templates = OutletTemplates(min_pages=2)
    first = clean(RawPage(body=outlet_page("water", PROMO), content_type="text/plain", url="https://ex.com/0"))
    for i in range(1, 4):
        raw = RawPage(body=outlet_page("water", PROMO), content_type="text/plain", url=f"https://ex.com/{i}")
        page = clean(raw, templates)
    assert page.body == first.body
    assert page.title == first.title == "Israel directing attacks on US bases, Khazali claims"


def test_templates_are_per_outlet_and_bounded() -> None:
    templates = OutletTemplates(min_pages=2, max_outlets=2, max_lines=3)
    for outlet in ("a.com", "b.com", "c.com"):
        for page in ("p1", "p2"):
            templates.observe(outlet, page, ["menu", "other"])
    assert len(templates) == 2
    assert not templates.is_template("a.com", "menu")  # forgotten: least recently seen outlet
    assert templates.is_template("c.com", "Menu")
    templates.observe("c.com", "p3", ["x", "y", "z"])
    assert not templates.is_template("c.com", "menu")  # pushed out of the outlet's 3 lines


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"min_pages": 1}, "min_pages=1"), ({"max_outlets": 0}, "max_outlets=0"), ({"max_lines": 0}, "max_lines=0")],
)
def test_outlet_templates_rejects_bad_arguments_saying_which(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OutletTemplates(**kwargs)


# -------------------------------------------------------------------------------- dates, ids, language


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("March 5, 2021 - 18:5", datetime(2021, 3, 5, 18, 5, tzinfo=UTC)),
        ("21 Jul 2021 14:49", datetime(2021, 7, 21, 14, 49, tzinfo=UTC)),
        ("2021-03-06 02:09", datetime(2021, 3, 6, 2, 9, tzinfo=UTC)),
        ("Updated: Friday, 5th of March 2021 at 6:05 pm", datetime(2021, 3, 5, 18, 5, tzinfo=UTC)),
        ("Sept. 9, 2020", datetime(2020, 9, 9, tzinfo=UTC)),
        ("2021-07-21T14:49:00+03:00", datetime(2021, 7, 21, 14, 49, tzinfo=timezone(timedelta(hours=3)))),
    ],
)
def test_find_date_reads_common_formats(text: str, expected: datetime) -> None:
    found = find_date(text)
    assert found is not None
    assert found.value == expected


@pytest.mark.parametrize("text", ["no date here", "31 June 2021", "2021-13-01", "May the force be with you"])
def test_find_date_finds_nothing_in_non_dates(text: str) -> None:
    assert find_date(text) is None


def test_parse_datetime_reads_iso_and_assumes_utc() -> None:
    assert parse_datetime("2021-03-05T18:05:00Z") == datetime(2021, 3, 5, 18, 5, tzinfo=UTC)
    assert parse_datetime("2021-03-05") == datetime(2021, 3, 5, tzinfo=UTC)
    assert parse_datetime("yesterday") is None


def test_date_falls_back_to_the_url() -> None:
    paragraphs = "\n\n".join(ARTICLE_000)
    page = clean(RawPage(body=paragraphs, content_type="text/plain", url="https://ex.com/2021/03/05/story"))
    assert page.published_at == datetime(2021, 3, 5, tzinfo=UTC)
    assert page.title is None


def test_content_id_ignores_case_and_whitespace_only() -> None:
    assert content_id("Hello  World.\n\nNext") == content_id("hello world. next")
    assert content_id("Hello World.") != content_id("Hello World!")
    assert len(content_id("x")) == 16
    assert int(content_id("x"), 16) >= 0


# Spaces, other whitespace, invisible characters, bullets and letters that case-fold oddly.
spacey_text = st.text(
    alphabet=st.sampled_from([" ", "\t", "\n", "\xa0", "\u2003", "\x1f", "\u200b", "\u00ad", "a", "B", "é",
                              "ß", "İ", "¨", "•", "."]),
    max_size=60,
)


@settings(max_examples=500, deadline=None)
@given(spacey_text)
def test_collapse_spaces_is_split_and_join(text: str) -> None:
    assert collapse_spaces(text) == " ".join(text.split())


@settings(max_examples=500, deadline=None)
@given(spacey_text)
def test_a_line_marked_collapsed_is_collapsed_and_keyed_alike(text: str) -> None:
    for raw, collapsed in ((text, False), (collapse_spaces(text), True)):
        line = make_line(raw, collapsed=collapsed)
        if line is not None and line.collapsed:
            assert line.text == collapse_spaces(line.text)
            assert OutletTemplates.line_key(line.text, collapsed=True) == OutletTemplates.line_key(line.text)


def test_article_id_is_the_content_id_of_the_body_with_invisible_characters_in_it() -> None:
    paragraphs = [
        f"Officials said the talks on the {topic} \u200b would resume next week in the capital. The ministry"
        " confirmed the date on Tuesday and said both delegations had agreed to the agenda."
        for topic in ("water", "border", "trade")
    ]
    html_page = "<html><body><h1>Talks to resume</h1>" + "".join(f"<p>{p}</p>" for p in paragraphs) + "</body></html>"
    text_page = "Talks to resume\n\n" + "\n\n".join(paragraphs)
    for body, content_type in ((html_page, "text/html"), (text_page, "text/plain")):
        page = clean(RawPage(body=body, content_type=content_type))
        assert page.doc_id == content_id(page.body)
        assert "talks on the water" in page.body


def test_guess_lang_by_script_and_common_words() -> None:
    arabic = "قال الأمين العام لعصائب أهل الحق قيس الخزعلي إن عمليات المقاومة ستستمر حتى خروج القوات الأمريكية"
    assert guess_lang(arabic) == "ar"
    assert guess_lang("\n\n".join(ARTICLE_000)) == "en"
    assert guess_lang("Der Bundestag hat am Donnerstag ein neues Gesetz beschlossen, das viele Bürger betrifft") is None
    assert guess_lang("Der Bundestag hat am Donnerstag ein neues Gesetz beschlossen", hint="de") == "de"


def test_arabic_article_is_kept_and_tagged_ar() -> None:
    sentence = "قال الأمين العام لعصائب أهل الحق قيس الخزعلي إن عمليات المقاومة ستستمر حتى خروج القوات الأمريكية {}."
    paragraphs = [sentence.format(n) for n in ("اليوم", "غدا", "أمس", "الآن")]
    text = "الرئيسية\nسياسة\nاقتصاد\n\nالخزعلي: العمليات مستمرة حتى الخروج\n\n" + "\n\n".join(paragraphs)
    page = clean(RawPage(body=text, content_type="text/plain"))
    assert page.lang == "ar"
    assert page.body == "\n\n".join(paragraphs)
    assert page.title == "الخزعلي: العمليات مستمرة حتى الخروج"


# ---------------------------------------------------------------------------- robustness, bounded time


@pytest.mark.timeout(60)
def test_a_million_short_lines_returns_or_is_rejected() -> None:
    body = "\n".join(("ab", "Menu item", "x y z", "") * 250_000)
    try:
        clean(RawPage(body=body, content_type="text/plain"))
    except RejectedPage as exc:
        assert exc.reason is Reason.NO_ARTICLE


@pytest.mark.timeout(60)
def test_one_ten_megabyte_word_returns_or_is_rejected() -> None:
    for content_type in ("text/plain", "text/html"):
        try:
            clean(RawPage(body="a" * 10_000_000, content_type=content_type))  # type: ignore[arg-type]
        except RejectedPage as exc:
            assert exc.reason is Reason.NO_ARTICLE


@pytest.mark.timeout(60)
def test_a_huge_page_of_prose_is_cleaned() -> None:
    sentence = "The council met on Tuesday and agreed to widen road {0}, officials said. "
    body = "\n\n".join((sentence * 3).format(i) for i in range(20_000))  # ~4.5 MB
    page = clean(RawPage(body=body, content_type="text/plain"))
    assert page.body.count("\n\n") == 19_999


@pytest.mark.timeout(60)
def test_pathological_glue_and_dates_run_in_linear_time() -> None:
    glued = "a.B" * 300_000 + "\n" + "1 " * 500_000 + "\n" + "March 5, 2021 " * 50_000
    try:
        clean(RawPage(body=glued, content_type="text/plain"))
    except RejectedPage as exc:
        assert exc.reason is Reason.NO_ARTICLE


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=3000), st.sampled_from(["text/plain", "text/html"]))
def test_any_text_is_cleaned_or_rejected_with_a_reason(body: str, content_type: str) -> None:
    try:
        page = clean(RawPage(body=body, content_type=content_type))  # type: ignore[arg-type]
    except RejectedPage as exc:
        assert exc.reason in {Reason.EMPTY_BODY, Reason.BINARY_CONTENT, Reason.NO_ARTICLE}
    else:
        assert page.body.strip()
        assert page.doc_id == content_id(page.body)
