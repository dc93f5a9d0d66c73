"""Turning bytes into a RawPage: JSON records from topics, page bodies from files and archives.

Every failure is a :class:`RejectedPage` with a typed reason, so the caller can dead-letter it
and go on.
"""

from __future__ import annotations

import codecs
import json
import re

from pydantic import ValidationError

from schemas.deadletter import Reason
from schemas.pages import RawPage
from streams.errors import RejectedPage

_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.IGNORECASE)
_CONTROL = frozenset(range(0, 9)) | frozenset(range(14, 32)) | {11, 12, 127}
_SNIFF_BYTES = 8192


def _looks_binary(data: bytes) -> bool:
    sample = data[:_SNIFF_BYTES]
    if b"\x00" in sample and not sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return True
    controls = sum(1 for byte in sample if byte in _CONTROL)
    return controls > max(8, len(sample) // 20)


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None


def decode_body(data: bytes, declared_charset: str | None = None, *, html: bool = False) -> tuple[str, str]:
    """Decode page bytes to text, returning ``(text, encoding used)``.

    Order: byte-order mark, the declared charset (HTTP header or caller), an HTML ``<meta
    charset>``, strict UTF-8, then Windows-1252 — the usual encoding of pages that declare
    nothing and are not UTF-8.

    Raises:
        RejectedPage: EMPTY_BODY, BINARY_CONTENT, or BAD_ENCODING when no candidate decodes.
    """
    if not data.strip():
        raise RejectedPage(Reason.EMPTY_BODY, "the page is empty")
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError as exc:
                raise RejectedPage(Reason.BAD_ENCODING, f"byte-order mark says {encoding}: {exc}") from None
    if _looks_binary(data):
        raise RejectedPage(Reason.BINARY_CONTENT, "the page holds binary data, not text")
    candidates: list[str] = []
    for name in (declared_charset, _meta_charset(data) if html else None, "utf-8"):
        codec = _codec(name)
        if codec and codec not in candidates:
            candidates.append(codec)
    for codec in candidates:
        try:
            return data.decode(codec), codec
        except (UnicodeDecodeError, LookupError):
            continue
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        tried = ", ".join([*candidates, "cp1252"])
        raise RejectedPage(Reason.BAD_ENCODING, f"not decodable as any of: {tried}") from None


def _meta_charset(data: bytes) -> str | None:
    match = _META_CHARSET.search(data[:4096])
    return match.group(1).decode("ascii", "replace") if match else None


def decode_raw_record(data: bytes, max_bytes: int) -> RawPage:
    """Parse one ``pages.raw`` record (a RawPage as UTF-8 JSON).

    Raises:
        RejectedPage: TOO_LARGE, EMPTY_BODY, BAD_ENCODING, INVALID_JSON or NOT_A_RAW_PAGE.
    """
    if len(data) > max_bytes:
        raise RejectedPage(Reason.TOO_LARGE, f"record of {len(data)} bytes exceeds limits.max_page_bytes={max_bytes}")
    if not data.strip():
        raise RejectedPage(Reason.EMPTY_BODY, "empty record")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RejectedPage(Reason.BAD_ENCODING, f"record is not UTF-8 JSON: {exc}") from None
    return parse_raw_json(text)


def parse_raw_json(text: str) -> RawPage:
    """Parse a RawPage from JSON text, with typed errors."""
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise RejectedPage(Reason.INVALID_JSON, f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise RejectedPage(Reason.NOT_A_RAW_PAGE, f"expected a JSON object, got {type(value).__name__}")
    try:
        page = RawPage.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(record)'}: {err['msg']}" for err in exc.errors()[:5]
        )
        raise RejectedPage(Reason.NOT_A_RAW_PAGE, problems) from None
    if not page.body.strip():
        raise RejectedPage(Reason.EMPTY_BODY, "the page body is empty")
    return page


def check_size(page: RawPage, max_bytes: int) -> None:
    """Reject a page whose body exceeds ``max_bytes`` (UTF-8 bytes, estimated cheaply)."""
    size = len(page.body)
    if size > max_bytes or (size * 4 > max_bytes and len(page.body.encode("utf-8", "surrogatepass")) > max_bytes):
        raise RejectedPage(Reason.TOO_LARGE, f"page body exceeds limits.max_page_bytes={max_bytes}")
