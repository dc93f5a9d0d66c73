"""Where pages come from on disk: files, folders, JSONL of RawPage, and WARC archives.

``read_pages`` yields a :class:`RawPage` for each page, or a :class:`DeadLetter` saying which
file (and line or record) could not be read and why, so a run goes on with the rest.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

from schemas.deadletter import DeadLetter, Reason
from schemas.pages import RawPage
from streams.decode import check_size, decode_body, parse_raw_json
from streams.errors import RejectedPage

TEXT_SUFFIXES = frozenset({".txt", ".text"})
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz"})
WARC_SUFFIXES = frozenset({".warc", ".warc.gz"})
SUPPORTED = TEXT_SUFFIXES | HTML_SUFFIXES | JSONL_SUFFIXES | WARC_SUFFIXES | {".json"}


def _suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    joined = "".join(suffixes)
    return joined if joined in SUPPORTED else (suffixes[-1] if suffixes else "")


def _reject(original: bytes | str, reason: Reason, error: str, source: str) -> DeadLetter:
    return DeadLetter.of(original, stage="ingest", error_type=reason, error=error, source=source)


def expand(paths: Iterable[Path]) -> Iterator[Path]:
    """Files named, and the supported files inside folders named (sorted, hidden ones skipped)."""
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                hidden = any(part.startswith(".") for part in child.relative_to(path).parts)
                if child.is_file() and not hidden and _suffix(child) in SUPPORTED:
                    yield child
        else:
            yield path


def read_pages(paths: Iterable[Path], max_page_bytes: int) -> Iterator[RawPage | DeadLetter]:
    """Every page in ``paths``, in order; unreadable input as dead letters, never an exception."""
    for path in expand(paths):
        source = str(path)
        suffix = _suffix(path)
        if not path.exists():
            yield _reject(b"", Reason.UNREADABLE, "no such file or folder", source)
            continue
        if suffix not in SUPPORTED:
            yield _reject(b"", Reason.UNSUPPORTED_INPUT,
                          "unsupported file type (use .txt, .html, .jsonl, .json, .warc or .warc.gz)", source)
            continue
        try:
            if suffix in JSONL_SUFFIXES:
                yield from _read_jsonl(path, max_page_bytes)
            elif suffix in WARC_SUFFIXES:
                yield from _read_warc(path, max_page_bytes)
            else:
                yield _read_file(path, suffix, max_page_bytes)
        except OSError as exc:
            yield _reject(b"", Reason.UNREADABLE, f"cannot read: {exc.strerror or exc}", source)


def _read_file(path: Path, suffix: str, max_page_bytes: int) -> RawPage | DeadLetter:
    source = str(path)
    stat = path.stat()
    if stat.st_size > max_page_bytes:
        with path.open("rb") as handle:
            head = handle.read(4096)
        return _reject(head, Reason.TOO_LARGE,
                       f"{stat.st_size} bytes exceeds limits.max_page_bytes={max_page_bytes}", source)
    data = path.read_bytes()
    try:
        if suffix == ".json":
            text, _ = decode_body(data)
            page = parse_raw_json(text)
            return page if page.source else page.model_copy(update={"source": source})
        html = suffix in HTML_SUFFIXES
        body, encoding = decode_body(data, html=html)
    except RejectedPage as exc:
        return _reject(data, exc.reason, exc.message, source)
    return RawPage(
        content_type="text/html" if html else "text/plain",
        body=body,
        source=source,
        fetched_at=datetime.fromtimestamp(stat.st_mtime, UTC),
        meta={"encoding": encoding},
    )


def _open_text_lines(path: Path) -> IO[bytes]:
    if path.name.lower().endswith(".gz"):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def _read_jsonl(path: Path, max_page_bytes: int) -> Iterator[RawPage | DeadLetter]:
    with _open_text_lines(path) as handle:
        for number, line in enumerate(handle, start=1):
            source = f"{path}:{number}"
            if not line.strip():
                continue
            try:
                if len(line) > max_page_bytes:
                    raise RejectedPage(Reason.TOO_LARGE,
                                       f"{len(line)} bytes exceeds limits.max_page_bytes={max_page_bytes}")
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise RejectedPage(Reason.BAD_ENCODING, f"line is not UTF-8: {exc}") from None
                page = parse_raw_json(text)
                check_size(page, max_page_bytes)
            except RejectedPage as exc:
                yield _reject(line, exc.reason, exc.message, source)
                continue
            yield page if page.source else page.model_copy(update={"source": source})


def _read_warc(path: Path, max_page_bytes: int) -> Iterator[RawPage | DeadLetter]:
    from warcio.archiveiterator import ArchiveIterator  # noqa: PLC0415 - only WARC input needs it

    with path.open("rb") as handle:
        for number, record in enumerate(ArchiveIterator(handle), start=1):
            if record.rec_type not in ("response", "resource"):
                continue
            page = _warc_page(record, f"{path}#{number}", max_page_bytes)
            if page is not None:
                yield page


def _warc_page(record: Any, source: str, max_page_bytes: int) -> RawPage | DeadLetter | None:
    headers = record.http_headers if record.rec_type == "response" else None
    content_type = (headers.get_header("Content-Type") if headers else None) or \
        record.rec_headers.get_header("Content-Type") or ""
    mime, _, params = content_type.partition(";")
    mime = mime.strip().lower()
    if mime not in ("text/html", "application/xhtml+xml", "text/plain"):
        return None  # images, scripts and the like are not pages
    charset = None
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip()
    data = record.content_stream().read(max_page_bytes + 1)
    if len(data) > max_page_bytes:
        return _reject(data[:4096], Reason.TOO_LARGE, f"record exceeds limits.max_page_bytes={max_page_bytes}", source)
    html = mime != "text/plain"
    try:
        body, encoding = decode_body(data, charset, html=html)
    except RejectedPage as exc:
        return _reject(data, exc.reason, exc.message, source)
    date = record.rec_headers.get_header("WARC-Date")
    fetched_at = datetime.fromisoformat(date.replace("Z", "+00:00")) if date else datetime.now(UTC)
    return RawPage(
        url=record.rec_headers.get_header("WARC-Target-URI"),
        content_type="text/html" if html else "text/plain",
        body=body,
        source=source,
        fetched_at=fetched_at,
        meta={"encoding": encoding},
    )
