"""Turning bytes into a RawPage: JSON records from topics, page bodies from files and archives.

Every failure is a :class:`RejectedPage` with a typed reason, so the caller can dead-letter it
and go on.
"""

from __future__ import annotations

import codecs
import json
import re
from typing import Any

from pydantic import ValidationError

from schemas.deadletter import Reason
from schemas.pages import RawPage
from streams.errors import RejectedPage

_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.IGNORECASE)
_CONTROL = frozenset(range(0, 9)) | frozenset(range(14, 32)) | {11, 12, 127}
_SNIFF_BYTES = 8192
# A lone surrogate (``"\\ud800"`` in JSON) is not a character: it cannot be encoded as UTF-8, so a
# page holding one could be decoded but never written to the next topic.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
# A BOM-less UTF-16 text of mostly ASCII has a NUL in (nearly) every other byte.
_UTF16_MIN_NUL_SHARE = 0.3
_UTF16_MAX_OTHER_NUL_SHARE = 0.02
# A UTF-8 lead byte followed by a continuation byte: a page without one holds no UTF-8 text.
_UTF8_PAIR = re.compile(rb"[\xc2-\xf4][\x80-\xbf]")


def _cp1252_per_byte(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: a byte that is not UTF-8 is read as Windows-1252, as browsers read it.

    The five bytes Windows-1252 leaves undefined become the C1 control of the same value, as in
    the WHATWG encoding standard, so no byte is ever undecodable.
    """
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    chunk = exc.object[exc.start : exc.end]
    return "".join(_CP1252_BYTES[b] for b in chunk), exc.end


_CP1252_BYTES = [bytes([b]).decode("cp1252", "strict") if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D) else chr(b)
                 for b in range(256)]
codecs.register_error("wirewatch-cp1252", _cp1252_per_byte)


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


def _meta_codec(name: str | None) -> str | None:
    """The codec an HTML ``<meta charset>`` names, ignoring UTF-16/32 as browsers do.

    A ``<meta>`` readable as ASCII proves the page is not UTF-16 or UTF-32 (the HTML standard
    reads such a declaration as UTF-8); taking it literally would turn an ASCII page into CJK.
    """
    codec = _codec(name)
    return None if codec is None or codec.startswith(("utf-16", "utf-32")) else codec


def _utf16_without_bom(sample: bytes) -> str | None:
    """``utf-16-le``/``utf-16-be`` when the sample looks like BOM-less UTF-16 text, else None."""
    even, odd = sample[0::2], sample[1::2]
    if not odd:
        return None
    even_nuls, odd_nuls = even.count(0) / len(even), odd.count(0) / len(odd)
    if odd_nuls >= _UTF16_MIN_NUL_SHARE and even_nuls <= _UTF16_MAX_OTHER_NUL_SHARE:
        return "utf-16-le"
    if even_nuls >= _UTF16_MIN_NUL_SHARE and odd_nuls <= _UTF16_MAX_OTHER_NUL_SHARE:
        return "utf-16-be"
    return None


def decode_body(data: bytes, declared_charset: str | None = None, *, html: bool = False) -> tuple[str, str]:
    """Decode page bytes to text, returning ``(text, encoding used)``.

    Order: byte-order mark, BOM-less UTF-16 (NUL in every other byte), the declared charset
    (HTTP header or caller), an HTML ``<meta charset>`` (UTF-16/32 there is ignored, as browsers
    do), strict UTF-8, then UTF-8 with every byte that is not UTF-8 read as Windows-1252. The last
    step decodes pages that declare nothing and are Windows-1252 or Latin-1 (every non-ASCII byte
    of those is invalid UTF-8, so the result is the same) and pages that mix the two — UTF-8 with
    a pasted Latin-1 paragraph — without turning their UTF-8 text into mojibake; its encoding is
    reported as ``cp1252`` when the page has no UTF-8 sequence, else ``utf-8+cp1252``.

    Raises:
        RejectedPage: EMPTY_BODY, BINARY_CONTENT, or BAD_ENCODING when a byte-order mark says
            UTF-16 and the bytes are not.
    """
    if not data.strip():
        raise RejectedPage(Reason.EMPTY_BODY, "the page is empty")
    if data.startswith(codecs.BOM_UTF8):
        return _decode_utf8(data[len(codecs.BOM_UTF8):], "utf-8-sig")
    for bom in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        if data.startswith(bom):
            try:
                return data.decode("utf-16"), "utf-16"
            except UnicodeDecodeError as exc:
                raise RejectedPage(Reason.BAD_ENCODING, f"byte-order mark says utf-16: {exc}") from None
    sample = data[:_SNIFF_BYTES]
    if b"\x00" in sample:
        utf16 = _utf16_without_bom(sample[: len(sample) // 2 * 2])
        if utf16 is not None:
            try:
                text = data.decode(utf16)
            except UnicodeDecodeError:
                pass
            else:
                if not _looks_binary(text[: _SNIFF_BYTES // 2].encode("utf-8", "replace")):
                    return text, utf16
    if _looks_binary(data):
        raise RejectedPage(Reason.BINARY_CONTENT, "the page holds binary data, not text")
    candidates: list[str] = []
    for codec in (_codec(declared_charset), _meta_codec(_meta_charset(data)) if html else None, "utf-8"):
        if codec and codec not in candidates:
            candidates.append(codec)
    for codec in candidates:
        try:
            return data.decode(codec), codec
        except (UnicodeDecodeError, LookupError):
            continue
    return _decode_utf8(data, "utf-8")


def _decode_utf8(data: bytes, name: str) -> tuple[str, str]:
    """UTF-8, with any byte that is not UTF-8 read as Windows-1252 (see :func:`decode_body`)."""
    try:
        return data.decode("utf-8"), name
    except UnicodeDecodeError:
        pass
    if _UTF8_PAIR.search(data) is None:  # no UTF-8 at all: one C-speed decode, no per-byte fallback
        return data.decode("cp1252", "wirewatch-cp1252"), "cp1252"
    return data.decode("utf-8", "wirewatch-cp1252"), f"{name}+cp1252"


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
    if not data.startswith(codecs.BOM_UTF8) and b"\\ud" not in data and b"\\uD" not in data:
        # The common case, parsed and validated in one step; anything it refuses (or a surrogate
        # escape, which it would refuse) takes the path below, which says exactly what is wrong.
        try:
            page = RawPage.model_validate_json(data)
        except ValidationError:
            pass
        else:
            if not page.body.strip():
                raise RejectedPage(Reason.EMPTY_BODY, "the page body is empty")
            return page
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark is allowed (RFC 8259 section 8.1)
    except UnicodeDecodeError as exc:
        raise RejectedPage(Reason.BAD_ENCODING, f"record is not UTF-8 JSON: {exc}") from None
    return parse_raw_json(text)


def parse_raw_json(text: str) -> RawPage:
    """Parse a RawPage from JSON text, with typed errors.

    Lone surrogates escaped in the JSON (``"\\ud800"``, as a careless producer writes undecodable
    bytes) are replaced by U+FFFD in every string, keys included, as a browser would: the page
    stays readable and can be written as UTF-8 again.

    Raises:
        RejectedPage: INVALID_JSON (also for numbers too long to convert and nesting too deep),
            NOT_A_RAW_PAGE or EMPTY_BODY.
    """
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, or an integer of > 4300 digits
        raise RejectedPage(Reason.INVALID_JSON, f"not JSON: {str(exc)[:200]}") from None
    if _SURROGATE_ESCAPE.search(text):
        value = _without_lone_surrogates(value)
    if not isinstance(value, dict):
        raise RejectedPage(Reason.NOT_A_RAW_PAGE, f"expected a JSON object, got {type(value).__name__}")
    try:
        page = RawPage.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(_shown(p) for p in err['loc']) or '(record)'}: {err['msg']}" for err in exc.errors()[:5]
        )
        raise RejectedPage(Reason.NOT_A_RAW_PAGE, " ".join(problems.split())) from None
    if not page.body.strip():
        raise RejectedPage(Reason.EMPTY_BODY, "the page body is empty")
    return page


def _shown(part: str | int) -> str:
    """A field name from a record as it can be shown in one line of an error: unknown keys may be anything."""
    text = str(part)
    shown = text if text and text.isprintable() and " " not in text else repr(text)
    return shown if len(shown) <= 60 else shown[:59] + "…"


def _without_lone_surrogates(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings (and keys) replaced by U+FFFD.

    Iterative, so a value nested as deep as ``json.loads`` accepts cannot overflow the stack.
    """

    def fix(item: Any) -> Any:
        if isinstance(item, str):
            return _LONE_SURROGATE.sub("\ufffd", item)
        if isinstance(item, dict):
            fixed: dict[str, Any] = {}
            stack.append((item, fixed))
            return fixed
        if isinstance(item, list):
            out: list[Any] = []
            stack.append((item, out))
            return out
        return item

    stack: list[tuple[Any, Any]] = []
    root = fix(value)
    while stack:
        source, target = stack.pop()
        if isinstance(source, dict):
            for key, item in source.items():
                target[fix(key)] = fix(item)
        else:
            target.extend(fix(item) for item in source)
    return root


def check_size(page: RawPage, max_bytes: int) -> None:
    """Reject a page whose body exceeds ``max_bytes`` (UTF-8 bytes, estimated cheaply)."""
    size = len(page.body)
    if size > max_bytes or (size * 4 > max_bytes and len(page.body.encode("utf-8", "surrogatepass")) > max_bytes):
        raise RejectedPage(Reason.TOO_LARGE, f"page body exceeds limits.max_page_bytes={max_bytes}")
