"""A corpus of hostile input: pages and records that break naive readers.

``corpus()`` returns small-to-medium payloads (at most ~4.5 MB each, all under the default
``limits.max_page_bytes`` of 5 MiB unless the point is to exceed it). The very large ones (a 50 MB
page, a 10 MB word) are built by their own functions, so only the tests that need them pay for
them, and only in memory.

Every payload is deterministic (a seeded random generator), so a failure reproduces.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

ROOT = Path(__file__).resolve().parents[2]
SEED_PAGE = ROOT / "seeds" / "000_4910a1d9556ff153.txt"

Kind = Literal["text", "html", "json", "binary"]
SUFFIX: dict[Kind, str] = {"text": ".txt", "html": ".html", "json": ".jsonl", "binary": ".txt"}

ARTICLE = (
    "Iraqi officials said on Tuesday that the talks over the withdrawal of foreign troops would resume "
    "next week in Baghdad, after a pause of several months.\n\n"
    "The negotiators met twice in the spring and agreed on a timetable, but the plan stalled when a series "
    "of attacks on convoys raised tensions between the two governments again.\n\n"
    "Qais al-Khazali, the leader of Asa'ib Ahl al-Haq, said in a televised speech that his movement would "
    "watch the talks closely and judge the outcome by what happens on the ground.\n\n"
    "Analysts in the capital said the new round was unlikely to settle every question, but that both sides "
    "had reasons to show progress before the elections planned for the autumn.\n"
)


@dataclass(frozen=True, slots=True)
class Payload:
    """One hostile input.

    Attributes:
        name: what it is, used as the test id.
        data: the bytes as they arrive (a file's content, or a ``pages.raw`` record for ``json``).
        kind: ``text``/``html``/``binary`` are page bodies; ``json`` is a RawPage record (one JSONL line).
    """

    name: str
    data: bytes
    kind: Kind

    @property
    def suffix(self) -> str:
        """The file suffix a user would give such input."""
        return SUFFIX[self.kind]

    def as_record(self) -> bytes:
        """The ``pages.raw`` record carrying this payload: itself for JSON, else wrapped in a RawPage.

        Bytes that are not UTF-8 become lone surrogates (``surrogateescape``), which JSON escapes as
        ``\\udcXX``: a record a careless producer could write.
        """
        if self.kind == "json":
            return self.data
        body = self.data.decode("utf-8", "surrogateescape")
        content_type = "text/html" if self.kind == "html" else "text/plain"
        record = {"url": f"https://hostile.example/{self.name}", "content_type": content_type, "body": body}
        return json.dumps(record).encode("ascii")


def seed_text() -> str:
    """A real page (the first seed): the good page that must still process after a bad one."""
    return SEED_PAGE.read_text(encoding="utf-8")


def good_record(n: int = 0) -> bytes:
    """A well-formed ``pages.raw`` record of a real page."""
    record = {"url": f"https://good.example/story-{n}", "content_type": "text/plain", "body": seed_text()}
    return json.dumps(record).encode("utf-8")


def _rng(name: str) -> random.Random:
    return random.Random(name)  # reproducible junk, not crypto


def _random_bytes(name: str, size: int) -> bytes:
    return _rng(name).randbytes(size)


def _html(body: str, head: str = "<title>Talks to resume</title>") -> bytes:
    return f"<!doctype html><html><head>{head}</head><body>{body}</body></html>".encode()


def _paragraphs_html() -> str:
    return "".join(f"<p>{p}</p>" for p in ARTICLE.split("\n\n"))


def _nested(depth: int, inner: str) -> str:
    return "<div>" * depth + inner + "</div>" * depth


def _json_nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _zip_blob() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("article.txt", ARTICLE * 20)
    return buf.getvalue()


def _binary() -> list[Payload]:
    return [
        Payload("png_blob", b"\x89PNG\r\n\x1a\n" + _random_bytes("png", 64 * 1024), "binary"),
        Payload("gzip_blob", gzip.compress(ARTICLE.encode() * 50, mtime=0), "binary"),
        Payload("zip_blob", _zip_blob(), "binary"),
        Payload("random_bytes", _random_bytes("random", 256 * 1024), "binary"),
        Payload("pdf_header_then_random", b"%PDF-1.7\n" + _random_bytes("pdf", 32 * 1024), "binary"),
        Payload("all_byte_values", bytes(range(256)) * 64, "binary"),
        Payload("random_html_suffix", _random_bytes("html-random", 16 * 1024), "html"),
    ]


def _encodings() -> list[Payload]:
    article = ARTICLE.encode()
    return [
        Payload("invalid_utf8_cp1252_fallback", b"Talks resume\n\n" + article + b"\xe9t\xe9 \xc3\x28 \xa0\xfe\n",
                "text"),
        Payload("invalid_utf8_undecodable", b"Talks resume\n\n" + article + b"\x81\x8d\x8f\x90\x9d\n", "text"),
        Payload("mixed_utf8_and_latin1", "Café talks — Baghdad\n\n".encode() + article
                + "The café near the ministry, où the talks were held, was closed.\n".encode("latin-1"), "text"),
        Payload("utf16_le_without_bom", ("Talks resume\n\n" + ARTICLE).encode("utf-16-le"), "text"),
        Payload("utf16_be_without_bom", ("Talks resume\n\n" + ARTICLE).encode("utf-16-be"), "text"),
        Payload("utf16_bom_then_odd_length", b"\xff\xfe" + "Talks".encode("utf-16-le") + b"\x00", "text"),
        Payload("utf8_bom_then_invalid", b"\xef\xbb\xbf" + article + b"\xff\xff", "text"),
        Payload("utf8_encoded_surrogates", b"Talks \xed\xa0\x80 resume\n\n" + article, "text"),
        Payload("meta_charset_utf16_on_ascii_html", _html(_paragraphs_html(), '<meta charset="utf-16">'), "html"),
        Payload("meta_charset_bogus", _html(_paragraphs_html(), '<meta charset="x-no-such-charset">'), "html"),
        Payload("meta_charset_lies_latin1_is_utf8",
                _html(_paragraphs_html() + "<p>Ünïcödé ✓ العراق</p>", '<meta charset="iso-8859-1">'), "html"),
        Payload("overlong_utf8_nul", b"Talks\xc0\x80resume\n\n" + article, "text"),
    ]


def _html_cases() -> list[Payload]:
    paragraphs = _paragraphs_html()
    return [
        Payload("html_no_body", b"<!doctype html><html><head><title>Only a title</title></head></html>", "html"),
        Payload("html_head_only_meta", b'<html><head><meta name="description" content="x"></head></html>', "html"),
        Payload("html_empty_body", b"<html><head></head><body>   </body></html>", "html"),
        Payload("html_script_and_style_only",
                _html("<script>var a = '" + "x" * 5000 + "';</script><style>p{}</style>"), "html"),
        Payload("html_text_only_in_comment", _html("<!-- " + ARTICLE + " -->"), "html"),
        Payload("html_unclosed_tags", ("<html><body><div><p>" + ARTICLE.replace("\n\n", "<p><b><i>")).encode(), "html"),
        Payload("html_10000_nested_divs", _html(_nested(10_000, paragraphs)).replace(b"\n", b" "), "html"),
        Payload("html_100000_nested_spans",
                _html("<span>" * 100_000 + paragraphs + "</span>" * 100_000), "html"),
        Payload("html_100000_unclosed_divs", _html("<div>" * 100_000 + paragraphs), "html"),
        Payload("html_billion_laughs",
                b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i else b"&lol;") * 10)
                           for i in range(1, 10))
                + b"]><html><body><p>&lol9;</p>" + paragraphs.encode() + b"</body></html>", "html"),
        Payload("html_nul_and_surrogate_entities",
                _html("<p>Talks &#0; resume &#xD800; now &#x110000; &#99999999999;.</p>" + paragraphs), "html"),
        Payload("html_huge_attribute", _html(f'<p title="{"a" * 3_000_000}">' + ARTICLE + "</p>"), "html"),
        Payload("html_huge_json_ld",
                _html(paragraphs, '<script type="application/ld+json">' + "[" * 50_000 + "]" * 50_000 + "</script>"),
                "html"),
        Payload("html_many_comment_items",
                _html(paragraphs + '<ol class="commentlist">' + '<li class="comment"><p>me too</p></li>' * 50_000
                      + "</ol>"), "html"),
        Payload("html_50000_meta_tags", _html(paragraphs, '<meta name="a" content="b">' * 50_000), "html"),
        Payload("html_as_text_plain_sniffed", _html(paragraphs), "text"),
        Payload("html_link_farm_no_prose",  # no article of ours: the trafilatura rescue runs on 400 KB
                _html('<div><a href="/x">some link text here</a></div>' * 8000), "html"),
        Payload("xml_not_html",
                b'<?xml version="1.0"?><rss><channel><item>' + ARTICLE.encode() + b"</item></channel></rss>", "html"),
    ]


def _text_cases() -> list[Payload]:
    rtl = ("\u202eTalks resume\u202c\n\n" + ARTICLE.replace("Khazali", "Kha\u200bzali\u200d\u200f")
           + "\u200f\u202b" + "\u0642\u064a\u0633 \u0627\u0644\u062e\u0632\u0639\u0644\u064a" + "\u202c\n")
    return [
        Payload("empty_file", b"", "text"),
        Payload("whitespace_only", b" \n\t\r\n  \x0b\x0c ", "text"),
        Payload("nul_bytes_in_text", ARTICLE.encode().replace(b"talks", b"ta\x00lks"), "text"),
        Payload("only_nul_bytes", b"\x00" * 4096, "text"),
        Payload("control_characters", bytes(range(1, 9)) * 500 + ARTICLE.encode(), "text"),
        Payload("rtl_and_zero_width", rtl.encode(), "text"),
        Payload("zero_width_only", ("\u200b\u200c\u200d\ufeff\u2060" * 2000).encode(), "text"),
        Payload("emoji_only", ("😀🔥🇮🇶👍🏽" * 5000).encode(), "text"),
        Payload("combining_marks_zalgo", ("T" + "\u0301\u0302\u0303\u0304" * 2000 + "alks " * 10 + ".\n").encode() * 20,
                "text"),
        Payload("one_4mb_line_of_prose", (ARTICLE.replace("\n", " ") * 5000).encode()[: 4 * 1024 * 1024], "text"),
        Payload("million_short_lines", b"".join(b"l%d\n" % (i % 10) for i in range(1_000_000)), "text"),
        Payload("million_blank_lines", b"Talks resume\n" + b"\n" * 1_000_000 + ARTICLE.encode(), "text"),
        Payload("200k_sentence_lines", b"The cat sat down.\n" * 200_000, "text"),
        Payload("cr_only_line_endings", ARTICLE.replace("\n", "\r").encode(), "text"),
        Payload("one_4mb_word", b"A" * (4 * 1024 * 1024), "text"),
        Payload("article_with_4mb_word",
                (ARTICLE + "\nThe minister said " + "x" * (4 * 1024 * 1024) + " on Tuesday.\n").encode(), "text"),
        Payload("many_separators_and_apostrophes", ("'-’ʿ—" * 200_000 + "\n" + ARTICLE).encode(), "text"),
        Payload("alias_repeated_100k_times", (ARTICLE + "Khazali said he would wait. " * 100_000 + "\n").encode(),
                "text"),
        Payload("date_like_lines", ("2021-03-05 12:00 " * 10 + "\n").encode() * 10_000 + ARTICLE.encode(), "text"),
    ]


def _json_records() -> list[Payload]:
    body = ARTICLE

    def rec(**fields: object) -> bytes:
        return json.dumps(fields).encode()

    return [
        Payload("json_array", b"[1, 2, 3]", "json"),
        Payload("json_number", b"42", "json"),
        Payload("json_null", b"null", "json"),
        Payload("json_true", b"true", "json"),
        Payload("json_string", b'"a page"', "json"),
        Payload("json_nested_100k_arrays", _json_nested(100_000), "json"),
        Payload("json_nested_100k_in_meta", b'{"body": "x", "meta": {"a": ' + _json_nested(100_000) + b"}}", "json"),
        Payload("json_nested_objects_10k", b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "json"),
        Payload("json_truncated", rec(body=body)[:-20], "json"),
        Payload("json_single_quotes", b"{'body': 'x'}", "json"),
        Payload("json_nan_body", b'{"body": NaN}', "json"),
        Payload("json_body_number", rec(body=5), "json"),
        Payload("json_body_list", rec(body=[body]), "json"),
        Payload("json_body_object", rec(body={"text": body}), "json"),
        Payload("json_missing_body", rec(url="https://x.example/a"), "json"),
        Payload("json_extra_field", rec(body=body, extra=1), "json"),
        Payload("json_wrong_schema_version", rec(body=body, schema_version=2), "json"),
        Payload("json_bad_content_type", rec(body=body, content_type="image/png"), "json"),
        Payload("json_bad_fetched_at", rec(body=body, fetched_at="yesterday"), "json"),
        Payload("json_fetched_at_out_of_range", rec(body=body, fetched_at="99999-01-01T00:00:00Z"), "json"),
        Payload("json_fetched_at_huge_int", rec(body=body, fetched_at=10**30), "json"),
        Payload("json_meta_not_object", rec(body=body, meta=[1, 2]), "json"),
        Payload("json_url_not_string", rec(body=body, url=123), "json"),
        Payload("json_url_garbage", rec(body=body, url="http://[::1"), "json"),
        Payload("json_url_bad_port", rec(body=body, url="https://x.example:99999/a"), "json"),
        Payload("json_url_1mb", rec(body=body, url="https://x.example/" + "a" * 1_000_000), "json"),
        Payload("json_title_4mb_in_meta", rec(body=body, meta={"title": "T" * 4_000_000}), "json"),
        Payload("json_empty_body", rec(body=""), "json"),
        Payload("json_whitespace_body", rec(body=" \n\t "), "json"),
        Payload("json_empty_fields", rec(body=body, url="", outlet="", source="", meta={}), "json"),
        Payload("json_null_fields", rec(body=body, url=None, outlet=None), "json"),
        Payload("json_duplicate_keys", b'{"body": "first", "body": ' + json.dumps(body).encode() + b"}", "json"),
        Payload("json_lone_surrogate", b'{"body": "Talks \\ud800 resume. ' + json.dumps(body).encode()[1:-1] + b'"}',
                "json"),
        Payload("json_lone_surrogate_in_url", b'{"url": "https://x.example/\\udfff", "body": '
                + json.dumps(body).encode() + b"}", "json"),
        Payload("json_lone_surrogate_in_meta_key", b'{"meta": {"\\ud800": 1}, "body": ' + json.dumps(body).encode()
                + b"}", "json"),
        Payload("json_nul_escape_body", rec(body="\x00" * 100), "json"),
        Payload("json_huge_number", b'{"body": "x", "meta": {"n": 1' + b"0" * 100_000 + b"}}", "json"),
        Payload("json_invalid_utf8", b'{"body": "caf\xe9"}', "json"),
        Payload("json_utf16", '{"body": "hello"}'.encode("utf-16"), "json"),
        Payload("json_bom_utf8", b"\xef\xbb\xbf" + rec(body=body), "json"),
        Payload("json_trailing_garbage", rec(body=body) + b" trailing", "json"),
        Payload("json_html_body_in_text_plain", rec(body=_html(_paragraphs_html()).decode(),
                                                      content_type="text/plain"), "json"),
        Payload("json_binary_body", rec(body=_random_bytes("json-binary", 4096).decode("latin-1")), "json"),
    ]


def corpus() -> list[Payload]:
    """Every hostile payload that fits the default page limit or exists to exceed it cheaply."""
    payloads = [*_binary(), *_encodings(), *_html_cases(), *_text_cases(), *_json_records()]
    names = [p.name for p in payloads]
    assert len(names) == len(set(names)), "payload names must be unique"
    return payloads


def page_50mb() -> bytes:
    """A 50 MB text page (prose), far over the default 5 MiB limit."""
    block = ARTICLE.encode()
    return (block * (50 * 1024 * 1024 // len(block) + 1))[: 50 * 1024 * 1024]


def word_10mb() -> bytes:
    """One 10 MB word inside an otherwise ordinary article."""
    return (ARTICLE + "\nThe minister said " + "w" * (10 * 1024 * 1024) + " on Tuesday.\n").encode()


def million_short_lines() -> str:
    """A million short lines (~4 MB): cheap per line, costly for anything quadratic."""
    return "".join(f"l{i % 97}.\n" for i in range(1_000_000))


def archive_files() -> dict[str, bytes]:
    """Broken containers, by file name: compressed JSONL and WARC archives that cannot be read whole."""
    good = json.dumps({"url": "https://x.example/a", "body": ARTICLE}).encode() + b"\n"
    packed = gzip.compress(good * 200, mtime=0)
    return {
        "truncated.jsonl.gz": packed[: len(packed) // 2],
        "corrupt.jsonl.gz": packed[:20] + b"\x00" * 64 + packed[84:],
        "not_gzip.jsonl.gz": b"this is not gzip at all\n" * 10,
        "garbage.warc.gz": b"\x1f\x8b" + _random_bytes("warc-gz", 4096),
        "malformed.warc": b"WARC/1.0\r\nWARC-Type: response\r\nContent-Length: 99999\r\n\r\nabc",
        "bom_first_line.jsonl": b"\xef\xbb\xbf" + good,
        "lines_ok_bad_ok.jsonl": good + b"\xff\xfe not json\n" + b"[1]\n" + b'{"body": 1' + b"0" * 5000 + b"}\n" + good,
    }
