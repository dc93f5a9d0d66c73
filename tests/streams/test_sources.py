from __future__ import annotations

import json
from io import BytesIO
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from schemas.deadletter import DeadLetter, Reason
from schemas.pages import RawPage
from streams.decode import decode_body, decode_raw_record
from streams.errors import RejectedPage
from streams.sources import read_pages

LIMIT = 1024 * 1024


def test_folder_yields_its_pages_sorted_with_content_type_by_suffix(tmp_path: Path) -> None:
    (tmp_path / "b.html").write_text("<html><body><p>hello</p></body></html>", encoding="utf-8")
    (tmp_path / "a.txt").write_text("plain page", encoding="utf-8")
    (tmp_path / "notes.yml").write_text("ignored: true", encoding="utf-8")
    (tmp_path / ".hidden.txt").write_text("hidden", encoding="utf-8")
    pages = list(read_pages([tmp_path], LIMIT))
    assert [(Path(p.source or "").name, p.content_type) for p in pages if isinstance(p, RawPage)] == [
        ("a.txt", "text/plain"), ("b.html", "text/html")]


def test_jsonl_bad_lines_become_dead_letters_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "pages.jsonl"
    good = RawPage(url="https://news.example/a", body="<p>x</p>").model_dump_json()
    path.write_bytes(b"\n".join([good.encode(), b"{not json", b'{"url": "x"}', b"[1, 2]", b"\xff\xfe\x00"]))
    out = list(read_pages([path], LIMIT))
    assert isinstance(out[0], RawPage) and out[0].outlet == "news.example"
    letters = [o for o in out if isinstance(o, DeadLetter)]
    assert [(Path(d.source or "").name, d.error_type) for d in letters] == [
        ("pages.jsonl:2", Reason.INVALID_JSON),
        ("pages.jsonl:3", Reason.NOT_A_RAW_PAGE),
        ("pages.jsonl:4", Reason.NOT_A_RAW_PAGE),
        ("pages.jsonl:5", Reason.BAD_ENCODING),
    ]
    assert letters[0].original() == b"{not json\n"


def test_missing_unsupported_oversized_empty_and_binary_files_are_typed(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_bytes(b"a" * (LIMIT + 1))
    (tmp_path / "empty.txt").write_bytes(b"  \n")
    (tmp_path / "blob.txt").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "doc.pdf").write_bytes(b"%PDF")
    names = ["missing.txt", "doc.pdf", "big.txt", "empty.txt", "blob.txt"]
    out = list(read_pages([tmp_path / n for n in names], LIMIT))
    assert all(isinstance(o, DeadLetter) for o in out)
    assert [o.error_type for o in out if isinstance(o, DeadLetter)] == [
        Reason.UNREADABLE, Reason.UNSUPPORTED_INPUT, Reason.TOO_LARGE, Reason.EMPTY_BODY, Reason.BINARY_CONTENT]


def test_non_utf8_page_falls_back_to_declared_then_windows_1252() -> None:
    assert decode_body("café".encode("latin-1"))[0] == "café"
    html = b'<meta charset="iso-8859-7"><p>' + "Αθήνα".encode("iso-8859-7")
    text, codec = decode_body(html, html=True)
    assert "Αθήνα" in text and codec == "iso8859-7"


def test_raw_record_errors_are_typed() -> None:
    cases = {
        b"x" * 2000: Reason.TOO_LARGE,
        b"": Reason.EMPTY_BODY,
        b"\xff\xfe{": Reason.BAD_ENCODING,
        b"{oops": Reason.INVALID_JSON,
        json.dumps({"body": ""}).encode(): Reason.EMPTY_BODY,
        json.dumps({"body": "x", "content_type": "image/png"}).encode(): Reason.NOT_A_RAW_PAGE,
    }
    for data, reason in cases.items():
        with pytest.raises(RejectedPage) as info:
            decode_raw_record(data, 1024)
        assert info.value.reason == reason, data


def test_warc_response_records_become_pages(tmp_path: Path) -> None:
    path = tmp_path / "crawl.warc.gz"
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for uri, ctype, payload in [
            ("https://news.example/story", "text/html; charset=utf-8", "<html><body><p>Story é</p></body></html>"),
            ("https://news.example/logo.png", "image/png", "PNG"),
        ]:
            headers = StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1")
            record = writer.create_warc_record(uri, "response", payload=BytesIO(payload.encode()),
                                               http_headers=headers)
            writer.write_record(record)
    [page] = list(read_pages([path], LIMIT))
    assert isinstance(page, RawPage)
    assert page.url == "https://news.example/story" and page.outlet == "news.example"
    assert "Story é" in page.body
